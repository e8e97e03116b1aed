"""The data dir's shared worker, the no-worker notice, the CLI's errors and the client's pool.

Real processes throughout: the shared worker is a detached ``celery worker`` started by a
submit in a fresh interpreter; every test stops what it started in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_ADMIN_URL, ROOT, cli, embedded_env, run_py

FILTER = {
    "rules": [{"field": "home_odds", "op": "between", "value": [1.5, 2.2]}],
    "market": "home",
}


def _alive(pid: int) -> bool:
    from filterbets_nb.worker import _alive as alive

    return alive(pid)


def _settings(data_dir: Path) -> object:
    from filterbets_nb.config import Settings

    return Settings(data_dir=data_dir)


def _stop(data_dir: Path) -> None:
    """Stop the data dir's shared worker whatever state the test left it in."""
    from filterbets_nb.worker import SharedPaths, stop_shared_worker

    settings = _settings(data_dir)
    stop_shared_worker(settings)  # type: ignore[arg-type]
    with contextlib.suppress(OSError, ValueError, KeyError, ProcessLookupError):
        pid = int(json.loads(SharedPaths.of(settings).info.read_text())["pid"])  # type: ignore[arg-type]
        os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def shared_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    data_dir = tmp_path / "data"
    env = embedded_env(data_dir)
    env["FILTERBETS_WORKER_AUTOSTART"] = "1"
    env["FILTERBETS_WORKER_IDLE_TIMEOUT"] = "0"
    try:
        yield env
    finally:
        _stop(data_dir)


SUBMIT = """
import json, filterbets_nb as fb
from filterbets_nb.worker import shared_worker_info
fb.load_demo(n_matches=600, seed=3)
run = fb.backtest({filter!r}, leagues="SYN1")
run.wait(timeout=240)
print(json.dumps({{"bets": int(run.summary()["bets"]), "worker": shared_worker_info()}}))
"""


@pytest.mark.slow
def test_submits_share_one_detached_worker_that_stops_when_told(
    shared_env: dict[str, str],
) -> None:
    data_dir = Path(shared_env["FILTERBETS_DATA_DIR"])
    # No fb.connect(): the submit starts the worker, and the script exits without waiting.
    first = run_py(shared_env, SUBMIT.format(filter=FILTER))
    second = run_py(
        shared_env,
        "import json\nfrom filterbets_nb.worker import ensure_shared_worker\n"
        "print(json.dumps(ensure_shared_worker()))",
    )
    assert first["bets"] > 0
    pid = first["worker"]["pid"]
    assert second["pid"] == pid  # another process finds it by its lock, starts none
    assert _alive(pid)  # and it outlived both of them
    status = cli(shared_env, "worker", "status")
    assert status.returncode == 0 and f"shared worker running: pid {pid}" in status.stdout
    assert f"through its door: {data_dir / 'worker.sock'}" in status.stdout
    stop = cli(shared_env, "worker", "stop", timeout=60)
    assert stop.returncode == 0 and "stopped the shared worker" in stop.stdout
    assert not _alive(pid)
    after = cli(shared_env, "worker", "status")
    assert "no shared worker runs" in after.stdout
    assert (data_dir / "worker.log").stat().st_size > 0


IN_PROCESS = """
import json, filterbets_nb as fb
from filterbets_nb.engine import run_backtest
frame = fb.matches(leagues="SYN1")
summary = run_backtest(frame, fb.Filter.from_dict({filter!r})).summary()
print(json.dumps({{"bets": int(summary["bets"]), "profit": float(summary["profit"])}}))
"""


