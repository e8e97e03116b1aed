"""Fixtures: the real PostgreSQL and Redis on loopback, isolated data dirs, worker processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from filterbets_nb import testing

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "football-data"
PG_ADMIN_URL = os.environ.get(
    "FILTERBETS_TEST_PG_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
)
#: An explicit Redis index for this run; unset, the run claims a free one (see ``redis_url``).
REDIS_URL = os.environ.get("FILTERBETS_TEST_REDIS_URL", "")
REDIS_SERVER = os.environ.get("FILTERBETS_TEST_REDIS_SERVER", "redis://127.0.0.1:6379")
APP = "filterbets_nb.tasks.celery_app"


def _unavailable(what: str, exc: BaseException) -> None:
    """Services are required in CI (scripts/test starts them); elsewhere the tests skip."""
    message = f"{what} is not reachable: {exc}"
    if os.environ.get("CI") or os.environ.get("FILTERBETS_TEST_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (async SQLAlchemy URL)."""
    try:
        name = testing.create_database(PG_ADMIN_URL, "fbtest_")
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    yield testing.database_url(PG_ADMIN_URL, name)
    testing.drop_database(PG_ADMIN_URL, name)


async def drop_all_tables(url: str) -> None:
    """Drop every table the database holds, whichever module declared it (research tables
    are declared only where they are used, and a test may not have imported that module)."""
    from sqlalchemy import MetaData

    from filterbets_nb.db.session import engine_scope

    def drop(sync_conn: Any) -> None:
        stored = MetaData()
        stored.reflect(sync_conn)
        stored.drop_all(sync_conn)

    async with engine_scope(url) as engine, engine.begin() as conn:
        await conn.run_sync(drop)


def use_empty_database(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this process at the PostgreSQL database ``url``, emptied of every table and
    migrated to head."""
    from filterbets_nb.config import get_settings
    from filterbets_nb.db.migrate import upgrade
    from filterbets_nb.db.session import run_coro

    run_coro(lambda: drop_all_tables(url))
    monkeypatch.setenv("FILTERBETS_DATABASE_URL", url)
    get_settings.cache_clear()
    upgrade(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """This process pointed at an empty, migrated database of each kind."""
    from filterbets_nb.config import get_settings
    from filterbets_nb.db.migrate import upgrade

    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        use_empty_database(url, monkeypatch)
        return url
    url = get_settings().database
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """This run's Redis index: ``FILTERBETS_TEST_REDIS_URL`` if set, else a free one claimed
    for this run (:func:`filterbets_nb.testing.claim_redis_index`); emptied at the start and at
    the end, when a claimed one is also given back."""
    run_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        url = REDIS_URL or testing.claim_redis_index(REDIS_SERVER, f"test-{run_id}")
        testing.flush_redis(url, timeout=3)
    except Exception as exc:
        _unavailable("Redis", exc)
    yield url
    if REDIS_URL:
        testing.flush_redis(url, timeout=3)
    else:
        testing.release_redis_index(url, f"test-{run_id}")


#: Long enough that a wait returning True can only mean "woken" (a timeout returns False).
NEVER = 60.0


def later(action: Callable[[], object], delay: float = 0.05) -> threading.Timer:
    """``action()`` in a timer thread after ``delay`` seconds (what a waiter is woken by);
    join the timer before leaving the test."""
    timer = threading.Timer(delay, action)
    timer.start()
    return timer


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embedded_env(data_dir: Path) -> dict[str, str]:
    """A fresh process's env for ``data_dir``. Tests run their own :class:`Worker`, so submits
    do not start the data dir's shared worker (the tests of that worker turn it back on, and a
    forgotten one still stops itself after two minutes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILTERBETS_")}
    env["FILTERBETS_DATA_DIR"] = str(data_dir)
    env["FILTERBETS_WORKER_AUTOSTART"] = "0"
    env["FILTERBETS_WORKER_IDLE_TIMEOUT"] = "120"
    return env


def services_env(data_dir: Path, pg: str, redis_url: str) -> dict[str, str]:
    env = embedded_env(data_dir)
    env.update(
        FILTERBETS_DATABASE_URL=pg,
        FILTERBETS_BROKER_URL=redis_url,
        FILTERBETS_RESULT_BACKEND=redis_url,
    )
    return env


class LoggedProcess:
    """A child process writing to a log file: read the log, stop it politely, then firmly."""

    process: subprocess.Popen[bytes]
    log: Path
    stop_timeout: float = 20.0

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Worker(LoggedProcess):
    """A real ``celery worker`` subprocess, stopped (or killed) by the test."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        concurrency: int = 2,
        queues: str | None = "backtest,stats",
    ) -> None:
        self.log = log
        name = f"test-{uuid.uuid4().hex[:8]}@%h"
        cmd = [sys.executable, "-m", "celery", "-A", APP, "worker"]
        if queues:
            cmd += ["-Q", queues]
        cmd += ["-c", str(concurrency), "-n", name, "--loglevel", "INFO", "--logfile", str(log)]
        self.process = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.text()}")
            if " ready." in self.text():
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"worker not ready: {self.text()}")

    def child_pids(self) -> list[int]:
        """Pool processes of this worker (Linux /proc)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def kill(self) -> None:
        """SIGKILL the worker and its pool: nothing gets to clean up."""
        for child in self.child_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self.process.kill()
        self.process.wait(10)


def run_py(env: dict[str, str], code: str, timeout: float = 180) -> Any:
    """Run ``code`` in a fresh interpreter with ``env``; it prints one JSON value, returned here."""
    return testing.run_python(code, env, cwd=ROOT, timeout=timeout)


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "filterbets_nb.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """This process configured for an embedded data dir of its own (SQLite)."""
    from filterbets_nb.config import get_settings

    for key in list(os.environ):
        if key.startswith("FILTERBETS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        yield tmp_path / "data"
    finally:
        from filterbets_nb.worker import stop_shared_worker

        # A CLI command run in process (CliRunner) may have started the data dir's shared
        # worker on its way to the door; it must not outlive the test.
        stop_shared_worker(get_settings())
        get_settings.cache_clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The notebooks' cells (nbval) start their data dir's shared worker, so they are slow
    tests like every other test that starts worker processes (``-m "not slow"`` skips them)."""
    notebooks = ROOT / "notebooks"
    for item in items:
        if notebooks in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist (scripts/test runs ``-n 2``), whatever ``--dist`` says, hand out the
    units of :mod:`tests.scheduling`: the notebooks and the module fixtures need them, and
    per-test load balancing would run the notebooks' cells apart. ``--dist each`` (every test
    on every worker) keeps its meaning."""
    if config.getvalue("dist") == "each":
        return None
    from tests.scheduling import UnitScheduling

    return UnitScheduling(config, log)
