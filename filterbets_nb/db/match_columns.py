"""The matches a backtest reads, as columns: only the ones it needs, straight into numpy.

A matches row holds 56 prices, 36 features and a JSON column; a filter reads a dozen of them.
Moving the rest (and turning each value into a Python object on the way) was nearly all of a
large backtest's time. Here each needed column travels as 8 bytes per row: on PostgreSQL through
one binary ``COPY`` whose rows all have the same width (NULL sent as NaN), cut straight into
numpy arrays; on SQLite through one ``SELECT`` turned into a float array in one call. Text
columns (league, season, teams) travel as small integer codes and become pandas categoricals
from the league and team tables, so no string is built per row.

:func:`scope_version` tells in one indexed lookup whether any match or feature of a scope's
leagues was written since: every write path raises its leagues' counters in ``scope_versions``
(:func:`bump_versions`) in its own transaction. That is what the worker's snapshots
(:mod:`filterbets_nb.tasks.match_cache`) are keyed on; finding out from the matches themselves
(counts, latest write times) costs a full read of the table, as much as loading it again.
:func:`scope_state` is one grouped pass over the matches, done once per version: how many
matches, in which leagues and seasons, and which leagues' features are older than their matches.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, ColumnElement, Float, case, cast, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from filterbets_nb.db.models import (
    League,
    Team,
    match_features_table,
    matches_table,
    scope_versions_table,
)
from filterbets_nb.schema import FEATURE_COLUMNS, ODDS_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

#: Text columns, sent as integer codes and returned as categoricals.
_CODED: Final[tuple[str, ...]] = ("league", "season", "home_team", "away_team")
#: Integer columns that are never NULL in what is loaded (fixtures, without goals, are not).
_INTS: Final[tuple[str, ...]] = ("match_id", "fthg", "ftag")
_FLOATS: Final[tuple[str, ...]] = ("hthg", "htag", *ODDS_COLUMNS, *FEATURE_COLUMNS)
#: Every column :func:`load_columns` can read (others are left for the engine to name).
LOADABLE: Final[tuple[str, ...]] = (*_INTS, "kickoff", *_CODED, *_FLOATS)
#: Rows turned into arrays at a time unless told otherwise: bounds the raw rows held at once.
_PAGE_ROWS: Final = 50_000
_PG_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00"
#: SQLite's -inf (it reads 9e999 as infinity): stands for NULL in what SQLite sends.
_SQLITE_NULL: Final = "-9e999"
#: PostgreSQL's binary timestamps count microseconds from 2000-01-01.
_PG_EPOCH_US: Final = np.datetime64("2000-01-01T00:00:00", "us")
_UNIX_EPOCH_US: Final = np.datetime64("1970-01-01T00:00:00", "us")


@dataclass(frozen=True)
class ScopeState:
    """A scope's matches as stored at one version (see :func:`scope_state`)."""

    matches: int
    #: league id -> code, of the scope's leagues that hold matches
    leagues: dict[int, str]
    seasons: tuple[str, ...]
    #: codes of leagues whose matches changed since their features were computed
    missing_features: tuple[str, ...]
    #: :func:`scope_version` read before the counts
    version: str


async def bump_versions(
    session: AsyncSession, league_ids: Iterable[int], *, features: bool = False
) -> None:
    """Raise the counters of ``league_ids``: their matches (or, with ``features``, their
    features, which then count as up to date) are being written.

    Called by every write path in the transaction that writes, so a reader sees the new
    counter exactly when it can see the new rows.
    """
    ids = sorted({int(i) for i in league_ids})
    if not ids:
        return
    v = scope_versions_table
    dialect = (await session.connection()).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # A league's first counter starts at a random value rather than 1: snapshot files outlive
    # a database that is dropped and made again at the same URL, and its counters must not
    # repeat the old ones (see :mod:`filterbets_nb.tasks.snapshot_files`).
    start = secrets.randbits(52)
    first = [
        {"league_id": i, "version": start, "features_version": start if features else 0}
        for i in ids
    ]
    raised: dict[str, Any] = {"version": v.c.version + 1}
    if features:
        raised["features_version"] = v.c.version + 1
    stmt = insert(v).values(first)
    await session.execute(stmt.on_conflict_do_update(index_elements=[v.c.league_id], set_=raised))


