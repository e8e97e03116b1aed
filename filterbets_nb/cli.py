"""``filterbets-nb``: the command line (demo, import, backtest, db, worker, beat, jobs).

Thin on purpose: it parses, calls the client and renders with the notebook's text renderer.
Everything heavy is imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from filterbets_nb.config import get_settings

#: Longest error message printed (the rest is cut: a huge input must not flood the terminal).
MAX_MESSAGE = 2000

app = typer.Typer(
    help="Research football betting filters: import data, run backtests on Celery workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: options read `--leagues CODES`, flags show no type, arguments their
    # metavar (the rich layout adds a type column: `<list[Path]>`, `<bool>`).
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")

DEMO_FILTER: dict[str, Any] = {
    "rules": [{"field": "home_odds", "op": "between", "value": [1.5, 2.2]}],
    "market": "home",
    "price": "avg",
    "stake": 1.0,
}


_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", metavar="", help="Show the full traceback of an error.")
    ] = False,
) -> None:
    """Research football betting filters: import data, run backtests on Celery workers."""
    _state["debug"] = debug


def _message(text: str) -> str:
    from filterbets_nb.config import mask_url

    text = text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " ...(cut)"
    return mask_url(text)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {_message(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


class _StderrBar:
    """Draws a status on stderr with the notebook's text renderer (one renderer for both)."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.tty = sys.stderr.isatty()
        self.last = ""
        self.started = time.monotonic()

    def __call__(self, status: Any) -> None:
        from filterbets_nb.progress_text import render_text
        from filterbets_nb.status import is_ended

        line = render_text(
            status, elapsed=time.monotonic() - self.started, description=self.description
        )
        ended = is_ended(status["state"])
        if self.tty:
            sys.stderr.write("\r" + line.ljust(len(self.last)) + ("\n" if ended else ""))
        elif ended:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self.last = line

    def notice(self, text: str) -> None:
        sys.stderr.write(("\n" if self.tty and self.last else "") + f"filterbets-nb: {text}\n")
        sys.stderr.flush()
        self.last = ""


def _run_and_wait(
    flt: Any, leagues: list[str] | None, seasons: list[str] | None, timeout: float | None = None
) -> Any:
    """Submit through the chain (starting the data dir's worker if needed), draw the progress
    on stderr, return the finished run."""
    from filterbets_nb.client import backtest

    return _wait(backtest(flt, leagues=leagues, seasons=seasons), _StderrBar("backtest"), timeout)


def _wait(run: Any, bar: _StderrBar, timeout: float | None) -> Any:
    """Follow ``run`` to its end with ``bar`` drawing it (restarting the shared worker if it
    stops meanwhile); returns the run or raises as :func:`~filterbets_nb.status.wait_for`."""
    from filterbets_nb.client import BacktestCancelled, BacktestFailed, worker_keeper
    from filterbets_nb.status import Status, wait_for

    keep = worker_keeper()

    def on_status(status: Status) -> None:
        bar(status)
        keep(status)

    wait_for(
        run,
        timeout=timeout,
        what=f"backtest {run.job_id}",
        on_status=on_status,
        on_notice=bar.notice,
        failed=BacktestFailed,
        cancelled=BacktestCancelled,
    )
    return run


#: Seconds a command waits for a shared worker it started (or found starting) to open its door.
DOOR_WAIT = 120.0


