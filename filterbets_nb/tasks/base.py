"""What every task of this package shares: retry policy, job bookkeeping and DB access."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy.exc
from celery import Task
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.config import get_settings
from filterbets_nb.db import store
from filterbets_nb.db.models import utcnow
from filterbets_nb.db.session import LoopEngines, error_chain, run_async
from filterbets_nb.tasks.progress import describe_error

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Passing faults worth another try (the spec's retry pattern plus the database drivers' own
#: connection errors). ValueError, and so a bad filter, is deliberately absent. Faults that
#: arrive wrapped in something else are recognised by :func:`is_connection_error`.
RETRYABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)
try:  # asyncpg is a hard dependency, but keep the policy importable without it.
    import asyncpg

    RETRYABLE += (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError)
    _ASYNCPG_INTERFACE: tuple[type[BaseException], ...] = (
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
    )
except ImportError:  # pragma: no cover
    _ASYNCPG_INTERFACE = ()

#: What asyncpg says when a connection died under it. "another operation is in progress" is what
#: a rollback raises after the connection was lost mid-COPY: it hides the real fault.
_LOST_CONNECTION = re.compile(
    r"another operation (?:\(\d+\) )?is in progress"
    r"|connection (?:is|was|has been) (?:closed|released)"
    r"|underlying connection is closed",
    re.IGNORECASE,
)

#: The backoff between tries: ``retry_base_seconds * RETRY_FACTOR ** n`` seconds (n = 0, 1, 2),
#: each scaled by a random factor in ``1 ± RETRY_JITTER`` and capped at ``retry_backoff_max``:
#: 5 s, 15 s, 45 s ± 20 %, so the three retries span about a minute of outage. The spec's
#: ``retry_backoff=True`` uses Celery's "full jitter", a random draw from [0, 2**n] s: the audit
#: saw 1 s, 0 s, 1 s, and a 5 s database restart failed the job. The jitter stays, bounded, so
#: jobs failing together do not all come back in the same second.
RETRY_FACTOR = 3.0
RETRY_JITTER = 0.2
RETRY_BACKOFF_MAX = 600


def retry_countdown(
    retries: int, rng: random.Random | None = None, base_seconds: float | None = None
) -> float:
    """Seconds before try ``retries + 1`` (see :data:`RETRY_FACTOR`); the base is the
    ``retry_base_seconds`` setting (5 s) unless given."""
    if base_seconds is None:
        base_seconds = get_settings().retry_base_seconds
    base = base_seconds * RETRY_FACTOR ** max(0, retries)
    jitter = (rng or random).uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    return min(float(RETRY_BACKOFF_MAX), base * jitter)


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc``, or anything in its cause/context chain, says a connection was lost.

    Drivers report a lost connection in many ways: SQLAlchemy wraps it (``connection_invalidated``,
    ``.orig``), asyncpg raises an InterfaceError about the operation it could not finish, and a
    rollback that fails afterwards replaces the original error as the one raised.
    """
    for link in error_chain(exc):
        if isinstance(link, RETRYABLE):
            return True
        if getattr(link, "connection_invalidated", False):
            return True
        # asyncpg's InterfaceError (InternalClientError: "cannot switch to state 15; another
        # operation (2) is in progress"), or SQLAlchemy's DBAPI-level adaptations of them.
        interface = isinstance(link, _ASYNCPG_INTERFACE) or type(link).__name__ in (
            "InterfaceError",
            "InternalClientError",
            "InternalError",
        )
        if interface and _LOST_CONNECTION.search(str(link)[:500]):
            return True
    return False


class ConnectionLost(ConnectionError):
    """A connection fault that reached us wrapped in another exception (see
    :func:`is_connection_error`); raised from it so the autoretry policy sees it."""


#: This process's database loop with one pooled engine per URL, shared by every task the process
#: runs for its whole life (a forked pool process starts its own, see
#: :class:`~filterbets_nb.db.session.LoopEngines`), closed as the process shuts down
#: (:func:`close_task_engines`, from :mod:`.hooks`).
_engines = LoopEngines()


class RetryingTask(Task):
    """A task retried on passing faults with the backoff of :func:`retry_countdown`."""

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("countdown") is None and kwargs.get("eta") is None:
            kwargs["countdown"] = retry_countdown(int(self.request.retries or 0))
        return super().retry(*args, **kwargs)


RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": RETRYABLE,
    # Celery's own backoff is off: :meth:`RetryingTask.retry` sets the countdown instead.
    "retry_backoff": False,
    "retry_backoff_max": RETRY_BACKOFF_MAX,
    "max_retries": 3,
    "base": RetryingTask,
}


def task_db(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """A task's database work, in this process's database thread (Celery raises a soft time
    limit in the main thread, where it must interrupt a wait, not a half-done transaction), on
    the process's pooled engine.

    The spec builds an engine for every session and never disposes it (a pool of connections
    leaked per call). The fourth session gave each task run an engine of its own instead, closed
    with the run; but then every link of every chain opened a connection, ran SQLAlchemy's
    first-connect queries and started a thread and an event loop: about 9 ms and 5 ms of CPU
    per link on PostgreSQL against about 1 ms pooled (``pool_pre_ping`` checks a connection as
    it is taken, so one the server dropped meanwhile is replaced, not failed on), and a
    backend started and ended on the server for each. A pool process now keeps its connection
    between tasks, as the client side keeps its own (:func:`~filterbets_nb.db.session.run_shared`).

    A lost connection that surfaces as another error (a failed rollback, a wrapped driver
    error) is re-raised as :class:`ConnectionLost`, so it is retried like any connection fault.
    """
    try:
        if not _engines.on_loop_thread():
            return _engines.session(fn)
        return run_async(fn, isolate=True)
    except Exception as exc:
        if not isinstance(exc, RETRYABLE) and is_connection_error(exc):
            raise ConnectionLost(f"database connection lost: {describe_error(exc)}") from exc
        raise


def close_task_engines() -> None:
    """Close this process's pooled task connections and stop its database thread (a pool
    process shutting down; a later :func:`task_db` starts anew)."""
    _engines.close()


def job_id_of(args: tuple[Any, ...] | list[Any]) -> str | None:
    """The job id a chain link works on: the first link gets it bare, later links in a dict."""
    if not args:
        return None
    first = args[0]
    if isinstance(first, str):
        return first
    if isinstance(first, dict):
        value = first.get("job_id")
        return str(value) if value else None
    return None


class JobTask(RetryingTask):
    """A chain link of a backtest job: when it finally fails, the job row says why."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        job_id = job_id_of(args)
        if not job_id:
            return
        message = describe_error(exc)
        try:
            task_db(
                lambda s: store.update_job(
                    s, job_id, status="FAILURE", error=message, finished_at=utcnow()
                )
            )
        except Exception:  # the database itself may be what failed
            logger.exception("could not record the failure of job %s", job_id)
