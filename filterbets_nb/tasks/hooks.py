"""Worker-side signal handlers: log masking, start-up repairs, the shared worker's idle stop.

Only worker processes import this module (it is in the app's ``include``), so a notebook or the
CLI that merely sends tasks connects none of these handlers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_received,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutting_down,
)

from filterbets_nb.config import get_settings, install_log_masking
from filterbets_nb.db import wal_hold
from filterbets_nb.tasks.base import close_task_engines

logger = logging.getLogger(__name__)

#: Environment variable set on the data dir's shared worker: its idle timeout in seconds.
IDLE_ENV = "FILTERBETS_SHARED_IDLE"


#: Issue 15: how a worker retries publishing (a chain's next link is sent by the worker that ran
#: the link before it). Celery's default gives up after about 0.6 s, so a Redis restart between
#: two links failed the job; this spans about 30 s. Clients keep the default and fail fast.
WORKER_PUBLISH_RETRY = {
    "max_retries": 10,
    "interval_start": 0.5,
    "interval_step": 1.0,
    "interval_max": 4.0,
}


@worker_init.connect
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    if sender is not None:
        sender.app.conf.task_publish_retry_policy = WORKER_PUBLISH_RETRY
    get_settings().ensure_dirs()  # a worker started first still finds its folders


@worker_process_init.connect
def _hold_wal(**_: Any) -> None:
    """A pool process holds the SQLite files open (see :mod:`filterbets_nb.db.wal_hold`)."""
    settings = get_settings()
    wal_hold.hold([settings.database, settings.backend])


@worker_process_shutdown.connect
def _close_connections(**_: Any) -> None:
    """A pool process closes its pooled database connections on the way out (see
    :func:`~filterbets_nb.tasks.base.task_db`), so the server ends their backends at once."""
    close_task_engines()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_passwords(logger: logging.Logger, **_: Any) -> None:
    install_log_masking(logger)


@worker_ready.connect
def _watch_parent(sender: Any = None, **_: Any) -> None:
    """Stop a worker tied to a process (``fb.start_worker``) once that process dies.

    The shared worker is not tied to anyone: it stops at its idle timeout instead.
    """
    parent = os.environ.get("FILTERBETS_PARENT_PID")
    if not parent:
        return

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(int(parent), 0)
            except ProcessLookupError:
                logger.warning("parent %s is gone; shutting down", parent)
                stop_self()
                return

    threading.Thread(target=watch, name="filterbets-parent-watch", daemon=True).start()


#: Seconds a warm shutdown may take before the worker and its pool are killed.
SHUTDOWN_GRACE = 6.0


def stop_self() -> None:
    """Warm shutdown of this worker, as if it got SIGTERM (the backstop below bounds it)."""
    os.kill(os.getpid(), signal.SIGTERM)


def _pool_pids() -> list[int]:
    pid = os.getpid()
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in children.read_text().split()]
    except OSError:
        return []


@worker_shutting_down.connect
def _bound_the_shutdown(**_: Any) -> None:
    """Kill the pool and the worker if a warm shutdown has not finished after the grace.

    The hang of the issue: a worker told to stop (its parent gone, SIGTERM) waited for its pool
    children, which a wedged pool kept from exiting, in a futex wait until SIGKILL. A warm
    shutdown normally takes 2-7 s here (the consumer notices the flag within its 2 s drain
    timeout, then the pool and the result handler threads wind down); the backstop, a daemon
    thread, makes "stopped within 10 s" hold whatever the pool does, and a clean shutdown is
    not delayed by it. Running tasks killed this way are redelivered (``acks_late``; on the
    filesystem transport the next worker's stranded-job check re-sends them).
    """

    def backstop() -> None:
        time.sleep(SHUTDOWN_GRACE)
        logger.error("warm shutdown took over %.0f s; killing the pool and worker", SHUTDOWN_GRACE)
        for child in _pool_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=backstop, name="filterbets-stop-backstop", daemon=True).start()


_last_activity = [time.monotonic()]


@task_received.connect
def _note_activity(**_: Any) -> None:
    _last_activity[0] = time.monotonic()


@worker_ready.connect
def _idle_stop(sender: Any = None, **_: Any) -> None:
    """The shared worker stops itself after its idle timeout with no task received or active."""
    try:
        timeout = float(os.environ.get(IDLE_ENV, "0"))
    except ValueError:
        timeout = 0.0
    if timeout <= 0:
        return
    from celery.worker import state

    _last_activity[0] = time.monotonic()

    def watch() -> None:
        while True:
            time.sleep(min(timeout / 4, 5.0))
            if state.active_requests or state.reserved_requests:
                _last_activity[0] = time.monotonic()
            elif time.monotonic() - _last_activity[0] >= timeout:
                logger.info("idle for %.0f s; the shared worker stops", timeout)
                stop_self()
                return

    threading.Thread(target=watch, name="filterbets-idle-stop", daemon=True).start()


@worker_ready.connect
def _startup_repairs(sender: Any = None, **_: Any) -> None:
    """Repair what earlier workers left, in a thread so the worker takes tasks at once.

    Jobs whose chain ended but whose row missed it are reconciled (both modes). On the
    filesystem transport, jobs a killed worker took down are sent again (Redis needs no help:
    unacknowledged messages come back after the visibility timeout, and re-sending there could
    run a job twice at once on two machines).
    """

    def repair() -> None:
        from filterbets_nb.tasks.status import reconcile_open_jobs

        try:
            repaired = reconcile_open_jobs()
            if repaired:
                logger.info("reconciled %d job(s): %s", len(repaired), repaired)
        except Exception:
            logger.exception("reconciling open jobs failed")

    threading.Thread(target=repair, name="filterbets-reconcile", daemon=True).start()
    if get_settings().mode == "embedded":
        from filterbets_nb.tasks.celery_app import celery_app
        from filterbets_nb.tasks.recovery import recover_in_background

        recover_in_background(celery_app)