def _through_door(
    raw: Any, leagues: list[str] | None, seasons: list[str] | None, timeout: float | None
) -> tuple[str, dict[str, Any], str] | None:
    """Run the backtest through the shared worker's door (:mod:`filterbets_nb.worker_door`):
    ``(job_id, summary, summary text)``, or None when this process must submit by itself
    (services mode, autostart off with no worker running, or a worker without a door).

    This path imports neither SQLAlchemy nor Celery, so a warm CLI backtest costs little more
    than the chain itself.
    """
    from filterbets_nb import worker_door
    from filterbets_nb.worker import autostart_allowed, ensure_shared_worker, shared_worker_info

    settings = get_settings()
    if settings.mode != "embedded":
        return None
    if shared_worker_info(settings) is None:
        if not autostart_allowed():
            return None
        ensure_shared_worker(settings)
    bar = _StderrBar("backtest")
    request = {"filter": raw, "leagues": leagues, "seasons": seasons, "timeout": timeout}
    try:
        reply = worker_door.backtest(
            settings, request, on_status=bar, on_notice=bar.notice, wait=DOOR_WAIT
        )
    except worker_door.DoorUnavailable:
        return None
    except worker_door.DoorClosed as exc:
        from filterbets_nb.client import load_results

        bar.notice(f"{exc}; waiting for it here (a new worker sends it again)")
        run = _wait(load_results(exc.job_id), bar, timeout)
        return run.job_id, run.summary_json(), _summary_text(run)
    if "done" in reply:
        done = reply["done"]
        return str(done["job_id"]), done["summary"], done["text"]
    raise _DoorError(reply["error"], reply.get("kind", "user"))


class _DoorError(Exception):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _summary_text(run: Any) -> str:
    from filterbets_nb.formatting import summary_text

    return summary_text(run.summary())


@app.command()
def demo(
    matches: Annotated[
        int | None,
        typer.Option(metavar="N", help="Number of matches (default: 3 leagues x 3 seasons)."),
    ] = None,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Random seed of the synthetic leagues.")
    ] = 0,
) -> None:
    """Generate seeded synthetic leagues, run one backtest through Celery, print its summary."""
    from filterbets_nb.client import before_submit
    from filterbets_nb.filters import Filter
    from filterbets_nb.loading import load_demo
    from filterbets_nb.status import JobCancelled, JobFailed

    settings = get_settings()
    typer.echo(f"filterbets-nb: {settings.describe()}")
    # The shared worker (embedded mode) boots while the data is written, not after it.
    before_submit()
    report = load_demo(n_matches=matches, seed=seed)
    typer.echo(f"demo data: {report}")
    flt = Filter.from_dict(DEMO_FILTER)
    typer.echo(f"backtest: {flt.describe()}")
    try:
        run = _run_and_wait(flt, None, None)
    except (JobFailed, JobCancelled) as exc:
        raise _fail(str(exc)) from exc
    from filterbets_nb.formatting import summary_text
    from filterbets_nb.stats import HEADLINE_METRICS

    keys = ["bets", "wins", "losses", *HEADLINE_METRICS[2:-2], "skipped_no_odds"]
    typer.echo(_indent(summary_text(run.summary()[keys])))
    typer.echo(f"job id: {run.job_id}")


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", hidden=True)],
    strict: Annotated[
        bool, typer.Option("--strict", help="Reject a file for a stray price cell too.")
    ] = False,
) -> None:
    """Import football-data.co.uk CSV files FILE... (bad results reject all; re-importing
    changes nothing; a row with a stray price cell keeps its match, loses its prices, and is
    listed)."""
    from filterbets_nb.importer import CsvFormatError
    from filterbets_nb.loading import import_csv

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}")
    try:
        report = import_csv(files, strict=strict)
    except (CsvFormatError, ValueError) as exc:
        raise _fail(f"{exc} (nothing was imported)") from exc
    typer.echo(f"imported {len(files)} file(s): {report}")
    _echo_import_report(report)


def _echo_import_report(report: Any) -> None:
    """The per-file table, then every row whose prices were dropped (file, line, column)."""
    typer.echo(report.table().to_string(index=False))
    dropped = report.dropped_prices()
    if not dropped.empty:
        typer.echo(f"prices dropped from {len(dropped)} row(s), match kept:")
        for row in dropped.itertuples(index=False):
            typer.echo(
                f"  {row.file} line {row.line}, column {row.column}: {row.value!r} is {row.reason}"
            )