@pytest.mark.slow
def test_cli_backtests_go_through_the_shared_workers_door(shared_env: dict[str, str]) -> None:
    """A CLI backtest is submitted by the warm shared worker on the CLI's behalf (the door),
    cold (the command starts the worker) and warm; the answer is the in-process engine's, a bad
    filter is refused before anything is submitted, and a caller with other settings is turned
    away to submit by itself."""
    from filterbets_nb.config import Settings
    from filterbets_nb.worker_door import DoorUnavailable
    from filterbets_nb.worker_door import backtest as through_door

    data_dir = Path(shared_env["FILTERBETS_DATA_DIR"])
    assert (
        run_py(
            shared_env, "import filterbets_nb as fb\nfb.load_demo(n_matches=600, seed=3)\nprint(1)"
        )
        == 1
    )
    flt = data_dir.parent / "f.json"
    flt.write_text(json.dumps(FILTER))
    expected = run_py(shared_env, IN_PROCESS.format(filter=FILTER))
    answers = []
    for _ in range(2):  # cold (no worker yet), then warm
        proc = cli(shared_env, "backtest", str(flt), "--json", "--leagues", "SYN1", timeout=240)
        assert proc.returncode == 0, proc.stderr
        answers.append(json.loads(proc.stdout))
        assert "done" in proc.stderr  # the bar, drawn from the statuses the door streamed
    log = (data_dir / "worker.log").read_text()
    for answer in answers:
        assert answer["bets"] == expected["bets"] > 0
        assert answer["profit"] == pytest.approx(expected["profit"])
        assert f"door: backtest {answer['job_id']} submitted" in log
    assert (data_dir / "worker.sock").stat().st_mode & 0o777 == 0o600

    bad = data_dir.parent / "bad.json"
    bad.write_text(
        json.dumps({**FILTER, "rules": [{"field": "no_such_field", "op": ">", "value": 1}]})
    )
    proc = cli(shared_env, "backtest", str(bad), timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: {bad}: ") and "no_such_field" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (data_dir / "worker.log").read_text().count("door: backtest") == 2  # none for it

    other = Settings(data_dir=data_dir, result_backend=f"db+sqlite:///{data_dir}/other.db")
    with pytest.raises(DoorUnavailable, match="other settings"):
        through_door(
            other,
            {"filter": FILTER, "leagues": None, "seasons": None, "timeout": None},
            on_status=lambda _: None,
            on_notice=lambda _: None,
        )
    jobs = cli(shared_env, "jobs", "--json")
    assert jobs.returncode == 0 and len(json.loads(jobs.stdout)) == 2


@pytest.mark.slow
def test_a_cli_backtest_outlives_the_worker_that_took_it(shared_env: dict[str, str]) -> None:
    """The shared worker dies (SIGKILL) while a CLI backtest it submitted runs: the command
    says so, starts a new worker, which sends the job again, and still prints its answer."""
    shared_env["FILTERBETS_EVALUATE_DELAY"] = "4"
    data_dir = Path(shared_env["FILTERBETS_DATA_DIR"])
    assert (
        run_py(shared_env, "import filterbets_nb as fb\nfb.load_demo(n_matches=300)\nprint(1)") == 1
    )
    flt = data_dir.parent / "f.json"
    flt.write_text(json.dumps(FILTER))
    command = [sys.executable, "-m", "filterbets_nb.cli", "backtest", str(flt), "--json"]
    proc = subprocess.Popen(
        command, env=shared_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        log = data_dir / "worker.log"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if "door: backtest" in text and "evaluate_filter[" in text:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the door never submitted the job")
        first = json.loads((data_dir / "worker.json").read_text())["pid"]
        os.killpg(first, signal.SIGKILL)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out)["bets"] > 0
    assert "the shared worker stopped while backtest" in err
    assert json.loads((data_dir / "worker.json").read_text())["pid"] != first


@pytest.mark.slow
def test_shared_worker_stops_itself_when_idle(shared_env: dict[str, str]) -> None:
    shared_env["FILTERBETS_WORKER_IDLE_TIMEOUT"] = "2"
    info = run_py(
        shared_env,
        "import json\nfrom filterbets_nb.worker import ensure_shared_worker\n"
        "print(json.dumps(ensure_shared_worker()))",
    )
    again = run_py(
        shared_env,
        "import json\nfrom filterbets_nb.worker import ensure_shared_worker\n"
        "print(json.dumps(ensure_shared_worker()))",
    )
    assert again["pid"] == info["pid"]  # the lock, not a second start
    from filterbets_nb.worker import shared_worker_info

    settings = _settings(Path(shared_env["FILTERBETS_DATA_DIR"]))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and shared_worker_info(settings) is not None:  # type: ignore[arg-type]
        time.sleep(0.5)
    assert shared_worker_info(settings) is None  # type: ignore[arg-type]
    log = Path(info["log"]).read_text()
    assert "the shared worker stops" in log


@pytest.mark.slow
def test_cli_says_when_no_worker_takes_the_job(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")  # autostart off, and no worker: nobody takes it
    assert run_py(env, "import filterbets_nb as fb\nfb.load_demo(n_matches=300)\nprint(1)") == 1
    flt = tmp_path / "f.json"
    flt.write_text(json.dumps(FILTER))
    proc = cli(env, "backtest", str(flt), "--timeout", "6.5", timeout=120)
    assert proc.returncode == 1
    assert "no worker has taken this job within 5 s" in proc.stderr
    assert "filterbets-nb worker status" in proc.stderr
    assert "still PENDING after 6.5" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "worker.log" not in proc.stderr  # no log was written, so none is pointed at


@pytest.mark.slow
def test_cli_user_errors_are_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    proc = cli(env, "backtest", str(folder))
    assert proc.returncode == 1 and "cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr
    # A data dir that is a file: an error the commands do not expect.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    env["FILTERBETS_DATA_DIR"] = str(blocker)
    proc = cli(env, "db", "upgrade")
    assert proc.returncode == 1 and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr and "--debug" in proc.stderr
    proc = cli(env, "--debug", "db", "upgrade")
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def _connections(database: str) -> list[int]:
    import asyncpg

    async def main() -> list[int]:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
        finally:
            await conn.close()
        return [int(row["pid"]) for row in rows]

    return asyncio.run(main())


@pytest.mark.slow
@pytest.mark.services
def test_a_polling_bar_reuses_pooled_connections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    """10 s of a bar polling a queued job (services mode, no worker): the client's database
    connections stay few and the same, instead of one new connection per poll (each poll is
    counted, so the bound is checked against the number of connections that leak would open).
    The 5 s no-worker notice falls inside the window."""
    import io

    import filterbets_nb as fb
    from filterbets_nb.config import get_settings
    from filterbets_nb.db.session import dispose_shared
    from filterbets_nb.tasks.celery_app import get_app

    for key in list(os.environ):
        if key.startswith("FILTERBETS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FILTERBETS_DATABASE_URL", pg_url)
    monkeypatch.setenv("FILTERBETS_BROKER_URL", redis_url)
    get_settings.cache_clear()
    database = pg_url.rsplit("/", 1)[1]
    run = None
    try:
        fb.load_demo(n_matches=300, seed=3)  # a scope with matches (checked before sending)
        run = fb.backtest(FILTER, leagues="SYN1")  # services mode: nothing is started
        stream = io.StringIO()
        from filterbets_nb.notebook import ProgressBar

        polls = 0

        def status() -> Mapping[str, Any]:
            nonlocal polls
            polls += 1
            return run.status()

        bar = ProgressBar(status, description="pool test", interval=0.2, mode="text")
        bar.stream = stream
        bar.start()
        seen: set[int] = set()
        most = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pids = _connections(database)
            seen.update(pids)
            most = max(most, len(pids))
            time.sleep(0.5)
        bar.close()
        status = run.status()
        assert status["state"] == "PENDING"
        assert status["notice"] and "filterbets-nb worker" in status["notice"]
        assert "backtest,stats" in status["notice"]
        assert polls >= 20, polls  # enough polls for a connection each to show
        assert most <= 3, most
        assert len(seen) <= 5, seen  # one connection per poll would be ~50 pids
    finally:
        if run is not None:
            run.cancel()
        get_app().control.purge()  # the queued chain must not reach a later test's worker
        dispose_shared()
        get_settings.cache_clear()


@pytest.mark.parametrize("beat", [False, True])
def test_the_worker_launcher_reads_every_flag_worker_command_writes(
    beat: bool, tmp_path: Path
) -> None:
    """The workers this package starts come up through ``tasks.worker_main`` (no Celery command
    line): every option ``worker_command`` can write must arrive there as meant."""
    from filterbets_nb.tasks import worker_main
    from filterbets_nb.worker import WORKER_MAIN, worker_command

    cmd = worker_command(
        concurrency=3,
        queues="stats",
        loglevel="DEBUG",
        hostname="fb-x@%h",
        beat=beat,
        logfile=tmp_path / "w.log",
        pool="solo",
        include="filterbets_nb.door_hooks",
    )
    assert cmd[1:3] == ["-m", WORKER_MAIN]
    args = worker_main.parse(cmd[3:])
    assert (args.queues, args.concurrency, args.loglevel) == ("stats", 3, "DEBUG")
    assert (args.hostname, args.pool, args.include) == (
        "fb-x@%h",
        "solo",
        "filterbets_nb.door_hooks",
    )
    assert args.logfile == str(tmp_path / "w.log") and args.beat is beat
    assert (args.schedule or "").endswith("celerybeat-schedule") is beat
