"""The analyst's side of the task system: connect, submit a backtest chain, read results back.

``backtest()`` returns a :class:`BacktestRun` at once; the work happens in a Celery worker. The
job row in the database is the source of truth, so a run can be picked up again from its job id
in a new process (``load_results``), long after the kernel that submitted it has gone.
"""

from __future__ import annotations

import html
import math
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import group
from celery.canvas import Signature
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.config import Settings, get_settings, mask_url
from filterbets_nb.db import store
from filterbets_nb.db.limits import check_scope_codes
from filterbets_nb.db.migrate import ensure_schema
from filterbets_nb.db.models import utcnow
from filterbets_nb.db.session import run_shared
from filterbets_nb.errors import UserError
from filterbets_nb.filters import Filter, as_filter, job_label
from filterbets_nb.result_wake import result_wake
from filterbets_nb.results import BacktestResults
from filterbets_nb.status import (
    ENDED_STATES,
    JobCancelled,
    JobFailed,
    JobState,
    Status,
    Wake,
    wait_for,
)
from filterbets_nb.tasks.celery_app import get_app
from filterbets_nb.tasks.progress import read_progress
from filterbets_nb.tasks.status import chain_state, check_task_id

if TYPE_CHECKING:
    import pandas as pd

    from filterbets_nb.formatting import Summary, Table
    from filterbets_nb.notebook import ProgressBar

#: Kept for callers of the earlier name; the one definition is ``status.ENDED_STATES``.
TERMINAL = ENDED_STATES


class BacktestFailed(JobFailed):
    """The job ended as FAILURE; the message carries the stored reason."""


class BacktestCancelled(JobCancelled):
    """The job was revoked before it finished."""


class SubmitError(UserError, RuntimeError):
    """The job could not be sent to the broker; its row is marked FAILURE with the reason."""


#: Seconds ``wait`` gives a failed link's worker to record the end in the job row.
ROW_GRACE = 5.0
#: Seconds a job may stay PENDING before its status says that no worker has taken it.
NOTICE_AFTER = 5.0
#: Bounds of the inputs a submit accepts, checked before anything is stored or sent (scope
#: codes: ``db.limits.check_scope_codes``).
MAX_STAKE = 1e9
#: The evaluate link's hard time limit (``task_time_limit``): a soft limit must stay below it.
MAX_SOFT_TIME_LIMIT = 3600.0


def connect(*, start_worker: bool | None = None, quiet: bool = False) -> Settings:
    """Make the configured database ready and make sure a worker listens.

    ``start_worker=None`` means: in embedded mode start the data dir's shared worker unless it
    runs; with services (Redis) only warn, because teams run their own workers. Submitting
    (``backtest``, ``compare``, ``refresh_team_stats``) does the same, so ``connect`` is
    optional. ``start_worker=False`` also keeps this process's later submits from starting
    one (a script or test that runs its own workers).
    """
    settings = get_settings()
    settings.ensure_dirs()
    ensure_schema(settings.database)
    from filterbets_nb.worker import ensure_shared_worker, ping
    from filterbets_nb.worker import start_worker as start_private

    if start_worker is not None:
        _autostart[0] = start_worker
    if settings.mode == "embedded" and start_worker is not False:
        ensure_shared_worker(settings)
    elif settings.mode == "services" and start_worker and not ping(timeout=1.0):
        # Asked for explicitly on a shared broker: a worker tied to this process, not a
        # detached one that would outlive it and take other people's jobs.
        start_private(settings)
    elif start_worker is None and not ping(timeout=1.0) and not quiet:
        print(f"warning: no Celery worker answers; {no_worker_hint(settings)}")
    if not quiet:
        print(f"filterbets-nb: {settings.describe()}")
    return settings


def no_worker_hint(settings: Settings) -> str:
    """How to start a worker for these settings, with the broker's password masked."""
    if settings.mode == "embedded":
        log = settings.data_dir / "worker.log"
        seen = f" and its log {log}" if log.exists() else ""
        return f"is the data dir's shared worker up? see `filterbets-nb worker status`{seen}"
    return (
        "start one with `filterbets-nb worker` (queues backtest,stats) on broker "
        f"{mask_url(settings.broker)}"
    )