@app.command("fetch")
def fetch_cmd(
    leagues: Annotated[
        list[str], typer.Argument(help="League codes: E0 SP1 ... or extra leagues: BRA USA ...")
    ],
    seasons: Annotated[
        list[str] | None,
        typer.Option(
            "--seasons",
            help="2015-16 2024-25 = every season between; 'all' = every season the site has;"
            " default: the current season.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Reject a file for a stray price cell too.")
    ] = False,
) -> None:
    """Download football-data.co.uk files (cached, revalidated) and import them."""
    import re

    from filterbets_nb.fetch import fetch

    # `--seasons 2015-16 2024-25`: an option takes one value, so the second season arrives
    # among the league arguments; a league code never looks like a season.
    is_season = re.compile(r"^(\d{4}-\d{2}|all)$")
    seasons = [*(seasons or []), *(a for a in leagues if is_season.match(a))]
    leagues = [a for a in leagues if not is_season.match(a)]
    try:
        report = fetch(leagues, seasons or None, strict=strict)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(str(report))
    typer.echo(report.table().drop(columns="error").to_string(index=False))
    for f in report.files:
        if f.error and f.status != "missing":
            typer.echo(f"  {f.league} {f.season or ''}: {f.error}")
    if report.imported is not None:
        _echo_import_report(report.imported)
    if any(f.status == "failed" or f.imported == "rejected" for f in report.files):
        raise typer.Exit(1)


@app.command("backtest")
def backtest_cmd(
    filter_file: Annotated[Path, typer.Argument(metavar="FILTER.json", hidden=True)],
    leagues: Annotated[
        list[str] | None,
        typer.Option(
            "--leagues",
            metavar="CODES",
            help="League codes: --leagues E0,SP1 or --leagues E0 --leagues SP1.",
        ),
    ] = None,
    seasons: Annotated[
        list[str] | None,
        typer.Option(
            "--seasons",
            metavar="SEASONS",
            help="Seasons: --seasons 2019-20,2020-21 or repeat the option.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print the summary as one JSON object.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS", help="Stop waiting after this many seconds (the job itself goes on)."
        ),
    ] = None,
) -> None:
    """Run the backtest of FILTER.json ({rules, market, price, stake}) through the Celery chain
    (progress on stderr) and print its summary."""
    try:
        raw = json.loads(filter_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _fail(f"no such file: {filter_file}") from exc
    except json.JSONDecodeError as exc:
        raise _fail(f"{filter_file} is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise _fail(f"{filter_file} is not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise _fail(f"cannot read {filter_file}: {exc.strerror or exc}") from exc
    except RecursionError as exc:
        raise _fail(f"{filter_file} is nested too deeply to be a filter") from exc
    try:
        done = _through_door(raw, leagues, seasons, timeout)
    except _DoorError as exc:
        raise _fail(f"{filter_file}: {exc}" if exc.kind == "filter" else str(exc)) from exc
    if done is None:
        done = _submit_here(filter_file, raw, leagues, seasons, timeout)
    job_id, summary, text = done
    if as_json:
        typer.echo(json.dumps({**summary, "job_id": job_id}))
    else:
        typer.echo(text)
        typer.echo(f"job id: {job_id}")


def _submit_here(
    filter_file: Path,
    raw: Any,
    leagues: list[str] | None,
    seasons: list[str] | None,
    timeout: float | None,
) -> tuple[str, dict[str, Any], str]:
    """The backtest submitted and followed by this process (no door to a warm worker)."""
    from filterbets_nb.client import SubmitError
    from filterbets_nb.filters import FilterError, as_filter
    from filterbets_nb.status import JobCancelled, JobFailed

    try:
        flt = as_filter(raw, "a backtest")
    except RecursionError as exc:
        raise _fail(f"{filter_file} is nested too deeply to be a filter") from exc
    except (FilterError, TypeError, ValueError) as exc:
        raise _fail(f"{filter_file}: {exc}") from exc
    try:
        run = _run_and_wait(flt, leagues, seasons, timeout)
    except (JobFailed, JobCancelled, SubmitError, ValueError, TypeError, TimeoutError) as exc:
        raise _fail(str(exc)) from exc
    return run.job_id, run.summary_json(), _summary_text(run)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(metavar="REVISION", hidden=True)] = "head",
) -> None:
    """Apply the migrations up to REVISION (default: head) to the configured database."""
    from filterbets_nb.db.migrate import upgrade

    settings = get_settings()
    settings.ensure_dirs()
    upgrade(settings.database, revision)
    typer.echo(f"database at {revision}: {settings.describe()}")


