"""Status of any task id, the spec's ``get_task_status`` with the job behind it.

Celery reports ``PENDING`` both for a task waiting in a queue and for an id it has never heard
of. The job table tells them apart: an id that belongs to a job's chain is queued, any other is
unknown.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db.models import ENDED_STATES, BacktestJob
from filterbets_nb.db.session import run_async
from filterbets_nb.tasks.progress import read_progress


async def job_of_task(session: AsyncSession, task_id: str) -> BacktestJob | None:
    """The job whose chain holds ``task_id`` (ids are UUIDs, so a text match is exact)."""
    stmt = select(BacktestJob).where(cast(BacktestJob.task_ids, String).contains(task_id))
    return (await session.execute(stmt.limit(1))).scalars().first()


def get_task_status(task_id: str) -> dict[str, Any]:
    """``{"task_id", "status", "result"}`` as in the spec, plus ``progress``, ``error``,
    ``job_id`` and ``pending``: ``"queued"`` or ``"unknown"`` while the status is PENDING."""
    link = read_progress(task_id)
    job = run_async(lambda s: job_of_task(s, task_id))
    status: dict[str, Any] = {
        "task_id": task_id,
        "status": link["state"],
        "result": link["result"] if link["ready"] else None,
        "progress": link["progress"],
        "error": link["error"],
        "job_id": job.id if job else None,
        "pending": None,
    }
    if link["state"] == "PENDING":
        status["pending"] = (
            "queued" if job is not None and job.status not in ENDED_STATES else "unknown"
        )
    return status
