"""The Celery application, configured as ``spec/celery-background-tasks.md`` prescribes.

Broker and result backend come from :class:`~filterbets_nb.config.Settings`: Redis for teams, and
by default Celery's serverless ``filesystem://`` broker with a SQLite result backend under
``data_dir``. Start a worker with ``filterbets-nb worker`` or
``celery -A filterbets_nb.tasks.celery_app worker -Q backtest,stats``.

Unlike the spec, which builds the app from settings read at import, importing this module reads
nothing and creates nothing on disk: the configuration is applied when the app is first used
(Celery reads a lazy config source on first access of ``app.conf``), and :func:`get_app`
re-applies it when the settings object changed, so ``get_settings.cache_clear()`` with new
environment variables really switches broker and backend inside one process.

The worker-side signal handlers live in :mod:`filterbets_nb.tasks.hooks`, which only a worker
imports (it is in ``include``); the task modules import this module and nothing imports them
back, so there is no import cycle inside ``tasks/``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from celery import Celery
from celery.schedules import crontab
from kombu import Exchange, Queue

from filterbets_nb.config import Settings, get_settings
from filterbets_nb.db import sqlite_connection

QUEUES = ("backtest", "stats")


#: Celery's database backend with one engine per process for SQLite (see ``result_db``).
SQLITE_RESULTS = "filterbets_nb.tasks.result_db:SQLiteResultBackend"


def result_backend(url: str) -> str:
    """Celery's ``result_backend`` for a configured URL: ``db+sqlite`` names the class of
    :mod:`.result_db` (``CLASS+sqlite:///...``, which Celery reads as class and URL)."""
    if url.startswith("db+sqlite"):
        return f"{SQLITE_RESULTS}+{url.removeprefix('db+')}"
    return url


def app_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting of the app, for ``settings``."""
    embedded = settings.mode == "embedded"
    return {
        "broker_url": settings.broker,
        # Embedded: the filesystem transport with whole-file message writes (see fs_transport).
        "broker_transport": "filterbets_nb.tasks.fs_transport:Transport" if embedded else None,
        "result_backend": result_backend(settings.backend),
        "task_track_started": True,
        "task_time_limit": 3600,  # 1 hour max
        "task_soft_time_limit": 3300,  # 55 min soft limit
        "result_expires": 86400,  # 24 hours
        "accept_content": ["json"],
        "task_serializer": "json",
        "result_serializer": "json",
        "timezone": "UTC",
        "enable_utc": True,
        # One message at a time per process: with acks_late a crashed worker loses at most the
        # task it was running, and that one is redelivered.
        "worker_prefetch_multiplier": 1,
        # The worker's timer thread sleeps up to this long between entries, and a warm stop
        # waits for it to wake (celery's default, 1 s, was a second of every stop).
        "worker_timer_precision": 0.2,
        # Events let Flower (and `celery events`) show our tasks by name.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "broker_connection_retry_on_startup": True,
        # A result backend that blips (a Redis restart) is retried instead of failing the task.
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
        # A SQLite result backend opens the embedded default's connections: pragmas (WAL,
        # busy timeout, synchronous=NORMAL) and the pool's fork guard (db/sqlite_connection.py).
        "database_engine_options": (
            {"connect_args": dict(sqlite_connection.CONNECT_ARGS)}
            if settings.backend.startswith("db+sqlite")
            else {}
        ),
        "broker_transport_options": settings.broker_transport_options(),
        # Issue 15: prefork whose shared queue locks are released when a pool child is
        # SIGKILLed (billiard's own wedge the embedded worker); see filterbets_nb/tasks/pool.py.
        "worker_pool": "filterbets_nb.tasks.pool:TaskPool",
        "task_default_queue": "backtest",
        # Declared queues are what a worker started without -Q consumes: both, so a plain
        # `celery -A filterbets_nb.tasks.celery_app worker` never leaves routed jobs PENDING.
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        # Scheduled tasks (Celery Beat)
        "beat_schedule": {
            "refresh-team-stats-daily": {
                "task": "filterbets_nb.tasks.stats_tasks.refresh_all_team_stats_task",
                "schedule": crontab(hour=2, minute=0),  # 2 AM UTC daily
            },
        },
        # Task routing
        "task_routes": {
            "filterbets_nb.tasks.stats_tasks.*": {"queue": "stats"},
            "filterbets_nb.tasks.backtest_tasks.*": {"queue": "backtest"},
            "filterbets_nb.tasks.diagnostics.*": {"queue": "backtest"},
            "filterbets_nb.tasks.research_tasks.*": {"queue": "backtest"},
        },
    }


class _SettingsSource(Mapping[str, Any]):
    """The config source Celery reads on first use: the settings of that moment."""

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._values is None:
            settings = get_settings()
            settings.ensure_dirs()
            _applied["settings"] = settings
            self._values = app_config(settings)
        return self._values

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


_applied: dict[str, Settings] = {}
_lock = threading.Lock()

celery_app = Celery(
    "filterbets",
    include=[
        "filterbets_nb.tasks.hooks",
        "filterbets_nb.tasks.stats_tasks",
        "filterbets_nb.tasks.backtest_tasks",
        "filterbets_nb.tasks.diagnostics",
        "filterbets_nb.tasks.research_tasks",
    ],
)
celery_app.config_from_object(_SettingsSource())


def get_app() -> Celery:
    """The app, configured for the current settings (re-configured if they changed).

    Client code calls this before it sends or reads anything, so a process that switched
    settings (``get_settings.cache_clear()`` and new ``FILTERBETS_*`` variables) talks to the
    new broker and backend, with no connection to the old ones kept.
    """
    app = celery_app
    app.conf  # noqa: B018  (first access loads the settings source)
    settings = get_settings()
    with _lock:
        if _applied.get("settings") is not settings:
            settings.ensure_dirs()
            app.conf.update(app_config(settings))
            _forget_connections(app)
            _applied["settings"] = settings
    return app


def _forget_connections(app: Celery) -> None:
    """Drop the broker pool and the cached result backend, as Celery does after a fork."""
    pool = app._pool
    app._pool = None
    if pool is not None:
        pool.force_close_all()
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
    app._backend_cache = None
    app._local = threading.local()