def _exec_celery(args: list[str]) -> None:
    from filterbets_nb.worker import APP

    settings = get_settings()
    settings.ensure_dirs()
    sys.stdout.flush()
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "celery", "-A", APP, *args],
    )


worker_app = typer.Typer(help="The Celery worker: run one, or show/stop the shared one.")
app.add_typer(worker_app, name="worker")


@worker_app.callback(invoke_without_command=True)
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option("-c", "--concurrency", metavar="N")] = 2,
    queues: Annotated[str, typer.Option("-Q", "--queues", metavar="QUEUES")] = "backtest,stats",
    beat: Annotated[
        bool, typer.Option("--beat", metavar="", help="Also run the beat scheduler.")
    ] = False,
    loglevel: Annotated[str, typer.Option("--loglevel", metavar="LEVEL")] = "info",
) -> None:
    """Run a Celery worker on both queues (wraps `celery -A ... worker -Q backtest,stats`)."""
    if ctx.invoked_subcommand is not None:
        return
    args = ["worker", "-Q", queues, "-c", str(concurrency), "--loglevel", loglevel]
    if beat:
        args += ["--beat", "--schedule", str(get_settings().data_dir / "celerybeat-schedule")]
    _exec_celery(args)


@worker_app.command("status")
def worker_status() -> None:
    """Show the data dir's shared worker (embedded), or the workers that answer (services)."""
    from filterbets_nb.worker import ping, shared_worker_info

    settings = get_settings()
    if settings.mode == "services":
        names = sorted(name for reply in ping(timeout=1.0) for name in reply)
        typer.echo(
            f"{len(names)} worker(s) answer: {', '.join(names)}"
            if names
            else f"no worker answers on {settings.describe()}"
        )
        return
    info = shared_worker_info(settings)
    if info is None:
        typer.echo(f"no shared worker runs for {settings.data_dir}")
        return
    timeout = info.get("idle_timeout")
    idle = "never stops" if not timeout else f"stops after {timeout:.0f} s idle"
    started = info.get("started")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    typer.echo(
        f"shared worker running: pid {info.get('pid')} ({info.get('hostname')}), "
        f"since {since}, {idle}, log {info['log']}"
    )
    if info.get("door"):
        from filterbets_nb.worker_door import socket_path

        door = socket_path(settings)
        typer.echo(f"CLI backtests submitted through its door: {door}" if door else "no door")


@worker_app.command("stop")
def worker_stop() -> None:
    """Stop the data dir's shared worker (warm shutdown, killed after 6 s)."""
    from filterbets_nb.worker import stop_shared_worker

    settings = get_settings()
    if settings.mode == "services":
        raise _fail("services mode: stop your workers where you started them")
    if stop_shared_worker(settings):
        typer.echo(f"stopped the shared worker of {settings.data_dir}")
    else:
        typer.echo(f"no shared worker runs for {settings.data_dir}")


@app.command("beat")
def beat_cmd(
    loglevel: Annotated[str, typer.Option("--loglevel", metavar="LEVEL")] = "info",
) -> None:
    """Run the beat scheduler (daily team-stats refresh at 02:00 UTC)."""
    schedule = str(get_settings().data_dir / "celerybeat-schedule")
    _exec_celery(["beat", "--loglevel", loglevel, "--schedule", schedule])


