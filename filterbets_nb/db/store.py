"""Reading and writing the domain tables as pandas frames.

Every function takes an open :class:`AsyncSession` and leaves committing to the caller
(:func:`filterbets_nb.db.session.session_scope` commits once at the end), so a whole import or a
job's bets land in one transaction or not at all.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Select, delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from filterbets_nb.db.fresh_results import FreshResults
from filterbets_nb.db.limits import first_violation
from filterbets_nb.db.match_columns import bump_versions
from filterbets_nb.db.models import (
    ENDED_STATES,
    BacktestBet,
    BacktestJob,
    Base,
    League,
    Team,
    TeamStats,
    match_features_table,
    matches_table,
    utcnow,
)
from filterbets_nb.schema import FEATURE_COLUMNS, ODDS_COLUMNS

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

_BATCH = 5_000
#: Rows of COPY output parsed at a time when loading matches from PostgreSQL without a page size.
_COPY_ROWS = 50_000
_KEY = ["league_id", "match_date", "home_team_id", "away_team_id"]
#: Bet columns added by migration 0002 (Asian handicap settlement and the fair close).
_BET_SETTLEMENT_COLUMNS = ("line", "outcome", "p_fair_close", "clv")
_GOAL_COLUMNS = ("fthg", "ftag", "hthg", "htag")
_VALUE_COLUMNS = ["season", "kickoff", *_GOAL_COLUMNS, *ODDS_COLUMNS, "odds_extra"]
#: Value columns that may be NULL (and have no default): an insert may leave them out.
_NULLABLE_VALUES = [*_GOAL_COLUMNS, *ODDS_COLUMNS, "odds_extra"]


@dataclass(frozen=True)
class UpsertCounts:
    """What an import did: new matches, matches whose stored values changed, identical ones."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.added + other.added,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


def _column_values(column: pd.Series) -> list[Any]:
    """One column as plain Python values, NaN/NaT as None (what DB drivers accept).

    Numbers and timestamps convert in one C loop (``tolist`` / ``to_pydatetime``); only
    object columns are looked at value by value. Writing a million matches spent most of its
    time here when every column went value by value.
    """
    import pandas as pd

    kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else "O"
    if kind in "iufb":
        values = column.to_numpy().tolist()
    elif kind == "M":
        values = list(column.dt.to_pydatetime())
    else:
        values = column.astype(object).tolist()
        for i, value in enumerate(values):
            if isinstance(value, np.generic):
                values[i] = value.item()
            elif isinstance(value, pd.Timestamp):
                values[i] = value.to_pydatetime()
    for i in np.flatnonzero(column.isna().to_numpy()).tolist():
        values[i] = None
    return values


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values, NaN/NaT as None."""
    columns = list(frame.columns)
    values = [_column_values(frame[c]) for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _frame(rows: Sequence[Any], columns: Sequence[str], floats: Iterable[str] = ()) -> pd.DataFrame:
    """Result rows as a frame, built column by column; ``floats`` become float64 (None: NaN).

    Handing SQLAlchemy ``Row`` objects to ``pd.DataFrame`` makes pandas probe each row for
    namedtuple attributes, a failed key lookup per row that costs more than the query, and
    letting pandas infer the type of each column of Python objects costs nearly as much again.
    """
    import pandas as pd

    as_float = set(floats)
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    data: dict[str, Any] = {}
    for name, column in zip(columns, values, strict=True):
        data[name] = np.array(column, dtype=np.float64) if name in as_float else list(column)
    return pd.DataFrame(data)


async def _asyncpg_connection(session: AsyncSession) -> Any | None:
    """The session's asyncpg connection (in its transaction) for COPY; None off PostgreSQL."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "asyncpg":
        return None
    return (await connection.get_raw_connection()).driver_connection


async def _copy_frame(session: AsyncSession, table: str, frame: pd.DataFrame) -> bool:
    """Bulk-load ``frame`` into ``table`` with PostgreSQL's COPY, inside the session's
    transaction; False (nothing written) on any other database.

    COPY is an order of magnitude faster than multi-row INSERTs for the tens of thousands of
    bets a broad filter produces, and on a small machine that time is taken from the database
    server the other workers share. Frames :mod:`.copy_binary` can encode go as binary COPY
    built with numpy; others (JSON, dates) as Python tuples the driver encodes.
    """
    from filterbets_nb.db import copy_binary

    driver = await _asyncpg_connection(session)
    if driver is None:
        return False
    if frame.empty:  # a filter that selected no match: nothing to send
        return True
    types = {column.name: column.type for column in Base.metadata.tables[table].columns}
    data = copy_binary.encode(frame, types)
    if data is not None:
        await driver.copy_to_table(
            table, source=io.BytesIO(data), columns=list(frame.columns), format="binary"
        )
        return True
    values = [_column_values(frame[c]) for c in frame.columns]
    await driver.copy_records_to_table(
        table, columns=list(frame.columns), records=list(zip(*values, strict=True))
    )
    return True


async def _sqlite_executemany(session: AsyncSession, table: str, frame: pd.DataFrame) -> bool:
    """Insert ``frame`` into ``table`` with :func:`.bulk.insert_rows` on SQLite, in the values
    SQLAlchemy would store (timestamps as its text, booleans as 0/1); False (nothing written)
    elsewhere. SQLAlchemy's own insert of dicts costs a second per ~50,000 bets."""
    from filterbets_nb.db import bulk

    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        return False
    await bulk.insert_rows(connection, table, frame)
    return True