#: ``connect(start_worker=False)`` turns the submit paths' worker start off for this process.
_autostart = [True]


def before_submit() -> Settings:
    """What every submit path needs first: the schema, and in embedded mode a worker."""
    settings = get_settings()
    settings.ensure_dirs()
    ensure_schema(settings.database)
    get_app()
    if settings.mode == "embedded" and _autostart_wanted():
        from filterbets_nb.worker import ensure_shared_worker

        ensure_shared_worker(settings)
    return settings


#: Seconds between two checks, while waiting, that the data dir's shared worker still runs.
KEEP_EVERY = 2.0


def worker_keeper() -> Callable[[Any], None]:
    """An ``on_status`` hook for :func:`~filterbets_nb.status.wait_for` that restarts the
    data dir's shared worker if it stopped while a job waits (embedded mode, autostart on).

    The worker can die under a job (an out-of-memory kill, or kombu's filesystem transport
    reading a message file its writer has not filled yet, which ends the consumer with a
    JSONDecodeError); a waiting caller then gets a new one, whose stranded-job check sends
    the job again, instead of waiting for ever. A lock attempt every 2 s costs nothing.
    """
    last = [time.monotonic()]

    def keep(_status: Any) -> None:
        now = time.monotonic()
        if now - last[0] < KEEP_EVERY:
            return
        last[0] = now
        settings = get_settings()
        if settings.mode == "embedded" and _autostart_wanted():
            from filterbets_nb.worker import ensure_shared_worker

            ensure_shared_worker(settings)

    return keep


def _autostart_wanted() -> bool:
    from filterbets_nb.worker import autostart_allowed

    return _autostart[0] and autostart_allowed()


def scope_codes(value: str | Sequence[str] | None, what: str) -> list[str]:
    """A list of codes from one code or a sequence of them (``"E0"`` means ``["E0"]``)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence | set | frozenset):
        raise TypeError(f"{what} must be a string or a list of strings, not {type(value).__name__}")
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what} must be strings, got {item!r} ({type(item).__name__})")
    # "E0,SP1" means two codes wherever it comes from (a notebook or a repeated CLI option).
    codes = [part.strip() for item in items for part in _split(item)]
    check_scope_codes(what, codes)
    return codes


def _split(item: str) -> list[str]:
    parts = [part for part in item.split(",") if part.strip()]
    return parts or [item]


def fields() -> Table:
    """Every filter field: type, description and the football-data columns that carry it."""
    from filterbets_nb.catalog import field_catalog
    from filterbets_nb.formatting import Table

    return Table(field_catalog())


def _check_limit(soft_time_limit: float | None) -> float | None:
    if soft_time_limit is None:
        return None
    if isinstance(soft_time_limit, bool) or not isinstance(soft_time_limit, int | float):
        raise TypeError(f"soft_time_limit is a number of seconds, not {soft_time_limit!r}")
    if not math.isfinite(soft_time_limit) or not 0 < soft_time_limit <= MAX_SOFT_TIME_LIMIT:
        raise ValueError(
            f"soft_time_limit must be > 0 and at most {MAX_SOFT_TIME_LIMIT:.0f} s "
            f"(the hard limit), got {soft_time_limit!r}"
        )
    return float(soft_time_limit)


@dataclass(frozen=True)
class _Submission:
    """One backtest's inputs, validated: nothing is stored or sent before this exists."""

    filter: Filter
    scope: dict[str, list[str]]
    label: str
    soft_time_limit: float | None


def _validate(
    flt: Filter | Mapping[str, Any],
    leagues: str | Sequence[str] | None,
    seasons: str | Sequence[str] | None,
    label: str,
    soft_time_limit: float | None,
) -> _Submission:
    """Check every input of a submit, with a message naming the one that is wrong."""
    parsed = as_filter(flt)
    if parsed.stake > MAX_STAKE:
        raise ValueError(f"stake must be at most {MAX_STAKE:g} units, got {parsed.stake:g}")
    scope = {
        "leagues": scope_codes(leagues, "leagues"),
        "seasons": scope_codes(seasons, "seasons"),
    }
    limit = _check_limit(soft_time_limit)
    return _Submission(parsed, scope, job_label(parsed, label), limit)