@app.command()
def jobs(
    limit: Annotated[int, typer.Option(metavar="N", help="How many jobs, newest first.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print raw values as JSON.")
    ] = False,
) -> None:
    """List recent backtest jobs: scope, label, state, when, bets, profit, ROI."""
    from filterbets_nb.client import jobs as list_jobs
    from filterbets_nb.db.migrate import ensure_schema
    from filterbets_nb.formatting import format_frame

    ensure_schema()
    frame = list_jobs(limit)
    if as_json:
        typer.echo(frame.to_json(orient="records", date_format="iso"))
        return
    shown = frame.drop(columns=["error"]) if "error" in frame else frame
    typer.echo("no jobs yet" if frame.empty else format_frame(shown).to_string(index=False))


@app.command()
def fields(
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print the list as JSON records.")
    ] = False,
) -> None:
    """List every filter field: type, description, the football-data columns that carry it."""
    from filterbets_nb.catalog import field_catalog

    frame = field_catalog()
    if as_json:
        typer.echo(frame.to_json(orient="records"))
        return
    for row in frame.itertuples(index=False):
        typer.echo(f"{row.field}  ({row.type})  {row.description}")
        typer.echo(f"    football-data: {row.football_data}")


def _indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line for line in text.splitlines())


# --- research: sweep and scan ----------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise _fail(f"no such file: {path}") from exc
    except json.JSONDecodeError as exc:
        raise _fail(f"{path} is not valid JSON: {exc}") from exc