async def scope_version(
    session: AsyncSession, leagues: Sequence[str] | None, seasons: Sequence[str] | None
) -> str:
    """A digest that changes whenever a match or feature of the scope's leagues is written
    (or a league joins an all-leagues scope): the leagues' counters, no matches read."""
    v = scope_versions_table
    stmt = select(League.id, func.coalesce(v.c.version, 0)).outerjoin(v, v.c.league_id == League.id)
    if leagues:
        stmt = stmt.where(League.code.in_(list(leagues)))
    rows = sorted((int(i), int(n)) for i, n in (await session.execute(stmt)).all())
    text = repr((rows, sorted(seasons or ())))
    return hashlib.sha256(text.encode()).hexdigest()


def _scope_filter(
    league_ids: Sequence[int] | None, seasons: Sequence[str] | None
) -> list[ColumnElement[bool]]:
    t = matches_table
    # Fixtures (no result yet) are stored for the scanner but never settled, counted or loaded;
    # this also keeps the goal columns, which the binary read takes as never NULL, non-NULL.
    where: list[ColumnElement[bool]] = [t.c.fthg.is_not(None)]
    if league_ids is not None:
        where.append(t.c.league_id.in_(list(league_ids)))
    if seasons:
        where.append(t.c.season.in_(list(seasons)))
    return where


def scope_counts(league_ids: Sequence[int] | None, seasons: Sequence[str] | None) -> Any:
    """(league id, season, played matches) of a scope: read from the index alone, whose last
    column is ``fthg`` for this (migration 0008)."""
    t = matches_table
    return (
        select(t.c.league_id, t.c.season, func.count())
        .where(*_scope_filter(league_ids, seasons))
        .group_by(t.c.league_id, t.c.season)
    )


async def _league_ids(session: AsyncSession, leagues: Sequence[str] | None) -> dict[int, str]:
    stmt = select(League.id, League.code)
    if leagues:
        stmt = stmt.where(League.code.in_(list(leagues)))
    return {int(i): str(c) for i, c in (await session.execute(stmt)).all()}


async def scope_state(
    session: AsyncSession, leagues: Sequence[str] | None, seasons: Sequence[str] | None
) -> ScopeState:
    """Count the scope's matches per league and season in one grouped pass over the matches
    (callers keep the result per :attr:`ScopeState.version`), and name the leagues whose
    features are older than their matches.

    A league that never had its counter raised (data written before the counters existed)
    is checked the slow way, for a match without a features row.
    """
    version = await scope_version(session, leagues, seasons)
    t, f, v = matches_table, match_features_table, scope_versions_table
    ids = await _league_ids(session, leagues)
    rows = (await session.execute(scope_counts(list(ids) if leagues else None, seasons))).all()
    present = {int(row[0]) for row in rows}
    counters = select(v.c.league_id, v.c.version, v.c.features_version).where(
        v.c.league_id.in_(sorted(present))
    )
    stale: set[int] = set()
    known: set[int] = set()
    for league_id, ver, features_ver in (await session.execute(counters)).all():
        known.add(int(league_id))
        if features_ver < ver:
            stale.add(int(league_id))
    if present - known:
        unchecked = select(t.c.league_id).distinct()
        unchecked = unchecked.outerjoin(f, f.c.match_id == t.c.id).where(
            f.c.match_id.is_(None), t.c.league_id.in_(sorted(present - known))
        )
        stale |= {int(i) for i in (await session.execute(unchecked)).scalars()}
    return ScopeState(
        matches=sum(int(row[2]) for row in rows),
        leagues={int(row[0]): ids[int(row[0])] for row in rows},
        seasons=tuple(sorted({str(row[1]) for row in rows})),
        missing_features=tuple(sorted(ids[i] for i in stale)),
        version=version,
    )


def _expressions(
    columns: Sequence[str], state: ScopeState, postgres: bool
) -> list[ColumnElement[Any]]:
    """One SQL expression per column giving 8 bytes per row, never NULL: a NULL price or
    feature comes as NaN on PostgreSQL and as -inf on SQLite (which has no NaN; the reader
    turns it into NaN), so every row is a run of numbers numpy converts in one call."""
    t, f = matches_table, match_features_table
    nan: ColumnElement[Any] = literal_column("'NaN'::float8" if postgres else _SQLITE_NULL)
    out: list[ColumnElement[Any]] = []
    for name in columns:
        expr: ColumnElement[Any]
        if name in _INTS:
            expr = cast(t.c.id if name == "match_id" else t.c[name], BigInteger)
        elif name == "kickoff":
            # PostgreSQL sends a timestamp as 8 bytes; SQLite stores text: microseconds.
            expr = (
                t.c.kickoff
                if postgres
                else cast(func.strftime("%s", t.c.kickoff), BigInteger) * 1_000_000
                + cast(func.substr(t.c.kickoff, 21, 6), BigInteger)
            )
        elif name == "league":
            expr = cast(t.c.league_id, BigInteger)
        elif name in ("home_team", "away_team"):
            expr = cast(t.c[f"{name}_id"], BigInteger)
        elif name == "season":
            codes = {season: i for i, season in enumerate(state.seasons)}
            expr = cast(case(codes, value=t.c.season, else_=-1), BigInteger)
        else:
            source = f.c[name] if name in FEATURE_COLUMNS else t.c[name]
            expr = func.coalesce(cast(source, Float), nan)
        out.append(expr.label(name))
    return out


