"""The Celery application, configured as ``spec/celery-background-tasks.md`` prescribes.

Broker and result backend come from :class:`~filterbets_nb.config.Settings`: Redis for teams, and
by default Celery's serverless ``filesystem://`` broker with a SQLite result backend under
``data_dir``. Start a worker with ``filterbets-nb worker`` or
``celery -A filterbets_nb.tasks.celery_app worker -Q backtest,stats``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_init,
    worker_ready,
)
from kombu import Exchange, Queue

from filterbets_nb.config import get_settings, install_log_masking

QUEUES = ("backtest", "stats")

settings = get_settings()
settings.ensure_dirs()

celery_app = Celery(
    "filterbets",
    broker=settings.broker,
    backend=settings.backend,
    include=[
        "filterbets_nb.tasks.stats_tasks",
        "filterbets_nb.tasks.backtest_tasks",
        "filterbets_nb.tasks.diagnostics",
    ],
)

celery_app.conf.update(
    task_track_started=True,
    task_time_limit=3600,  # 1 hour max
    task_soft_time_limit=3300,  # 55 min soft limit
    result_expires=86400,  # 24 hours
    accept_content=["json"],
    task_serializer="json",
    result_serializer="json",
    timezone="UTC",
    enable_utc=True,
    # One message at a time per process: with acks_late a crashed worker loses at most the task
    # it was running, and that one is redelivered.
    worker_prefetch_multiplier=1,
    # Events let Flower (and `celery events`) show our tasks by name.
    worker_send_task_events=True,
    task_send_sent_event=True,
    broker_connection_retry_on_startup=True,
    # A result backend that blips (a Redis restart) is retried instead of failing the task.
    result_backend_always_retry=True,
    result_backend_max_retries=20,
    broker_transport_options=settings.broker_transport_options(),
    # Issue 15: prefork whose shared queue locks are released when a pool child is SIGKILLed
    # (billiard's own wedge the embedded worker); see filterbets_nb/tasks/pool.py.
    worker_pool="filterbets_nb.tasks.pool:TaskPool",
    task_default_queue="backtest",
    # Declared queues are what a worker started without -Q consumes: both, so a plain
    # `celery -A filterbets_nb.tasks.celery_app worker` never leaves routed jobs PENDING.
    task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
)

# Scheduled tasks (Celery Beat)
celery_app.conf.beat_schedule = {
    "refresh-team-stats-daily": {
        "task": "filterbets_nb.tasks.stats_tasks.refresh_all_team_stats_task",
        "schedule": crontab(hour=2, minute=0),  # 2 AM UTC daily
    },
}

# Task routing
celery_app.conf.task_routes = {
    "filterbets_nb.tasks.stats_tasks.*": {"queue": "stats"},
    "filterbets_nb.tasks.backtest_tasks.*": {"queue": "backtest"},
    "filterbets_nb.tasks.diagnostics.*": {"queue": "backtest"},
}


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_passwords(logger: logging.Logger, **_: Any) -> None:
    install_log_masking(logger)


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
def _patient_publishing(**_: Any) -> None:
    celery_app.conf.task_publish_retry_policy = WORKER_PUBLISH_RETRY


@worker_ready.connect
def _watch_parent(sender: Any = None, **_: Any) -> None:
    """Stop a worker that the package started for a notebook once that notebook's process dies.

    ``atexit`` covers a clean exit; this covers a killed kernel, so no orphan keeps running.
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
                logging.getLogger(__name__).warning("parent %s is gone; shutting down", parent)
                os.kill(os.getpid(), 15)
                return

    threading.Thread(target=watch, name="filterbets-parent-watch", daemon=True).start()


@worker_ready.connect
def _recover_stranded(sender: Any = None, **_: Any) -> None:
    """On the filesystem transport a killed worker's message is gone: re-send such jobs.

    Redis needs no help (unacknowledged messages come back after the visibility timeout), and
    re-sending there could run a job twice at once on two machines.
    """
    if get_settings().mode == "embedded":
        from filterbets_nb.tasks.recovery import recover_in_background

        recover_in_background(celery_app)
