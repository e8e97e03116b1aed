"""The analyst's side of the task system: connect, submit a backtest chain, read results back.

``backtest()`` returns a :class:`BacktestRun` at once; the work happens in a Celery worker. The
job row in the database is the source of truth, so a run can be picked up again from its job id
in a new process (``load_results``), long after the kernel that submitted it has gone.
"""

from __future__ import annotations

import html
import time
import uuid
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd
from celery import group
from celery.canvas import Signature

from filterbets_nb.config import Settings, get_settings
from filterbets_nb.db import store
from filterbets_nb.db.migrate import ensure_schema
from filterbets_nb.db.models import ENDED_STATES, utcnow
from filterbets_nb.db.session import run_async
from filterbets_nb.filters import Filter, job_label
from filterbets_nb.stats import equity_curve, from_jsonable, monthly_breakdown
from filterbets_nb.tasks.progress import read_progress

if TYPE_CHECKING:
    from filterbets_nb.notebook import ProgressBar

TERMINAL = ENDED_STATES
#: The metrics a one-row-per-run table or a short summary shows first.
HEADLINE = (
    "bets",
    "wins",
    "hit_rate",
    "staked",
    "profit",
    "roi",
    "avg_odds",
    "max_drawdown",
    "longest_losing_streak",
    "p_value",
)


class BacktestFailed(RuntimeError):
    """The job ended as FAILURE; the message carries the stored reason."""


class BacktestCancelled(RuntimeError):
    """The job was revoked before it finished."""


def connect(*, start_worker: bool | None = None, quiet: bool = False) -> Settings:
    """Make the configured database ready and make sure a worker listens.

    ``start_worker=None`` means: in embedded mode start one when none answers a ping; with
    services (Redis) only warn, because teams run their own workers.
    """
    settings = get_settings()
    settings.ensure_dirs()
    ensure_schema(settings.database)
    from filterbets_nb.worker import ensure_worker, ping

    if start_worker or (start_worker is None and settings.mode == "embedded"):
        ensure_worker(settings)
    elif start_worker is None and not ping(timeout=1.0) and not quiet:
        print("warning: no Celery worker answers; start one with `filterbets-nb worker`")
    if not quiet:
        print(f"filterbets-nb: {settings.describe()}")
    return settings


def _as_filter(flt: Filter | Mapping[str, Any]) -> Filter:
    return flt if isinstance(flt, Filter) else Filter.from_dict(dict(flt))


def _prepare(
    flt: Filter | Mapping[str, Any],
    leagues: Sequence[str] | None,
    seasons: Sequence[str] | None,
    label: str,
    soft_time_limit: float | None,
) -> tuple[BacktestRun, Signature]:
    """Write the job row and build (not send) its chain, with the task ids known up front."""
    from filterbets_nb.tasks.backtest_tasks import backtest_chain

    parsed = _as_filter(flt)
    filter_dict = parsed.to_dict()
    ensure_schema()
    job_id = str(uuid.uuid4())
    task_ids = [str(uuid.uuid4()) for _ in range(3)]
    scope = {"leagues": list(leagues or []), "seasons": list(seasons or [])}
    label = job_label(parsed, label)  # checked or cut to the column before anything is stored
    run_async(lambda s: store.create_job(s, job_id, filter_dict, scope, task_ids, label))
    workflow = backtest_chain(job_id, task_ids, soft_time_limit=soft_time_limit)
    return BacktestRun(job_id, task_ids, label=label), workflow


def backtest(
    flt: Filter | Mapping[str, Any],
    *,
    leagues: Sequence[str] | None = None,
    seasons: Sequence[str] | None = None,
    label: str = "",
    soft_time_limit: float | None = None,
) -> BacktestRun:
    """Submit ``fetch_matches | evaluate_filter | save_results`` for ``flt``; returns at once.

    The filter is validated here too, so a bad filter fails in the notebook cell that wrote it.
    ``soft_time_limit`` (seconds) overrides the evaluate link's 55-minute soft limit: past it
    the job ends as FAILURE ("time limit") with its partial progress recorded.
    """
    run, workflow = _prepare(flt, leagues, seasons, label, soft_time_limit)
    workflow.apply_async()
    return run


