"""Finding a Celery worker, or starting one for the user.

In embedded mode nobody should have to open a terminal: when no worker answers a ping, the
package starts ``celery worker`` as a child process (consuming both queues), waits until it
answers, and stops it when the interpreter exits. The child also watches its parent's pid, so a
killed kernel does not leave it behind.
"""

from __future__ import annotations

import atexit
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
QUEUES = "backtest,stats"


def ping(timeout: float = 1.0) -> list[dict[str, Any]]:
    """Replies of the workers listening on the configured broker (empty when none answers)."""
    from filterbets_nb.tasks.celery_app import celery_app

    try:
        return list(celery_app.control.ping(timeout=timeout) or [])
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
) -> list[str]:
    """The ``celery worker`` command line this package runs (both queues by default)."""
    cmd = [sys.executable, "-m", "celery", "-A", APP, "worker", "-Q", queues]
    cmd += ["-c", str(concurrency), "--loglevel", loglevel]
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

    def stop(self, timeout: float = 15.0) -> None:
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
            raise RuntimeError(
                f"the Celery worker exited with code {process.returncode}; see {logfile}"
            )
        if any(worker.hostname in reply for reply in ping(timeout=0.5)):
            logger.info("started Celery worker pid %s (log: %s)", process.pid, logfile)
            return worker
    worker.stop()
    raise TimeoutError(f"the Celery worker did not answer within {wait:.0f} s; see {logfile}")


def ensure_worker(settings: Settings | None = None) -> ManagedWorker | None:
    """Start a worker unless one already answers; returns the one started, if any."""
    for worker in _started:
        if worker.alive():
            return worker
    if ping(timeout=1.0):
        return None
    return start_worker(settings)


def stop_started_workers() -> None:
    """Stop every worker this process started (registered with ``atexit``)."""
    while _started:
        _started.pop().stop()


atexit.register(stop_started_workers)