async def _ids_for(
    session: AsyncSession, codes: Iterable[str], fresh: FreshResults | None = None
) -> dict[str, int]:
    """League ids of ``codes``, creating the leagues that are new (and telling ``fresh``)."""
    wanted = sorted(set(codes))
    rows = (
        await session.execute(select(League.code, League.id).where(League.code.in_(wanted)))
    ).all()
    known = dict(rows)
    missing = [code for code in wanted if code not in known]
    if missing:
        await session.execute(insert(League), [{"code": c, "name": c} for c in missing])
        rows = (
            await session.execute(select(League.code, League.id).where(League.code.in_(missing)))
        ).all()
        known.update(dict(rows))
        if fresh is not None:
            fresh.created(dict(rows))
    return known


async def _team_ids(
    session: AsyncSession, pairs: set[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    league_ids = sorted({league for league, _ in pairs})
    stmt = select(Team.league_id, Team.name, Team.id).where(Team.league_id.in_(league_ids))
    known = {(lg, name): tid for lg, name, tid in (await session.execute(stmt)).all()}
    missing = sorted(pairs - known.keys())
    if missing:
        await session.execute(insert(Team), [{"league_id": lg, "name": n} for lg, n in missing])
        known = {(lg, name): tid for lg, name, tid in (await session.execute(stmt)).all()}
    return known


#: Key of the PostgreSQL advisory lock that serialises imports (any constant both sides agree on).
_IMPORT_LOCK_KEY = 0x66_62_6E_62  # "fbnb"


async def lock_for_import(session: AsyncSession) -> None:
    """Make this transaction the only import writing until it ends; others wait here.

    Two processes importing the same file would both see a league, team or match as missing
    and both insert it; the later commit then fails on the unique key.  Taking the lock before
    reading makes the second import read what the first committed (and count it unchanged).
    PostgreSQL: a transaction-level advisory lock.  SQLite: a write statement that changes
    nothing still takes the database's write lock, held to the end of the transaction (other
    writers wait out ``busy_timeout``).
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_IMPORT_LOCK_KEY)))
    else:
        await session.execute(update(League).where(League.id < 0).values(name=League.name))


async def upsert_matches(
    session: AsyncSession, frame: pd.DataFrame, source: str = ""
) -> UpsertCounts:
    """Insert new matches and update changed ones, keyed by (league, date, home, away).

    Re-importing the same data changes nothing and counts every row as unchanged.  Values the
    tables cannot hold (:mod:`.limits`) raise ValueError before anything is written, on every
    database alike.  One frame of :func:`upsert_match_frames`.
    """
    return (await upsert_match_frames(session, [(frame, source)]))[0]


async def upsert_match_frames(
    session: AsyncSession,
    parts: Sequence[tuple[pd.DataFrame, str]],
    fresh: FreshResults | None = None,
) -> list[UpsertCounts]:
    """Upsert several frames (each with its ``source``) as if one after the other; the counts
    of each.

    Frames whose keys do not repeat each other (the files of an import: one league-season
    each) go through one vectorised upsert together, which is what makes a 25-season import
    cost a few statements rather than thousands; a key repeated across frames makes them go
    one at a time, so the later frame updates the earlier one, as in sequence.
    ``fresh`` keeps the results inserted into leagues this import created.
    """
    parts = [(frame, source) for frame, source in parts]
    if all(frame.empty for frame, _ in parts):
        return [UpsertCounts() for _ in parts]
    rows = _joined(parts)
    violation = first_violation(rows)  # once for all: its cost is mostly per call
    if violation is not None:
        row, column, problem = violation
        index, position = rows["part"].iat[row], rows["position"].iat[row]
        where = (
            f"frame {index}, match row {position}" if len(parts) > 1 else f"match row {position}"
        )
        raise ValueError(f"{where}, column {column}: {problem}")
    rows = await _keyed_rows(session, rows, fresh)
    if not rows.duplicated(_KEY).any():
        return await _upsert_rows(session, rows, len(parts), fresh)
    of_part = rows["part"].to_numpy()
    counts: list[UpsertCounts] = []
    for number in range(len(parts)):
        group = rows.loc[of_part == number]
        if group.duplicated(_KEY).any():
            first = group[group.duplicated(_KEY, keep=False)].iloc[0]
            raise ValueError(
                f"match {first['league']} {first['kickoff']} {first['home_team']} v"
                f" {first['away_team']} appears twice in one frame"
            )
        counts += (
            await _upsert_rows(session, group.assign(part=0), 1, fresh)
            if len(group)
            else [UpsertCounts()]
        )
    return counts


def _joined(parts: Sequence[tuple[pd.DataFrame, str]]) -> pd.DataFrame:
    """The non-empty frames as one, with ``part`` (the frame's position), ``position`` (the
    row's within it) and ``source``."""
    import pandas as pd

    pieces = []
    for index, (frame, source) in enumerate(parts):
        if frame.empty:
            continue
        piece = frame.rename(columns={"extra_odds": "odds_extra"})
        pieces.append(piece.assign(part=index, position=np.arange(len(frame)), source=source))
    rows = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
    return rows.reset_index(drop=True)


async def _keyed_rows(
    session: AsyncSession, rows: pd.DataFrame, fresh: FreshResults | None
) -> pd.DataFrame:
    """``rows``' key ids (leagues and teams created when new), ``part``/``position``/``source``
    and every value column the table has, as the diff compares them: built as one frame,
    since adding 60 columns one by one to a wide frame copies it every time."""
    import pandas as pd

    text = {name: rows[name].astype(str) for name in ("league", "home_team", "away_team")}
    # Keys go through their distinct values (a few thousand teams in a million rows): a
    # lookup per row, by map or MultiIndex, cost more than the rest of this function.
    league_codes, league_names = pd.factorize(text["league"], use_na_sentinel=False)
    league_ids = await _ids_for(session, league_names.tolist(), fresh)
    league = np.array([league_ids[c] for c in league_names.tolist()], dtype=np.int64)
    league = league[league_codes]
    names = pd.concat([text["home_team"], text["away_team"]], ignore_index=True)
    name_codes, team_names = pd.factorize(names, use_na_sentinel=False)
    pair_codes, pairs = pd.factorize(
        np.concatenate([league, league]) * len(team_names) + name_codes
    )
    named = team_names.tolist()
    keys = [(int(p) // len(named), named[int(p) % len(named)]) for p in pairs.tolist()]
    team_ids = await _team_ids(session, set(keys))
    if fresh is not None:
        fresh.name_teams(team_ids)
    side_ids = np.array([team_ids[k] for k in keys], dtype=np.int64)[pair_codes]
    data: dict[str, Any] = {name: rows[name].to_numpy() for name in ("part", "position")}
    data |= {"source": rows["source"].to_numpy(dtype=object), "league_id": league}
    data["home_team_id"], data["away_team_id"] = np.split(side_ids, 2)
    kickoff = pd.to_datetime(rows["kickoff"]).to_numpy().astype("datetime64[us]")
    data["match_date"] = kickoff.astype("datetime64[D]").astype(np.int64)  # days since 1970
    data["season"] = rows["season"].astype(str).to_numpy(dtype=object)
    data["kickoff"] = kickoff
    for column in (*_GOAL_COLUMNS, *ODDS_COLUMNS):
        if column not in rows:
            data[column] = np.full(len(rows), np.nan)
        elif rows[column].dtype == np.float64:
            data[column] = rows[column].to_numpy()  # NaN already stands for no value
        else:
            data[column] = pd.to_numeric(rows[column]).to_numpy(dtype=np.float64, na_value=np.nan)
    extra = rows["odds_extra"] if "odds_extra" in rows else pd.Series([None] * len(rows))
    data["odds_extra"] = _json_texts(extra).to_numpy()
    for name, values in text.items():
        data[name] = values.array  # for error messages: as they are, not a Python str per row
    return pd.DataFrame(data)


def _json_texts(values: pd.Series) -> pd.Series:
    """``odds_extra`` as the JSON text stored, None for no extra prices (None or ``{}``)."""
    import pandas as pd

    return pd.Series(
        [json.dumps(v) if v else None for v in values.tolist()], index=values.index, dtype=object
    )


def _stored_json(values: pd.Series) -> npt.NDArray[np.object_]:
    """``odds_extra`` texts with every way of saying "none" (NULL, NaN, ``null``, ``{}``) as
    None, so that the two sides compare."""
    import pandas as pd

    out = values.astype(object).to_numpy(copy=True)
    out[pd.isna(out)] = None
    out[np.isin(out, ["null", "{}"])] = None
    return out


async def _upsert_rows(
    session: AsyncSession, rows: pd.DataFrame, parts: int, fresh: FreshResults | None
) -> list[UpsertCounts]:
    """The vectorised upsert of rows with distinct keys: one read of the stored rows of their
    leagues and dates, a column-wise diff, one bulk insert and one bulk update."""
    connection = await session.connection()
    existing = await _existing_matches(connection, rows)
    if existing.empty:
        stored_id = np.full(len(rows), -1, dtype=np.int64)
        changed = np.zeros(len(rows), dtype=bool)
    else:
        joined = rows[_KEY].merge(existing, on=_KEY, how="left", sort=False)
        stored_id = joined["id"].to_numpy(dtype=np.float64, na_value=np.nan)
        found = ~np.isnan(stored_id)
        stored_id = np.where(found, stored_id, -1).astype(np.int64)
        changed = found & ~_equal_rows(rows, joined)
    new = stored_id < 0
    now = np.datetime64(utcnow(), "us")
    written = rows.loc[new | changed, "league_id"].unique().tolist()
    if new.any():
        ids = await _insert_matches(connection, rows.loc[new], now)
        if fresh is not None:
            fresh.inserted(rows.loc[new], ids)
    if changed.any():
        if fresh is not None:
            fresh.spoil(rows.loc[changed, "league_id"].unique().tolist())
        await _update_matches(connection, rows.loc[changed].assign(id=stored_id[changed]), now)
    await bump_versions(session, written)
    part = rows["part"].to_numpy()
    added = np.bincount(part[new], minlength=parts)
    updated = np.bincount(part[changed], minlength=parts)
    unchanged = np.bincount(part[~new & ~changed], minlength=parts)
    return [
        UpsertCounts(int(a), int(u), int(s))
        for a, u, s in zip(added, updated, unchanged, strict=True)
    ]


def _equal_rows(rows: pd.DataFrame, stored: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Per row, whether every stored value equals the incoming one (NULL equals NaN/None)."""
    import pandas as pd

    same = rows["season"].to_numpy(dtype=object) == stored["season"].to_numpy(dtype=object)
    kickoff = pd.to_datetime(stored["kickoff"], format="ISO8601").to_numpy()
    same &= rows["kickoff"].to_numpy() == kickoff.astype("datetime64[us]")
    numbers = [*_GOAL_COLUMNS, *ODDS_COLUMNS]
    mine = rows[numbers].to_numpy(dtype=np.float64, na_value=np.nan)
    theirs = stored[numbers].to_numpy(dtype=np.float64, na_value=np.nan)
    same &= ((mine == theirs) | (np.isnan(mine) & np.isnan(theirs))).all(axis=1)
    incoming = _stored_json(rows["odds_extra"])
    kept = _stored_json(stored["odds_extra"])
    text_differs = np.flatnonzero(same & (incoming != kept))
    for i in text_differs.tolist():
        # The same prices may be spelt differently (another writer's key order or spacing).
        a, b = incoming[i], kept[i]
        same[i] = a is not None and b is not None and json.loads(a) == json.loads(b)
    return same


async def _existing_matches(connection: AsyncConnection, rows: pd.DataFrame) -> pd.DataFrame:
    """The stored matches of the rows' leagues between their first and last date (keys as in
    ``rows``: ``match_date`` in days), or an empty frame when there are none."""
    import pandas as pd

    from filterbets_nb.db import bulk

    # Per league its own date range: a batch of one league's new season must not read the
    # league's other seasons, nor another league's whole history between the batch's dates.
    spans = rows.groupby("league_id", sort=True)["match_date"].agg(["min", "max"])
    where = " OR ".join(
        f"(league_id = {int(league)} AND match_date BETWEEN"
        f" '{np.datetime64(int(low), 'D')}' AND '{np.datetime64(int(high), 'D')}')"
        for league, low, high in zip(spans.index, spans["min"], spans["max"], strict=True)
    )
    columns = ["id", *_KEY, *_VALUE_COLUMNS]
    # A fresh scope has nothing to diff: one indexed probe instead of the whole read.
    probe = await connection.exec_driver_sql(f"SELECT 1 FROM matches WHERE {where} LIMIT 1")
    if probe.first() is None:
        return pd.DataFrame()
    sql = f"SELECT {', '.join(columns)} FROM matches WHERE {where}"
    floats = [*_GOAL_COLUMNS, *ODDS_COLUMNS]
    stored = await bulk.read_frame(connection, sql, columns, floats)
    for column in ("id", "league_id", "home_team_id", "away_team_id"):
        stored[column] = stored[column].astype(np.int64)
    dates = pd.to_datetime(stored["match_date"].astype(str).str[:10], format="%Y-%m-%d")
    stored["match_date"] = dates.to_numpy().astype("datetime64[D]").astype(np.int64)
    return stored


def _match_columns(rows: pd.DataFrame, now: np.datetime64) -> pd.DataFrame:
    """The table's columns of ``rows`` (dates as dates, stamped ``now``), in table order."""
    out = rows[[*_KEY, *_VALUE_COLUMNS, "source"]].copy()
    out["match_date"] = out["match_date"].to_numpy().astype("datetime64[D]")
    out["updated_at"] = np.full(len(out), now)
    return out


async def _new_match_ids(connection: AsyncConnection, n: int) -> npt.NDArray[np.int64]:
    """Ids for ``n`` new matches, ascending: PostgreSQL's from the table's sequence, SQLite's
    the ones it would choose itself (one above the largest, the import holding the write lock).

    Written with the rows, they are known without reading the rows back.
    """
    if connection.dialect.name == "postgresql":
        result = await connection.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('matches', 'id'))"
            f" FROM generate_series(1, {int(n)})"
        )
        return np.sort(np.array(result.scalars().all(), dtype=np.int64))
    result = await connection.exec_driver_sql("SELECT max(id) FROM matches")
    first = int(result.scalar_one() or 0) + 1
    return np.arange(first, first + n, dtype=np.int64)


async def _insert_matches(
    connection: AsyncConnection, rows: pd.DataFrame, now: np.datetime64
) -> npt.NDArray[np.int64]:
    """Insert ``rows`` as new matches; their ids, in row order."""
    import pandas as pd

    from filterbets_nb.db import bulk

    ids = await _new_match_ids(connection, len(rows))
    frame = _match_columns(rows, now)
    frame.insert(0, "id", ids)
    # A column with no value in any row (the synthetic data's exchange prices, a file's missing
    # bookmaker) is left out and stored as NULL all the same: binding the synthetic data's 22
    # NULLs per row cost about a third of the SQLite insert.
    empty = [c for c in _NULLABLE_VALUES if frame[c].isna().all()]
    frame = frame.drop(columns=empty)
    driver = await bulk.asyncpg_driver(connection)
    if driver is not None:
        await bulk.copy_in(driver, matches_table.name, frame, not_null=["season", "source"])
        return ids
    # Positional, not aligned on the index: ``rows`` is the new rows of a batch, whose index
    # has gaps wherever a row was already stored (a Series on a fresh index left those NULL).
    # Each day is written out once: a million matches are played on a few thousand days.
    codes, days = pd.factorize(frame["match_date"].to_numpy().astype("datetime64[D]"))
    frame["match_date"] = np.datetime_as_string(np.asarray(days), unit="D").astype(object)[codes]
    await bulk.insert_rows(connection, matches_table.name, frame)
    return ids


#: Name of the session-local table that carries changed rows into one ``UPDATE ... FROM``.
_UPDATES_TABLE = "fb_match_updates"


async def _update_matches(
    connection: AsyncConnection, rows: pd.DataFrame, now: np.datetime64
) -> None:
    """Changed rows by id: PostgreSQL copies them into a temporary table and updates from it
    in one statement; SQLite runs one ``executemany``."""
    from filterbets_nb.db import bulk

    frame = _match_columns(rows, now).drop(columns=_KEY)
    frame["id"] = rows["id"].to_numpy()
    values = [c for c in frame.columns if c != "id"]
    driver = await bulk.asyncpg_driver(connection)
    if driver is not None:
        await connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_UPDATES_TABLE} ON COMMIT DROP AS"
            f" SELECT {', '.join(frame.columns)} FROM matches WITH NO DATA"
        )
        await connection.exec_driver_sql(f"TRUNCATE {_UPDATES_TABLE}")
        await bulk.copy_in(driver, _UPDATES_TABLE, frame, not_null=["season", "source"])
        assignments = ", ".join(f"{c} = u.{c}" for c in values)
        await connection.exec_driver_sql(
            f"UPDATE matches AS m SET {assignments} FROM {_UPDATES_TABLE} AS u WHERE m.id = u.id"
        )
        return
    await bulk.update_rows(connection, matches_table.name, frame, "id")


def _matches_select(
    leagues: Sequence[str] | None, seasons: Sequence[str] | None, features: bool
) -> Select[Any]:
    t, f = matches_table, match_features_table
    home, away = aliased(Team), aliased(Team)
    columns = [
        t.c.id.label("match_id"),
        League.code.label("league"),
        t.c.season,
        t.c.kickoff,
        home.name.label("home_team"),
        away.name.label("away_team"),
        t.c.fthg,
        t.c.ftag,
        t.c.hthg,
        t.c.htag,
        *(t.c[c] for c in ODDS_COLUMNS),
    ]
    if features:
        columns += [f.c[c] for c in FEATURE_COLUMNS]
    stmt = (
        select(*columns)
        .join(League, League.id == t.c.league_id)
        .join(home, home.id == t.c.home_team_id)
        .join(away, away.id == t.c.away_team_id)
    )
    if features:
        stmt = stmt.outerjoin(f, f.c.match_id == t.c.id)
    return _played_in_scope(stmt, leagues, seasons).order_by(t.c.kickoff, t.c.id)


def _played_in_scope(
    stmt: Select[Any], leagues: Sequence[str] | None, seasons: Sequence[str] | None
) -> Select[Any]:
    """``stmt`` (over matches joined to their league) kept to the scope's played matches:
    fixtures (no result yet) are never played."""
    t = matches_table
    stmt = stmt.where(t.c.fthg.is_not(None))
    if leagues:
        stmt = stmt.where(League.code.in_(list(leagues)))
    if seasons:
        stmt = stmt.where(t.c.season.in_(list(seasons)))
    return stmt


async def load_matches(
    session: AsyncSession,
    leagues: Sequence[str] | None = None,
    seasons: Sequence[str] | None = None,
    *,
    features: bool = True,
    page_size: int | None = None,
    progress: Callable[[int], object] | None = None,
    copy: bool = True,
) -> pd.DataFrame:
    """Matches in kick-off order, in the shape of :mod:`filterbets_nb.schema`, with features.

    With ``page_size`` the rows come in pages and ``progress(rows_loaded)`` is called after
    each. On PostgreSQL (unless ``copy=False``) they stream out of one ``COPY`` query and are
    parsed page by page as they arrive; elsewhere each page is its own query (keyset
    pagination on kick-off and id, so each page is one indexed range scan).
    """
    import pandas as pd

    stmt = _matches_select(leagues, seasons, features)
    floats = [*ODDS_COLUMNS, *(FEATURE_COLUMNS if features else ()), "hthg", "htag"]
    block = page_size or _COPY_ROWS
    if copy and (copied := await _copy_out(session, stmt, floats, progress, block)) is not None:
        return _typed_matches(copied)
    # Core execution: these are plain rows, and the ORM's row processing would double the time.
    connection = await session.connection()
    if not page_size:
        result = await connection.execute(stmt)
        frame = _frame(result.all(), list(result.keys()), floats)
        if progress is not None:
            progress(len(frame))
        return _typed_matches(frame)
    t = matches_table
    pages: list[pd.DataFrame] = []
    columns: list[str] = []
    loaded = 0
    last: tuple[Any, int] | None = None
    while True:
        page_stmt = stmt if last is None else stmt.where(tuple_(t.c.kickoff, t.c.id) > last)
        result = await connection.execute(page_stmt.limit(page_size))
        rows = result.all()
        columns = list(result.keys())
        if rows:
            pages.append(_frame(rows, columns, floats))
            loaded += len(rows)
            last = (rows[-1].kickoff, rows[-1].match_id)
        if progress is not None:
            progress(loaded)
        if len(rows) < page_size:
            break
    frame = pd.concat(pages, ignore_index=True) if pages else pd.DataFrame(columns=columns)
    return _typed_matches(frame)


async def _copy_out(
    session: AsyncSession,
    stmt: Select[Any],
    floats: Sequence[str],
    progress: Callable[[int], object] | None,
    rows: int,
) -> pd.DataFrame | None:
    """``stmt``'s rows through PostgreSQL's ``COPY ... TO STDOUT`` as CSV, parsed by pandas;
    None (nothing read) on any other database.

    Turning each value into a Python object and back costs most of a large load; COPY and
    pandas' C parser skip that, about 3x faster for a season table. Values still travel as
    bound parameters. The CSV is parsed in blocks of ``rows`` rows as it arrives, so the text
    of a million matches is never held at once; ``progress(rows_loaded)`` is called after each
    block.
    """
    import pandas as pd

    driver = await _asyncpg_connection(session)
    if driver is None:
        return None
    dialect = (await session.connection()).dialect
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    args = [compiled.params[name] for name in compiled.positiontup or ()]
    dtypes: dict[str, Any] = dict.fromkeys(floats, "float64")
    dtypes.update(dict.fromkeys(("league", "season", "home_team", "away_team"), str))
    header = b""
    pending = bytearray()
    frames: list[pd.DataFrame] = []
    loaded = lines = 0

    def parse(block: bytes) -> None:
        nonlocal loaded
        # Only the float columns may be NULL; a team called "NA" must stay a team.
        frame = pd.read_csv(
            io.BytesIO(header + block),
            dtype=dtypes,
            keep_default_na=False,
            na_values={column: [""] for column in floats},
        )
        frames.append(frame)
        loaded += len(frame)
        if progress is not None:
            progress(loaded)

    async def sink(chunk: bytes) -> None:
        nonlocal header, lines
        pending.extend(chunk)
        if header:
            lines += chunk.count(b"\n")
        elif b"\n" in pending:
            cut = pending.index(b"\n") + 1
            header = bytes(pending[:cut])
            del pending[:cut]
            lines = pending.count(b"\n")
        # Cut a block after every ``rows`` line ends (team names hold no line breaks).
        while lines >= rows:
            cut = 0
            for _ in range(rows):
                cut = pending.index(b"\n", cut) + 1
            block = bytes(pending[:cut])
            del pending[:cut]
            lines -= rows
            parse(block)

    await driver.copy_from_query(str(compiled), *args, output=sink, format="csv", header=True)
    if pending or not frames:
        parse(bytes(pending))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _typed_matches(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    float_columns = [c for c in frame.columns if c in ODDS_COLUMNS or c in FEATURE_COLUMNS]
    float_columns += ["hthg", "htag"]
    frame[float_columns] = frame[float_columns].astype("float64")
    frame["kickoff"] = pd.to_datetime(frame["kickoff"])
    for column in ("match_id", "fthg", "ftag"):
        frame[column] = frame[column].astype("int64")
    for column in ("league", "season", "home_team", "away_team"):
        frame[column] = frame[column].astype(str)
    # The column assignments above leave one block per column (~140 with the Asian handicap
    # columns); one copy consolidates them, so adding a column in a notebook does not trip
    # pandas' "highly fragmented" PerformanceWarning.
    return frame.copy()


async def has_matches(
    session: AsyncSession, leagues: Sequence[str] | None, seasons: Sequence[str] | None
) -> bool:
    """Whether the scope holds a played match: stops at the first one, where counting them
    reads every match of the scope (a second of a warm million-match backtest's two)."""
    t = matches_table
    # One id, not the 130 columns of a match row with its teams joined: a submit asks this.
    first = _played_in_scope(
        select(t.c.id).join(League, League.id == t.c.league_id), leagues, seasons
    )
    return (await session.execute(first.limit(1))).first() is not None


async def matches_version(
    session: AsyncSession, leagues: Sequence[str] | None, seasons: Sequence[str] | None
) -> tuple[Any, ...]:
    """What changes whenever the scope's matches or features do: counts and latest writes.

    Every write path stamps rows (``matches.updated_at`` on insert and on a changed value,
    ``match_features.computed_at`` when features are replaced) and a deletion changes a count,
    so equal versions mean :func:`load_matches` would return the same frame.
    """
    t, f = matches_table, match_features_table
    stmt = (
        select(
            func.count(t.c.id),
            func.max(t.c.updated_at),
            func.count(f.c.match_id),
            func.max(f.c.computed_at),
        )
        .select_from(t)
        .join(League, League.id == t.c.league_id)
        .outerjoin(f, f.c.match_id == t.c.id)
    )
    if leagues:
        stmt = stmt.where(League.code.in_(list(leagues)))
    if seasons:
        stmt = stmt.where(t.c.season.in_(list(seasons)))
    return tuple(str(v) for v in (await session.execute(stmt)).one())


async def league_codes(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(League.code).order_by(League.code))).scalars())