class ScopeError(UserError, ValueError):
    """A backtest scope (leagues, seasons) that matches no stored match."""


def describe_stored(stored: pd.DataFrame) -> str:
    """``E0 2019-20 (380), 2020-21 (380); SP1 2019-20 (380)``: what a scope can choose from."""
    if stored.empty:
        return "nothing is stored yet (load data: fb.load_demo(), fb.import_csv(...))"
    parts = []
    for league, rows in stored.groupby("league", sort=True):
        counts = zip(rows["season"], rows["matches"], strict=True)
        seasons = ", ".join(f"{season} ({int(n):,})" for season, n in counts)
        parts.append(f"{league} {seasons}")
    return "stored: " + "; ".join(parts)


def check_scope(scope: Mapping[str, Sequence[str]]) -> None:
    """:class:`ScopeError` listing what is stored when ``scope`` holds no stored match, so a
    typo fails here instead of in a worker seconds later."""
    ensure_schema()
    leagues = list(scope.get("leagues") or []) or None
    seasons = list(scope.get("seasons") or []) or None
    if run_shared(lambda s: store.has_matches(s, leagues, seasons)):
        return
    stored = run_shared(store.stored_scope)
    asked = (
        ", ".join(f"{name} {','.join(values)}" for name, values in scope.items() if values)
        or "all leagues and seasons"
    )
    raise ScopeError(f"no stored match in the scope ({asked}); {describe_stored(stored)}")


def _prepare(sub: _Submission) -> tuple[BacktestRun, Signature]:
    """Write the job row and build (not send) its chain, with the task ids known up front."""
    from filterbets_nb.tasks.chains import backtest_chain

    filter_dict = sub.filter.to_dict()
    job_id = str(uuid.uuid4())
    task_ids = [str(uuid.uuid4()) for _ in range(3)]
    run_shared(lambda s: store.create_job(s, job_id, filter_dict, sub.scope, task_ids, sub.label))
    workflow = backtest_chain(job_id, task_ids, soft_time_limit=sub.soft_time_limit)
    return BacktestRun(job_id, task_ids, label=sub.label), workflow


#: Publishing retries: a broker that is down fails the submit within a few seconds.
SEND_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.5}


#: Seconds a broker check or send that went through vouches for the broker: a loop submitting
#: 20 backtests connects to check it once, not 20 times (7 ms each on loopback).
BROKER_CHECK_FRESH = 2.0
_broker_seen: dict[str, float] = {}


def _check_broker() -> None:
    """One quick connection to a server broker before sending (no-op on the filesystem one),
    unless it took a message within the last :data:`BROKER_CHECK_FRESH` seconds.

    Without it a Redis that is down is found by the result backend's subscription during the
    send, which retries for about 20 s (``result_backend_always_retry``) before giving up.
    """
    app = get_app()
    settings = get_settings()
    if settings.mode == "embedded":
        return
    if time.monotonic() - _broker_seen.get(settings.broker, -math.inf) < BROKER_CHECK_FRESH:
        return
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0.2, interval_max=0.2, timeout=3)
    _broker_seen[settings.broker] = time.monotonic()


def _send(workflow: Signature, runs: Sequence[BacktestRun]) -> None:
    """Send ``workflow``; if the broker cannot take it, mark every job FAILURE and raise.

    Send-then-record: the rows were written PENDING first (a worker may pick a link up at
    once and must find its job), so a failed send is what marks them, and no row stays
    "queued" for a chain that was never sent.
    """
    try:
        _check_broker()
        workflow.apply_async(retry=True, retry_policy=SEND_RETRY)
        _broker_seen[get_settings().broker] = time.monotonic()
    except Exception as exc:
        _broker_seen.pop(get_settings().broker, None)
        reason = f"could not reach the broker {mask_url(get_settings().broker)}: {exc}"
        ids = [run.job_id for run in runs]

        async def mark_failed(session: AsyncSession) -> None:
            for job_id in ids:
                await store.update_job(
                    session,
                    job_id,
                    status="FAILURE",
                    error=reason,
                    finished_at=utcnow(),
                    unless=ENDED_STATES,
                )

        run_shared(mark_failed)
        raise SubmitError(reason) from exc


