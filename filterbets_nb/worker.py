"""Finding a Celery worker, or starting one for the user.

In embedded mode nobody should have to open a terminal: the first submit starts the data dir's
**shared worker**, a detached ``celery worker`` (both queues) that every kernel and CLI process
on that data dir uses. It is guarded by a lock file that the worker process itself holds for
its whole life (``flock`` on ``worker.lock``, inherited at start), so "is it running?" is one
non-blocking lock attempt, not a race of pings, and two processes cannot start two of them. It
stops itself after ``FILTERBETS_WORKER_IDLE_TIMEOUT`` seconds without work (default 900; 0 =
never) and nobody waits for it at exit. ``filterbets-nb worker status|stop`` show and stop it.

:func:`start_worker` still starts extra, private workers tied to the calling process (stopped
when it exits or dies), for scaling out by hand.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filterbets_nb.config import Settings, get_settings

logger = logging.getLogger(__name__)

APP = "filterbets_nb.tasks.celery_app"
#: What :func:`worker_command` runs: a worker of :data:`APP` without Celery's command line.
WORKER_MAIN = "filterbets_nb.tasks.worker_main"
QUEUES = "backtest,stats"
#: The module that opens the shared worker's door (``worker_door``); only that worker has one.
DOOR_HOOKS = "filterbets_nb.door_hooks"


def ping(timeout: float = 1.0) -> list[dict[str, Any]]:
    """Replies of the workers listening on the configured broker (empty when none answers)."""
    from filterbets_nb.tasks.celery_app import get_app

    try:
        return list(get_app().control.ping(timeout=timeout) or [])
    except Exception as exc:  # broker down: nobody can answer
        logger.debug("ping failed: %s", exc)
        return []


def worker_command(
    *,
    concurrency: int = 2,
    queues: str = QUEUES,
    loglevel: str = "INFO",
    hostname: str | None = None,
    beat: bool = False,
    logfile: Path | None = None,
    pool: str | None = None,
    include: str | None = None,
) -> list[str]:
    """The worker command line this package runs (both queues by default): ``celery worker``'s
    flags, through :mod:`filterbets_nb.tasks.worker_main`, which skips Celery's command line
    (0.3 s of every start); ``include`` names extra modules the worker imports (``-I``)."""
    cmd = [sys.executable, "-m", WORKER_MAIN, "-Q", queues]
    cmd += ["-c", str(concurrency), "--loglevel", loglevel]
    if include:
        cmd += ["-I", include]
    if hostname:
        cmd += ["-n", hostname]
    if pool:
        cmd += ["--pool", pool]
    if beat:
        schedule = get_settings().data_dir / "celerybeat-schedule"
        cmd += ["--beat", "--schedule", str(schedule)]
    if logfile:
        cmd += ["--logfile", str(logfile)]
    return cmd


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that gives a child process exactly these settings."""
    env = dict(os.environ)
    env.update(
        FILTERBETS_DATA_DIR=str(settings.data_dir),
        FILTERBETS_DATABASE_URL=settings.database,
        FILTERBETS_BROKER_URL=settings.broker_url,
        FILTERBETS_RESULT_BACKEND=settings.backend,
        FILTERBETS_BROKER_POLLING_INTERVAL=str(settings.broker_polling_interval),
    )
    return env


@dataclass
class ManagedWorker:
    """A worker process this package started."""

    process: subprocess.Popen[bytes]
    logfile: Path
    hostname: str
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 8.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


_started: list[ManagedWorker] = []


def start_worker(
    settings: Settings | None = None,
    *,
    concurrency: int | None = None,
    beat: bool = False,
    wait: float = 60.0,
    tie_to_parent: bool = True,
) -> ManagedWorker:
    """Start a worker process and wait until it answers a ping."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    hostname = f"fb-{os.getpid()}-{len(_started)}@%h"
    logfile = settings.data_dir / f"worker-{os.getpid()}-{len(_started)}.log"
    env = settings_env(settings)
    if tie_to_parent:
        env["FILTERBETS_PARENT_PID"] = str(os.getpid())
    cmd = worker_command(
        concurrency=concurrency or settings.worker_concurrency,
        hostname=hostname,
        beat=beat,
        logfile=logfile,
    )
    process = subprocess.Popen(
        cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    worker = ManagedWorker(process, logfile, hostname.replace("%h", os.uname().nodename))
    _started.append(worker)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            where = f"; see {logfile}" if logfile.exists() else " before writing a log"
            raise RuntimeError(f"the Celery worker exited with code {process.returncode}{where}")
        if any(worker.hostname in reply for reply in ping(timeout=0.5)):
            logger.info("started Celery worker pid %s (log: %s)", process.pid, logfile)
            return worker
    worker.stop()
    where = f"; see {logfile}" if logfile.exists() else " and wrote no log"
    raise TimeoutError(f"the Celery worker did not answer within {wait:.0f} s{where}")


def stop_started_workers() -> None:
    """Stop every worker this process started (registered with ``atexit``)."""
    while _started:
        _started.pop().stop()


atexit.register(stop_started_workers)


# ---------------------------------------------------------------------------------------------
# The shared worker of a data dir
# ---------------------------------------------------------------------------------------------

IDLE_TIMEOUT_ENV = "FILTERBETS_WORKER_IDLE_TIMEOUT"
DEFAULT_IDLE_TIMEOUT = 900.0
#: Seconds a told-to-stop worker gets for its warm shutdown before it is killed.
STOP_GRACE = 6.0
#: Size at which the worker log is rotated (at the next start), and rotated copies kept.
LOG_MAX_BYTES = 5_000_000
LOG_BACKUPS = 3
#: Control messages older than this are left over from workers or clients that are gone.
STALE_CONTROL_SECONDS = 120.0


#: Set to 0 to never start the shared worker from a submit (tests that run their own workers).
AUTOSTART_ENV = "FILTERBETS_WORKER_AUTOSTART"


def autostart_allowed() -> bool:
    """Whether a submit may start the data dir's shared worker (``FILTERBETS_WORKER_AUTOSTART``,
    default on; ``fb.connect(start_worker=False)`` turns it off for one process on top)."""
    return os.environ.get(AUTOSTART_ENV, "1").strip() != "0"


def idle_timeout() -> float:
    """``FILTERBETS_WORKER_IDLE_TIMEOUT`` in seconds (0 = never stop), with a clear error."""
    raw = os.environ.get(IDLE_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_IDLE_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{IDLE_TIMEOUT_ENV} must be a number of seconds, not {raw!r}") from None
    if value < 0 or value != value:
        raise ValueError(f"{IDLE_TIMEOUT_ENV} must be >= 0 (0 = never stop), not {raw!r}")
    return value


@dataclass(frozen=True)
class SharedPaths:
    """The files of a data dir's shared worker."""

    lock: Path
    info: Path
    log: Path

    @classmethod
    def of(cls, settings: Settings) -> SharedPaths:
        d = settings.data_dir
        return cls(d / "worker.lock", d / "worker.json", d / "worker.log")


