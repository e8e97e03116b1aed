"""Research workflows: a sweep is one chain ``prepare_sweep | group(sweep_chunk x N)``.

``prepare_sweep`` checks the run and brings the scope's features up to date once; the group is
one ``sweep_chunk`` per slice of the grid (a few filters each, every n-th point, see
:func:`chunk_bounds`; not one task per filter, so 500 filters are a few dozen messages); each
chunk loads the scope's matches once per process (from its match cache when the data is
unchanged), evaluates its filters over them, stores one row each, and the chunk that stores
the last missing row ends the run SUCCESS. There is no chord: on the embedded SQLite backend a
chord's body waits on a ``chord_unlock`` task that polls once a second (a delay on every sweep)
and that a killed worker takes down with it, while "the run is done when every grid point has
its row" needs no coordinator. Links pass ids and index slices,
never match data; the grid itself is in the run row. Chunk tasks report ``PROGRESS`` meta
(filters done of the chunk), which the client adds up into one bar. Every link is
``acks_late`` with ``reject_on_worker_lost``, and :mod:`.recovery` re-sends the links a killed
embedded worker took along, under their task ids.

``scan_fixtures_task`` is the scanner for beat: add an entry such as
``{"task": "filterbets_nb.tasks.research_tasks.scan_fixtures_task", "schedule":
crontab(hour=2, minute=30), "args": [filter_dict]}`` to run it after the 02:00 refresh.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
from celery import chain, group
from celery.exceptions import Ignore
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.config import get_settings
from filterbets_nb.db import research as research_store
from filterbets_nb.db import store
from filterbets_nb.db.models import utcnow
from filterbets_nb.engine import needed_columns
from filterbets_nb.filters import Filter
from filterbets_nb.research.evaluate import evaluate_points
from filterbets_nb.research.grid import GridPoint
from filterbets_nb.research.scan import scan_fixtures
from filterbets_nb.stats import to_jsonable
from filterbets_nb.status import ENDED_STATES
from filterbets_nb.tasks.backtest_tasks import cached_scope_state, matches_with
from filterbets_nb.tasks.base import RETRY_POLICY, RetryingTask, task_db
from filterbets_nb.tasks.celery_app import celery_app
from filterbets_nb.tasks.progress import ProgressRecorder, describe_error
from filterbets_nb.tasks.scope import scope_args
from filterbets_nb.teamstats import refresh_leagues

logger = logging.getLogger(__name__)

#: The chunk counts a sweep's default cutting chooses from: each a multiple of 2 worker
#: processes (the default worker's), and the larger ones of 3, 4 and 6 as well, so the processes
#: take as many equal chunks as each other and finish together.
CHUNK_COUNTS = (1, 2, 4, 6, 12)
#: Fewest filters a default chunk holds: each chunk pays a fixed cost (a message, two database
#: sessions, its progress meta), worth paying only for work several times its size, so a
#: 20-filter sweep is 2 chunks (one per process) rather than 10 of 2 filters (4 chunks of 5
#: measured no better on 4 December: turn medians 1.35-1.51x against 1.35-1.60x).
MIN_CHUNK_SIZE = 10
#: Most filters a chunk holds by default: a big sweep gets more chunks than the largest of
#: CHUNK_COUNTS, so its bar moves and a chunk lost with its worker costs little to evaluate
#: again.
MAX_CHUNK_SIZE = 25


class ResearchTask(RetryingTask):
    """A link of a research run (retried with the policy's backoff): when it finally fails,
    the run row says why."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        run_id = (kwargs or {}).get("run_id")
        if not run_id:
            return
        message = describe_error(exc)
        try:
            task_db(
                lambda s: research_store.update_run(
                    s,
                    run_id,
                    status="FAILURE",
                    error=message,
                    finished_at=utcnow(),
                    unless=ENDED_STATES,
                )
            )
        except Exception:  # the database itself may be what failed
            logger.exception("could not record the failure of research run %s", run_id)


OPTIONS: dict[str, Any] = {
    **RETRY_POLICY,
    "base": ResearchTask,
    "bind": True,
    # As the backtest chain's links: acknowledged after running, given back if the process dies.
    "acks_late": True,
    "reject_on_worker_lost": True,
}


async def _live_run(session: AsyncSession, run_id: str) -> research_store.ResearchRun:
    run = await research_store.get_run(session, run_id)
    if run is None:
        raise ValueError(f"unknown research run {run_id!r}")
    if run.status in ENDED_STATES:
        raise Ignore()  # cancelled, failed, or a redelivered copy of a finished run
    return run


@celery_app.task(name="filterbets_nb.tasks.research_tasks.prepare_sweep", **OPTIONS)
def prepare_sweep(self: Any, *, run_id: str) -> dict[str, Any]:
    """Bring the scope's features up to date once, count its matches, mark the run STARTED.

    This link runs alone before any chunk, so its cost is the part of a sweep a second worker
    process cannot share: the counts come from :func:`.backtest_tasks.cached_scope_state`, as
    a backtest's first link gets them, not from two passes over the scope's matches."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        run = await _live_run(session, run_id)
        leagues, seasons = scope_args(run.scope)
        state = await cached_scope_state(session, leagues, seasons)
        if state.missing_features:
            await refresh_leagues(session, state.missing_features)
        total = state.matches
        if total == 0:
            raise ValueError(
                f"no matches stored for leagues={leagues or 'all'} seasons={seasons or 'all'}"
            )
        # Not over an end: a cancel that landed while this link counted has revoked the
        # chunks, so a run set back to STARTED here would never end (nor its wait()).
        if not await research_store.update_run(
            session, run_id, status="STARTED", started_at=utcnow(), error=None, unless=ENDED_STATES
        ):
            raise Ignore()
        return {"status": "prepared", "run_id": run_id, "matches": total}

    return task_db(work)


def _columns_for(points: Sequence[GridPoint]) -> list[str]:
    columns = ["season"]
    for point in points:
        columns += needed_columns(Filter.from_dict(point.filter))
    return columns


def _chunk_text(start: int, stop: int, step: int) -> str:
    if step == 1:
        return f"filters {start + 1}-{stop}"
    return f"filters {start + 1}-{stop}, one in {step}"


@celery_app.task(name="filterbets_nb.tasks.research_tasks.sweep_chunk", **OPTIONS)
def sweep_chunk(self: Any, *, run_id: str, start: int, stop: int, step: int = 1) -> dict[str, Any]:
    """Evaluate grid points ``start:stop:step`` of the run over its scope; store one row each;
    end the run when that made it complete. Two database sessions per chunk: one to read (the
    run, and the matches through this process's snapshots, :func:`.backtest_tasks.matches_with`,
    so a process that ran an earlier chunk reads only columns it does not hold yet), one to
    write."""
    settings = get_settings()
    recorder = ProgressRecorder(
        self,
        stage="",
        description=_chunk_text(start, stop, step),
        min_interval=settings.progress_interval,
    )
    recorder.set(0, len(range(start, stop, step)), force=True)

    async def load(session: AsyncSession) -> tuple[list[GridPoint], pd.DataFrame]:
        run = await _live_run(session, run_id)
        points = [GridPoint(p["params"], p["filter"]) for p in run.points[start:stop:step]]
        matches = await matches_with(session, _columns_for(points), run.scope)
        return points, matches

    points, matches = task_db(load)
    if settings.evaluate_delay:  # fault injection (FILTERBETS_EVALUATE_DELAY): stay mid-chunk
        time.sleep(settings.evaluate_delay)
    rows = evaluate_points(
        matches,
        points,
        start=start,
        step=step,
        progress=lambda done, total: recorder.set(done, total),
    )
    recorder.set(len(points), len(points), force=True)

    async def save(session: AsyncSession) -> bool:
        await research_store.replace_rows(session, run_id, rows)
        await research_store.update_run(session, run_id, status="PROGRESS", unless=ENDED_STATES)
        # Counted after the rows are committed: of two chunks ending together, the later
        # commit's count sees both, so some chunk always ends the run.
        await session.commit()
        return await finish_if_complete(session, run_id)

    ended = task_db(save)
    return {
        "status": "evaluated",
        "run_id": run_id,
        "start": start,
        "stop": stop,
        "step": step,
        "ended": ended,
    }


async def finish_if_complete(session: AsyncSession, run_id: str) -> bool:
    """End the run SUCCESS when every grid point has its row; whether this call ended it."""
    run = await research_store.get_run(session, run_id)
    if run is None or run.status in ENDED_STATES:
        return False
    if await research_store.count_rows(session, run_id) < run.n_filters:
        return False
    return await research_store.update_run(
        session, run_id, status="SUCCESS", finished_at=utcnow(), error=None, unless=ENDED_STATES
    )


def chunk_size_for(n_points: int) -> int:
    """Filters per chunk by default: the most chunks of :data:`CHUNK_COUNTS` that hold
    :data:`MIN_CHUNK_SIZE` filters each (one chunk for a smaller grid), and more chunks when
    that would put over :data:`MAX_CHUNK_SIZE` filters in one."""
    n_chunks = max(c for c in CHUNK_COUNTS if c == 1 or c * MIN_CHUNK_SIZE <= n_points)
    return max(1, min(MAX_CHUNK_SIZE, math.ceil(n_points / n_chunks)))


def chunk_bounds(n_points: int, chunk_size: int | None = None) -> list[list[int]]:
    """``[[start, stop, step], ...]``: slices of at most ``chunk_size`` points that together
    take each of ``n_points`` once, as even as possible (sizes differ by at most one, so
    there is no short straggler and no long tail). ``None``: :func:`chunk_size_for`.

    Chunk ``k`` of ``n`` takes every ``n``-th point from ``k``, not a run of neighbours: a
    filter's cost grows with the bets it selects, and neighbouring grid points select alike
    (the first 10 filters of the benchmark's 20-filter grid cost 334 ms, the last 10 216 ms:
    one process of two got 61 % of the work; one in two each: 286 and 264 ms).
    """
    size = chunk_size_for(n_points) if chunk_size is None else chunk_size
    if size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {size}")
    n_chunks = math.ceil(n_points / size)
    return [[k, n_points, n_chunks] for k in range(n_chunks)]


def chunk_signature(run_id: str, chunk: Sequence[int], task_id: str) -> Any:
    """One chunk's task under its fixed id (in the workflow, and when recovery re-sends it).
    ``chunk`` is ``[start, stop, step]``, or ``[start, stop]`` as runs stored it before
    chunks were strided."""
    start, stop, step = (*(int(x) for x in chunk), 1)[:3]
    return sweep_chunk.si(run_id=run_id, start=start, stop=stop, step=step).set(task_id=task_id)


def sweep_workflow(run_id: str, chunks: Sequence[Sequence[int]], task_ids: Sequence[str]) -> Any:
    """The run's workflow with every task id fixed up front: ``task_ids`` is prepare, then one
    per chunk, so a client can follow each link before it runs and recovery can re-send it."""
    if len(task_ids) != len(chunks) + 1:
        raise ValueError(f"need {len(chunks) + 1} task ids, got {len(task_ids)}")
    chunk_tasks = [
        chunk_signature(run_id, chunk, tid) for chunk, tid in zip(chunks, task_ids[1:], strict=True)
    ]
    return chain(prepare_sweep.si(run_id=run_id).set(task_id=task_ids[0]), group(chunk_tasks))


@celery_app.task(
    name="filterbets_nb.tasks.research_tasks.scan_fixtures_task",
    **RETRY_POLICY,
    acks_late=True,
    reject_on_worker_lost=True,
)
def scan_fixtures_task(
    filter_dict: dict[str, Any], leagues: list[str] | None = None
) -> dict[str, Any]:
    """Scan the stored fixtures (matches without a result) with a filter, e.g. after the
    daily refresh; returns the selected fixtures and the filter's record as JSON."""
    flt = Filter.from_dict(filter_dict)
    history = task_db(lambda s: store.load_matches(s, leagues, None))
    result = scan_fixtures(history, flt)
    selected = result.selected.assign(kickoff=result.selected["kickoff"].astype(str))
    logger.info("scan: %d of %d fixtures selected", len(selected), result.n_fixtures)
    return {
        "status": "success",
        "fixtures": result.n_fixtures,
        "selected": selected.astype(object).where(selected.notna(), None).to_dict("records"),
        "record": to_jsonable(result.record),
    }
