"""What every task of this package shares: retry policy, job bookkeeping and DB access."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy.exc
from celery import Task
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db import store
from filterbets_nb.db.models import utcnow
from filterbets_nb.db.session import run_async
from filterbets_nb.tasks.progress import describe_error

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Passing faults worth another try (the spec's retry pattern plus the database drivers' own
#: connection errors). ValueError, and so a bad filter, is deliberately absent.
RETRYABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)
try:  # asyncpg is a hard dependency, but keep the policy importable without it.
    import asyncpg

    RETRYABLE += (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError)
except ImportError:  # pragma: no cover
    pass

RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": RETRYABLE,
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 3,
}


def task_db(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """A task's database work: its own engine, run in a helper thread (see ``run_async``)."""
    return run_async(fn, isolate=True)


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


class JobTask(Task):
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
