"""The task system under stress, with real workers: progress, retries, crashes, routing, beat.

Every scenario runs a real ``celery worker`` subprocess and a client in a fresh interpreter.
The embedded mode (SQLite + filesystem broker) and the services mode (Redis + PostgreSQL) share
the scenarios that make sense for both; breaking a server uses a server of the test's own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from filterbets_nb import testing
from tests.conftest import (
    PG_ADMIN_URL,
    ROOT,
    Worker,
    cli,
    embedded_env,
    free_port,
    run_py,
    services_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: Small pages and an eager recorder, so a modest data set shows many PROGRESS updates.
SLOW = {"FILTERBETS_FETCH_PAGE_SIZE": "100", "FILTERBETS_PROGRESS_INTERVAL": "0.01"}
N_MATCHES = 12_000
FILTER = {
    "rules": [{"field": "home_odds", "op": "between", "value": [1.4, 2.6]}],
    "market": "home",
    "price": "avg",
    "stake": 1.0,
}

PRELUDE = """
import json, time, uuid
import filterbets_nb as fb
from celery import chain
from filterbets_nb.db import store
from filterbets_nb.db.session import run_async
from filterbets_nb.tasks.progress import read_progress
fb.connect(start_worker=False, quiet=True)
FILTER = json.loads({filter!r})

def bet_count(job_id):
    from sqlalchemy import func, select
    from filterbets_nb.db.models import BacktestBet
    async def q(s):
        stmt = select(func.count(), func.count(func.distinct(BacktestBet.seq)))
        return tuple((await s.execute(stmt.where(BacktestBet.job_id == job_id))).one())
    return run_async(q)

