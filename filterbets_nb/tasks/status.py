"""Status of any task id (the spec's ``get_task_status``) and of a job's chain, plus the one
explicit step that repairs a job row whose worker could not record its end.

Celery reports ``PENDING`` both for a task waiting in a queue and for an id it has never heard
of. The job table tells them apart: an id that belongs to a job's chain is queued, any other is
unknown.

The spec's status dict uses the key ``status``; this package uses ``state`` everywhere (the
status model in :mod:`filterbets_nb.status`), so a bar, the CLI and ``fb.task_status`` read one
shape.
"""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db import store
from filterbets_nb.db.models import BacktestJob, utcnow
from filterbets_nb.db.session import run_async, run_shared
from filterbets_nb.status import ENDED_STATES, JobState, ProgressMeta, TaskStatusDict
from filterbets_nb.tasks.progress import read_progress

#: Longest task id accepted (Celery ids are 36-character UUIDs; custom ids stay short).
MAX_TASK_ID = 255


def check_task_id(task_id: object) -> str:
    """``task_id`` as a non-empty, reasonably short string, or a ValueError saying why not."""
    if not isinstance(task_id, str):
        raise ValueError(f"a task id is a string, not {type(task_id).__name__}")
    task_id = task_id.strip()
    if not task_id:
        raise ValueError("a task id cannot be empty")
    if len(task_id) > MAX_TASK_ID:
        raise ValueError(f"a task id has at most {MAX_TASK_ID} characters, not {len(task_id)}")
    return task_id


async def job_of_task(session: AsyncSession, task_id: str) -> BacktestJob | None:
    """The job whose chain holds ``task_id``: a text match on the JSON list of ids, with ``%``
    and ``_`` escaped (``autoescape``) and the quotes included, so only a whole id matches."""
    needle = f'"{task_id}"'
    stmt = select(BacktestJob).where(
        cast(BacktestJob.task_ids, String).contains(needle, autoescape=True)
    )
    return (await session.execute(stmt.limit(1))).scalars().first()


def get_task_status(task_id: str) -> TaskStatusDict:
    """``{"task_id", "state", "result"}`` as in the spec, plus ``progress``, ``error``,
    ``job_id`` and ``pending``: ``"queued"`` or ``"unknown"`` while the state is PENDING."""
    task_id = check_task_id(task_id)
    link = read_progress(task_id)
    job = run_shared(lambda s: job_of_task(s, task_id))
    pending = None
    if link["state"] == JobState.PENDING:
        pending = "queued" if job is not None and job.status not in ENDED_STATES else "unknown"
    return {
        "task_id": task_id,
        "state": link["state"],
        "result": link["result"] if link["ready"] else None,
        "progress": link["progress"],
        "error": link["error"],
        "job_id": job.id if job else None,
        "pending": pending,
    }


def chain_state(
    job_state: str, task_ids: Sequence[str], stored: Mapping[str, Any]
) -> tuple[str, ProgressMeta, str | None]:
    """The state a job is in, read from its row's state and its chain's task meta (no writes).

    A job row still open while one of its links FAILED or was REVOKED reads as that end state
    (the link could not record it, e.g. its database was down); :func:`reconcile_job` stores it.
    """
    progress = cast_progress(stored)
    if job_state in ENDED_STATES:
        return job_state, progress, None
    for task_id in reversed(task_ids):
        link = read_progress(task_id)
        if link["state"] == JobState.PENDING:
            continue
        if link["state"] in (JobState.FAILURE, JobState.REVOKED):
            return link["state"], progress, link["error"]
        if link["progress"] and link["state"] != JobState.SUCCESS:
            return JobState.PROGRESS.value, cast_progress(link["progress"]), None
        break
    return job_state, progress, None


def cast_progress(meta: Mapping[str, Any]) -> ProgressMeta:
    """A stored or published progress dict, typed (it was written by ``progress_meta``)."""
    return typing.cast(ProgressMeta, dict(meta))


def reconcile_job(job_id: str) -> str | None:
    """Store the end a job's chain reached but its row does not say; returns the state stored.

    The explicit repair step: a worker runs it at start for every open job, and anyone may call
    it (``fb.load_results(job_id).reconcile()``). Reading a status never does this.
    """
    job = run_async(lambda s: store.get_job(s, job_id))
    if job is None or job.status in ENDED_STATES:
        return None
    state, _, error = chain_state(job.status, job.task_ids, job.progress or {})
    if state not in ENDED_STATES:
        return None
    run_async(
        lambda s: store.update_job(
            s, job_id, status=state, error=error, finished_at=utcnow(), unless=ENDED_STATES
        )
    )
    return state


def reconcile_open_jobs(days: int = 7) -> dict[str, str]:
    """:func:`reconcile_job` for every job of the last ``days`` still open (the worker's
    start-up step); returns ``{job_id: state stored}``."""
    since = utcnow() - dt.timedelta(days=days)
    jobs = run_async(lambda s: store.unfinished_jobs(s, since))
    repaired: dict[str, str] = {}
    for job in jobs:
        if end := reconcile_job(job.id):
            repaired[job.id] = end
    return repaired
