"""The analyst's side of the research verbs: submit, follow, wait, read back.

This is the one module of :mod:`filterbets_nb.research` that talks to the task system. It builds
on public pieces only: :func:`filterbets_nb.tasks.progress.read_progress` and
:func:`~filterbets_nb.tasks.progress.progress_meta` for the chunks' meta,
:class:`filterbets_nb.notebook.ProgressBar` for the bar, :func:`filterbets_nb.client.backtest`
to re-run single filters (sweep winners, walk-forward test seasons), and the client's
exceptions. ``SweepRun.status()`` returns a :class:`filterbets_nb.status.Status` like a
backtest run's, so :func:`filterbets_nb.status.wait_for` (the one wait loop), the bars and the
CLI follow a sweep exactly as they follow a backtest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from filterbets_nb.client import (
    NOTICE_AFTER,
    BacktestCancelled,
    BacktestFailed,
    backtest,
    check_scope,
    no_worker_hint,
    scope_codes,
    worker_keeper,
)
from filterbets_nb.config import get_settings
from filterbets_nb.db import research as research_store
from filterbets_nb.db import store
from filterbets_nb.db.migrate import ensure_schema
from filterbets_nb.db.models import utcnow
from filterbets_nb.db.session import run_shared
from filterbets_nb.filters import Filter, as_filter
from filterbets_nb.research.grid import GridPoint, MakeFilter, expand_grid
from filterbets_nb.research.result import SweepResult
from filterbets_nb.research.scan import ScanResult, read_fixtures, scan_fixtures
from filterbets_nb.research.simulate import Simulation
from filterbets_nb.research.simulate import simulate as simulate_bets
from filterbets_nb.research.walkforward import WalkForwardResult, make_folds, walk_forward_result
from filterbets_nb.result_wake import result_wake
from filterbets_nb.status import ENDED_STATES, JobState, ProgressMeta, Status, Wake, wait_for
from filterbets_nb.tasks.progress import progress_meta, read_progress
from filterbets_nb.tasks.scope import scope_args

if TYPE_CHECKING:
    from filterbets_nb.notebook import ProgressBar

__all__ = ["SweepRun", "WalkForwardRun", "scan", "simulate", "sweep", "walk_forward"]

#: Keyword arguments of :func:`sweep` that are options, not grid parameters.
SWEEP_OPTIONS = ("leagues", "seasons", "label", "chunk_size")


def _bets_over(leagues: Sequence[str] | None, seasons: Sequence[str] | None) -> Any:
    """A function re-running one filter as a backtest chain over a scope, returning its bets."""

    def bets(flt: Filter) -> pd.DataFrame:
        return backtest(flt, leagues=leagues, seasons=seasons).wait().bets()

    return bets


class SweepRun:
    """Handle on one submitted sweep: one aggregate bar (filters done / total), wait, result."""

    def __init__(
        self, run_id: str, label: str = "", row: research_store.ResearchRun | None = None
    ) -> None:
        self.run_id = run_id
        self.label = label
        run = row if row is not None else self._run()  # a submit has the row it just stored
        self.grid = list(run.grid)
        self.scope = dict(run.scope)
        self.chunks = [tuple(c) for c in run.chunks]
        self.task_ids = list(run.task_ids)
        # prepare, then one id per chunk (runs stored before chords were dropped end with one
        # more id, their finish link's)
        self.chunk_ids = self.task_ids[1 : 1 + len(self.chunks)]
        self._sizes = {
            tid: len(range(*chunk)) for chunk, tid in zip(self.chunks, self.chunk_ids, strict=True)
        }
        self.n_filters = run.n_filters
        self._finished: dict[str, int] = {}  # chunk task id -> filters, once SUCCESS

    def __repr__(self) -> str:
        return f"SweepRun(run_id={self.run_id!r}, filters={self.n_filters})"

    def _run(self) -> research_store.ResearchRun:
        run = run_shared(lambda s: research_store.get_run(s, self.run_id))
        if run is None:
            raise KeyError(f"no research run {self.run_id!r} in the database")
        return run

    def status(self) -> Status:
        """State and aggregate progress: the run row, plus the chunks' task meta meanwhile.

        Reads only: a link that failed shows as the run's FAILURE here at once (its worker's
        ``on_failure`` writes the row a moment later)."""
        run = run_shared(lambda s: research_store.get_run_state(s, self.run_id))
        if run is None:
            raise KeyError(f"no research run {self.run_id!r} in the database")
        state, error = run.status, run.error
        done = self.n_filters if state == JobState.SUCCESS else 0
        if state not in ENDED_STATES:
            # Each link's meta read once; a link seen SUCCESS is not read again.
            for task_id in self.task_ids:
                if task_id in self._finished:
                    done += self._finished[task_id]
                    continue
                link = read_progress(task_id)
                if link["state"] == JobState.SUCCESS:
                    self._finished[task_id] = self._sizes.get(task_id, 0)
                    done += self._sizes.get(task_id, 0)
                elif link["state"] == JobState.PROGRESS:
                    done += int(link["progress"].get("current", 0))
                elif link["state"] in (JobState.FAILURE, JobState.REVOKED):
                    state, error = link["state"], error or link["error"]
                    break
        if state in (JobState.STARTED, JobState.PENDING) and done:
            state = JobState.PROGRESS
        status: Status = {
            "state": str(state),
            "progress": cast(
                ProgressMeta, progress_meta(done, self.n_filters, description="filters")
            ),
            "error": error,
            "notice": None,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        }
        waited = (utcnow() - run.created_at).total_seconds() if run.created_at else 0.0
        if state == JobState.PENDING and waited >= NOTICE_AFTER:
            status["notice"] = (
                f"no worker has taken this sweep within {NOTICE_AFTER:.0f} s; "
                f"{no_worker_hint(get_settings())}"
            )
        return status

    def wake(self) -> Wake:
        """Wakes :func:`~filterbets_nb.status.wait_for` as a link of the sweep stores a state
        (the chunk that ends the run commits its row first)."""
        return result_wake(self.task_ids)

    def _record_end(self, state: str, error: str | None) -> None:
        run_shared(
            lambda s: research_store.update_run(
                s, self.run_id, status=state, error=error, finished_at=utcnow(), unless=ENDED_STATES
            )
        )

    @property
    def state(self) -> str:
        return str(self.status()["state"])

    def cancel(self) -> None:
        """Revoke every task of the workflow; the run ends REVOKED."""
        from filterbets_nb.tasks.celery_app import celery_app

        for task_id in self.task_ids:
            celery_app.control.revoke(task_id, terminate=True)
        self._record_end("REVOKED", "cancelled")

    def progress(self, *, interval: float = 0.2, mode: str = "auto") -> ProgressBar:
        """One bar for the whole sweep (filters done / total, ETA, Cancel)."""
        from filterbets_nb.notebook import ProgressBar

        return ProgressBar(
            self.status,
            self.cancel,
            description=self.label or f"sweep of {self.n_filters} filters",
            interval=interval,
            mode=mode,  # type: ignore[arg-type]
        )

    def _ipython_display_(self) -> None:
        self.progress().display()

    def wait(self, timeout: float | None = None) -> SweepResult:
        """Block until the sweep ends; its result (raises BacktestFailed if it failed).

        The same wait as :meth:`filterbets_nb.client.BacktestRun.wait`: the one loop
        :func:`~filterbets_nb.status.wait_for`, which also restarts the data dir's worker if it
        died meanwhile (its recovery then re-sends the chunks it took along)."""
        wait_for(
            self,
            timeout=timeout,
            what=f"sweep {self.run_id}",
            on_status=worker_keeper(),
            failed=BacktestFailed,
            cancelled=BacktestCancelled,
        )
        return self.result()

    def result(self) -> SweepResult:
        rows = run_shared(lambda s: research_store.load_rows(s, self.run_id))
        leagues, seasons = scope_args(self.scope)
        return SweepResult(rows, self.grid, bets_fn=_bets_over(leagues, seasons), label=self.label)


def submit_sweep(
    points: Sequence[GridPoint],
    grid: Sequence[str],
    *,
    leagues: str | Sequence[str] | None = None,
    seasons: str | Sequence[str] | None = None,
    label: str = "",
    chunk_size: int | None = None,
    kind: str = "sweep",
) -> SweepRun:
    """Store the run row with its grid points and send its workflow; returns at once.

    The scope is checked here, as a backtest's is: ``leagues="E0"`` means ``["E0"]``, and a
    scope with no stored match raises :class:`~filterbets_nb.client.ScopeError` naming what is
    stored, in the cell that asked, instead of a run that fails on a worker."""
    from filterbets_nb.tasks.research_tasks import chunk_bounds, sweep_workflow

    if not points:
        raise ValueError("a sweep needs at least one grid point")
    leagues, seasons = scope_codes(leagues, "leagues"), scope_codes(seasons, "seasons")
    check_scope({"leagues": leagues, "seasons": seasons})  # (and the schema)
    chunks = chunk_bounds(len(points), chunk_size)
    run_id = str(uuid.uuid4())
    task_ids = [str(uuid.uuid4()) for _ in range(len(chunks) + 1)]
    row = research_store.ResearchRun(
        id=run_id,
        kind=kind,
        label=label,
        grid=list(grid),
        points=[{"params": p.params, "filter": p.filter} for p in points],
        scope={"leagues": list(leagues or []), "seasons": list(seasons or [])},
        status="PENDING",
        task_ids=task_ids,
        chunks=chunks,
    )
    run_shared(lambda s: research_store.create_run(s, row))
    sweep_workflow(run_id, chunks, task_ids).apply_async()
    return SweepRun(run_id, label=label, row=row)


def sweep(make_filter: MakeFilter, **grid: Any) -> SweepRun:
    """Expand ``grid`` through ``make_filter`` and sweep it on the workers; returns at once.

    ``fb.sweep(lambda lo, pts: ((F.home_odds >= lo) & (F.home_form_pts_5 >= pts)).bet("home"),
    lo=[1.4, 1.5, 1.6], pts=[6, 8, 10], leagues=["E0"])``. The names in ``SWEEP_OPTIONS``
    (``leagues``, ``seasons``, ``label``, ``chunk_size``) are options, every other keyword is a
    grid parameter. ``.wait()`` gives a :class:`~.result.SweepResult`.
    """
    options = {k: grid.pop(k) for k in SWEEP_OPTIONS if k in grid}
    points = expand_grid(make_filter, grid)
    return submit_sweep(points, list(grid), **options)


def load_sweep(run_id: str) -> SweepRun:
    """A handle on an earlier sweep, from the database alone."""
    return SweepRun(run_id)


class WalkForwardRun:
    """A walk-forward: its sweep on the workers, then one backtest chain per test fold."""

    def __init__(
        self,
        sweep_run: SweepRun,
        *,
        train: int,
        test: int,
        metric: str,
        min_bets: int,
        seasons: Sequence[str] | None,
    ) -> None:
        self.sweep_run = sweep_run
        self.train, self.test, self.metric, self.min_bets = train, test, metric, min_bets
        self.seasons = list(seasons or [])

    def status(self) -> Status:
        return self.sweep_run.status()

    def progress(self, **options: Any) -> ProgressBar:
        return self.sweep_run.progress(**options)

    def _ipython_display_(self) -> None:
        self.progress().display()

    def wait(self, timeout: float | None = None) -> WalkForwardResult:
        """Wait for the sweep, choose per fold, backtest each choice on its test seasons."""
        result = self.sweep_run.wait(timeout)
        leagues, _ = scope_args(self.sweep_run.scope)
        seasons = self.seasons or run_shared(lambda s: research_store.scope_seasons(s, leagues))
        folds = make_folds(seasons, self.train, self.test)

        def oos_bets(filter_dict: dict[str, Any], seasons: Sequence[str]) -> pd.DataFrame:
            run = backtest(filter_dict, leagues=leagues, seasons=list(seasons))
            return run.wait(timeout).bets()

        return walk_forward_result(
            result.rows, result.grid_names, folds, self.metric, self.min_bets, oos_bets
        )


def walk_forward(
    make_filter: MakeFilter,
    grid: Mapping[str, Sequence[Any]],
    *,
    train: int = 2,
    test: int = 1,
    metric: str = "roi",
    min_bets: int = 30,
    leagues: Sequence[str] | None = None,
    seasons: Sequence[str] | None = None,
    chunk_size: int | None = None,
) -> WalkForwardRun:
    """Walk-forward over the scope's seasons on the task system; returns at once.

    ``.wait()`` gives a :class:`~.walkforward.WalkForwardResult`: per fold the parameters
    chosen on ``train`` seasons and their in-sample and out-of-sample figures, the combined
    out-of-sample bets, summary and equity, and the in-sample vs out-of-sample ``gap``.
    """
    if seasons is not None:
        make_folds(seasons, train, test)  # a scope too short fails here, before any work
    points = expand_grid(make_filter, grid)
    run = submit_sweep(
        points,
        list(grid),
        leagues=leagues,
        seasons=seasons,
        label=f"walk-forward of {len(points)} filters",
        chunk_size=chunk_size,
        kind="walk_forward",
    )
    return WalkForwardRun(
        run, train=train, test=test, metric=metric, min_bets=min_bets, seasons=seasons
    )


def scan(
    flt: Filter | Mapping[str, Any],
    fixtures: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    leagues: Sequence[str] | None = None,
) -> ScanResult:
    """The fixtures ``flt`` selects, with prices, features as of kick-off, and its record.

    ``fixtures``: ``None`` for the stored matches without a result, or a football-data.co.uk
    file (``fixtures.csv`` or a league file with future rows) or a frame in the matches' shape.
    History is the stored matches (of ``leagues``).
    """
    parsed = as_filter(flt, "a scan")
    if isinstance(fixtures, str | os.PathLike):
        fixtures = read_fixtures(fixtures)
    ensure_schema()
    history = run_shared(lambda s: store.load_matches(s, leagues, None))
    return scan_fixtures(history, parsed, fixtures)


def simulate(bets: Any, **options: Any) -> Simulation:
    """Bankroll simulation of a run's bets (a BacktestRun, a BacktestResult, a sweep winner
    or a bets frame); see :func:`filterbets_nb.research.simulate.simulate`."""
    return simulate_bets(bets, **options)