async def leagues_with_seasons(session: AsyncSession, seasons: Sequence[str]) -> list[str]:
    """Codes of the leagues holding a match of any of ``seasons`` (what the refresh follows)."""
    stmt = (
        select(League.code)
        .join(matches_table, matches_table.c.league_id == League.id)
        .where(matches_table.c.season.in_(list(seasons)))
        .distinct()
        .order_by(League.code)
    )
    return list((await session.execute(stmt)).scalars())


async def matches_missing_features(
    session: AsyncSession, leagues: Sequence[str] | None
) -> list[str]:
    """Leagues (within ``leagues``) that hold a match with no ``match_features`` row."""
    t, f = matches_table, match_features_table
    stmt = (
        select(League.code)
        .join(t, t.c.league_id == League.id)
        .outerjoin(f, f.c.match_id == t.c.id)
        .where(f.c.match_id.is_(None), t.c.fthg.is_not(None))  # fixtures have no features
        .distinct()
    )
    if leagues:
        stmt = stmt.where(League.code.in_(list(leagues)))
    return sorted((await session.execute(stmt)).scalars())


def _league_list(leagues: str | Sequence[str]) -> list[str]:
    return [leagues] if isinstance(leagues, str) else sorted(set(leagues))


async def count_results(session: AsyncSession, leagues: Sequence[str]) -> dict[str, int]:
    """Played matches per league (leagues without any are left out): lets the feature refresh
    size its batches before it reads them."""
    t = matches_table
    stmt = (
        select(League.code, func.count())
        .join(t, t.c.league_id == League.id)
        .where(League.code.in_(list(leagues)), t.c.fthg.is_not(None))
        .group_by(League.code)
    )
    return {str(code): int(n) for code, n in (await session.execute(stmt)).all()}


