"""``filterbets-nb``: the command line (demo, import, backtest, db, worker, beat, jobs)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from filterbets_nb.config import get_settings

app = typer.Typer(
    help="Research football betting filters: import data, run backtests on Celery workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")

DEMO_FILTER: dict[str, Any] = {
    "rules": [{"field": "home_odds", "op": "between", "value": [1.5, 2.2]}],
    "market": "home",
    "price": "avg",
    "stake": 1.0,
}


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _fmt(key: str, value: Any) -> str:
    """Human form of one summary value: ratios as percentages, money to the cent."""
    if isinstance(value, float):
        return f"{value:.2%}" if key in ("roi", "hit_rate") else f"{value:.2f}"
    return str(value)


def _progress_line(status: dict[str, Any]) -> str:
    p = status["progress"] or {}
    stage = p.get("stage") or status["state"].lower()
    index, stages = p.get("stage_index", 0), p.get("stages", 0)
    percent = float(p.get("percent", 0.0))
    filled = int(percent / 100 * 30)
    step = f"{index}/{stages} " if stages else ""
    return (
        f"\r{step}{stage:<8} [{'#' * filled}{'.' * (30 - filled)}] {percent:5.1f}% "
        f"{p.get('current', 0)}/{p.get('total', 0)}"
    )


def _run_and_wait(flt: Any, leagues: list[str] | None, seasons: list[str] | None) -> Any:
    """Submit through the chain, draw a text progress bar on stderr, return the finished run."""
    import time

    from filterbets_nb.client import TERMINAL, BacktestFailed, backtest, connect

    connect(start_worker=True, quiet=True)
    run = backtest(flt, leagues=leagues, seasons=seasons)
    tty = sys.stderr.isatty()
    while True:
        status = run.status()
        if tty:
            sys.stderr.write(_progress_line(status))
            sys.stderr.flush()
        if status["state"] in TERMINAL:
            break
        time.sleep(0.1)
    sys.stderr.write(_progress_line(status) + "\n")
    if status["state"] != "SUCCESS":
        raise BacktestFailed(f"backtest {run.job_id} {status['state']}: {status['error']}")
    return run


@app.command()
def demo(
    matches: Annotated[
        int | None, typer.Option(help="Number of matches (default: 3 leagues x 3 seasons).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic leagues.")] = 0,
) -> None:
    """Generate seeded synthetic leagues, run one backtest through Celery, print its summary."""
    from filterbets_nb.client import HEADLINE, BacktestFailed
    from filterbets_nb.filters import Filter
    from filterbets_nb.loading import load_demo

    settings = get_settings()
    typer.echo(f"filterbets-nb: {settings.describe()}")
    report = load_demo(n_matches=matches, seed=seed)
    typer.echo(f"demo data: {report}")
    flt = Filter.from_dict(DEMO_FILTER)
    typer.echo(f"backtest: {flt.describe()}")
    try:
        run = _run_and_wait(flt, None, None)
    except BacktestFailed as exc:
        raise _fail(str(exc)) from exc
    summary = run.summary()
    for key in ("bets", "wins", "losses", *HEADLINE[2:-2], "skipped_no_odds"):
        typer.echo(f"  {key:<16} {_fmt(key, summary[key])}")
    typer.echo(f"job id: {run.job_id}")


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="football-data.co.uk CSV files.")],
) -> None:
    """Import football-data.co.uk CSV files (all or nothing; re-importing changes nothing)."""
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
    filter_file: Annotated[
        Path, typer.Argument(help="Filter as JSON: {rules, market, price, stake}.")
    ],
    leagues: Annotated[
        list[str] | None, typer.Option("--leagues", help="League codes, e.g. E0.")
    ] = None,
    seasons: Annotated[
        list[str] | None, typer.Option("--seasons", help="Seasons, e.g. 2019-20.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
) -> None:
    """Run a backtest through the Celery chain (progress on stderr) and print its summary."""
    from filterbets_nb.client import BacktestFailed
    from filterbets_nb.filters import Filter, FilterError

    try:
        flt = Filter.from_dict(json.loads(filter_file.read_text()))
    except FileNotFoundError as exc:
        raise _fail(f"no such file: {filter_file}") from exc
    except json.JSONDecodeError as exc:
        raise _fail(f"{filter_file} is not valid JSON: {exc}") from exc
    except FilterError as exc:
        raise _fail(f"{filter_file}: {exc}") from exc
    try:
        run = _run_and_wait(flt, leagues, seasons)
    except BacktestFailed as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        from filterbets_nb.stats import to_jsonable

        typer.echo(json.dumps({**to_jsonable(run.summary()), "job_id": run.job_id}))
    else:
        typer.echo(run.summary().to_string())
        typer.echo(f"job id: {run.job_id}")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations to the configured database."""
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


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option("-c", "--concurrency")] = 2,
    queues: Annotated[str, typer.Option("-Q", "--queues")] = "backtest,stats",
    beat: Annotated[bool, typer.Option("--beat", help="Also run the beat scheduler.")] = False,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "info",
) -> None:
    """Run a Celery worker on both queues (wraps `celery -A ... worker -Q backtest,stats`)."""
    args = ["worker", "-Q", queues, "-c", str(concurrency), "--loglevel", loglevel]
    if beat:
        args += ["--beat", "--schedule", str(get_settings().data_dir / "celerybeat-schedule")]
    _exec_celery(args)


@app.command("beat")
def beat_cmd(loglevel: Annotated[str, typer.Option("--loglevel")] = "info") -> None:
    """Run the beat scheduler (daily team-stats refresh at 02:00 UTC)."""
    schedule = str(get_settings().data_dir / "celerybeat-schedule")
    _exec_celery(["beat", "--loglevel", loglevel, "--schedule", schedule])


@app.command()
def jobs(limit: Annotated[int, typer.Option()] = 20) -> None:
    """List recent backtest jobs."""
    from filterbets_nb.client import jobs as list_jobs
    from filterbets_nb.db.migrate import ensure_schema

    ensure_schema()
    frame = list_jobs(limit)
    typer.echo("no jobs yet" if frame.empty else frame.to_string(index=False))


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
    app()


if __name__ == "__main__":
    main()