def _try_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock on ``path``, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def shared_worker_info(settings: Settings | None = None) -> dict[str, Any] | None:
    """``{"pid", "hostname", "started", "idle_timeout", "log"}`` of the running shared worker,
    or None when none runs (nobody holds the lock)."""
    paths = SharedPaths.of(settings or get_settings())
    if not paths.lock.parent.exists():
        return None
    fd = _try_lock(paths.lock)
    if fd is not None:
        os.close(fd)  # we got it: nobody runs
        return None
    try:
        info: dict[str, Any] = json.loads(paths.info.read_text())
    except (OSError, ValueError):
        info = {"pid": None, "hostname": None}
    info["log"] = str(paths.log)
    return info


def _rotate(log: Path) -> None:
    if not log.exists() or log.stat().st_size < LOG_MAX_BYTES:
        return
    for i in range(LOG_BACKUPS - 1, 0, -1):
        older = log.with_name(f"{log.name}.{i}")
        if older.exists():
            older.replace(log.with_name(f"{log.name}.{i + 1}"))
    log.replace(log.with_name(f"{log.name}.1"))


def clean_control_files(settings: Settings, older_than: float = STALE_CONTROL_SECONDS) -> int:
    """Delete pidbox and reply messages nobody will read (left by dead workers and clients).

    On the filesystem transport a broadcast (ping, inspect) writes one file per worker ever
    bound to the control exchange, and replies to a client that stopped listening stay too.
    A live worker or client reads its own within a poll, so old ones are garbage.
    """
    folder = settings.broker_folder
    if settings.mode != "embedded" or not folder.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for entry in os.scandir(folder):
        if entry.name.endswith(".pidbox.msg"):
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    os.remove(entry.path)
                    removed += 1
    return removed


def ensure_shared_worker(settings: Settings | None = None) -> dict[str, Any]:
    """Start the data dir's shared worker unless it runs; returns its info. Never waits for it
    to be ready: a task sent now waits in the broker folder until the worker takes it."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    paths = SharedPaths.of(settings)
    fd = _try_lock(paths.lock)
    if fd is None:
        return shared_worker_info(settings) or {"pid": None, "log": str(paths.log)}
    try:
        timeout = idle_timeout()
        clean_control_files(settings)
        _rotate(paths.log)
        env = settings_env(settings)
        env.pop("FILTERBETS_PARENT_PID", None)
        env["FILTERBETS_SHARED_IDLE"] = str(timeout)
        # One stable name per data dir: the broker folder is the data dir's own, and a new name per
        # start would add a pidbox queue that every later broadcast writes a message to.
        hostname = f"fb-shared@{os.uname().nodename}"
        cmd = worker_command(
            concurrency=settings.worker_concurrency,
            hostname=hostname,
            logfile=paths.log,
            include=DOOR_HOOKS,
        )
        process = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(fd,),
            start_new_session=True,  # no terminal signal or kernel death reaches it
        )
        _detached.append(process)
        info = {
            "pid": process.pid,
            "hostname": hostname,
            "started": time.time(),
            "idle_timeout": timeout,
            "log": str(paths.log),
            "door": True,  # it opens worker_door's socket once ready
        }
        tmp = paths.info.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(paths.info)
        logger.info("started the shared worker pid %s (log: %s)", process.pid, paths.log)
        return info
    finally:
        os.close(fd)  # the worker holds the lock through its inherited copy


#: Detached workers started here, kept only so their ``Popen`` can be reaped (no zombie).
_detached: list[subprocess.Popen[bytes]] = []


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs. A zombie (exited, not yet reaped by a parent that is not us)
    counts as gone: it holds no lock and does no work."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def stop_shared_worker(settings: Settings | None = None, grace: float = STOP_GRACE) -> bool:
    """Stop the shared worker: warm shutdown, then SIGKILL of its process group after
    ``grace`` seconds. Returns whether one was running. Ends within ``grace`` + 2 s."""
    settings = settings or get_settings()
    info = shared_worker_info(settings)
    if info is None or not info.get("pid"):
        return False
    pid = int(info["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not _reaped(pid) and _alive(pid):
        time.sleep(0.1)
    if not _reaped(pid) and _alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    # The lock is free once every holder (the worker and its pool) is gone.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and shared_worker_info(settings) is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.1)
    return True


def _reaped(pid: int) -> bool:
    """Reap our own detached child if it exited (a zombie still answers ``kill(pid, 0)``)."""
    for process in _detached:
        if process.pid == pid:
            return process.poll() is not None
    return False
