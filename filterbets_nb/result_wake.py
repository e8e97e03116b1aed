"""What ends a waiter's pause early: the result backend saying that one of its tasks stored a
state.

:func:`~filterbets_nb.status.wait_for` reads a run's status, then pauses; the pauses grow, so
a long job is not read hundreds of times. Each pause is about a fifth of the time waited so
far, so without a wake a run's end is seen on average ~10 % late (a 0.4 s sweep about 40 ms,
a 0.7 s one 70 ms) and that lateness comes and goes with where the polls fall. A wake ends
the pause as a task's state lands, so the end is read within a millisecond or two:

- Redis result backend: Celery stores every state with ``SET`` and ``PUBLISH`` on a channel
  named as the state's key (``celery-task-meta-<id>``) in one pipeline, so a subscriber to the
  run's task keys hears each state as it is stored; it wakes on the ends (success, failure,
  revoke), not on progress.
- SQLite result backend (the embedded default): a commit to the results file, or to the
  database beside it, watched with inotify (:mod:`.fs_watch`).
- anything else (or inotify missing, Redis unreachable): a plain sleep, the poll as before.

A wake may fire for something else (another job's commit to the same file): the waiter then
reads a status that has not changed, and pauses again. Nothing relies on a wake for
correctness; every pause stays bounded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from filterbets_nb.config import Settings, get_settings
from filterbets_nb.status import ENDED_STATES, Wake

logger = logging.getLogger(__name__)

#: Seconds the Redis subscription may take to be confirmed before the waiter gives up on it
#: (and sleeps its pauses instead): a broken Redis must not delay a wait, which reads the run's
#: status, and so reports the fault, on its own.
SUBSCRIBE_TIMEOUT = 2.0


class SleepWake:
    """No signal to wait for: every pause is slept whole."""

    prompt = False

    def wait(self, timeout: float) -> bool:
        time.sleep(max(timeout, 0.0))
        return False

    def close(self) -> None:
        return None


class RedisWake:
    """Subscribed to the state keys of some tasks on a Redis result backend.

    The constructor returns once Redis has confirmed every subscription, so a state stored
    after it returns is heard; one stored before is what the waiter's next status read sees.
    """

    def __init__(self, url: str, keys: Sequence[bytes | str]) -> None:
        import redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_connect_timeout=SUBSCRIBE_TIMEOUT)
        self._pubsub: Any = self._client.pubsub()
        self.active = False
        try:
            unique = list(dict.fromkeys(keys))
            self._pubsub.subscribe(*unique)
            pending = len(unique)
            deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
            while pending and time.monotonic() < deadline:
                message = self._pubsub.get_message(timeout=deadline - time.monotonic())
                if message is not None and message.get("type") == "subscribe":
                    pending -= 1
            self.active = pending == 0
        except self._errors as exc:
            logger.debug("no Redis wake (%s): the wait polls", exc)
        if not self.active:
            self.close()

    @property
    def prompt(self) -> bool:
        """Subscribed: every end is heard (see :class:`~filterbets_nb.status.Wake`)."""
        return self.active

    def wait(self, timeout: float) -> bool:
        if not self.active:
            time.sleep(max(timeout, 0.0))
            return False
        deadline = time.monotonic() + max(timeout, 0.0)
        try:
            while True:
                message = self._pubsub.get_message(timeout=max(deadline - time.monotonic(), 0.0))
                if message is not None and _is_end(message):
                    self._drain()
                    return True
                if time.monotonic() >= deadline:
                    return False
        except self._errors as exc:  # Redis went away mid-wait: sleep out the pause, poll on
            logger.debug("Redis wake lost (%s): the wait polls", exc)
            self.close()
            time.sleep(max(deadline - time.monotonic(), 0.0))
            return False

    def _drain(self) -> None:
        """Drop the messages already here: one status read answers them all."""
        while self._pubsub.get_message(timeout=0.0) is not None:
            pass

    def close(self) -> None:
        self.active = False
        try:
            self._pubsub.close()
            self._client.close()
        except self._errors:  # closing a connection that is already gone
            pass


def _is_end(message: dict[str, Any]) -> bool:
    """Whether a published state is one a task ends in. Progress is not worth waking for: on
    two cores the waiter's reads would take CPU from the work (a bar reads every poll anyway).
    A payload that cannot be read wakes the waiter, which then reads the state itself."""
    if message.get("type") != "message":
        return False
    try:
        state = json.loads(message["data"]).get("status")
    except (TypeError, ValueError, AttributeError):
        return True
    return state in ENDED_STATES


def result_wake(task_ids: Sequence[str], settings: Settings | None = None) -> Wake:
    """A wake for states stored by ``task_ids`` on the configured result backend."""
    settings = settings or get_settings()
    backend = settings.backend
    if backend.startswith(("redis://", "rediss://")) and task_ids:
        from filterbets_nb.tasks.celery_app import get_app

        keys = [get_app().backend.get_key_for_task(task_id) for task_id in task_ids]
        wake = RedisWake(backend, keys)
        return wake if wake.active else SleepWake()
    return results_file_watch(settings) or SleepWake()


def results_file_watch(settings: Settings) -> Wake | None:
    """Commits to the SQLite result backend (and to the database beside it: a job row ends a
    moment before its link's state), or None when the backend is no SQLite file or inotify
    is missing."""
    from filterbets_nb.db.wal_hold import sqlite_file
    from filterbets_nb.fs_watch import IN_MODIFY, FolderWatch

    path = sqlite_file(settings.backend)
    if path is None:
        return None
    logs = [f"{path.name}-wal"]
    database = sqlite_file(settings.database)
    if database is not None and database.parent == path.parent:
        logs.append(f"{database.name}-wal")
    watch = FolderWatch(path.parent, IN_MODIFY, suffixes=tuple(logs))
    if not watch.active:
        return None
    return watch
