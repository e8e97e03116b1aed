#!/usr/bin/env python3
"""Run the fault scenarios against real workers and print one line per fault.

    scripts/chaos                 # every scenario (about 10 minutes on 2 cores)
    scripts/chaos -k outage       # those whose name contains "outage"

Each line: the fault, how many jobs were submitted, how many ended SUCCESS, how many FAILURE
(with the reasons), how many were lost (not ended when the wait ran out), and how many duplicate
bets were stored (rows beyond one set per job). A healthy system prints SUCCESS = jobs and zeros.

Like the benchmarks, it needs Redis and PostgreSQL on loopback (``FILTERBETS_TEST_REDIS_URL``,
else a free index it claims as a test run does, emptied before and after;
``FILTERBETS_TEST_PG_ADMIN_URL``). Outages hit
servers of its own (a private ``redis-server`` and a private PostgreSQL cluster in temporary
folders), never the shared ones, and every process it starts is stopped, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filterbets_nb import testing  # noqa: E402
from tests.conftest import (  # noqa: E402
    PG_ADMIN_URL,
    REDIS_SERVER,
    SHARED_DATA,
    Worker,
    embedded_env,
    services_env,
)
from tests.servers import PrivatePostgres, PrivateRedis  # noqa: E402
from tests.test_faults import SLOW, SUBMIT, WAIT_ALL, _prepare, client, pool_pids  # noqa: E402

REDIS_URL = os.environ.get("FILTERBETS_TEST_REDIS_URL", "")
#: Seconds a scenario waits for its jobs to end before counting the rest as lost.
WAIT = 400


@dataclass
class Outcome:
    fault: str
    jobs: int = 0
    success: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicates: int = 0

    def add(self, jobs: list[dict[str, Any]]) -> Outcome:
        for job in jobs:
            self.jobs += 1
            if job["state"] == "SUCCESS":
                self.success += 1
                self.duplicates += max(0, int(job["rows"]) - int(job["n_bets"] or 0))
            elif job["state"] == "FAILURE":
                self.failures[str(job["error"])[:60]] += 1
            else:
                self.lost += 1
            self.duplicates += int(job["rows"]) - int(job["distinct"])
        return self

    def line(self) -> str:
        failed = sum(self.failures.values())
        reasons = "; ".join(f"{n}x {reason}" for reason, n in self.failures.items())
        return (
            f"{self.fault:<40} jobs {self.jobs:>3}  SUCCESS {self.success:>3}  "
            f"FAILURE {failed:>3}{f' ({reasons})' if reasons else ''}  lost {self.lost:>2}  "
            f"duplicate bets {self.duplicates}"
        )


@contextlib.contextmanager
def workspace(mode: str) -> Iterator[dict[str, str]]:
    """A migrated database holding the demo matches: embedded, or services on the shared
    PostgreSQL (a scratch database) and this script's Redis index."""
    with tempfile.TemporaryDirectory(prefix=f"fb-chaos-{mode}-") as folder:
        if mode == "embedded":
            yield _prepare(embedded_env(Path(folder)))
            return
        with testing.scratch_database(PG_ADMIN_URL, "fbchaos_") as url:
            yield _prepare(services_env(Path(folder), url, REDIS_URL))


@contextlib.contextmanager
def worker(env: dict[str, str], name: str, concurrency: int = 2) -> Iterator[Worker]:
    log = Path(env["FILTERBETS_DATA_DIR"]) / f"{name}.log"
    w = Worker(env, log, concurrency=concurrency)
    try:
        yield w
    finally:
        w.stop()


def wait_all(env: dict[str, str], ids: list[str]) -> list[dict[str, Any]]:
    jobs = client(env, WAIT_ALL.format(ids=ids, timeout=WAIT), timeout=WAIT * len(ids) + 60)
    assert isinstance(jobs, list)
    return jobs


def submit(env: dict[str, str], n: int, *, until_running: bool = False) -> list[str]:
    """Submit ``n`` jobs; with ``until_running``, return once the first one is evaluating."""
    body = SUBMIT.format(n=n)
    if until_running:
        body = body.replace(
            "print(json.dumps(ids))",
            "assert wait_state(fb.load_results(ids[0]).task_ids[1], ('PROGRESS',))\n"
            "print(json.dumps(ids))",
        )
    ids = client(env, body)
    assert isinstance(ids, list)
    return ids


# ------------------------------------------------------------------------------------ scenarios
def pool_kills(mode: str, n_jobs: int) -> Callable[[], Outcome]:
    def run() -> Outcome:
        with workspace(mode) as env, worker(env, "pool") as w:
            ids = submit(env, n_jobs)
            for kill in range(6):
                time.sleep(1.0)
                children = pool_pids(w.process.pid)
                if children:
                    os.kill(children[kill % len(children)], signal.SIGKILL)
            return Outcome(f"pool processes SIGKILLed x6 ({mode})").add(wait_all(env, ids))

    return run


def whole_worker_kill(mode: str) -> Callable[[], Outcome]:
    def run() -> Outcome:
        with workspace(mode) as base:
            env = {**base, **SLOW, "FILTERBETS_VISIBILITY_TIMEOUT": "5"}
            with worker(env, "first") as first:
                ids = submit(env, 4, until_running=True)
                first.kill()
            with worker(env, "second"):
                return Outcome(f"whole worker SIGKILLed ({mode})").add(wait_all(env, ids))

    return run


