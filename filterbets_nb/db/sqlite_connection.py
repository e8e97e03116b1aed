"""The one kind of SQLite connection the embedded default opens: counted by the fork guard,
and set up for many processes sharing one file, as it opens.

Every SQLite connection of this package, ours (aiosqlite) and Celery's result backend's
(sqlite3 through SQLAlchemy), is made by ``sqlite3.connect(..., factory=EmbeddedConnection)``
(:data:`CONNECT_ARGS`). Setting the pragmas in the constructor runs them inside the open, on
the thread that opens: set from SQLAlchemy's ``connect`` event instead, each was one more
round trip through aiosqlite's thread, half a dozen per connection, and the embedded default
opens a connection per use.

Why these pragmas: WAL lets the notebook read while a worker writes, and a writer killed
mid-write (a revoke with terminate) leaves nothing for the next one to wait on; the busy
timeout waits out the writer's lock. ``synchronous=NORMAL`` is SQLite's setting for WAL: a
commit no longer waits for the disk (a warm backtest chain made 17 fsyncs), the file stays
consistent through any crash, and a killed process loses nothing; only a power cut may roll
back the last commits before a checkpoint. ``journal_size_limit`` trims the log after a
checkpoint: pool processes hold it open (:mod:`.wal_hold`), so a bulk load's gigabyte of log
would otherwise stay on disk instead of going with the last close.
"""

from __future__ import annotations

from typing import Any

from filterbets_nb.db.fork_guard import GuardedConnection

#: Milliseconds a statement waits for another connection's write lock.
BUSY_TIMEOUT_MS = 30_000
#: Bytes of write-ahead log kept on disk after a checkpoint.
WAL_SIZE_LIMIT = 64 * 2**20

#: Bytes per page of a database file this package creates (an existing file keeps its own).
#: A match row is about 900 bytes, so SQLite's default 4 kB page holds four; at 16 kB the
#: million-match load writes a quarter of the pages, log frames and system calls (1M load:
#: 38.1 / 41.7 s -> 36.5 / 36.3 s, interleaved), and the file is 12 % smaller.
PAGE_SIZE = 16_384

#: The busy timeout first: switching a new file to WAL already takes a lock; the page size
#: before that, since the switch writes the new file's first page.
PRAGMAS = (
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    f"PRAGMA page_size={PAGE_SIZE}",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}",
)


class EmbeddedConnection(GuardedConnection):
    """A guarded ``sqlite3`` connection with :data:`PRAGMAS` applied as it opens."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            for pragma in PRAGMAS:
                self.execute(pragma).close()
        except BaseException:
            self.close()
            raise


#: ``connect_args`` of every SQLite engine of the embedded default.
CONNECT_ARGS: dict[str, Any] = {"factory": EmbeddedConnection}
