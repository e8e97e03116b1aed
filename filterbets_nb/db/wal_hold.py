"""Keep SQLite's write-ahead log in place while a worker's pool process lives.

When the last connection to a WAL database closes, SQLite checkpoints the log into the
database (four ``fdatasync`` calls) and deletes the ``-wal`` and ``-shm`` files; the next
connection creates them again. The embedded default opens a connection per use (see
:mod:`.fork_guard`: no idle connection may be open when the worker forks), so nearly every
close was the last one: a warm backtest chain paid about eleven checkpoints and 25
``fdatasync`` calls, half of the chain's time in its database work (strace, py-spy).

A pool process never forks, so it may hold one idle connection per SQLite file for its
whole life: then no other close is the last one, and the log is checkpointed as SQLite does
while the database is in use (every 1000 pages) instead of at every close. The held
connection never opens a transaction, so it blocks no checkpoint and no writer.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

_held: dict[Path, sqlite3.Connection] = {}


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (``sqlite+aiosqlite:///...``, ``db+sqlite:///...``), or None
    for any other database or an in-memory one."""
    if url.startswith("db+"):
        url = url[3:]
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def counted_connection(path: Path, **connect: Any) -> sqlite3.Connection:
    """A connection to ``path`` (``sqlite3.connect`` arguments ``connect``) that counts when
    another one closes: SQLite checkpoints and removes the log only at the close of the last
    connection that has mapped the log's index, which a read does."""
    connection = sqlite3.connect(path, **connect)
    try:
        connection.execute("PRAGMA schema_version").fetchall()
    except BaseException:
        connection.close()
        raise
    return connection


def hold(urls: list[str]) -> list[Path]:
    """Hold one idle connection open to each existing SQLite file among ``urls`` (in this
    process, until it exits); returns the files held. Only for a process that never forks."""
    held = []
    for url in urls:
        path = sqlite_file(url)
        if path is None or path in _held or not path.exists():
            continue
        try:
            conn = counted_connection(path, timeout=30, check_same_thread=False)
        except sqlite3.Error as exc:  # a read-only or damaged file: only speed is lost
            logger.warning("could not hold %s open: %s", path, exc)
            continue
        _held[path] = conn
        held.append(path)
    return held


def release() -> None:
    """Close the held connections (tests; a process that exits needs no call)."""
    while _held:
        _, conn = _held.popitem()
        conn.close()
