"""Celery's database result backend, with one engine per process for a SQLite file.

Celery keeps an engine only in a forked pool process; anywhere else (a notebook polling a bar,
the shared worker's door, the worker's main process) it builds a new engine and session
factory for every read of a task state, and since ``app.backend`` is one backend per thread,
every new thread also checks the result tables again. On the embedded default that was about
6 ms of a 7 ms state read. Celery refrains because a pooled engine must not cross a fork; a
SQLite engine here pools nothing (NullPool, see :mod:`filterbets_nb.db.fork_guard`), so one
engine and session factory per process and URL are safe to share by every thread. A forked
child makes its own, as Celery's does.

The app uses this class for ``db+sqlite`` URLs only (``celery_app.app_config``); a PostgreSQL
result backend stays Celery's own.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery.backends.database import DatabaseBackend
from celery.backends.database.session import SessionManager
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool


class ProcessSessions(SessionManager):
    """One engine and one session factory per URL for every thread of this process; a forked
    child starts afresh (it may have copied a lock another thread held at the fork)."""

    def __init__(self, engine_callback: Any = None) -> None:
        super().__init__(engine_callback=engine_callback)
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _here(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._engines: dict[str, Any] = {}
            self._sessions: dict[str, Any] = {}
            self.prepared = False

    def get_engine(self, dburi: str, **kwargs: Any) -> Any:
        self._here()
        with self._lock:
            engine = self._engines.get(dburi)
            if engine is None:
                options = {k: v for k, v in kwargs.items() if not k.startswith("pool")}
                options.pop("max_overflow", None)
                engine = create_engine(dburi, poolclass=NullPool, **options)
                if self.engine_callback is not None:
                    self.engine_callback(engine)
                self._engines[dburi] = engine
            return engine

    def create_session(
        self, dburi: str, short_lived_sessions: bool = False, **kwargs: Any
    ) -> tuple[Any, Any]:
        engine = self.get_engine(dburi, **kwargs)  # also makes the manager this process's
        with self._lock:
            maker = self._sessions.get(dburi)
            if maker is None:
                maker = self._sessions[dburi] = sessionmaker(bind=engine)
        return engine, maker


_managers: dict[Any, ProcessSessions] = {}


def process_sessions(engine_callback: Any) -> ProcessSessions:
    """The session manager every backend of this process shares (one per engine callback).
    No lock: one held by another thread at a fork would stay held in the child, and
    ``setdefault`` is atomic."""
    manager = _managers.get(engine_callback)
    if manager is None:
        manager = _managers.setdefault(engine_callback, ProcessSessions(engine_callback))
    return manager


class SQLiteResultBackend(DatabaseBackend):
    """``db+sqlite``: Celery's database backend sharing :func:`process_sessions`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        made: Any = self.__dict__["session_manager"]  # Celery's, with the resolved callback
        self.session_manager: SessionManager = process_sessions(made.engine_callback)