async def load_columns(
    session: AsyncSession,
    columns: Iterable[str],
    leagues: Sequence[str] | None,
    seasons: Sequence[str] | None,
    state: ScopeState,
    *,
    page_size: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> pd.DataFrame:
    """The scope's matches with those of ``columns`` that are stored (see :data:`LOADABLE`),
    plus ``match_id`` and ``kickoff``, in kick-off order (ties: ``match_id``).

    ``state`` is :func:`scope_state` of the same scope: it names the leagues and seasons the
    codes stand for. Prices and features are float64 with NaN for NULL; text columns are
    categoricals. Rows arrive in one query and are turned into arrays ``page_size`` rows at a
    time, after each of which ``progress(rows_loaded)`` is called.
    """
    import pandas as pd

    page = page_size or _PAGE_ROWS
    wanted = [c for c in dict.fromkeys(["match_id", "kickoff", *columns]) if c in LOADABLE]
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql" and connection.dialect.driver == "asyncpg"
    t, f = matches_table, match_features_table
    source: Any = t
    if any(c in FEATURE_COLUMNS for c in wanted):
        source = t.outerjoin(f, f.c.match_id == t.c.id)
    # A whole-table read tests no league or season: testing each row against every league and
    # season costs PostgreSQL a third more than sending it.
    stmt = (
        select(*_expressions(wanted, state, postgres))
        .select_from(source)
        .where(
            *_scope_filter(
                list(state.leagues) if leagues else None, state.seasons if seasons else None
            )
        )
    )
    if postgres:
        raw = await _copy_binary(connection, stmt, wanted, page, progress)
    else:
        raw = await _select_floats(connection, stmt, wanted, page, progress)
    # Rows of a league or season the state does not know were written after it was read:
    # left out, they belong to the next version, which the next job reads.
    keep = np.ones(len(raw["match_id"]), dtype=bool)
    if "season" in raw:
        keep &= raw["season"] >= 0
    if "league" in raw:
        keep &= np.isin(raw["league"], np.array(sorted(state.leagues), dtype=np.int64))
    order = np.flatnonzero(keep)
    order = order[np.lexsort((raw["match_id"][order], raw["kickoff"][order]))]
    data: dict[str, Any] = {}
    teams = await _team_names(session, state) if {"home_team", "away_team"} & set(wanted) else {}
    for name in wanted:
        values = raw.pop(name)[order]
        if name in _INTS:
            data[name] = values.astype(np.int64)
        elif name == "kickoff":
            epoch = _PG_EPOCH_US if postgres else _UNIX_EPOCH_US
            us = values.astype(np.int64).astype("timedelta64[us]")
            data[name] = epoch + us  # datetime64[us], as pandas reads timestamps
        elif name == "league":
            data[name] = _categorical(values, state.leagues)
        elif name == "season":
            data[name] = _categorical(values, dict(enumerate(state.seasons)))
        elif name in ("home_team", "away_team"):
            data[name] = _categorical(values, teams)
        else:
            data[name] = values.astype(np.float64, copy=False)
    return pd.DataFrame(data, copy=False)


async def _team_names(session: AsyncSession, state: ScopeState) -> dict[int, str]:
    stmt = select(Team.id, Team.name).where(Team.league_id.in_(list(state.leagues)))
    return {int(i): str(n) for i, n in (await session.execute(stmt)).all()}


def _categorical(codes: npt.NDArray[Any], names: dict[int, str]) -> pd.Categorical:
    """Integer ``codes`` (keys of ``names``) as a categorical of the names they stand for."""
    import pandas as pd

    categories = sorted(set(names.values()))
    position = {name: i for i, name in enumerate(categories)}
    keys = np.array(sorted(names), dtype=np.int64)
    index_of_key = np.array([position[names[int(k)]] for k in keys], dtype=np.int64)
    codes = codes.astype(np.int64)
    found = np.searchsorted(keys, codes).clip(0, max(len(keys) - 1, 0))
    if len(codes) and (not len(keys) or (keys[found] != codes).any()):
        raise ValueError("a match refers to a league, season or team its scope does not hold")
    return pd.Categorical.from_codes(
        index_of_key[found] if len(keys) else codes, pd.Index(categories, dtype=object)
    )


async def _copy_binary(
    connection: AsyncConnection,
    stmt: Any,
    columns: Sequence[str],
    page: int,
    progress: Callable[[int], object] | None,
) -> dict[str, npt.NDArray[Any]]:
    """``stmt``'s rows through ``COPY ... TO STDOUT (FORMAT binary)``, cut into arrays.

    Every field is 8 bytes and never NULL, so every row has the same layout (a field count,
    then a length and a value per field) and a block of rows is one numpy record array.
    """
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    args = [compiled.params[name] for name in compiled.positiontup or ()]
    floats = set(_FLOATS)
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, name in enumerate(columns):
        fields += [(f"len{i}", ">i4"), (name, ">f8" if name in floats else ">i8")]
    record = np.dtype(fields)
    parts: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in columns}
    pending = bytearray()
    header_done = False
    loaded = 0

    def cut(rows: int) -> None:
        """Turn the first ``rows`` rows of ``pending`` into arrays."""
        nonlocal loaded
        size = rows * record.itemsize
        block = np.frombuffer(bytes(pending[:size]), dtype=record)
        del pending[:size]
        for name in columns:
            parts[name].append(block[name].astype(block[name].dtype.newbyteorder("=")))
        loaded += rows
        if progress is not None:
            progress(loaded)

    async def sink(chunk: bytes) -> None:
        nonlocal header_done
        pending.extend(chunk)
        if not header_done:
            if len(pending) < 19:
                return
            if bytes(pending[:11]) != _PG_SIGNATURE:
                raise ValueError("PostgreSQL sent COPY output that is not in binary format")
            extension = int.from_bytes(pending[15:19], "big")
            if len(pending) < 19 + extension:
                return
            del pending[: 19 + extension]
            header_done = True
        while len(pending) >= page * record.itemsize:
            cut(page)

    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_from_query(str(compiled), *args, output=sink, format="binary")
    if not header_done or pending[-2:] != b"\xff\xff":  # the trailer: a field count of -1
        raise ValueError("PostgreSQL's COPY output ended early")
    del pending[-2:]
    if len(pending) % record.itemsize:
        raise ValueError(f"{len(pending)} bytes of COPY output do not form whole rows")
    if pending or not loaded:
        cut(len(pending) // record.itemsize)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


async def _select_floats(
    connection: AsyncConnection,
    stmt: Any,
    columns: Sequence[str],
    page: int,
    progress: Callable[[int], object] | None,
) -> dict[str, npt.NDArray[Any]]:
    """``stmt``'s rows as float64 arrays (-inf, SQLite's NULL here, becomes NaN), ``page``
    rows per query.

    Each page is one range of the primary key (``WHERE id > last ORDER BY id LIMIT page``), so
    no query holds the database longer than a page and memory holds one page of Python rows.
    Integers stay exact: ids and microsecond kick-offs are far below 2**53.
    """
    t = matches_table
    blocks: list[npt.NDArray[np.float64]] = []
    last: int | None = None
    loaded = 0
    ids = columns.index("match_id")
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    while True:
        page_stmt = stmt.order_by(t.c.id).limit(page)
        if last is not None:
            page_stmt = page_stmt.where(t.c.id > last)
        compiled = page_stmt.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        args = [compiled.params[name] for name in compiled.positiontup or ()]
        # The driver's plain tuples, flattened straight into one float array: no Row objects,
        # no per-column lists (each cost more than the query).
        rows = await driver.execute_fetchall(str(compiled), args)
        flat = np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.float64, count=len(rows) * len(columns)
        )
        block = flat.reshape(len(rows), len(columns))
        blocks.append(block)
        loaded += len(rows)
        if progress is not None:
            progress(loaded)
        if len(rows) < page:
            break
        last = int(block[-1, ids])
    array = np.concatenate(blocks)
    floats = set(_FLOATS)
    out: dict[str, npt.NDArray[Any]] = {}
    for i, name in enumerate(columns):
        values = array[:, i]  # a view: the caller's reordering copies it anyway
        if name in floats:
            values[values == -np.inf] = np.nan
        out[name] = values
    return out
