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
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_ADMIN_URL, cli, embedded_env, run_py

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
    stop = cli(shared_env, "worker", "stop", timeout=60)
    assert stop.returncode == 0 and "stopped the shared worker" in stop.stdout
    assert not _alive(pid)
    after = cli(shared_env, "worker", "status")
    assert "no shared worker runs" in after.stdout
    assert (data_dir / "worker.log").stat().st_size > 0


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
