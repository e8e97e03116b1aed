"""A bulk load's checkpoint, run in the background once the load has committed.

In WAL mode a commit appends pages to the log, and a checkpoint copies them into the database
file. SQLite checkpoints in the connection that commits, as soon as the log passes 1000
pages: after a million-match import that is the whole gigabyte and a half written a second
time (about five seconds) before the import returns, while the analyst's next step, a
backtest, reads through the log just as well as through the file. So a load's own
connection skips it (:func:`skip_autocheckpoint`), and :func:`checkpoint_after` copies the log
in a thread of this process once the load has committed, beside whatever runs next, as
PostgreSQL's checkpointer does. Until then nothing is at risk: the committed pages are in the
log, which every reader consults, and a crash leaves the next connection to checkpoint.

The thread holds its connection open from before the load begins: the load's connection is
then not the database's last one, and SQLite checkpoints when the last one closes. The thread
is not a daemon, so a command that exits right after a load waits for the copy, as it did
when the commit made it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db.sqlite_connection import BUSY_TIMEOUT_MS, CONNECT_ARGS
from filterbets_nb.db.wal_hold import counted_connection, sqlite_file

logger = logging.getLogger(__name__)


async def skip_autocheckpoint(session: AsyncSession) -> None:
    """Leave this session's commits to a later checkpoint (SQLite only; the embedded default
    opens a connection per session, so the setting goes with it)."""
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")


def _checkpoint(connection: sqlite3.Connection) -> None:
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as exc:  # the next commit's checkpoint does it: only time is lost
        logger.warning("background checkpoint failed: %s", exc)
    finally:
        connection.close()


@contextmanager
def checkpoint_after(url: str) -> Iterator[threading.Thread | None]:
    """Around a load into ``url``: checkpoint its log in a thread once the block has ended
    without an error (the thread, joinable, or None for a database that is not a SQLite
    file). On an error the connection closes at once."""
    path = sqlite_file(url)
    if path is None or not path.exists():
        yield None
        return
    connection = counted_connection(
        path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, **CONNECT_ARGS
    )
    thread = threading.Thread(
        target=_checkpoint, args=(connection,), name="filterbets-checkpoint", daemon=False
    )
    try:
        yield thread
    except BaseException:
        connection.close()
        raise
    thread.start()
