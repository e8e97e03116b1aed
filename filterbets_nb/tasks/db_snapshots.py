"""Scope snapshots in PostgreSQL: the columns a worker read by ``COPY``, for every other machine.

:mod:`.snapshot_files` serves the processes of one data dir; with workers on several machines,
each machine's first backtest of a scope still read its columns by ``COPY``, which PostgreSQL
sends at ~0.5M rows/s here however few columns are asked for (it builds and sends each row).
Here a worker that read a scope's columns also stores each of them as one ``bytea`` in
``column_snapshots``: the bytes of the same one-column Arrow IPC file the snapshot files hold
(:func:`~.snapshot_files.column_bytes`), so a column of 1M prices is one 8 MB value the server
sends as is, and the reader wraps it without decoding.

Rows are keyed by a digest of the scope's leagues and seasons (not the database URL: every
machine may reach the server by another name) and the scope's
:func:`~filterbets_nb.db.match_columns.scope_version`, which every write to its matches or
features changes, so a stale snapshot is never read; writing a version deletes the scope's
others. The scope's counts (:class:`~filterbets_nb.db.match_columns.ScopeState`) are kept
beside them, as in the files, so that machine skips counting them too. As in the files,
``match_id`` is stored first and once per version, and a column read with other matches (some
written between the version read and the load) is not stored.

SQLite keeps its own path: the embedded default has one machine, whose snapshot files serve it.
Writes run in their own transaction and only log a failure: the table is a cache.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from filterbets_nb.db.match_columns import ScopeState
from filterbets_nb.db.models import column_snapshots_table
from filterbets_nb.tasks.snapshot_files import (
    column_bytes,
    column_from_bytes,
    state_from_json,
    state_to_json,
)

logger = logging.getLogger(__name__)

_ID = "match_id"
#: The row of a scope's counts (no column's name holds a dot).
_STATE = "state.json"


def scope_digest(leagues: Sequence[str] | None, seasons: Sequence[str] | None) -> str:
    """The key of a scope's rows: the same on every machine that reads the same database."""
    text = repr((sorted(leagues or ()), sorted(seasons or ())))
    return hashlib.sha256(text.encode()).hexdigest()


async def _postgres(session: AsyncSession) -> bool:
    return (await session.connection()).dialect.name == "postgresql"


async def read(
    session: AsyncSession, scope: str, version: str, columns: Sequence[str]
) -> pd.DataFrame | None:
    """``match_id`` and those of ``columns`` stored for ``scope`` at ``version`` (in
    ``session``'s transaction), or None when nothing is stored for that version or the
    database is not PostgreSQL."""
    if not await _postgres(session):
        return None
    t = column_snapshots_table
    names = sorted({_ID, *columns})
    stmt = select(t.c.column_name, t.c.rows, t.c.payload).where(
        t.c.scope == scope, t.c.version == version, t.c.column_name.in_(names)
    )
    result = await session.execute(stmt)
    stored = {str(name): (int(rows), payload) for name, rows, payload in result}
    if _ID not in stored:
        return None
    rows = stored[_ID][0]
    try:
        data = {
            name: column_from_bytes(payload) for name, (n, payload) in stored.items() if n == rows
        }
    except pa.ArrowException as exc:
        logger.warning("column snapshot of a scope unreadable, read again: %s", exc)
        return None
    ids = data.pop(_ID)
    return pd.DataFrame({_ID: ids, **data}, copy=False)


async def read_state(session: AsyncSession, scope: str, version: str) -> ScopeState | None:
    """The scope's counts stored at ``version`` (a worker on another machine skips counting
    them), or None."""
    if not await _postgres(session):
        return None
    t = column_snapshots_table
    stmt = select(t.c.payload).where(
        t.c.scope == scope, t.c.version == version, t.c.column_name == _STATE
    )
    payload = await session.scalar(stmt)
    return None if payload is None else state_from_json(bytes(payload).decode(), version)


async def write_state(session: AsyncSession, scope: str, state: ScopeState) -> None:
    """Store ``state`` beside its version's columns (unless stored); a failure is only logged."""
    row = {
        "scope": scope,
        "version": state.version,
        "column_name": _STATE,
        "rows": state.matches,
        "payload": state_to_json(state).encode(),
    }

    async def work(connection: AsyncConnection) -> None:
        await _drop_other_versions(connection, scope, state.version)
        await connection.execute(
            postgresql.insert(column_snapshots_table).on_conflict_do_nothing(), row
        )

    await _own_transaction(session, work)


async def write(session: AsyncSession, scope: str, version: str, frame: pd.DataFrame) -> None:
    """Store the columns of ``frame`` (read at ``version``, with ``match_id``) that are not
    stored yet, if its matches are those stored for that version (or none are); a failure is
    only logged."""
    if _ID in frame.columns:
        await _own_transaction(session, lambda c: _write(c, scope, version, frame))


async def _own_transaction(
    session: AsyncSession, work: Callable[[AsyncConnection], Awaitable[None]]
) -> None:
    """``work`` in a transaction of its own on ``session``'s engine (PostgreSQL only), so the
    job's transaction neither waits for it nor fails with it: the table is a cache."""
    if not await _postgres(session):
        return
    engine = session.bind
    assert isinstance(engine, AsyncEngine)
    try:
        async with engine.begin() as connection:
            await work(connection)
    except (SQLAlchemyError, OSError, pa.ArrowException) as exc:
        logger.warning("column snapshot of a scope not written: %s", exc)


async def _drop_other_versions(connection: AsyncConnection, scope: str, version: str) -> None:
    t = column_snapshots_table
    await connection.execute(delete(t).where(t.c.scope == scope, t.c.version != version))


async def _write(
    connection: AsyncConnection, scope: str, version: str, frame: pd.DataFrame
) -> None:
    t = column_snapshots_table
    this = (t.c.scope == scope) & (t.c.version == version)
    await _drop_other_versions(connection, scope, version)
    ids = frame[_ID]
    insert = postgresql.insert(t).on_conflict_do_nothing()
    first = {"scope": scope, "version": version, "rows": len(ids)}
    row = {**first, "column_name": _ID, "payload": column_bytes(ids)}
    added = await connection.execute(insert.returning(t.c.column_name), row)
    if added.first() is None:  # stored before: by this job's or another worker's earlier read
        stmt = select(t.c.payload).where(this, t.c.column_name == _ID)
        payload = (await connection.execute(stmt)).scalar_one()
        if not np.array_equal(np.asarray(column_from_bytes(payload)), ids.to_numpy()):
            return
    stored = set((await connection.execute(select(t.c.column_name).where(this))).scalars())
    for name in frame.columns:
        if name not in stored:
            row = {**first, "column_name": name, "payload": column_bytes(frame[name])}
            await connection.execute(insert, row)