async def load_results(session: AsyncSession, leagues: str | Sequence[str]) -> pd.DataFrame:
    """The played matches of one league or several with only what features need
    (``match_id``, ``league``, ``season``, ``kickoff``, teams, full-time goals), in kick-off
    order.

    The feature refresh after an import reads every match of its leagues; the full
    :func:`load_matches` would move its 60 price columns and JSON for nothing.  Several leagues
    are one query, because a statement per league is what made refreshing hundreds of small
    leagues slow.
    """
    import pandas as pd

    from filterbets_nb.db import bulk

    codes = _league_list(leagues)
    ids = await _ids_for(session, codes)
    by_id = {league_id: code for code, league_id in ids.items()}
    id_list = ", ".join(str(int(i)) for i in sorted(by_id)) or "NULL"
    sql = (
        "SELECT m.id, m.league_id, m.season, m.kickoff, h.name, a.name, m.fthg, m.ftag"
        " FROM matches m"
        " JOIN teams h ON h.id = m.home_team_id JOIN teams a ON a.id = m.away_team_id"
        f" WHERE m.league_id IN ({id_list}) AND m.fthg IS NOT NULL"
    )
    columns = [
        "match_id",
        "league_id",
        "season",
        "kickoff",
        "home_team",
        "away_team",
        "fthg",
        "ftag",
    ]
    connection = await session.connection()
    raw = await bulk.read_frame(connection, sql, columns, ["fthg", "ftag"])
    league_ids = raw["league_id"].astype(np.int64).to_numpy()
    order = sorted(by_id)
    slot = np.searchsorted(np.asarray(order, dtype=np.int64), league_ids)
    league = np.asarray([by_id[i] for i in order] or [""], dtype=object)[slot]
    frame = pd.DataFrame(
        {
            "match_id": raw["match_id"].astype(np.int64).to_numpy(),
            "league": pd.array(league, dtype="str"),
            "season": raw["season"].astype(str).to_numpy(),
            "kickoff": pd.to_datetime(raw["kickoff"], format="ISO8601").to_numpy(),
            "home_team": raw["home_team"].astype(str).to_numpy(),
            "away_team": raw["away_team"].astype(str).to_numpy(),
            "fthg": raw["fthg"].to_numpy(dtype=np.int64),
            "ftag": raw["ftag"].to_numpy(dtype=np.int64),
        }
    )
    return frame.sort_values(["kickoff", "match_id"], kind="stable", ignore_index=True)