class BacktestRun:
    """Handle on one submitted backtest: state, progress, waiting, and its results as frames."""

    def __init__(self, job_id: str, task_ids: Sequence[str], label: str = "") -> None:
        self.job_id = job_id
        self.task_ids = list(task_ids)
        self.label = label

    def __repr__(self) -> str:
        return f"BacktestRun(job_id={self.job_id!r})"

    def _job(self) -> Any:
        job = run_async(lambda s: store.get_job(s, self.job_id))
        if job is None:
            raise KeyError(f"no backtest job {self.job_id!r} in the database")
        return job

    def status(self) -> dict[str, Any]:
        """State, progress dict, error and timestamps, from the job row and the chain's tasks.

        When a link failed but could not say so in the job row (its database was unreachable),
        the failure is written here, so the job row ends right either way.
        """
        job = self._job()
        state, error = job.status, job.error
        progress: dict[str, Any] = dict(job.progress or {})
        if state not in TERMINAL:
            for task_id in reversed(self.task_ids):
                link = read_progress(task_id)
                if link["state"] == "PENDING":
                    continue
                if link["state"] in ("FAILURE", "REVOKED"):
                    state, error = link["state"], error or link["error"]
                    self._record_end(state, error)
                elif link["progress"] and link["state"] != "SUCCESS":
                    progress = link["progress"]
                    state = "PROGRESS"
                break
        return {
            "job_id": self.job_id,
            "state": state,
            "progress": progress,
            "error": error,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
        }

    def _record_end(self, state: str, error: str | None) -> None:
        run_async(
            lambda s: store.update_job(
                s, self.job_id, status=state, error=error, finished_at=utcnow(), unless=TERMINAL
            )
        )

    @property
    def state(self) -> str:
        return str(self.status()["state"])

    def wait(self, timeout: float | None = None, poll: float = 0.1) -> BacktestRun:
        """Block until the job ends; raise :class:`BacktestFailed` if it failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if status["state"] == "SUCCESS":
                return self
            if status["state"] == "FAILURE":
                raise BacktestFailed(f"backtest {self.job_id} failed: {status['error']}")
            if status["state"] == "REVOKED":
                raise BacktestCancelled(f"backtest {self.job_id} was cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"backtest {self.job_id} still {status['state']} after {timeout} s"
                )
            time.sleep(poll)

    def cancel(self) -> None:
        """Revoke every link of the chain (terminating a running one); the job ends REVOKED."""
        from filterbets_nb.tasks.celery_app import celery_app

        for task_id in self.task_ids:
            celery_app.control.revoke(task_id, terminate=True)
        self._record_end("REVOKED", "cancelled")

    def summary(self) -> pd.Series:
        """Named metrics (bets, profit, roi, hit_rate, ...) as a pandas Series."""
        job = self._job()
        if job.status != "SUCCESS" or job.summary is None:
            raise RuntimeError(f"backtest {self.job_id} has no results yet (state {job.status})")
        return from_jsonable(job.summary)

    def bets(self) -> pd.DataFrame:
        """Every bet, in kick-off order, with its match, odds, stake, result and profit."""
        return run_async(lambda s: store.load_bets(s, self.job_id))

    def filter(self) -> Filter:
        return Filter.from_dict(self._job().filter)

    def progress(self, *, interval: float = 0.2, mode: str = "auto") -> ProgressBar:
        """A live bar for this run: an ipywidgets bar in Jupyter, a text line elsewhere."""
        from filterbets_nb.notebook import ProgressBar

        return ProgressBar(
            self.status,
            self.cancel,
            description=self.label or "backtest",
            interval=interval,
            mode=mode,  # type: ignore[arg-type]
        )

    def _ipython_display_(self) -> None:
        self.progress().display()

    def monthly(self) -> pd.DataFrame:
        """Bets, wins, staked, profit, ROI and hit rate per calendar month."""
        return monthly_breakdown(self.bets())

    def equity(self) -> pd.DataFrame:
        """Cumulative profit, running peak and drawdown after every bet."""
        return equity_curve(self.bets())

    def plot(self, ax: Any = None) -> Any:
        """Matplotlib equity curve with the drawdowns shaded; returns the Axes."""
        from filterbets_nb.plotting import plot_equity

        return plot_equity(self.bets(), title=self.label or self.job_id, ax=ax)

    def _repr_html_(self) -> str:
        status = self.status()
        head = (
            f"<b>Backtest</b> {html.escape(self.label)} "
            f"<code>{status['state']}</code> <small>job {self.job_id}</small>"
        )
        if status["state"] == "SUCCESS":
            table = self.summary()[list(HEADLINE)].to_frame("value").to_html()
            return f"<div>{head}{table}</div>"
        if status["error"]:
            return f"<div>{head}<pre>{html.escape(str(status['error']))}</pre></div>"
        percent = float((status["progress"] or {}).get("percent", 0.0))
        return f"<div>{head} {percent:.0f}%</div>"


def load_results(job_id: str) -> BacktestRun:
    """A handle on an earlier run, from the database alone."""
    job = run_async(lambda s: store.get_job(s, job_id))
    if job is None:
        raise KeyError(f"no backtest job {job_id!r} in the database")
    return BacktestRun(job_id, job.task_ids, label=job.label)


def jobs(limit: int = 100) -> pd.DataFrame:
    """Recent backtest jobs, newest first."""
    return run_async(lambda s: store.list_jobs(s, limit))


class TaskStatus(dict[str, Any]):
    """The status dict of a task, shown in Jupyter as a small table."""

    def _repr_html_(self) -> str:
        from filterbets_nb.notebook import task_status_html

        return task_status_html(dict(self))


def task_status(task_id: str) -> TaskStatus:
    """The spec's status check for any task id, telling queued from unknown ids."""
    from filterbets_nb.tasks.status import get_task_status

    return TaskStatus(get_task_status(task_id))


