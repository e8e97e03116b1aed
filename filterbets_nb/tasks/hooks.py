"""Worker-side signal handlers: log masking, start-up repairs, the shared worker's idle stop.

Only worker processes import this module (it is in the app's ``include``), so a notebook or the
CLI that merely sends tasks connects none of these handlers.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_received,
    worker_ready,
)

from filterbets_nb.config import get_settings, install_log_masking

logger = logging.getLogger(__name__)

#: Environment variable set on the data dir's shared worker: its idle timeout in seconds.
IDLE_ENV = "FILTERBETS_SHARED_IDLE"


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


def stop_self(grace: float = 8.0) -> None:
    """Warm shutdown (SIGTERM to this worker), with SIGKILL of its process group as a backstop.

    The hang of the issue: a warm shutdown that a wedged pool or a transport thread keeps from
    finishing left the process in a futex wait for ever. The watchdog below is a daemon thread,
    so a shutdown that does finish is not delayed by it.
    """
    os.kill(os.getpid(), signal.SIGTERM)

    def backstop() -> None:
        time.sleep(grace)
        logger.error("warm shutdown did not finish in %.0f s; killing the worker", grace)
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
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