async def replace_features(
    session: AsyncSession, leagues: str | Sequence[str], features: pd.DataFrame
) -> int:
    """Replace the ``match_features`` rows of the matches of ``leagues`` by ``features``:
    one delete, one bulk write and one ``scope_versions`` bump however many leagues."""
    from filterbets_nb.db import bulk

    ids = await _ids_for(session, _league_list(leagues))
    t = matches_table
    league_matches = select(t.c.id).where(t.c.league_id.in_(sorted(ids.values())))
    await session.execute(
        delete(match_features_table).where(match_features_table.c.match_id.in_(league_matches))
    )
    await bump_versions(session, ids.values(), features=True)
    # In key order: leagues read together come in kick-off order, which interleaves their ids,
    # and inserting those out of order splits the key index's pages all over the file.
    rows = features.sort_index().reset_index()[["match_id", *FEATURE_COLUMNS]]
    rows = rows.assign(computed_at=np.datetime64(utcnow(), "us"))
    # Binary COPY on PostgreSQL: numbers only, so the server parses no text (the CSV COPY of
    # a million rows' 36 floats cost more than computing them).
    if not await _copy_frame(session, match_features_table.name, rows):
        await bulk.insert_rows(await session.connection(), match_features_table.name, rows)
    return len(rows)


async def replace_team_stats(
    session: AsyncSession, leagues: str | Sequence[str], snapshot: pd.DataFrame
) -> int:
    """Replace the ``team_stats`` rows of ``leagues`` by ``snapshot`` (one row per team, with
    its ``league``)."""
    ids = await _ids_for(session, _league_list(leagues))
    league_of = snapshot["league"].astype(str).tolist() if len(snapshot) else []
    team_ids = await _team_ids(
        session,
        {(ids[lg], str(n)) for lg, n in zip(league_of, snapshot["team"], strict=True)},
    )
    await session.execute(delete(TeamStats).where(TeamStats.league_id.in_(sorted(ids.values()))))
    fixed = {"season", "played", "ppg", "form_pts_5", "form_pts_10", "gf_avg", "ga_avg"}
    rows = []
    now = utcnow()
    for record in _records(snapshot):
        league_id = ids[str(record["league"])]
        extra = {k: v for k, v in record.items() if k not in fixed | {"team", "league"}}
        last = extra.pop("last_match", None)
        rows.append(
            {
                "team_id": team_ids[(league_id, str(record["team"]))],
                "league_id": league_id,
                **{k: record.get(k) for k in fixed},
                "last_match": last,
                "stats": {
                    k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                    for k, v in extra.items()
                },
                "updated_at": now,
            }
        )
    if rows:
        await session.execute(insert(TeamStats), rows)
    return len(rows)


