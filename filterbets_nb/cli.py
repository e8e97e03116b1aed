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
        from filterbets_nb.notebook import render_text
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
    from filterbets_nb.client import BacktestCancelled, BacktestFailed, backtest
    from filterbets_nb.status import wait_for

    run = backtest(flt, leagues=leagues, seasons=seasons)
    bar = _StderrBar("backtest")
    wait_for(
        run,
        timeout=timeout,
        what=f"backtest {run.job_id}",
        on_status=bar,
        on_notice=bar.notice,
        failed=BacktestFailed,
        cancelled=BacktestCancelled,
    )
    return run


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
    from filterbets_nb.client import HEADLINE
    from filterbets_nb.filters import Filter
    from filterbets_nb.loading import load_demo
    from filterbets_nb.status import JobCancelled, JobFailed

    settings = get_settings()
    typer.echo(f"filterbets-nb: {settings.describe()}")
    report = load_demo(n_matches=matches, seed=seed)
    typer.echo(f"demo data: {report}")
    flt = Filter.from_dict(DEMO_FILTER)
    typer.echo(f"backtest: {flt.describe()}")
    try:
        run = _run_and_wait(flt, None, None)
    except (JobFailed, JobCancelled) as exc:
        raise _fail(str(exc)) from exc
    from filterbets_nb.formatting import summary_text

    keys = ["bets", "wins", "losses", *HEADLINE[2:-2], "skipped_no_odds"]
    typer.echo(_indent(summary_text(run.summary()[keys])))
    typer.echo(f"job id: {run.job_id}")


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", hidden=True)],
) -> None:
    """Import football-data.co.uk CSV files FILE... (all or nothing; re-importing changes
    nothing)."""
    from filterbets_nb.importer import CsvFormatError
    from filterbets_nb.loading import import_csv

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}")
    try:
        report = import_csv(files)
    except CsvFormatError as exc:
        raise _fail(f"{exc} (nothing was imported)") from exc
    typer.echo(f"imported {len(files)} file(s): {report}")


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
    from filterbets_nb.client import SubmitError
    from filterbets_nb.filters import Filter, FilterError
    from filterbets_nb.status import JobCancelled, JobFailed

    try:
        flt = Filter.from_dict(json.loads(filter_file.read_text(encoding="utf-8")))
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
    except (FilterError, TypeError, ValueError) as exc:
        raise _fail(f"{filter_file}: {exc}") from exc
    try:
        run = _run_and_wait(flt, leagues, seasons, timeout)
    except (JobFailed, JobCancelled, SubmitError, ValueError, TypeError, TimeoutError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        from filterbets_nb.stats import to_jsonable

        typer.echo(json.dumps({**to_jsonable(run.summary()), "job_id": run.job_id}))
    else:
        from filterbets_nb.formatting import summary_text

        typer.echo(summary_text(run.summary()))
        typer.echo(f"job id: {run.job_id}")


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
    settings = get_settings()
    settings.ensure_dirs()
    sys.stdout.flush()
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "celery", "-A", "filterbets_nb.tasks.celery_app", *args],
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