def broker_restart() -> Outcome:
    redis = PrivateRedis()
    try:
        with workspace("services") as base:
            env = {
                **base,
                "FILTERBETS_BROKER_URL": redis.url,
                "FILTERBETS_RESULT_BACKEND": redis.url,
            }
            with worker(env, "w"):
                ids = submit(env, 6)
                redis.stop()
                time.sleep(3)
                redis.start()
                return Outcome("broker (Redis) restarted, 3 s down").add(wait_all(env, ids))
    finally:
        redis.close()


def database_outage(seconds: int) -> Callable[[], Outcome]:
    def run() -> Outcome:
        server = PrivatePostgres()
        try:
            testing.pg_admin(server.admin_url, 'CREATE DATABASE "fb"')
            with tempfile.TemporaryDirectory(prefix="fb-chaos-pg-") as folder:
                url = testing.database_url(server.admin_url, "fb")
                env = {**_prepare(services_env(Path(folder), url, REDIS_URL)), **SLOW}
                with worker(env, "w", concurrency=1):
                    ids = submit(env, 2, until_running=True)
                    server.stop()
                    time.sleep(seconds)
                    server.start()
                    return Outcome(f"PostgreSQL down {seconds} s mid-backtest").add(
                        wait_all(env, ids)
                    )
        finally:
            server.close()

    return run


def burst(n_jobs: int) -> Outcome:
    with workspace("services") as env, worker(env, "w"):
        return Outcome(f"burst of {n_jobs} jobs (services)").add(wait_all(env, submit(env, n_jobs)))


IMPORT = """
import json, sys
import filterbets_nb as fb
try:
    fb.import_csv([sys.argv[1]])
    print(json.dumps(None))
except Exception as exc:
    print(json.dumps(f"{type(exc).__name__}: {str(exc)[:80]}"))
"""

COUNT = """
import json
from sqlalchemy import func, select
from filterbets_nb.db.models import Match
from filterbets_nb.db.session import run_async
async def count(s):
    return (await s.execute(select(func.count()).select_from(Match))).scalar_one()
print(json.dumps(run_async(count)))
"""


def concurrent_imports() -> Outcome:
    """Two processes import the same real file into one fresh database at the same time; the
    result must equal one import (a duplicate here is a match row beyond that)."""
    path = str(sorted(SHARED_DATA.glob("*.csv"))[-1])
    outcome = Outcome("two processes import one file at once")
    with tempfile.TemporaryDirectory(prefix="fb-chaos-import-") as folder:
        with testing.scratch_database(PG_ADMIN_URL, "fbchaos_") as url:
            env = services_env(Path(folder), url, REDIS_URL)
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", IMPORT, path],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                for _ in range(2)
            ]
            errors = [json.loads(p.communicate(timeout=600)[0].splitlines()[-1]) for p in procs]
            stored = testing.run_python(COUNT, env, cwd=ROOT)
        with testing.scratch_database(PG_ADMIN_URL, "fbchaos_") as url:
            env = services_env(Path(folder), url, REDIS_URL)
            assert testing.run_python(IMPORT, env, path, cwd=ROOT, timeout=600) is None
            expected = testing.run_python(COUNT, env, cwd=ROOT)
    for error in errors:
        outcome.jobs += 1
        if error is None:
            outcome.success += 1
        else:
            outcome.failures[error] += 1
    outcome.duplicates = int(stored) - int(expected)
    return outcome


SCENARIOS: dict[str, Callable[[], Outcome]] = {
    "pool-kill-embedded": pool_kills("embedded", 8),
    "pool-kill-services": pool_kills("services", 20),
    "worker-kill-embedded": whole_worker_kill("embedded"),
    "worker-kill-services": whole_worker_kill("services"),
    "broker-restart": broker_restart,
    "db-outage-5s": database_outage(5),
    "db-outage-30s": database_outage(30),
    "burst-50": lambda: burst(50),
    "concurrent-imports": concurrent_imports,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="run the scenarios whose name contains this")
    args = parser.parse_args()
    global REDIS_URL
    owner = f"chaos-{os.getpid()}"
    claimed = not REDIS_URL
    if claimed:  # a free index of its own, as a test run claims one
        REDIS_URL = testing.claim_redis_index(REDIS_SERVER, owner)
    testing.flush_redis(REDIS_URL, timeout=3)
    try:
        return _run(args.k)
    finally:
        if claimed:
            testing.release_redis_index(REDIS_URL, owner)
        else:
            testing.flush_redis(REDIS_URL, timeout=3)


def _run(pattern: str) -> int:
    """Run the scenarios whose name contains ``pattern``; 1 if any was unhealthy."""
    broken = 0
    for name, scenario in SCENARIOS.items():
        if pattern not in name:
            continue
        try:
            outcome = scenario()
        except Exception as exc:  # a scenario that could not run says so and the rest go on
            print(f"{name:<40} could not run: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            broken += 1
            continue
        print(outcome.line(), flush=True)
        healthy = outcome.success == outcome.jobs and not outcome.lost and not outcome.duplicates
        broken += not healthy
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