async def load_team_stats(session: AsyncSession, league: str | None = None) -> pd.DataFrame:
    import pandas as pd

    stmt = (
        select(League.code.label("league"), Team.name.label("team"), TeamStats)
        .join(Team, Team.id == TeamStats.team_id)
        .join(League, League.id == TeamStats.league_id)
        .order_by(League.code, Team.name)
    )
    if league:
        stmt = stmt.where(League.code == league)
    rows = []
    for code, team, stats in (await session.execute(stmt)).all():
        rows.append(
            {
                "league": code,
                "team": team,
                "season": stats.season,
                "played": stats.played,
                "ppg": stats.ppg,
                "form_pts_5": stats.form_pts_5,
                "form_pts_10": stats.form_pts_10,
                "gf_avg": stats.gf_avg,
                "ga_avg": stats.ga_avg,
                "last_match": stats.last_match,
                **(stats.stats or {}),
                "updated_at": stats.updated_at,
            }
        )
    return pd.DataFrame(rows)


# --- backtest jobs ---------------------------------------------------------------------------


def _check_label(label: str) -> None:
    """The label fits its column on every database: SQLite stores any length, and PostgreSQL
    would refuse it with a raw DBAPI error (or a NUL character at all). The scope's codes are
    checked once, by the client (``limits.check_scope_codes``), before any row is written."""
    limit = getattr(BacktestJob.__table__.c.label.type, "length", None)
    if not isinstance(label, str):
        raise ValueError(f"label: expected a string, got {type(label).__name__}")
    if limit is not None and len(label) > limit:
        raise ValueError(f"label: longer than {limit} characters ({len(label)})")
    if "\x00" in label:
        raise ValueError("label: contains a NUL character")


