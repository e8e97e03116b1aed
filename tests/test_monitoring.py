"""Monitoring as the spec prescribes it: a real Flower shows our backtest chain's tasks by name.

Flower (``celery -A filterbets_nb.tasks.celery_app flower``), a worker and a client each run in
a process of their own against the test Redis and a fresh PostgreSQL database, as in production.
Flower learns about tasks only from worker events (``worker_send_task_events`` and
``task_send_sent_event`` in the app's config), so seeing the chain's three links there as
SUCCESS proves the events reach a monitor, not just that the chain ran.

Flower >= 2.0 refuses its HTTP API without authentication unless ``FLOWER_UNAUTHENTICATED_API``
is set; the test sets it (Flower listens on loopback only), production uses basic auth.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import APP, LoggedProcess, Worker, cli, free_port, run_py, services_env

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.timeout(300)]

T = TypeVar("T")

#: Upper bound of every wait in this module; none of them sleeps for a fixed time.
WAIT = 60.0

CHAIN_TASKS = (
    "filterbets_nb.tasks.backtest_tasks.fetch_matches",
    "filterbets_nb.tasks.backtest_tasks.evaluate_filter",
    "filterbets_nb.tasks.backtest_tasks.save_results",
)
ECHO = "filterbets_nb.tasks.diagnostics.echo"

SEND_ECHO = f"""
import json
from filterbets_nb.tasks.diagnostics import echo
result = echo.delay("flower warm-up")
result.get(timeout={WAIT})
print(json.dumps(result.id))
"""

BACKTEST = f"""
import json, filterbets_nb as fb
fb.connect(start_worker=False, quiet=True)
fb.load_demo(n_matches=400, seed=1)
flt = fb.Filter.from_dict({{
    "rules": [{{"field": "home_odds", "op": "between", "value": [1.5, 2.5]}}],
    "market": "home", "price": "avg", "stake": 1.0,
}})
run = fb.backtest(flt, label="flower test")
run.wait(timeout={WAIT})
print(json.dumps({{"job_id": run.job_id, "task_ids": run.task_ids, "state": run.state}}))
"""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Call ``probe`` until it returns something other than None; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


class Flower(LoggedProcess):
    """A real Flower process on a loopback port, stopped by the fixture that made it."""

    stop_timeout = 15.0

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "flower.log"
        cmd = [sys.executable, "-m", "celery", "-A", APP, "flower"]
        cmd += [f"--port={self.port}", "--address=127.0.0.1"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                cmd,
                env={**env, "FLOWER_UNAUTHENTICATED_API": "true"},
                cwd=workdir,  # Flower may write its state files here
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for("Flower's /healthcheck", self._healthy)
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool | None:
        if self.process.poll() is not None:
            pytest.fail(f"Flower exited with {self.process.returncode}:\n{self.text()}")
        try:
            return self.get_text("/healthcheck") == "OK" or None
        except (OSError, urllib.error.URLError):
            return None

    def get_text(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=5) as response:
            return str(response.read().decode())

    def get_json(self, path: str) -> Any:
        return json.loads(self.get_text(path))

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Flower's task table (``/api/tasks``): uuid -> name, state, args, worker, ..."""
        tasks = self.get_json("/api/tasks?limit=1000")
        assert isinstance(tasks, dict)
        return tasks


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, pg_url: str, redis_url: str
) -> tuple[dict[str, str], Path]:
    """Services-mode environment with its schema in place, as the compose `migrate` leaves it."""
    data_dir = tmp_path_factory.mktemp("monitoring")
    env = services_env(data_dir, pg_url, redis_url)
    upgrade = cli(env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    return env, data_dir


@pytest.fixture(scope="module")
def flower(stack: tuple[dict[str, str], Path]) -> Iterator[Flower]:
    env, data_dir = stack
    process = Flower(env, data_dir)
    yield process
    process.stop()
    assert process.process.returncode is not None


@pytest.fixture(scope="module")
def worker(stack: tuple[dict[str, str], Path], flower: Flower) -> Iterator[Worker]:
    """Started after Flower, like a worker joining a monitored cluster."""
    env, data_dir = stack
    process = Worker(env, data_dir / "worker.log")
    yield process
    process.stop()
    assert "Traceback" not in process.text(), process.text()


@pytest.fixture(scope="module")
def events_flowing(stack: tuple[dict[str, str], Path], flower: Flower, worker: Worker) -> None:
    """Wait until Flower has seen a task finish, so its event receiver is subscribed.

    Redis delivers events by pub/sub, which keeps nothing for a subscriber that is not yet
    listening; a warm-up echo that Flower reports as SUCCESS shows the later tasks' events
    will arrive. Each attempt sends a new echo, in case an early one went unheard.
    """
    env, _ = stack
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        task_id = run_py(env, SEND_ECHO, timeout=WAIT)
        attempt_end = min(deadline, time.monotonic() + 5)
        while time.monotonic() < attempt_end:
            seen = flower.tasks().get(task_id)
            if seen and seen.get("name") == ECHO and seen.get("state") == "SUCCESS":
                return
            time.sleep(0.2)
    pytest.fail(f"Flower saw no task events within {WAIT:.0f} s:\n{flower.text()}")


def test_flower_api_answers(flower: Flower, worker: Worker) -> None:
    assert flower.get_text("/healthcheck") == "OK"
    assert isinstance(flower.tasks(), dict)


def test_flower_shows_the_backtest_chain(
    stack: tuple[dict[str, str], Path], flower: Flower, events_flowing: None
) -> None:
    env, _ = stack
    run = run_py(env, BACKTEST, timeout=3 * WAIT)
    assert run["state"] == "SUCCESS"
    task_ids: list[str] = run["task_ids"]

    def chain_done() -> dict[str, dict[str, Any]] | None:
        tasks = flower.tasks()
        links = {tid: tasks[tid] for tid in task_ids if tid in tasks}
        done = len(links) == 3 and all(t.get("state") == "SUCCESS" for t in links.values())
        return links if done else None

    links = wait_for("the chain's three tasks as SUCCESS in Flower", chain_done)
    assert [links[tid]["name"] for tid in task_ids] == list(CHAIN_TASKS)
    # The first link gets the job id bare; Flower shows the arguments it was sent with.
    assert run["job_id"] in str(links[task_ids[0]].get("args"))
    assert all(links[tid].get("worker") for tid in task_ids)
    # Flower's per-task page agrees with the table.
    info = flower.get_json(f"/api/task/info/{task_ids[-1]}")
    assert (info["name"], info["state"]) == (CHAIN_TASKS[-1], "SUCCESS")
    assert run["job_id"] in str(info.get("result"))