@app.command("sweep")
def sweep_cmd(
    spec_file: Annotated[
        Path,
        typer.Argument(
            help='Sweep as JSON: {"filter": {... "$lo" ...}, "grid": {"lo": [1.5, 1.6]},'
            ' "leagues": [...], "seasons": [...]}.'
        ),
    ],
    metric: Annotated[str, typer.Option(help="Metric that picks the best filter.")] = "roi",
    min_bets: Annotated[int, typer.Option(help="Fewest bets the best filter may have.")] = 30,
    top: Annotated[int, typer.Option(help="Rows of the table to print.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print every row as JSON.")] = False,
) -> None:
    """Sweep a grid of filters over the workers (one aggregate bar on stderr); print the table
    with adjusted p-values and the best filter after the best-of-N haircut."""
    from filterbets_nb.client import BacktestCancelled, BacktestFailed, connect, worker_keeper
    from filterbets_nb.filters import FilterError
    from filterbets_nb.research.grid import expand_grid, template_filter
    from filterbets_nb.research.result import FRAME_COLUMNS, SMALLER_IS_BETTER
    from filterbets_nb.research.runs import submit_sweep
    from filterbets_nb.status import Status, wait_for

    spec = _read_json(spec_file)
    if not isinstance(spec, dict) or not {"filter", "grid"} <= set(spec):
        raise _fail(f'{spec_file}: a sweep spec needs "filter" and "grid"')
    unknown = set(spec) - {"filter", "grid", "leagues", "seasons", "chunk_size", "label"}
    if unknown:
        raise _fail(f"{spec_file}: unknown keys {sorted(unknown)}")
    grid = spec["grid"]
    try:
        if not isinstance(grid, dict):
            raise ValueError(f'"grid" must be an object of lists, got {grid!r}')
        points = expand_grid(template_filter(spec["filter"], list(grid)), grid)
    except (ValueError, FilterError) as exc:
        raise _fail(f"{spec_file}: {exc}") from exc
    if metric not in (*grid, *FRAME_COLUMNS):
        raise _fail(f"unknown metric {metric!r}; choose one of {[*grid, *FRAME_COLUMNS]}")
    from filterbets_nb.worker import autostart_allowed

    # As the backtest command: a worker is started unless FILTERBETS_WORKER_AUTOSTART=0.
    connect(start_worker=autostart_allowed(), quiet=True)
    try:
        run = submit_sweep(
            points,
            list(grid),
            leagues=spec.get("leagues"),
            seasons=spec.get("seasons"),
            chunk_size=spec.get("chunk_size"),
            label=str(spec.get("label", "")),
        )
    except (TypeError, ValueError) as exc:  # the scope (ScopeError is a ValueError)
        raise _fail(f"{spec_file}: {exc}") from exc
    # The backtest command's path: the one wait loop, drawing with the one text renderer.
    bar = _StderrBar(run.label or f"sweep of {run.n_filters} filters")
    keep = worker_keeper()

    def on_status(status: Status) -> None:
        bar(status)
        keep(status)

    try:
        wait_for(
            run,
            what=f"sweep {run.run_id}",
            on_status=on_status,
            on_notice=bar.notice,
            failed=BacktestFailed,
            cancelled=BacktestCancelled,
        )
    except (BacktestFailed, BacktestCancelled) as exc:
        raise _fail(str(exc)) from exc
    result = run.result()
    frame = result.frame
    if as_json:
        typer.echo(frame.to_json(orient="records"))
        return
    ranked = frame.sort_values(metric, ascending=metric in SMALLER_IS_BETTER)
    typer.echo(ranked.head(top).to_string(index=False))
    typer.echo(f"{result.n_tried} filters tried; run id: {run.run_id}")
    try:
        best = result.best(metric, min_bets=min_bets)
    except (KeyError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    verdict = "significant" if best.significant else "not significant"
    typer.echo(
        f"best by {metric} (>= {min_bets} bets): {best.params} {metric}={best.metrics[metric]:.4g}"
        f" p_adj={best.p_adj:.3g} deflated Sharpe={best.deflated_sharpe:.3g}: {verdict}"
        f" after trying {best.n_tried}"
    )


@app.command("scan")
def scan_cmd(
    filter_file: Annotated[Path, typer.Argument(help="Filter as JSON.")],
    fixtures: Annotated[
        Path | None,
        typer.Option(help="football-data.co.uk file with fixtures (default: stored ones)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the selection as JSON.")] = False,
) -> None:
    """The fixtures a filter selects (features as of kick-off), with prices and its record."""
    from filterbets_nb.filters import Filter, FilterError
    from filterbets_nb.importer import CsvFormatError
    from filterbets_nb.research.runs import scan

    try:
        flt = Filter.from_dict(_read_json(filter_file))
    except FilterError as exc:
        raise _fail(f"{filter_file}: {exc}") from exc
    if fixtures is not None and not fixtures.is_file():
        raise _fail(f"no such file: {fixtures}")
    try:
        result = scan(flt, fixtures)
    except (CsvFormatError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        selected = result.selected.assign(kickoff=result.selected["kickoff"].astype(str))
        typer.echo(selected.to_json(orient="records"))
        return
    if result.n_fixtures == 0:
        typer.echo("no fixtures: none stored without a result; pass --fixtures FILE")
        return
    typer.echo(
        result.selected.to_string(index=False)
        if len(result.selected)
        else f"none of the {result.n_fixtures} fixtures is selected"
    )
    from filterbets_nb.formatting import format_value

    record = result.record
    typer.echo(
        f"{len(result.selected)} of {result.n_fixtures} fixtures; history:"
        f" {format_value('bets', record['bets'])} bets,"
        f" ROI {format_value('roi', record['roi'])},"
        f" p={format_value('p_value', record['p_value'])}"
    )
    if result.no_history:
        typer.echo(
            f"{result.no_history} fixtures have a team with no stored history (NaN features)"
        )


@app.command("compose-init")
def compose_init_cmd(
    path: Annotated[Path, typer.Option("--path", help="Where to write it.")] = Path(".env"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write the .env of random secrets docker-compose.yml requires (never overwrites one)."""
    from filterbets_nb.compose_init import write_env

    try:
        values = write_env(path, force=force)
    except OSError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"wrote {path} (mode 600) with new {', '.join(values)}")


def main() -> None:
    """Run the CLI; a user error is one line on stderr (``--debug`` shows the traceback)."""
    try:
        app()
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        if _state["debug"] or "--debug" in sys.argv[1:]:
            raise
        typer.secho(
            f"error: {_message(f'{type(exc).__name__}: {exc}')}", fg=typer.colors.RED, err=True
        )
        typer.echo("(run with --debug for the traceback)", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