def backtest(
    flt: Filter | Mapping[str, Any],
    *,
    leagues: str | Sequence[str] | None = None,
    seasons: str | Sequence[str] | None = None,
    label: str = "",
    soft_time_limit: float | None = None,
) -> BacktestRun:
    """Submit ``fetch_matches | evaluate_filter | save_results`` for ``flt``; returns at once.

    The filter and scope are validated here too, so a bad one fails in the notebook cell that
    wrote it. ``leagues="E0"`` means ``["E0"]``. ``soft_time_limit`` (seconds, at most 3600)
    overrides the evaluate link's 55-minute soft limit: past it the job ends as FAILURE
    ("time limit") with its partial progress recorded.
    """
    sub = _validate(flt, leagues, seasons, label, soft_time_limit)
    check_scope(sub.scope)
    before_submit()
    run, workflow = _prepare(sub)
    _send(workflow, [run])
    return run


class BacktestRun(BacktestResults):
    """Handle on one submitted backtest: state, progress, waiting, and its results as frames.

    Its results read like the in-process :class:`~filterbets_nb.engine.BacktestResult`'s:
    ``summary()``, ``bets()``, ``equity()``, ``monthly()``, ``plot()``, ``simulate()``
    (:class:`~filterbets_nb.results.BacktestResults`).
    """

    def __init__(self, job_id: str, task_ids: Sequence[str], label: str = "") -> None:
        self.job_id = job_id
        self.task_ids = list(task_ids)
        self.label = label

    def __repr__(self) -> str:
        return f"BacktestRun(job_id={self.job_id!r})"

    def _job(self) -> Any:
        job = run_shared(lambda s: store.get_job(s, self.job_id))
        if job is None:
            raise KeyError(f"no backtest job {self.job_id!r} in the database")
        return job

    def _status_of(self, job: Any) -> Status:
        """The status from an already read job row plus the chain's task meta; writes nothing."""
        state, progress, error = chain_state(job.status, self.task_ids, dict(job.progress or {}))
        status: Status = {
            "job_id": self.job_id,
            "state": state,
            "progress": progress,
            "error": error or job.error,
            "notice": None,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
        }
        if state == JobState.PENDING and not progress and job.created_at is not None:
            waited = (utcnow() - job.created_at).total_seconds()
            if waited >= NOTICE_AFTER:
                status["notice"] = (
                    f"no worker has taken this job within {NOTICE_AFTER:.0f} s; "
                    f"{no_worker_hint(get_settings())}"
                )
        return status

    def status(self) -> Status:
        """State, progress dict, error, notice and timestamps (one job read, no writes)."""
        return self._status_of(self._job())

    def wake(self) -> Wake:
        """Wakes :func:`~filterbets_nb.status.wait_for` as a link of the chain stores a state."""
        return result_wake(self.task_ids)

    def reconcile(self) -> str | None:
        """Store the end the chain reached when the job row missed it (see ``tasks.status``)."""
        from filterbets_nb.tasks.status import reconcile_job

        return reconcile_job(self.job_id)

    @property
    def state(self) -> str:
        return str(self.status()["state"])

    def wait(self, timeout: float | None = None, poll: float = 0.1) -> BacktestRun:
        """Block until the job ends; raise :class:`BacktestFailed` if it failed.

        A failed link is visible in the result backend a moment before its worker writes the
        job row (Celery stores the state, then calls ``on_failure``), so on a failure this
        waits up to :data:`ROW_GRACE` seconds for the row too: after ``wait`` the job row says
        how it ended, unless its worker could not write it (see :meth:`reconcile`).
        """
        try:
            wait_for(
                self,
                timeout=timeout,
                poll=poll,
                what=f"backtest {self.job_id}",
                on_status=worker_keeper(),
                failed=BacktestFailed,
                cancelled=BacktestCancelled,
            )
        except (BacktestFailed, BacktestCancelled):
            deadline = time.monotonic() + ROW_GRACE
            while self._job().status not in ENDED_STATES and time.monotonic() < deadline:
                time.sleep(poll)
            raise
        return self

    def cancel(self) -> None:
        """Revoke every link of the chain (terminating a running one); the job ends REVOKED."""
        app = get_app()
        for task_id in self.task_ids:
            app.control.revoke(task_id, terminate=True)
        run_shared(
            lambda s: store.update_job(
                s,
                self.job_id,
                status="REVOKED",
                error="cancelled",
                finished_at=utcnow(),
                unless=ENDED_STATES,
            )
        )

    def _summary_of(self, job: Any) -> Summary:
        from filterbets_nb.formatting import Summary
        from filterbets_nb.stats import from_jsonable

        return Summary(from_jsonable(self._stored_summary(job)))

    def _stored_summary(self, job: Any) -> dict[str, Any]:
        if job.status != JobState.SUCCESS or job.summary is None:
            raise RuntimeError(f"backtest {self.job_id} has no results yet (state {job.status})")
        return dict(job.summary)

    def summary_json(self) -> dict[str, Any]:
        """The summary as stored: plain JSON values (NaN as None), read without pandas, for
        the CLI's ``--json``."""
        return self._stored_summary(self._job())

    def summary(self) -> Summary:
        """Named metrics (bets, profit, roi, hit_rate, ...): a pandas Series of raw floats
        (rates as fractions) that displays as ``roi -1.63 %``."""
        return self._summary_of(self._job())

    def bets(self) -> pd.DataFrame:
        """Every bet, in kick-off order, with its match, odds, stake, result and profit."""
        return run_shared(lambda s: store.load_bets(s, self.job_id))

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

    def _plot_title(self) -> str:
        return self.label or self.job_id

    def _repr_html_(self) -> str:
        job = self._job()  # one read serves the state and the summary
        status = self._status_of(job)
        head = (
            f"<b>Backtest</b> {html.escape(self.label)} "
            f"<code>{status['state']}</code> <small>job {self.job_id}</small>"
        )
        if status["state"] == JobState.SUCCESS:
            summary = self._summary_of(job)
            from filterbets_nb.formatting import summary_html
            from filterbets_nb.stats import HEADLINE_METRICS

            shown = [key for key in HEADLINE_METRICS if key in summary.index]
            table = summary_html(summary[shown])
            return f"<div>{head}{table}</div>"
        if status["error"]:
            return f"<div>{head}<pre>{html.escape(str(status['error']))}</pre></div>"
        percent = float((status["progress"] or {}).get("percent", 0.0))
        return f"<div>{head} {percent:.0f}%</div>"


