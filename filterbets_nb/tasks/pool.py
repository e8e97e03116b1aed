"""A prefork pool whose shared queue locks die with the process holding them.

Celery runs its prefork pool in one of two shapes. With a broker that has an event loop (Redis),
every child process gets pipes of its own (``AsynPool``). With one that has none (the embedded
``filesystem://`` transport) it uses billiard's classic ``Pool``: all children read jobs from
*one* pipe, guarded by a ``multiprocessing.Lock``, and an idle child waits for the next job
*while holding that lock*. SIGKILL that child (the OOM killer, a user's ``kill -9``) and the
lock is never released: the replacement children block on it for ever, the worker takes
messages from the broker but runs none of them, and a warm shutdown waits on the same lock.

:class:`TaskPool` is Celery's prefork pool with those locks replaced by
:class:`ProcessLock`, a POSIX record lock (``fcntl.lockf``) on an unlinked temporary file: the
kernel releases it when the process that holds it dies, however it dies. The Redis shape is left
as it is. ``celery_app`` makes it the default pool (``worker_pool``).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time

from billiard.pool import Pool as BlockingPool
from celery.concurrency.prefork import TaskPool as PreforkTaskPool


class ProcessLock:
    """An inter-process lock that a dying holder releases (see the module docstring).

    Record locks belong to a process and are not inherited across ``fork``, so every process
    that shares the open file still excludes the others. Only one thread per process may use it
    at a time, which is how the pool uses its queue locks (one reader per child process).
    """

    #: Seconds between tries of a non-blocking acquire with a timeout.
    POLL = 0.01

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="filterbets-pool-lock-")
        os.unlink(path)  # the open descriptor keeps the file; nothing is left behind
        self._fd = fd

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        if block and timeout is None:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            return True
        deadline = time.monotonic() + ((timeout or 0.0) if block else 0.0)
        while True:
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(self.POLL)

    def release(self) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class RobustBlockingPool(BlockingPool):
    """billiard's classic pool, with the locks children take replaced before they are forked:
    the job pipe's read lock and the result pipe's write lock."""

    def _setup_queues(self) -> None:
        super()._setup_queues()
        self._inqueue._rlock = ProcessLock()
        self._outqueue._wlock = ProcessLock()


class TaskPool(PreforkTaskPool):
    """Celery's prefork pool, using :class:`RobustBlockingPool` where it would use billiard's."""

    BlockingPool = RobustBlockingPool

    def on_start(self) -> None:
        _warm_prctl_parser()
        super().on_start()


def _warm_prctl_parser() -> None:
    """Parse billiard's ``prctl`` declaration once here, before the children are forked.

    Every pool child sets its parent-death signal through billiard, which, when cffi is
    installed, declares ``prctl`` with ``cffi.FFI().cdef``: the first such call in a process
    imports and builds pycparser's C parser, 0.13-0.28 s of CPU in each child while the worker
    starts. Done in the parent, the children inherit the built parser and their call is ~3 ms.
    """
    try:
        import cffi
    except ImportError:  # billiard then uses ctypes, which costs nothing
        return
    cffi.FFI().cdef("int prctl (int __option, ...);")


#: What ``worker_pool`` names (``celery worker --pool`` overrides it).
POOL = f"{__name__}:TaskPool"
