"""Send again the work a dead worker took down with it (embedded mode): backtests and research.

With Redis, ``acks_late`` is enough: a message whose worker vanished stays unacknowledged and
comes back after the visibility timeout. Celery's ``filesystem://`` transport deletes a message
as soon as a worker fetches it, so when the whole worker is SIGKILLed (a machine sleeping, an OOM
kill, a notebook's worker killed with its kernel) the running link is gone and its job would stay
STARTED for ever.

A worker that starts on such a transport therefore looks for *stranded* links: links of
unfinished jobs and research runs whose message was sent, that have not ended, and that no live
worker holds (active, reserved or scheduled) and no queue file of the broker still carries.
That covers a link that was running and one that a worker had received but not started (its
state is still PENDING: a dead worker's prefetched ``save_results`` message was lost that way).

- A backtest's links run one after the other; its open link is the first not yet SUCCESS
  (:func:`next_link`), and a stranded job's chain is sent again.
- A research run (sweep, walk-forward) is ``prepare | group(chunks)``: while ``prepare`` is
  open it is the run's one open link; after it, every chunk not yet SUCCESS is (the group's
  messages all went out when ``prepare`` succeeded). A stranded ``prepare`` re-sends the whole
  workflow, a stranded chunk just that chunk.

Everything is re-sent with its original task ids, so a client that follows those ids sees the
work through, and the links' idempotent writes (bets, research rows: replaced in one
transaction, keyed by job or run and index) leave exactly one set of results.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filterbets_nb.config import get_settings
from filterbets_nb.db import research as research_store
from filterbets_nb.db import store
from filterbets_nb.db.models import BacktestJob, utcnow
from filterbets_nb.db.research import ResearchRun
from filterbets_nb.db.session import run_async

logger = logging.getLogger(__name__)

#: Backend states of a link whose message was sent and that has not ended: queued or received
#: (PENDING: nothing records a receipt), running, or waiting for a retry.
UNFINISHED = frozenset({"PENDING", "STARTED", "PROGRESS", "RETRY"})


def _state(app: Any, task_id: str) -> str | None:
    status = app.backend.get_task_meta(task_id).get("status")
    return None if status is None else str(status)


def next_link(app: Any, job: BacktestJob) -> str | None:
    """The job's first link that has not succeeded, if its message is out and it has not ended.

    Celery sends a chain's next message when the link before it succeeds, so that link's message
    exists (queued, received or running) unless a dead worker took it along.
    """
    for task_id in job.task_ids:
        status = _state(app, task_id)
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


def open_research_links(app: Any, run: ResearchRun) -> list[str]:
    """The run's links whose message is out and that have not ended (see the module docstring):
    ``[prepare]`` while it is open, else the chunks not yet SUCCESS."""
    prepare, chunks = run.task_ids[0], run.task_ids[1 : 1 + len(run.chunks)]
    status = _state(app, prepare)
    if status != "SUCCESS":
        return [prepare] if status in UNFINISHED else []
    return [task_id for task_id in chunks if _state(app, task_id) in UNFINISHED]


@dataclass
class Stranded:
    """The stranded work a starting worker found: jobs to send again, and per research run the
    links of it to send again."""

    jobs: list[BacktestJob]
    runs: list[tuple[ResearchRun, list[str]]]


def _unheld(app: Any, links: Sequence[str]) -> set[str]:
    """Those of ``links`` that no live worker holds and no queue file carries."""
    # Workers first, then the queue folder, then workers again: a message moving from the folder
    # to a worker between two looks is seen in one of them.
    held = held_by_workers(app, links)
    held |= queued_in_broker(get_settings().broker_folder)
    held |= held_by_workers(app, [link for link in links if link not in held])
    return {link for link in links if link not in held}


def find_stranded(app: Any, *, max_age: dt.timedelta | None = None) -> Stranded:
    """Unfinished jobs whose next link, and research runs some of whose open links, nobody holds.

    Work older than the result backend keeps results (``result_expires``) is left alone: its
    links' states are gone, so nothing can tell stranded work from queued work.
    """
    age = max_age or dt.timedelta(seconds=int(app.conf.result_expires or 86400))
    since = utcnow() - age
    jobs = run_async(lambda s: store.unfinished_jobs(s, since))
    runs = run_async(lambda s: research_store.unfinished_runs(s, since))
    job_links = [(job, link) for job in jobs if (link := next_link(app, job))]
    run_links = [(run, links) for run in runs if (links := open_research_links(app, run))]
    unheld = _unheld(
        app, [link for _, link in job_links] + [link for _, links in run_links for link in links]
    )
    stranded = Stranded(
        jobs=[job for job, link in job_links if link in unheld],
        runs=[
            (run, lost) for run, links in run_links if (lost := [x for x in links if x in unheld])
        ],
    )
    logger.info(
        "stranded-job check: %d unfinished, %d running, %d stranded; "
        "research: %d unfinished, %d running, %d stranded",
        len(jobs),
        len(job_links),
        len(stranded.jobs),
        len(runs),
        len(run_links),
        len(stranded.runs),
    )
    return stranded


def stranded_jobs(app: Any, *, max_age: dt.timedelta | None = None) -> list[BacktestJob]:
    """The backtest jobs of :func:`find_stranded`."""
    return find_stranded(app, max_age=max_age).jobs


def resend(job: BacktestJob) -> None:
    """Send the job's whole chain again, with its original task ids."""
    from filterbets_nb.tasks.chains import backtest_chain

    logger.warning("job %s: the worker holding its next link died; sending its chain again", job.id)
    backtest_chain(job.id, job.task_ids).apply_async()


def resend_research(run: ResearchRun, links: Sequence[str]) -> None:
    """Send the stranded ``links`` of a research run again, with their original task ids."""
    from filterbets_nb.tasks.research_tasks import chunk_signature, sweep_workflow

    prepare, chunk_ids = run.task_ids[0], run.task_ids[1 : 1 + len(run.chunks)]
    if prepare in links:
        logger.warning("research run %s: its worker died in prepare; sending it again", run.id)
        sweep_workflow(run.id, run.chunks, [prepare, *chunk_ids]).apply_async()
        return
    for chunk, task_id in zip(run.chunks, chunk_ids, strict=True):
        if task_id in links:
            logger.warning(
                "research run %s: the worker holding chunk %s died; sending it again", run.id, chunk
            )
            chunk_signature(run.id, chunk, task_id).apply_async()


def recover_stranded_jobs(app: Any) -> list[str]:
    """Re-send all stranded work; returns the ids of its jobs and research runs. Never raises:
    it runs at worker start."""
    try:
        stranded = find_stranded(app)
        for job in stranded.jobs:
            resend(job)
        for run, links in stranded.runs:
            resend_research(run, links)
        return [job.id for job in stranded.jobs] + [run.id for run, _ in stranded.runs]
    except Exception:
        logger.exception("could not look for stranded work")
        return []


def recover_in_background(app: Any) -> threading.Thread:
    """Run :func:`recover_stranded_jobs` in a thread, so the worker answers the query it sends."""
    thread = threading.Thread(
        target=recover_stranded_jobs, args=(app,), name="filterbets-recovery", daemon=True
    )
    thread.start()
    return thread