def load_results(job_id: str) -> BacktestRun:
    """A handle on an earlier run, from the database alone."""
    job_id = check_task_id(job_id)
    job = run_shared(lambda s: store.get_job(s, job_id))
    if job is None:
        raise KeyError(f"no backtest job {job_id!r} in the database")
    return BacktestRun(job_id, job.task_ids, label=job.label)


def jobs(limit: int = 100) -> Table:
    """Recent backtest jobs, newest first: scope (leagues, seasons), label, state, when, bets,
    profit and ROI; shown formatted, holding the raw values."""
    from filterbets_nb.formatting import Table

    ensure_schema()
    return Table(run_shared(lambda s: store.list_jobs(s, limit)))


class TaskStatus(dict[str, Any]):
    """The status dict of a task, shown in Jupyter as a small table."""

    def _repr_html_(self) -> str:
        from filterbets_nb.notebook import task_status_html

        return task_status_html(dict(self))


def task_status(task_id: str) -> TaskStatus:
    """The spec's status check for any task id, telling queued from unknown ids.

    An empty or non-string id is refused (ValueError) rather than matched against anything.
    """
    from filterbets_nb.tasks.status import get_task_status

    return TaskStatus(get_task_status(task_id))


def compare(
    filters: Sequence[Filter | Mapping[str, Any]],
    *,
    leagues: str | Sequence[str] | None = None,
    seasons: str | Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    timeout: float | None = None,
    show_progress: bool = True,
) -> Table:
    """Backtest several filters at once (one Celery group of chains); one row of metrics each.

    Rows keep the order of ``filters``; a failed run gets its error in the ``error`` column.
    """
    from filterbets_nb.formatting import Table
    from filterbets_nb.stats import HEADLINE_METRICS

    names = list(labels) if labels is not None else [""] * len(filters)
    if len(names) != len(filters):
        raise ValueError(f"{len(filters)} filters but {len(names)} labels")
    subs = [
        _validate(flt, leagues, seasons, name, None)
        for flt, name in zip(filters, names, strict=True)
    ]
    if subs:
        check_scope(subs[0].scope)
    before_submit()
    prepared = [_prepare(sub) for sub in subs]
    runs = [run for run, _ in prepared]
    _send(group([workflow for _, workflow in prepared]), runs)
    if show_progress:
        from filterbets_nb.notebook import MultiProgress

        bars = MultiProgress(
            {f"{i + 1}. {r.label}": r.status for i, r in enumerate(runs)},
            {f"{i + 1}. {r.label}": r.cancel for i, r in enumerate(runs)},
            description=f"{len(runs)} backtests",
        )
        bars.display()
    rows = []
    for run in runs:
        row: dict[str, Any] = {"label": run.label, "job_id": run.job_id}
        try:
            summary = run.wait(timeout).summary()
            row.update({key: summary[key] for key in HEADLINE_METRICS})
            row["error"] = None
        except (BacktestFailed, BacktestCancelled) as exc:
            row["error"] = str(exc)
        rows.append(row)
    return Table(rows)


