"""Send again the backtests a dead worker took down with it (embedded mode).

With Redis, ``acks_late`` is enough: a message whose worker vanished stays unacknowledged and
comes back after the visibility timeout. Celery's ``filesystem://`` transport deletes a message
as soon as a worker fetches it, so when the whole worker is SIGKILLed (a machine sleeping, an OOM
kill, a notebook's worker killed with its kernel) the running link is gone and its job would stay
STARTED for ever.

A worker that starts on such a transport therefore looks for *stranded* jobs: unfinished jobs
whose chain has a link that began running (STARTED, PROGRESS or RETRY in the result backend) but
that no live worker holds. It sends their chain again with the same task ids, so a client that
follows those ids sees the job through, and the links' idempotent writes (bets replaced in one
transaction, keyed by job id) leave exactly one set of bets.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from typing import Any

from filterbets_nb.db import store
from filterbets_nb.db.models import BacktestJob, utcnow
from filterbets_nb.db.session import run_async

logger = logging.getLogger(__name__)

#: Backend states of a link that a worker had taken in hand (PENDING means still queued).
IN_HAND = frozenset({"STARTED", "PROGRESS", "RETRY"})


def in_hand_links(app: Any, job: BacktestJob) -> list[str]:
    """The job's task ids whose last recorded state says a worker was running them."""
    return [
        task_id
        for task_id in job.task_ids
        if app.backend.get_task_meta(task_id).get("status") in IN_HAND
    ]


def held_by_workers(app: Any, task_ids: Iterable[str], timeout: float = 1.0) -> set[str]:
    """Those of ``task_ids`` that some live worker reports as active, reserved or scheduled."""
    ids = list(task_ids)
    if not ids:
        return set()
    replies = app.control.inspect(timeout=timeout).query_task(*ids) or {}
    return {task_id for tasks in replies.values() for task_id in (tasks or {})}


def stranded_jobs(app: Any, *, max_age: dt.timedelta | None = None) -> list[BacktestJob]:
    """Unfinished jobs whose running link no live worker holds (see the module docstring).

    Jobs older than the result backend keeps results (``result_expires``) are left alone: their
    links' states are gone, so nothing can tell a stranded job from a queued one.
    """
    age = max_age or dt.timedelta(seconds=int(app.conf.result_expires or 86400))
    jobs = run_async(lambda s: store.unfinished_jobs(s, utcnow() - age))
    candidates = [(job, links) for job in jobs if (links := in_hand_links(app, job))]
    held = held_by_workers(app, (t for _, links in candidates for t in links))
    stranded = [job for job, links in candidates if not held.intersection(links)]
    logger.info(
        "stranded-job check: %d unfinished, %d running, %d stranded",
        len(jobs),
        len(candidates),
        len(stranded),
    )
    return stranded


def resend(job: BacktestJob) -> None:
    """Send the job's whole chain again, with its original task ids."""
    from filterbets_nb.tasks.backtest_tasks import backtest_chain

    logger.warning("job %s: its worker died while running it; sending its chain again", job.id)
    backtest_chain(job.id, job.task_ids).apply_async()


def recover_stranded_jobs(app: Any) -> list[str]:
    """Re-send every stranded job; returns their ids. Never raises: it runs at worker start."""
    try:
        jobs = stranded_jobs(app)
        for job in jobs:
            resend(job)
        return [job.id for job in jobs]
    except Exception:
        logger.exception("could not look for stranded backtest jobs")
        return []


def recover_in_background(app: Any) -> threading.Thread:
    """Run :func:`recover_stranded_jobs` in a thread, so the worker answers the query it sends."""
    thread = threading.Thread(
        target=recover_stranded_jobs, args=(app,), name="filterbets-recovery", daemon=True
    )
    thread.start()
    return thread