def wait_state(task_id, states, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_progress(task_id)["state"] in states:
            return True
        time.sleep(0.01)
    return False
"""


#: A worker whose evaluate link stays in PROGRESS for 3 s once its matches are loaded, so a kill
#: lands mid-evaluate however fast the data path is (the matches may come from snapshot files
#: an earlier test wrote, in no time).
IN_EVALUATE_FOR_A_WHILE = {"FILTERBETS_EVALUATE_DELAY": "3"}

#: Submit a backtest and SIGKILL the given processes as soon as evaluate_filter reports progress.
KILL_IN_EVALUATE = """
import os, signal
run = fb.backtest(FILTER)
assert wait_state(run.task_ids[1], ("PROGRESS",))
for pid in {pids}:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # a pool child dies with its worker (Celery sets PDEATHSIG)
        pass
killed = read_progress(run.task_ids[2])["state"] == "PENDING"
print(json.dumps({{"job_id": run.job_id, "killed": killed}}))
"""


#: After ``run = fb.backtest(...)``: wait for it to end, print its error and stored job row.
WAIT_FOR_END = """
try:
    run.wait(120)
    error = None
except fb.BacktestFailed as exc:
    error = str(exc)
before = run_async(lambda s: store.get_job(s, run.job_id)).status
reconciled = run.reconcile()  # the explicit repair step; reading a status never writes
job = run_async(lambda s: store.get_job(s, run.job_id))
print(json.dumps({"error": error, "status": job.status, "stored": job.error,
                  "progress": job.progress, "before": before, "reconciled": reconciled}))
"""


def client(env: dict[str, str], body: str, timeout: float = 300) -> dict:
    return run_py(env, PRELUDE.format(filter=json.dumps(FILTER)) + body, timeout=timeout)


def assert_one_set_of_bets(env: dict[str, str], job_id: str, timeout: float) -> None:
    """Wait for the job; it must succeed with exactly one set of bets, the one summarised."""
    out = client(
        env,
        f"""
run = fb.load_results({job_id!r})
run.wait({timeout})
print(json.dumps({{"state": run.state, "bets": bet_count(run.job_id),
                  "summary_bets": int(run.summary()["bets"])}}))
""",
    )
    assert out["state"] == "SUCCESS"
    rows, distinct = out["bets"]
    assert rows == distinct == out["summary_bets"] > 0


@pytest.fixture(scope="module", params=["embedded", "services"])
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A migrated database holding N_MATCHES synthetic matches, in each mode."""
    data_dir = tmp_path_factory.mktemp(f"tasks-{request.param}")
    if request.param == "embedded":
        env = embedded_env(data_dir)
    else:
        pg = request.getfixturevalue("pg_url").replace("/fbtest_", "/fbtasks_")
        _create_db(request, pg)
        env = services_env(data_dir, pg, request.getfixturevalue("redis_url"))
    env.update(SLOW)
    env["FILTERBETS_TEST_MODE"] = request.param
    proc = cli(env, "db", "upgrade")
    assert proc.returncode == 0, proc.stderr
    client(env, f"fb.load_demo(n_matches={N_MATCHES}, seed=2)\nprint(1)")
    yield env


def _create_db(request: pytest.FixtureRequest, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    testing.pg_admin(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
    request.addfinalizer(lambda: testing.drop_database(PG_ADMIN_URL, name))


@pytest.fixture(scope="class")
def worker(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """One worker for a class of tests that only need a worker to be there: starting and
    stopping one costs more than most of those tests. The class's end stops it, before the
    tests that start workers of their own (a worker left running would take their jobs)."""
    w = Worker(env, tmp_path_factory.mktemp("worker") / "worker.log", concurrency=1)
    yield w
    w.stop()


class TestOnOneWorker:
    """Tests that only need a worker to be there share one (see the ``worker`` fixture)."""

    def test_progress_meta_goes_up_while_it_runs(self, env: dict[str, str], worker: Worker) -> None:
        out = client(
            env,
            """
run = fb.backtest(FILTER)
seen = []
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    link = read_progress(run.task_ids[1])
    if link["state"] == "PROGRESS":
        seen.append(link["progress"]["percent"])
    if link["state"] in ("SUCCESS", "FAILURE"):
        break
    time.sleep(0.005)
run.wait(60)
print(json.dumps({"seen": seen, "state": run.state, "final": run.status()["progress"]}))
""",
        )
        assert out["state"] == "SUCCESS"
        distinct = sorted(set(out["seen"]))
        assert len(distinct) >= 3, out["seen"]
        assert out["seen"] == sorted(out["seen"]), "progress went backwards"
        assert all(0 <= p <= 100 for p in distinct)

    def test_a_bad_filter_fails_at_once_without_retry(
        self, env: dict[str, str], worker: Worker
    ) -> None:
        out = client(
            env,
            """
from filterbets_nb.tasks.backtest_tasks import evaluate_filter, fetch_matches, save_results
job_id, ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
bad = {"rules": [{"field": "home_oods", "op": ">", "value": 2}], "market": "home"}
run_async(lambda s: store.create_job(s, job_id, bad, {}, ids))  # bypasses client validation
chain(fetch_matches.s(job_id).set(task_id=ids[0]), evaluate_filter.s().set(task_id=ids[1]),
      save_results.s().set(task_id=ids[2])).apply_async()
run = fb.load_results(job_id)
try:
    run.wait(60)
except fb.BacktestFailed as exc:
    error = str(exc)
job = run_async(lambda s: store.get_job(s, job_id))
print(json.dumps({"error": error, "status": job.status, "stored": job.error,
                  "fetch": read_progress(ids[0])["state"], "bets": bet_count(job_id)[0]}))
""",
        )
        assert out["status"] == "FAILURE" and out["fetch"] == "FAILURE"
        assert "home_oods" in out["stored"] and "FilterError" in out["stored"]
        assert out["bets"] == 0
        time.sleep(0.5)
        assert "Retry in" not in worker.text()

    def test_beat_entry_is_due_at_two_and_fires_the_refresh(
        self, env: dict[str, str], worker: Worker
    ) -> None:
        schedule = client(
            env,
            """
import datetime as dt
from filterbets_nb.tasks.celery_app import celery_app
celery_app.loader.import_default_modules()
entry = celery_app.conf.beat_schedule["refresh-team-stats-daily"]
cron, utc, due = entry["schedule"], dt.UTC, {}
for label, now in (("02:00:01", dt.datetime(2026, 11, 25, 2, 0, 1, tzinfo=utc)),
                   ("01:59:00", dt.datetime(2026, 11, 25, 1, 59, 0, tzinfo=utc))):
    cron.nowfun = lambda now=now: now
    due[label] = cron.is_due(dt.datetime(2026, 11, 24, 2, 0, 0, tzinfo=utc))[0]
print(json.dumps({"task": entry["task"], "registered": entry["task"] in celery_app.tasks,
                  "queue": celery_app.amqp.router.route({}, entry["task"])["queue"].name,
                  "due": due}))
""",
        )
        assert schedule["registered"] and schedule["queue"] == "stats"
        assert schedule["due"] == {"02:00:01": True, "01:59:00": False}
        task_name = schedule["task"]
        # Fire the scheduled name exactly as beat would, through the celery command line.
        before = client(
            env,
            "stats = run_async(lambda s: store.load_team_stats(s))\n"
            "print(json.dumps(str(stats.updated_at.max())))",
        )
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "filterbets_nb.tasks.celery_app",
                "call",
                task_name,
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        task_id = proc.stdout.strip().splitlines()[-1]
        out = client(
            env,
            f"""
from filterbets_nb.tasks.status import get_task_status
deadline, seen = time.monotonic() + 180, []
while time.monotonic() < deadline:
    status = get_task_status({task_id!r})
    seen.append(status["state"])
    if status["state"] in ("SUCCESS", "FAILURE"):
        break
    time.sleep(0.02)
stats = run_async(lambda s: store.load_team_stats(s))
print(json.dumps({{"leagues": status["result"]["leagues"], "after": str(stats.updated_at.max()),
                   "teams": len(stats), "status": status["state"], "seen": seen,
                   "progress": status["progress"]}}))
""",
        )
        assert out["status"] == "SUCCESS", out
        assert out["leagues"] and out["teams"] > 0
        assert out["after"] > before
        # The fanned-out task reads as done only when every league is: its status follows the group.
        n = len(out["leagues"])
        assert out["progress"]["current"] == out["progress"]["total"] == n
        assert out["progress"]["description"] == f"{n}/{n} leagues"

    def test_cancel_revokes_the_chain(self, env: dict[str, str], worker: Worker) -> None:
        out = client(
            env,
            """
run = fb.backtest(FILTER)
assert wait_state(run.task_ids[1], ("PROGRESS",))
run.cancel()
try:
    run.wait(60)
    outcome = "finished"
except fb.BacktestCancelled:
    outcome = "cancelled"
time.sleep(1.0)
print(json.dumps({"outcome": outcome, "state": run.state,
                  "save": read_progress(run.task_ids[2])["state"]}))
""",
        )
        assert out["outcome"] == "cancelled" and out["state"] == "REVOKED"
        assert out["save"] in ("PENDING", "REVOKED")


def test_unreachable_database_is_retried_then_fails(env: dict[str, str], tmp_path: Path) -> None:
    if env["FILTERBETS_TEST_MODE"] != "services":
        pytest.skip("needs a database server to be unreachable")
    broken = dict(env)
    port = free_port()  # nothing listens here
    broken["FILTERBETS_RETRY_BASE_SECONDS"] = "0.2"  # the backoff itself: tests/test_faults.py
    broken["FILTERBETS_DATABASE_URL"] = env["FILTERBETS_DATABASE_URL"].replace(
        "127.0.0.1:5432", f"127.0.0.1:{port}"
    )
    w = Worker(broken, tmp_path / "broken.log", concurrency=1)
    try:
        out = client(
            env,
            """
run = fb.backtest(FILTER)
"""
            + WAIT_FOR_END,
        )
    finally:
        w.stop()
    assert out["status"] == "FAILURE", out
    # The worker could not record the end: waiting saw it, only reconcile stored it.
    assert out["before"] != "FAILURE" and out["reconciled"] == "FAILURE", out
    assert "Connect" in out["stored"] or "connect" in out["stored"], out["stored"]
    assert w.text().count("Retry in") == 3, w.text()[-3000:]


def test_worker_killed_mid_evaluate_leaves_one_set_of_bets(
    env: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL the pool process running evaluate_filter: the message goes back (acks_late +
    reject_on_worker_lost), a fresh process runs it again, and the job has one set of bets."""
    w = Worker(IN_EVALUATE_FOR_A_WHILE | env, tmp_path / "w.log", concurrency=1)
    try:
        submit = client(env, KILL_IN_EVALUATE.format(pids=w.child_pids()))
        assert submit["killed"]
        assert_one_set_of_bets(env, submit["job_id"], timeout=180)
    finally:
        w.stop()
    assert "WorkerLostError" in w.text() or "exited" in w.text() or "signal 9" in w.text()


def test_whole_worker_killed_a_new_worker_finishes(env: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL the worker and its pool mid-evaluate. On Redis the unacknowledged message comes
    back after the visibility timeout; the filesystem transport has deleted it, so the new
    worker finds the stranded job at start and sends its chain again (same task ids)."""
    short = {**env, "FILTERBETS_VISIBILITY_TIMEOUT": "4"}
    first = Worker(IN_EVALUATE_FOR_A_WHILE | short, tmp_path / "first.log", concurrency=1)
    try:
        pids = [*first.child_pids(), first.process.pid]  # the pool first, as Worker.kill
        submit = client(short, KILL_IN_EVALUATE.format(pids=pids))
        assert submit["killed"]
        first.process.wait(10)
    finally:
        first.stop()  # already dead unless the kill never came (then it must not linger)
    # The delay only kept the first run in evaluate long enough to be caught: the run again
    # goes at speed.
    second = Worker(short, tmp_path / "second.log", 1)
    try:
        assert_one_set_of_bets(short, submit["job_id"], timeout=120)
    finally:
        second.stop()
    assert "evaluate_filter" in second.text()
    resent = "sending its chain again" in second.text()
    assert resent == (env["FILTERBETS_TEST_MODE"] == "embedded"), second.text()[-3000:]


def test_a_new_worker_leaves_a_running_job_alone(env: dict[str, str], tmp_path: Path) -> None:
    """The stranded-job check must not re-send a job another live worker is running."""
    if env["FILTERBETS_TEST_MODE"] != "embedded":
        pytest.skip("the check runs on the filesystem transport only")
    # The first worker's evaluate link waits 15 s after loading, so the job is still running
    # when the second worker's check looks (the narrow data path alone finishes in well under
    # the second worker's start-up time).
    slow = {**env, "FILTERBETS_EVALUATE_DELAY": "15"}
    first = Worker(slow, tmp_path / "first.log", concurrency=1)
    second = None
    try:
        submit = client(
            slow,
            """
run = fb.backtest(FILTER)
assert wait_state(run.task_ids[1], ("PROGRESS",))
print(json.dumps({"job_id": run.job_id}))
""",
        )
        second = Worker(slow, tmp_path / "second.log", concurrency=1)
        deadline = time.monotonic() + 30
        while "stranded-job check" not in second.text() and time.monotonic() < deadline:
            time.sleep(0.1)
        check = re.search(
            r"stranded-job check: \d+ unfinished, (\d+) running, (\d+)", second.text()
        )
        assert check, second.text()[-3000:]
        assert int(check[1]) >= 1, "the job ended before the check ran"
        assert int(check[2]) == 0, second.text()[-3000:]
        assert_one_set_of_bets(slow, submit["job_id"], timeout=180)
    finally:
        if second is not None:
            second.stop()
        first.stop()
    assert "sending its chain again" not in second.text()


def test_a_worker_reuses_loaded_matches_until_the_data_changes(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A sweep's second job over the same scope takes the matches from the worker process's
    cache; after a stored odds value changes, the next job reads the database again and bets
    at the new price."""
    w = Worker(env, tmp_path / "w.log", concurrency=1)
    try:
        out = client(
            env,
            f"""
from filterbets_nb.synthetic import generate_matches
first = fb.backtest(FILTER).wait(120)
second = fb.backtest(FILTER).wait(120)
frame = generate_matches(n_matches={N_MATCHES}, seed=2).drop(columns="match_id")
frame = frame.sort_values(["kickoff", "home_team"]).reset_index(drop=True)
row = frame[frame["avg_home"].between(1.6, 2.4)].head(1).copy()
row["avg_home"] = (row["avg_home"] + 0.05).round(2)
run_async(lambda s: store.upsert_matches(s, row))
third = fb.backtest(FILTER).wait(120)
bets = third.bets()
mine = bets[(bets["home_team"] == row["home_team"].iloc[0])
            & (bets["kickoff"] == row["kickoff"].iloc[0])]
print(json.dumps({{
    "same": first.bets().equals(second.bets()),
    "odds": mine["odds"].tolist(),
    "new": float(row["avg_home"].iloc[0]),
}}))
""",
        )
    finally:
        w.stop()
    assert out["same"]
    assert out["odds"] == [out["new"]], out
    log = w.text()
    assert log.count("matches from this process's cache") == 1, log[-3000:]


def test_redis_restart_between_submit_and_finish(env: dict[str, str], tmp_path: Path) -> None:
    if env["FILTERBETS_TEST_MODE"] != "services":
        pytest.skip("services mode only")
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server binary not installed")
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    args += ["--appendonly", "yes", "--save", ""]
    redis_proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    own = {**env, "FILTERBETS_BROKER_URL": url, "FILTERBETS_RESULT_BACKEND": url}
    time.sleep(0.5)
    w = Worker(own, tmp_path / "w.log", concurrency=1)
    try:
        submit = client(
            own,
            """
run = fb.backtest(FILTER)
print(json.dumps({"job_id": run.job_id}))
""",
        )
        redis_proc.terminate()  # SIGTERM: Redis flushes its append-only file and exits
        redis_proc.wait(10)
        time.sleep(1.0)
        redis_proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        assert_one_set_of_bets(own, submit["job_id"], timeout=180)
    finally:
        w.stop()
        redis_proc.terminate()
        redis_proc.wait(10)


def test_soft_time_limit_fails_with_partial_progress(env: dict[str, str], tmp_path: Path) -> None:
    # The evaluate link waits 30 s after loading (fault injection), so the 3 s limit, which the
    # pool checks about once a second, falls inside that wait: the link's first progress (the
    # "evaluate" stage) is written once the matches are loaded, which a busy machine (load 10
    # with two suites side by side) took longer than the 0.3 s this test used to allow.
    slow = Worker({**env, "FILTERBETS_EVALUATE_DELAY": "30"}, tmp_path / "w.log", concurrency=1)
    try:
        out = client(
            env,
            """
run = fb.backtest(FILTER, soft_time_limit=3)
"""
            + WAIT_FOR_END,
        )
    finally:
        slow.stop()
    assert out["status"] == "FAILURE"
    assert "time limit" in out["error"]
    assert out["progress"]["stage"] == "evaluate"
    # The whole job's share: the limit may fall after the engine's last chunk (the bets are
    # still being written), where the stage reads 100 % but the job did not finish.
    assert 0 < out["progress"]["overall"] < 100


def test_routing_plain_worker_consumes_both_queues(env: dict[str, str], tmp_path: Path) -> None:
    """A worker started without -Q serves both queues; one on another queue leaves the job
    PENDING, and the status check tells that queued id from an unknown one."""
    if env["FILTERBETS_TEST_MODE"] != "services":
        pytest.skip("routing is the same in both modes; checked once")
    wrong = Worker(env, tmp_path / "wrong.log", concurrency=1, queues="celery")
    try:
        out = client(
            env,
            """
run = fb.backtest(FILTER)
time.sleep(3)
queued = fb.task_status(run.task_ids[0])
unknown = fb.task_status(str(uuid.uuid4()))
run.cancel()
print(json.dumps({"queued": queued, "unknown": unknown}, default=str))
""",
        )
    finally:
        wrong.stop()
    assert out["queued"]["state"] == "PENDING" and out["queued"]["pending"] == "queued"
    assert out["unknown"]["state"] == "PENDING" and out["unknown"]["pending"] == "unknown"
    plain = Worker(env, tmp_path / "plain.log", concurrency=1, queues=None)
    try:
        out = client(
            env,
            """
run = fb.backtest(FILTER)
run.wait(120)
from filterbets_nb.tasks.stats_tasks import refresh_all_team_stats_task
r = refresh_all_team_stats_task.delay()
print(json.dumps({"backtest": run.state, "refresh": r.get(timeout=60)}))
""",
        )
    finally:
        plain.stop()
    assert out["backtest"] == "SUCCESS"
    assert out["refresh"]["status"] == "dispatched" and out["refresh"]["leagues"]


def test_many_tasks_in_one_worker_leak_no_connections(env: dict[str, str], tmp_path: Path) -> None:
    """50 database tasks through one pool process: no 'attached to a different loop', no
    'another operation is in progress', one connection kept between tasks (one leaked per task
    would leave 50 open), and none left once the worker has stopped."""
    if env["FILTERBETS_TEST_MODE"] != "services":
        pytest.skip("counts PostgreSQL connections")
    count = """
import asyncpg, asyncio, os
url = os.environ["FILTERBETS_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
async def count():
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
"""
    w = Worker(env, tmp_path / "w.log", concurrency=1)
    try:
        out = client(
            env,
            count
            + """
from celery import group
from filterbets_nb.tasks.stats_tasks import refresh_league_stats_task
results = group(refresh_league_stats_task.s("SYN1") for _ in range(50)).apply_async()
values = results.get(timeout=600)
time.sleep(1.0)
print(json.dumps({"ok": sum(v["status"] == "success" for v in values),
                  "open": asyncio.run(count())}))
""",
            timeout=700,
        )
    finally:
        w.stop()
    after = client(
        env,
        count
        + """
deadline = time.monotonic() + 10  # the server ends a backend a moment after its client left
while asyncio.run(count()) and time.monotonic() < deadline:
    time.sleep(0.1)
print(json.dumps({"open": asyncio.run(count())}))
""",
    )
    assert out["ok"] == 50
    assert out["open"] == 1  # the pool process's pooled connection
    assert after["open"] == 0
    assert "different loop" not in w.text() and "another operation" not in w.text()