def compare(
    filters: Sequence[Filter | Mapping[str, Any]],
    *,
    leagues: Sequence[str] | None = None,
    seasons: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    timeout: float | None = None,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Backtest several filters at once (one Celery group of chains); one row of metrics each.

    Rows keep the order of ``filters``; a failed run gets its error in the ``error`` column.
    """
    names = list(labels) if labels is not None else [""] * len(filters)
    if len(names) != len(filters):
        raise ValueError(f"{len(filters)} filters but {len(names)} labels")
    prepared = [
        _prepare(flt, leagues, seasons, name, None)
        for flt, name in zip(filters, names, strict=True)
    ]
    group([workflow for _, workflow in prepared]).apply_async()
    if show_progress:
        from filterbets_nb.notebook import MultiProgress

        runs = [run for run, _ in prepared]
        bars = MultiProgress(
            {f"{i + 1}. {r.label}": r.status for i, r in enumerate(runs)},
            {f"{i + 1}. {r.label}": r.cancel for i, r in enumerate(runs)},
            description=f"{len(runs)} backtests",
        )
        bars.display()
    rows = []
    for run, _ in prepared:
        row: dict[str, Any] = {"label": run.label, "job_id": run.job_id}
        try:
            summary = run.wait(timeout).summary()
            row.update({key: summary[key] for key in HEADLINE})
            row["error"] = None
        except (BacktestFailed, BacktestCancelled) as exc:
            row["error"] = str(exc)
        rows.append(row)
    return pd.DataFrame(rows)


def refresh_team_stats(*, timeout: float | None = None, show_progress: bool = True) -> pd.DataFrame:
    """Run the team-stats refresh (the task beat runs daily at 02:00 UTC) and wait for it.

    Shows a bar over the leagues it fans out to; returns :func:`team_stats` afterwards.
    """
    from filterbets_nb.tasks.stats_tasks import refresh_all_team_stats_task

    ensure_schema()
    result = refresh_all_team_stats_task.delay()
    status_fn = partial(read_progress, result.id)
    if show_progress:
        from filterbets_nb.notebook import ProgressBar

        ProgressBar(status_fn, description="team stats refresh").display()
    deadline = None if timeout is None else time.monotonic() + timeout
    while (status := status_fn())["state"] not in TERMINAL:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"team stats refresh still {status['state']} after {timeout} s")
        time.sleep(0.1)
    if status["state"] != "SUCCESS":
        raise RuntimeError(f"team stats refresh {status['state']}: {status['error']}")
    return team_stats()


def matches(
    leagues: Sequence[str] | None = None, seasons: Sequence[str] | None = None
) -> pd.DataFrame:
    """Stored matches with their pre-match features, in kick-off order (for local research)."""
    ensure_schema()
    return run_async(lambda s: store.load_matches(s, leagues, seasons))


def workers(timeout: float = 1.0) -> list[str]:
    """Names of the Celery workers that answer a ping on the configured broker."""
    from filterbets_nb.worker import ping

    return sorted(name for reply in ping(timeout) for name in reply)


def start_worker(concurrency: int | None = None) -> str:
    """Start one more worker process on this machine (stopped when Python exits)."""
    from filterbets_nb.worker import start_worker as start

    return start(get_settings(), concurrency=concurrency).hostname


def team_stats(league: str | None = None) -> pd.DataFrame:
    """The latest per-team snapshot written by the refresh (one row per league and team)."""
    ensure_schema()
    return run_async(lambda s: store.load_team_stats(s, league))
