"""Research workflows: a sweep is one chain ``prepare | chord(chunks, finish)`` over the workers.

``prepare_sweep`` checks the run and brings the scope's features up to date once; the chord's
header is one ``sweep_chunk`` per slice of the grid (``chunk_size`` filters each, not one task per
filter, so 500 filters are a few dozen messages); each chunk loads the scope's matches once (from
its process's match cache when the data is unchanged) and evaluates its filters over them;
``finish_sweep`` checks that every grid point has its row and ends the run. Links pass ids and
index ranges, never match data; the grid itself is in the run row. Chunk tasks report
``PROGRESS`` meta (filters done of the chunk), which the client adds up into one bar.

``scan_fixtures_task`` is the scanner for beat: add an entry such as
``{"task": "filterbets_nb.tasks.research_tasks.scan_fixtures_task", "schedule":
crontab(hour=2, minute=30), "args": [filter_dict]}`` to run it after the 02:00 refresh.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from celery import Signature, Task, chain, chord, group
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
from filterbets_nb.tasks.backtest_tasks import matches_with
from filterbets_nb.tasks.base import RETRY_POLICY, task_db
from filterbets_nb.tasks.celery_app import celery_app
from filterbets_nb.tasks.progress import ProgressRecorder, describe_error
from filterbets_nb.teamstats import refresh_league

logger = logging.getLogger(__name__)

#: Grid points per chunk task by default: big enough that loading the matches once pays off,
#: small enough that two processes share a 100-filter sweep evenly.
DEFAULT_CHUNK_SIZE = 25


class ResearchTask(Task):
    """A link of a research run: when it finally fails, the run row says why."""

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
                    s, run_id, status="FAILURE", error=message, finished_at=utcnow()
                )
            )
        except Exception:  # the database itself may be what failed
            logger.exception("could not record the failure of research run %s", run_id)


OPTIONS: dict[str, Any] = {
    **RETRY_POLICY,
    "base": ResearchTask,
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


def _scope(scope: dict[str, Any]) -> tuple[list[str] | None, list[str] | None]:
    return scope.get("leagues") or None, scope.get("seasons") or None


async def _live_run(session: AsyncSession, run_id: str) -> research_store.ResearchRun:
    run = await research_store.get_run(session, run_id)
    if run is None:
        raise ValueError(f"unknown research run {run_id!r}")
    if run.status in ("REVOKED", "SUCCESS"):
        raise Ignore()  # cancelled, or a redelivered copy of a finished run
    return run


@celery_app.task(name="filterbets_nb.tasks.research_tasks.prepare_sweep", **OPTIONS)
def prepare_sweep(self: Any, *, run_id: str) -> dict[str, Any]:
    """Bring the scope's features up to date once, count its matches, mark the run STARTED."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        run = await _live_run(session, run_id)
        leagues, seasons = _scope(run.scope)
        for league in await store.matches_missing_features(session, leagues):
            await refresh_league(session, league)
        total = await store.count_matches(session, leagues, seasons)
        if total == 0:
            raise ValueError(
                f"no matches stored for leagues={leagues or 'all'} seasons={seasons or 'all'}"
            )
        await research_store.update_run(
            session, run_id, status="STARTED", started_at=utcnow(), error=None
        )
        return {"status": "prepared", "run_id": run_id, "matches": total}

    return task_db(work)


def _load_scope(scope: dict[str, Any], points: Sequence[GridPoint]) -> pd.DataFrame:
    """The scope's matches with every column the chunk's filters need, through this process's
    snapshots (:func:`.backtest_tasks.matches_with`): a worker that just ran a backtest or an
    earlier chunk over the same scope reads only the columns it does not hold yet."""
    columns = ["season"]
    for point in points:
        columns += needed_columns(Filter.from_dict(point.filter))
    return task_db(lambda session: matches_with(session, columns, scope))


@celery_app.task(name="filterbets_nb.tasks.research_tasks.sweep_chunk", **OPTIONS)
def sweep_chunk(self: Any, *, run_id: str, start: int, stop: int) -> dict[str, Any]:
    """Evaluate grid points ``start:stop`` of the run over its scope; store one row each."""
    run = task_db(lambda s: _live_run(s, run_id))
    points = [GridPoint(p["params"], p["filter"]) for p in run.points[start:stop]]
    recorder = ProgressRecorder(
        self,
        stage="",
        description=f"filters {start + 1}-{stop}",
        min_interval=get_settings().progress_interval,
    )
    recorder.set(0, len(points), force=True)
    matches = _load_scope(run.scope, points)
    rows = evaluate_points(
        matches, points, start=start, progress=lambda done, total: recorder.set(done, total)
    )
    recorder.set(len(points), len(points), force=True)

    async def save(session: AsyncSession) -> None:
        await research_store.replace_rows(session, run_id, rows)
        await research_store.update_run(session, run_id, status="PROGRESS")

    task_db(save)
    return {"status": "evaluated", "run_id": run_id, "start": start, "stop": stop}


@celery_app.task(name="filterbets_nb.tasks.research_tasks.finish_sweep", **OPTIONS)
def finish_sweep(self: Any, chunks: Sequence[Any] = (), *, run_id: str) -> dict[str, Any]:
    """End the run: SUCCESS when every grid point has its row."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        run = await _live_run(session, run_id)
        stored = await research_store.count_rows(session, run_id)
        if stored != run.n_filters:
            raise RuntimeError(f"run {run_id}: {stored} of {run.n_filters} grid points stored")
        await research_store.update_run(
            session, run_id, status="SUCCESS", finished_at=utcnow(), error=None
        )
        return {"status": "success", "run_id": run_id, "filters": stored}

    return task_db(work)


def chunk_bounds(n_points: int, chunk_size: int) -> list[list[int]]:
    """``[[start, stop], ...]`` slices of ``chunk_size`` points covering ``n_points``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [
        [i * chunk_size, min((i + 1) * chunk_size, n_points)]
        for i in range(math.ceil(n_points / chunk_size))
    ]


def sweep_workflow(run_id: str, chunks: Sequence[Sequence[int]], task_ids: Sequence[str]) -> Any:
    """The run's workflow with every task id fixed up front: ``task_ids`` is prepare, one per
    chunk, finish, so a client can follow each link before it runs."""
    if len(task_ids) != len(chunks) + 2:
        raise ValueError(f"need {len(chunks) + 2} task ids, got {len(task_ids)}")
    header = group(
        sweep_chunk.si(run_id=run_id, start=int(a), stop=int(b)).set(task_id=tid)
        for (a, b), tid in zip(chunks, task_ids[1:-1], strict=True)
    )
    body: Signature = finish_sweep.s(run_id=run_id).set(task_id=task_ids[-1])
    return chain(prepare_sweep.si(run_id=run_id).set(task_id=task_ids[0]), chord(header, body))


@celery_app.task(name="filterbets_nb.tasks.research_tasks.scan_fixtures_task", **RETRY_POLICY)
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
