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
kernel releases it when the process that holds it dies, however it dies. The Redis shape keeps
its pipes. ``celery_app`` makes it the default pool (``worker_pool``).

Both shapes also stop sooner than billiard's own (a warm stop took 3.6 s, most of it sleeping):

- a child leaving the pool told its parent so, then slept a whole second before it exited, and
  the worker's stop joins every child (:class:`QuickExit`);
- the time-limit watcher thread of the classic shape slept a second between rounds, and the
  worker's exit joins it (:class:`PromptTimeoutHandler`).
"""

from __future__ import annotations

import fcntl
import os
import signal
import tempfile
import threading
import time
from typing import Any

from billiard import pool as billiard_pool
from billiard.pool import Pool as BlockingPool
from celery.concurrency import asynpool
from celery.concurrency.prefork import TaskPool as PreforkTaskPool

from filterbets_nb.db import fork_guard

#: Seconds a leaving child waits after telling the parent, so the parent reads that it left
#: before it sees the process gone (billiard waits 1 s, which every stop paid in full).
EXIT_GRACE = 0.05


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


class QuickExit:
    """A pool child's way out: the ``on_exit`` callback, then the DEATH message to the parent
    (with the parent's terminate signal blocked, so that signal cannot leave the result pipe's
    lock held), then :data:`EXIT_GRACE` seconds instead of billiard's second, then ``_exit``."""

    on_exit: Any
    outq: Any

    def _do_exit(self, pid: int, exitcode: int | None, exc: BaseException | None = None) -> None:
        if exitcode is None:
            exitcode = 1 if exc else 0
        if self.on_exit is not None:
            self.on_exit(pid, exitcode)
        try:
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {billiard_pool.TERM_SIGNAL})
            try:
                self.outq.put((billiard_pool.DEATH, (pid, exitcode)))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            time.sleep(EXIT_GRACE)
        finally:
            os._exit(exitcode)


class QuickExitWorker(QuickExit, billiard_pool.Worker):
    """A child of the classic pool that exits without billiard's one-second sleep."""


class QuickExitAsynWorker(QuickExit, asynpool.Worker):
    """A child of the event-loop pool that exits without billiard's one-second sleep."""


class PromptTimeoutHandler(billiard_pool.TimeoutHandler):
    """billiard's time-limit watcher, woken at once when the pool closes or terminates (its
    own sleeps a second between rounds, and the worker's exit waits for it)."""

    ROUND = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._wake = threading.Event()
        super().__init__(*args, **kwargs)

    def close(self) -> None:
        super().close()
        self._wake.set()

    def terminate(self) -> None:
        super().terminate()
        self._wake.set()

    def body(self) -> None:
        while self._state == billiard_pool.RUN:
            try:
                for _ in self.handle_timeouts():
                    if self._wake.wait(self.ROUND):
                        break
            except billiard_pool.CoroStop:
                break


class RobustBlockingPool(BlockingPool):
    """billiard's classic pool, with the locks children take replaced before they are forked
    (the job pipe's read lock and the result pipe's write lock), children forked only while no
    SQLite connection is open here, that exit at once, and a time-limit watcher that stops at
    once."""

    Worker = QuickExitWorker
    TimeoutHandler = PromptTimeoutHandler

    def _create_worker_process(self, i: int) -> Any:
        # Never with a SQLite connection open in this process (see db.fork_guard): the
        # supervisor thread replaces a lost child while the main thread may be storing a state.
        with fork_guard.quiet():
            return super()._create_worker_process(i)

    def _setup_queues(self) -> None:
        super()._setup_queues()
        self._inqueue._rlock = ProcessLock()
        self._outqueue._wlock = ProcessLock()


class QuickExitAsynPool(asynpool.AsynPool):
    """Celery's event-loop pool (Redis), with children that exit at once."""

    Worker = QuickExitAsynWorker


class TaskPool(PreforkTaskPool):
    """Celery's prefork pool, using :class:`RobustBlockingPool` where it would use billiard's
    classic pool and :class:`QuickExitAsynPool` where it would use its event-loop pool."""

    BlockingPool = RobustBlockingPool
    Pool = QuickExitAsynPool

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
