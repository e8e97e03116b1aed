"""No ``fork()`` while this process has a SQLite connection open.

SQLite keeps, per process, a table of the files it has open and the locks it believes this
process holds on them (POSIX locks belong to a process, so its connections share that
bookkeeping). A child forked while a connection is open inherits the table but not the locks,
and its own connections to that file then trust locks nobody holds, or wait for ever on
one only the parent could release. SQLite's documentation says not to carry a connection over
a fork; a prefork worker does exactly that when it replaces a pool process from a thread while
its main thread writes a task state (seen: after a cancel terminated a pool process, its
replacement, forked while the worker stored the REVOKED state, failed "database is locked" on
every try for minutes, and a research run never ended).

So every SQLite connection of this package (ours and Celery's result backend's) is a
:class:`GuardedConnection`, counted from before SQLite opens it until after SQLite closed it (a
fork during the open or close themselves could copy one of SQLite's global mutexes taken), the
SQLite engines open a connection per use instead of pooling idle ones, and the pool forks
inside :func:`quiet`, which waits until none is open and holds new ones back until the fork is
done.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

#: Longest wait for the open connections to close before a fork goes ahead anyway (a
#: connection held that long is a bug of its own; the fork must not wait for ever).
QUIET_WAIT = 30.0


class _Guard:
    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A child starts with no connection of its own and a lock nobody holds (the parent's
        # thread that held it at the fork does not exist here).
        self.cond = threading.Condition()
        self.open = 0

    def opened(self) -> None:
        with self.cond:
            self.open += 1

    def closed(self) -> None:
        with self.cond:
            self.open = max(0, self.open - 1)
            self.cond.notify_all()


_guard = _Guard()


class GuardedConnection(sqlite3.Connection):
    """A ``sqlite3`` connection counted by the fork guard (``sqlite3.connect(...,
    factory=...)`` of a subclass: :mod:`.sqlite_connection` is the one the package opens)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _guard.opened()  # waits while a fork is under way
        self._counted = True
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self._uncount()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._uncount()

    def __del__(self) -> None:  # dropped without close(): sqlite3 closes it right after
        self._uncount()

    def _uncount(self) -> None:
        if getattr(self, "_counted", False):
            self._counted = False
            _guard.closed()


def open_connections() -> int:
    """SQLite connections open in this process (tests, diagnostics)."""
    return _guard.open


@contextmanager
def quiet(timeout: float = QUIET_WAIT) -> Iterator[None]:
    """Wait until no SQLite connection is open in this process, then keep new ones from
    opening until the block ends (wrap a ``fork()`` in it)."""
    with _guard.cond:
        if not _guard.cond.wait_for(lambda: _guard.open == 0, timeout):
            logger.warning(
                "forking with %d SQLite connection(s) still open after %.0f s",
                _guard.open,
                timeout,
            )
        yield