async def create_job(
    session: AsyncSession,
    job_id: str,
    filter_dict: dict[str, Any],
    scope: dict[str, Any],
    task_ids: list[str],
    label: str = "",
) -> None:
    _check_label(label)
    session.add(
        BacktestJob(
            id=job_id,
            label=label,
            filter=filter_dict,
            scope=scope,
            status="PENDING",
            task_ids=task_ids,
            progress={},
        )
    )


async def get_job(session: AsyncSession, job_id: str) -> BacktestJob | None:
    return await session.get(BacktestJob, job_id)


async def unfinished_jobs(session: AsyncSession, since: dt.datetime) -> list[BacktestJob]:
    """Jobs created after ``since`` that are not SUCCESS, FAILURE or REVOKED, oldest first."""
    stmt = (
        select(BacktestJob)
        .where(BacktestJob.status.not_in(ENDED_STATES))
        .where(BacktestJob.created_at >= since)
        .order_by(BacktestJob.created_at)
    )
    return list((await session.scalars(stmt)).all())


async def update_job(
    session: AsyncSession, job_id: str, *, unless: Sequence[str] = ("REVOKED",), **values: Any
) -> bool:
    """Set ``values`` on the job unless its status is in ``unless``; returns whether it did.

    By default nothing overwrites a cancelled job: a link that was already running when the
    chain was revoked must not turn it back into PROGRESS or SUCCESS.
    """
    values.setdefault("updated_at", utcnow())
    stmt = update(BacktestJob).where(BacktestJob.id == job_id)
    if unless:
        stmt = stmt.where(BacktestJob.status.not_in(list(unless)))
    result = await session.execute(stmt.values(**values))
    return bool(getattr(result, "rowcount", 0))