class TaskRun:
    """A single Celery task followed by id (the team-stats refresh): ``status()`` for the bar
    and :func:`~filterbets_nb.status.wait_for`, with the same no-worker notice as a backtest."""

    def __init__(self, task_id: str, label: str) -> None:
        self.task_id = task_id
        self.label = label
        self._sent = time.monotonic()

    def wake(self) -> Wake:
        """Wakes :func:`~filterbets_nb.status.wait_for` as the task stores a state."""
        return result_wake([self.task_id])

    def status(self) -> Status:
        link = read_progress(self.task_id)
        status: Status = {
            "state": link["state"],
            "progress": link["progress"],
            "error": link["error"],
            "notice": None,
        }
        waited = time.monotonic() - self._sent
        if link["state"] == JobState.PENDING and waited >= NOTICE_AFTER:
            status["notice"] = (
                f"no worker has taken the {self.label} within {NOTICE_AFTER:.0f} s; "
                f"{no_worker_hint(get_settings())}"
            )
        return status


def refresh_team_stats(*, timeout: float | None = None, show_progress: bool = True) -> pd.DataFrame:
    """Run the team-stats refresh (the task beat runs daily at 02:00 UTC) and wait for it.

    Shows a bar over the leagues it fans out to; returns :func:`team_stats` afterwards.
    """
    from filterbets_nb.tasks.stats_tasks import refresh_all_team_stats_task

    before_submit()
    try:
        _check_broker()
        result = refresh_all_team_stats_task.apply_async(retry=True, retry_policy=SEND_RETRY)
    except Exception as exc:
        raise SubmitError(
            f"could not reach the broker {mask_url(get_settings().broker)}: {exc}"
        ) from exc
    task = TaskRun(result.id, "team stats refresh")
    if show_progress:
        from filterbets_nb.notebook import ProgressBar

        ProgressBar(task.status, description=task.label).display()
    wait_for(
        task,
        timeout=timeout,
        what=task.label,
        on_status=worker_keeper(),
        on_notice=None if show_progress else _notice,
    )
    return team_stats()


def _notice(text: str) -> None:
    print(f"filterbets-nb: {text}", file=sys.stderr, flush=True)


def matches(
    leagues: str | Sequence[str] | None = None, seasons: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Stored matches with their pre-match features, in kick-off order (for local research)."""
    ensure_schema()
    codes = scope_codes(leagues, "leagues") or None
    years = scope_codes(seasons, "seasons") or None
    # A copy: the loader builds the frame column by column, and adding a column to that frame
    # in a notebook would warn "highly fragmented".
    return run_shared(lambda s: store.load_matches(s, codes, years)).copy()


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
    return run_shared(lambda s: store.load_team_stats(s, league))
