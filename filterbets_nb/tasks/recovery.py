"""Send again the backtests a dead worker took down with it (embedded mode).

With Redis, ``acks_late`` is enough: a message whose worker vanished stays unacknowledged and
comes back after the visibility timeout. Celery's ``filesystem://`` transport deletes a message
as soon as a worker fetches it, so when the whole worker is SIGKILLed (a machine sleeping, an OOM
kill, a notebook's worker killed with its kernel) the running link is gone and its job would stay
STARTED for ever.

A worker that starts on such a transport therefore looks for *stranded* jobs: unfinished jobs
whose next link (the first one not yet SUCCESS) no live worker holds (active, reserved or
scheduled) and no queue file of the broker still carries. That covers a link that was running
and one that a worker had received but not started (its state is still PENDING: a dead worker's
prefetched ``save_results`` message was lost that way). It sends their chain again with the
same task ids, so a client that follows those ids sees the job through, and the links'
idempotent writes (bets replaced in one transaction, keyed by job id) leave exactly one set of
bets.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from filterbets_nb.config import get_settings
from filterbets_nb.db import store
from filterbets_nb.db.models import BacktestJob, utcnow
from filterbets_nb.db.session import run_async

logger = logging.getLogger(__name__)

#: Backend states of a link whose message was sent and that has not ended: queued or received
#: (PENDING: nothing records a receipt), running, or waiting for a retry.
UNFINISHED = frozenset({"PENDING", "STARTED", "PROGRESS", "RETRY"})


def next_link(app: Any, job: BacktestJob) -> str | None:
    """The job's first link that has not succeeded, if its message is out and it has not ended.

    Celery sends a chain's next message when the link before it succeeds, so that link's message
    exists (queued, received or running) unless a dead worker took it along.
    """
    for task_id in job.task_ids:
        status = app.backend.get_task_meta(task_id).get("status")
        if status == "SUCCESS":
            continue
        return task_id if status in UNFINISHED else None
    return None


def held_by_workers(app: Any, task_ids: Iterable[str], timeout: float = 3.0) -> set[str]:
    """Those of ``task_ids`` that some live worker reports as active, reserved or scheduled.

    A worker busy on a loaded machine may answer late; a missed answer would send a running
    job again, so this waits longer than a ping would (it runs once, when a worker starts).
    """
    ids = list(task_ids)
    if not ids:
        return set()
    replies = app.control.inspect(timeout=timeout).query_task(*ids) or {}
    return {task_id for tasks in replies.values() for task_id in (tasks or {})}


def queued_in_broker(folder: Path) -> set[str]:
    """Task ids of the messages waiting in the ``filesystem://`` broker's folder."""
    ids: set[str] = set()
    for path in folder.glob("*.msg"):
        try:
            message = json.loads(path.read_bytes())
        except (OSError, ValueError):  # taken by a worker meanwhile, or being written
            continue
        task_id = (message.get("headers") or {}).get("id") if isinstance(message, dict) else None
        if task_id:
            ids.add(str(task_id))
    return ids


def stranded_jobs(app: Any, *, max_age: dt.timedelta | None = None) -> list[BacktestJob]:
    """Unfinished jobs whose next link nobody holds (see the module docstring).

    Jobs older than the result backend keeps results (``result_expires``) are left alone: their
    links' states are gone, so nothing can tell a stranded job from a queued one.
    """
    age = max_age or dt.timedelta(seconds=int(app.conf.result_expires or 86400))
    jobs = run_async(lambda s: store.unfinished_jobs(s, utcnow() - age))
    candidates = [(job, link) for job in jobs if (link := next_link(app, job))]
    links = [link for _, link in candidates]
    # Workers first, then the queue folder, then workers again: a message moving from the folder
    # to a worker between two looks is seen in one of them.
    held = held_by_workers(app, links)
    held |= queued_in_broker(get_settings().broker_folder)
    held |= held_by_workers(app, [link for link in links if link not in held])
    stranded = [job for job, link in candidates if link not in held]
    logger.info(
        "stranded-job check: %d unfinished, %d running, %d stranded",
        len(jobs),
        len(candidates),
        len(stranded),
    )
    return stranded


def resend(job: BacktestJob) -> None:
    """Send the job's whole chain again, with its original task ids."""
    from filterbets_nb.tasks.chains import backtest_chain

    logger.warning("job %s: the worker holding its next link died; sending its chain again", job.id)
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