async def replace_bets(session: AsyncSession, job_id: str, bets: pd.DataFrame) -> int:
    """Store ``bets`` as the one set of bets of ``job_id``, replacing any earlier set."""
    await session.execute(delete(BacktestBet).where(BacktestBet.job_id == job_id))
    columns = ["match_id", "kickoff", "market", "odds", "closing_odds", "stake", "won", "profit"]
    columns.append("cum_profit")
    columns += [c for c in _BET_SETTLEMENT_COLUMNS if c in bets.columns]
    rows = bets[columns].copy()
    rows.insert(0, "seq", np.arange(1, len(rows) + 1))
    rows.insert(0, "job_id", job_id)
    rows["won"] = rows["won"].astype(bool)
    if await _copy_frame(session, BacktestBet.__tablename__, rows):
        return len(rows)
    if await _sqlite_executemany(session, BacktestBet.__tablename__, rows):
        return len(rows)
    records = _records(rows)
    for start in range(0, len(records), _BATCH):
        await session.execute(insert(BacktestBet), records[start : start + _BATCH])
    return len(records)


async def load_bets(
    session: AsyncSession, job_id: str, *, with_matches: bool = True
) -> pd.DataFrame:
    """A job's bets with the match they were placed on, in the order they were placed.

    ``with_matches=False`` skips the match details (league, season, teams, score): the bets'
    own columns are all the summary needs.
    """
    import pandas as pd

    t = matches_table
    home, away = aliased(Team), aliased(Team)
    b = BacktestBet
    figures = [b.market, b.odds, b.closing_odds, b.stake, b.won, b.profit, b.cum_profit]
    figures += [b.line, b.outcome, b.p_fair_close, b.clv]
    if with_matches:
        stmt = (
            select(
                b.seq,
                b.match_id,
                b.kickoff,
                League.code.label("league"),
                t.c.season,
                home.name.label("home_team"),
                away.name.label("away_team"),
                *figures,
                t.c.fthg,
                t.c.ftag,
            )
            .join(t, t.c.id == b.match_id)
            .join(League, League.id == t.c.league_id)
            .join(home, home.id == t.c.home_team_id)
            .join(away, away.id == t.c.away_team_id)
        )
    else:
        stmt = select(b.seq, b.match_id, b.kickoff, *figures)
    stmt = stmt.where(b.job_id == job_id).order_by(b.seq)
    result = await (await session.connection()).execute(stmt)
    floats = ["odds", "closing_odds", "stake", "profit", "cum_profit"]
    floats += ["line", "p_fair_close", "clv"]
    frame = _frame(result.all(), list(result.keys()), floats)
    frame["kickoff"] = pd.to_datetime(frame["kickoff"])
    frame["won"] = frame["won"].astype(bool)
    for column in floats:
        frame[column] = frame[column].astype("float64")
    return frame.drop(columns="seq")


async def list_jobs(session: AsyncSession, limit: int = 100) -> pd.DataFrame:
    import pandas as pd

    stmt = select(BacktestJob).order_by(BacktestJob.created_at.desc()).limit(limit)
    rows = []
    for job in (await session.execute(stmt)).scalars():
        summary = job.summary or {}
        rows.append(
            {
                "job_id": job.id,
                "label": job.label,
                # The scope tells apart runs with the same label; "all" when not restricted.
                "leagues": ",".join((job.scope or {}).get("leagues") or []) or "all",
                "seasons": ",".join((job.scope or {}).get("seasons") or []) or "all",
                "state": job.status,
                "market": job.filter.get("market"),
                "bets": job.n_bets,
                "profit": summary.get("profit"),
                "roi": summary.get("roi"),
                "created_at": job.created_at,
                "finished_at": job.finished_at,
                "error": job.error,
            }
        )
    return pd.DataFrame(rows)


async def stored_scope(session: AsyncSession) -> pd.DataFrame:
    """What is stored: one row per league and season with its match count (league, season,
    matches), in code and season order; what a scope that matches nothing is told."""
    import pandas as pd

    t = matches_table
    stmt = (
        select(League.code, t.c.season, func.count(t.c.id))
        .select_from(t)
        .join(League, League.id == t.c.league_id)
        .group_by(League.code, t.c.season)
        .order_by(League.code, t.c.season)
    )
    rows = (await session.execute(stmt)).all()
    return pd.DataFrame(
        [(code, season, int(n)) for code, season, n in rows],
        columns=["league", "season", "matches"],
    )
