"""Benchmark the task system: chain latency, the cost of progress reporting, worker scaling.

Run ``python benchmarks/tasks.py`` (about 2.5 minutes on 2 cores; Redis and PostgreSQL on
loopback). It prints one figure per line, each with its target where the project has one:

a. round trip of an empty 3-link chain ``echo.s() | echo.s() | echo.s()``
   (``filterbets_nb.tasks.diagnostics.echo``), median over ``--chains`` chains after
   ``--warmup`` ones, on Redis (worker ``--pool prefork -c 2``; target < 15 ms) and on the
   embedded default (``filesystem://`` broker polled every 0.05 s, SQLite results; README: near
   60 ms). The app reads its settings at import, so each mode's client is a fresh interpreter
   with that mode's environment; it prints its timings as JSON.
b. what progress reporting costs a 1,000,000-match backtest: ``run_backtest`` with
   ``chunk_size=10_000`` and no callback, against a :class:`ProgressRecorder` fed exactly as
   ``evaluate_filter`` feeds it (throttled by ``Settings.progress_interval``), whose task stores
   every update in Redis through Celery's real Redis result backend (target < 2 %); plus, for
   scale, a recorder that publishes on every chunk (JSON only, then Redis). Runs interleave, so
   drift hits every variant alike; the callbacks are also timed alone, which is steadier than a
   difference of two noisy ~80 ms runs.
c. a sweep of ``--sweep-filters`` different filters, submitted at once with ``fb.backtest`` over
   ``--sweep-matches`` demo matches in a fresh PostgreSQL database (created here, dropped at the
   end), on a worker with 1 process and on one with 2, side by side, taking turns
   ``--sweep-turns`` times (Celery's remote control: one consumes the queues, the other does
   not): wall time from the first submission until every job is done, and the speed-up
   (target >= 1.8x) of the first turn, fresh workers as issue 10 measured it (each pool process
   still loads the columns of the filters' markets), then the median of the later turns, every
   process's cache warm. Each worker first runs one small warm-up job per process, outside
   the timing. A job is CPU work in the worker plus
   PostgreSQL's, on the same cores, so the run also reports the cores used by the workers and
   client, by PostgreSQL + Redis (all their clients), and by anything else on the machine: a
   speed-up measured next to other busy processes says so.

Every process it starts is stopped, its database dropped and only its own Redis index
(``FILTERBETS_BENCH_REDIS_URL``, or a free one claimed for the run) flushed, also on Ctrl-C;
workers additionally watch this process (``FILTERBETS_PARENT_PID``) and exit if it is killed
outright.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Never import filterbets_nb.tasks.celery_app here: it would fix this process's settings.
from filterbets_nb import testing  # noqa: E402
from filterbets_nb.config import mask_url  # noqa: E402
from filterbets_nb.worker import worker_command  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "FILTERBETS_BENCH_PG_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
)
REDIS_SERVER = os.environ.get("FILTERBETS_BENCH_REDIS_SERVER", "redis://127.0.0.1:6379")


def _redis_url() -> str:
    """``FILTERBETS_BENCH_REDIS_URL``, else an empty index claimed as the test suite claims its
    own (released at exit), so a benchmark never flushes or consumes a test run's queues."""
    given = os.environ.get("FILTERBETS_BENCH_REDIS_URL")
    if given:
        return given
    owner = f"bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    url = testing.claim_redis_index(REDIS_SERVER, owner)
    atexit.register(testing.release_redis_index, url, owner)
    return url


REDIS_URL = _redis_url()

CHAIN_TARGET_MS = 15.0
PROGRESS_TARGET_PCT = 2.0
SWEEP_TARGET = 1.8

# ------------------------------------------------------------------------------ the clients
CHAIN_CLIENT = r"""
import json, sys, time
from filterbets_nb.tasks.diagnostics import echo

warmup, rounds = int(sys.argv[1]), int(sys.argv[2])

def round_trip() -> float:
    t0 = time.perf_counter()
    result = (echo.s() | echo.s() | echo.s()).apply_async()
    value = result.get(timeout=30, interval=0.01)  # Redis: pub/sub; SQLite results: polled
    elapsed = time.perf_counter() - t0
    # Each link wraps the previous link's result: three links ran, in order.
    assert value["payload"]["payload"]["payload"] is None, value
    return elapsed

for _ in range(warmup):
    round_trip()
print(json.dumps([round_trip() for _ in range(rounds)]))
"""

LOAD_CLIENT = r"""
import json, sys, time
import filterbets_nb as fb
t0 = time.perf_counter()
report = fb.load_demo(n_matches=int(sys.argv[1]), seed=int(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - t0, "added": report.added}))
"""

#: Client code for timing several workers on one Redis in turns: ``workers`` from a
#: ``pid:node:processes,...`` argument, ``only(node)`` to let one of them consume the queues
#: (Celery's remote control; the others stop, so an idle worker costs nothing), and
#: ``worker_cpu(pid)``. Used by (c) here and by ``sweep.py``.
TURNS_CLIENT = r"""
import os
from pathlib import Path

def parse_workers(spec):
    return [(int(pid), node, int(procs)) for pid, node, procs in
            (w.split(":", 2) for w in spec.split(","))]

def only(node, workers):
    # The queues consumed by `node` alone: the others stop first, so no message of the next
    # timed run goes to them. Called between runs, when no message is waiting.
    from filterbets_nb.tasks.celery_app import get_app
    from filterbets_nb.worker import QUEUES
    control = get_app().control
    for _, other, _ in workers:
        if other != node:
            for queue in QUEUES.split(","):
                control.cancel_consumer(queue, destination=[other], reply=True, timeout=10)
    for queue in QUEUES.split(",") if node is not None else ():
        control.add_consumer(queue, destination=[node], reply=True, timeout=10)

def worker_cpu(worker_pid):
    # user + system seconds of a worker's main process and its pool processes (Linux)
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    for pid in [str(worker_pid), *children]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks
"""


SWEEP_CLIENT = (
    TURNS_CLIENT
    + r"""
import json, sys, time
import filterbets_nb as fb

filters, workers, turns = json.loads(sys.argv[1]), parse_workers(sys.argv[2]), int(sys.argv[3])
fb.connect(start_worker=False, quiet=True)
# One small job per pool process first: imports and first connections stay out of the timing.
for _, node, procs in workers:
    only(node, workers)
    warm = [fb.backtest(filters[0], seasons=["2021-22"], label="warm-up") for _ in range(procs)]
    for run in warm:
        run.wait(timeout=300)
out = {node: [] for _, node, _ in workers}
for _ in range(turns):
    for pid, node, _ in workers:
        only(node, workers)
        time.sleep(0.2)  # the worker idle, as before a single sweep
        cpu0 = worker_cpu(pid)
        t0 = time.perf_counter()
        runs = [fb.backtest(flt, label=f"sweep {i}") for i, flt in enumerate(filters)]
        submitted = time.perf_counter() - t0
        for run in runs:
            run.wait(timeout=900, poll=0.05)
        wall = time.perf_counter() - t0
        bets = [int(run.summary()["bets"]) for run in runs]
        out[node].append({"wall": wall, "submitted": submitted, "bets": bets,
                          "cpu": worker_cpu(pid) - cpu0})
print(json.dumps(out))
"""
)


# ---------------------------------------------------------------------- processes and cleanup
_children: list[subprocess.Popen[bytes]] = []


def _stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Warm shutdown (SIGTERM), SIGKILL if that takes longer than ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def stop_children() -> None:
    while _children:
        _stop(_children.pop())


def _terminate(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into SystemExit so every ``finally`` below gets to clean up."""
    raise SystemExit(128 + signum)


def base_env(data_dir: Path) -> dict[str, str]:
    """This environment without any FILTERBETS_* setting, plus a data dir of the benchmark's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILTERBETS_")}
    env["FILTERBETS_DATA_DIR"] = str(data_dir)
    return env


def redis_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = base_env(data_dir)
    env.update(FILTERBETS_BROKER_URL=REDIS_URL, FILTERBETS_RESULT_BACKEND=REDIS_URL)
    if database_url:
        env["FILTERBETS_DATABASE_URL"] = database_url
    return env


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = base_env(data_dir)
    env["FILTERBETS_BROKER_POLLING_INTERVAL"] = "0.05"
    return env


class WorkerRun:
    """A benchmark's worker: its log, and its main process (the pool are its children)."""

    def __init__(self, log: Path, process: subprocess.Popen[bytes], node: str) -> None:
        self.log = log
        self.process = process
        #: The worker's node name, for remote control (``destination=[node]``).
        self.node = node

    def read_text(self) -> str:
        return self.log.read_text(errors="replace")

    def pool_peak_rss_mb(self) -> float:
        """The largest peak resident size (VmHWM) among the pool processes, in MB (Linux)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        peaks = [0.0]
        for child in children.read_text().split() if children.exists() else []:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{child}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
        return max(peaks)


@contextlib.contextmanager
def worker(env: dict[str, str], name: str, concurrency: int) -> Iterator[WorkerRun]:
    """A ``celery worker --pool prefork -c N`` on both queues, ready when the block starts."""
    data_dir = Path(env["FILTERBETS_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"worker-{name}.log"
    node = f"bench-{name}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    cmd = worker_command(
        concurrency=concurrency,
        loglevel="INFO",
        hostname=node,
        logfile=log,
        pool="prefork",
    )
    with (data_dir / f"worker-{name}.out").open("wb") as out:
        process = subprocess.Popen(
            cmd,
            env={**env, "FILTERBETS_PARENT_PID": str(os.getpid())},
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _children.append(process)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in (log.read_text(errors="replace") if log.exists() else ""):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start; see {log}")
            time.sleep(0.1)
        yield WorkerRun(log, process, node)
    finally:
        _stop(process)
        with contextlib.suppress(ValueError):
            _children.remove(process)


def turns_spec(workers: Sequence[tuple[WorkerRun, int]]) -> str:
    """The ``pid:node:processes,...`` argument :data:`TURNS_CLIENT` parses, for (worker, its
    pool processes) pairs."""
    return ",".join(f"{w.process.pid}:{w.node}:{n}" for w, n in workers)


def run_client(env: dict[str, str], code: str, *args: str, timeout: float = 600) -> Any:
    """Run ``code`` in a fresh interpreter; its last stdout line is JSON, returned parsed."""
    return testing.run_python(code, env, *args, cwd=ROOT, timeout=timeout)


def flush_redis() -> None:
    """Empty the benchmark's own Redis index (and nothing else)."""
    testing.flush_redis(REDIS_URL)


def scratch_database() -> contextlib.AbstractContextManager[str]:
    """A fresh PostgreSQL database (async SQLAlchemy URL), dropped on the way out."""
    return testing.scratch_database(PG_ADMIN_URL, "fbbench_")


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def machine_cpu() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (None off Linux)."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return sum(values) - values[3] - values[4], sum(values)  # minus idle and iowait


def children_cpu() -> float:
    """CPU seconds of every waited-for descendant: workers (with their pools) and clients."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def services_cpu() -> float:
    """CPU seconds of the PostgreSQL and Redis servers so far, exited backends included.

    Read from /proc: each process's own time plus its waited-for children's (the postmaster
    collects the time of backends that have exited). The servers are shared, so this counts
    every client's queries, not only the benchmark's.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process just ended
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        if comm in ("postgres", "redis-server"):
            fields = text[text.rindex(")") + 2 :].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / ticks


class CpuWindow:
    """How busy the machine was over a stretch of time, and how much of it was ours.

    A scaling figure from a shared machine means little without this: processes outside the
    benchmark (other jobs, PostgreSQL serving it) take cores the second worker process needs.
    """

    def __init__(self) -> None:
        self.start_machine = machine_cpu()
        self.start_own = children_cpu()
        self.start_services = services_cpu()
        self.start_wall = time.perf_counter()

    def summary(self) -> str:
        wall = time.perf_counter() - self.start_wall
        own = children_cpu() - self.start_own
        services = services_cpu() - self.start_services
        cores = os.cpu_count() or 1
        text = (
            f"CPU in cores: worker + client {own / wall:.2f}, "
            f"PostgreSQL + Redis {services / wall:.2f}"
        )
        end = machine_cpu()
        if self.start_machine and end and end[1] > self.start_machine[1]:
            busy = (end[0] - self.start_machine[0]) / (end[1] - self.start_machine[1])
            others = max(0.0, busy * cores * wall - own - services)
            text += f", anything else {others / wall:.2f}; machine {100 * busy:.0f} % busy"
        return text


_LINK_DONE = re.compile(
    r"Task filterbets_nb\.tasks\.backtest_tasks\.(\w+)\[[^\]]+\] succeeded in ([0-9.]+)s"
)


def link_seconds(log: str, skip: int) -> dict[str, float]:
    """Mean seconds per chain link in a worker log, leaving out each link's first ``skip`` runs
    (the warm-up jobs)."""
    runs: dict[str, list[float]] = {}
    for name, seconds in _LINK_DONE.findall(log):
        runs.setdefault(name, []).append(float(seconds))
    return {name: statistics.mean(v[skip:]) for name, v in runs.items() if v[skip:]}


# ------------------------------------------------------------------ (a) chain round trip
def chain_round_trip(tmp: Path, warmup: int, chains: int) -> None:
    results: dict[str, list[float]] = {}
    flush_redis()
    try:
        for mode, env in (
            ("redis", redis_env(tmp / "chain-redis")),
            ("embedded", embedded_env(tmp / "chain-embedded")),
        ):
            with worker(env, f"chain-{mode}", concurrency=2):
                results[mode] = run_client(env, CHAIN_CLIENT, str(warmup), str(chains))
    finally:
        flush_redis()

    medians = {}
    for mode, label in (
        ("redis", "Redis, worker --pool prefork -c 2"),
        ("embedded", "embedded filesystem:// (polling 0.05 s) + SQLite results"),
    ):
        times = sorted(t * 1000 for t in results[mode])
        medians[mode] = statistics.median(times)
        p90 = times[int(0.9 * (len(times) - 1))]
        line = (
            f"(a) 3-link echo chain round trip, {label}: median {medians[mode]:.1f} ms, "
            f"p90 {p90:.1f} ms ({len(times)} chains after {warmup} warm-up)"
        )
        if mode == "redis":
            ratio = medians[mode] / CHAIN_TARGET_MS
            line += f" = {ratio:.2f}x the < {CHAIN_TARGET_MS:.0f} ms target: {verdict(ratio < 1)}"
        else:
            line += " (README: near 60 ms)"
        print(line, flush=True)
    print(
        f"(a) embedded / Redis round trip: {medians['embedded'] / medians['redis']:.1f}x",
        flush=True,
    )


# ------------------------------------------------------------------ (b) progress reporting
class RecordingTask:
    """Stands in for the bound task ``ProgressRecorder`` drives.

    It counts ``update_state`` calls and either serialises each meta to JSON (what the result
    backend's json serializer would do) or, given a Celery result backend, stores it there
    exactly as ``Task.update_state`` does (``backend.store_result``: encode, SET, PUBLISH).
    """

    def __init__(self, backend: Any = None) -> None:
        self.backend = backend
        self.task_id = f"bench-progress-{uuid.uuid4()}"
        self.calls = 0
        self.encoded_bytes = 0

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None
    ) -> None:
        self.calls += 1
        if self.backend is None:
            self.encoded_bytes += len(json.dumps(meta))
        else:
            self.backend.store_result(task_id or self.task_id, meta, state)


def progress_cost(n_matches: int, repeats: int, chunk_size: int = 10_000) -> None:
    from celery import Celery

    from filterbets_nb.config import Settings
    from filterbets_nb.engine import Progress, run_backtest
    from filterbets_nb.features import with_features
    from filterbets_nb.filters import F
    from filterbets_nb.synthetic import generate_matches
    from filterbets_nb.tasks.progress import ProgressRecorder

    t0 = time.perf_counter()
    matches = with_features(generate_matches(n_matches=n_matches, seed=11))
    print(
        f"(b) {len(matches):,} synthetic matches with features built in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    flt = (F.home_odds.between(1.5, 2.5) & (F.home_form_pts_5 >= 7)).bet("home", price="avg")
    n = len(matches)
    interval = Settings(_env_file=None).progress_interval  # type: ignore[call-arg]
    flush_redis()
    bench_app = Celery("bench-progress", broker=REDIS_URL, backend=REDIS_URL)
    backend = bench_app.backend
    tasks: dict[str, RecordingTask] = {}

    def recorder(name: str, task: RecordingTask, throttled: bool) -> Progress:
        tasks[name] = task
        rec = ProgressRecorder(
            task,
            stage="evaluate",
            description="evaluating filter",
            min_interval=interval if throttled else 0.0,
            min_step=1.0 if throttled else 0.0,
        )
        # evaluate_filter counts loading and evaluating: progress is n + current of 2 n.
        return lambda current, total: rec.set(n + current, 2 * n)

    variants: dict[str, Callable[[], Progress | None]] = {
        "none": lambda: None,
        "task": lambda: recorder("task", RecordingTask(backend), throttled=True),
        "json": lambda: recorder("json", RecordingTask(), throttled=False),
        "redis": lambda: recorder("redis", RecordingTask(backend), throttled=False),
    }
    runs: dict[str, list[float]] = {name: [] for name in variants}
    alone: dict[str, list[float]] = {name: [] for name in variants if name != "none"}
    stops = [min(s + chunk_size, n) for s in range(0, n, chunk_size)]
    try:
        run_backtest(matches, flt, chunk_size=chunk_size)  # warm caches once
        names = list(variants)
        for repeat in range(repeats):
            # Interleaved, each variant in every position in turn, so drift hits all alike.
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                make = variants[name]
                progress = make()
                gc.collect()
                t0 = time.perf_counter()
                run_backtest(matches, flt, progress=progress, chunk_size=chunk_size)
                runs[name].append(time.perf_counter() - t0)
                fresh = make()  # the same callbacks alone, as the engine makes them
                if fresh is not None:
                    t0 = time.perf_counter()
                    for stop in stops:
                        fresh(stop, n)
                    alone[name].append(time.perf_counter() - t0)
        stored = backend.get_task_meta(tasks["redis"].task_id)
        assert stored["status"] == "PROGRESS", stored
        assert stored["result"]["current"] == 2 * n, stored
    finally:
        flush_redis()
        del matches
        gc.collect()

    base = statistics.median(runs["none"])
    print(
        f"(b) run_backtest, {n:,} matches, chunk_size {chunk_size:,}, no progress: "
        f"{base * 1000:.1f} ms (median of {repeats})",
        flush=True,
    )
    labels = {
        "task": "as evaluate_filter reports it (throttled recorder, Redis store_result)",
        "json": f"every chunk published ({len(stops)} updates, JSON only)",
        "redis": f"every chunk published ({len(stops)} Redis store_result calls)",
    }
    for name, label in labels.items():
        end_to_end = 100 * (statistics.median(runs[name]) - base) / base
        callbacks = statistics.median(alone[name])
        share = 100 * callbacks / base
        published = tasks[name].calls
        line = (
            f"(b) progress {label}: {published} published, callbacks {callbacks * 1000:.2f} ms "
            f"= {share:.2f} % of the run (end to end {end_to_end:+.1f} %)"
        )
        if name == "task":
            line += (
                f"; target < {PROGRESS_TARGET_PCT:.0f} %: {verdict(share < PROGRESS_TARGET_PCT)}"
            )
        print(line, flush=True)


# ------------------------------------------------------------------ (c) 1 vs 2 worker processes
def sweep_filters(count: int) -> list[dict[str, Any]]:
    """``count`` different filters over the usual markets and odds bands."""
    markets = ("home", "draw", "away", "over25")
    filters = []
    for i in range(count):
        market = markets[i % len(markets)]
        low = round(1.4 + 0.15 * (i // len(markets)), 2)
        rules: list[dict[str, Any]] = [
            {"field": f"{market}_odds", "op": "between", "value": [low, round(low + 0.5, 2)]}
        ]
        if market in ("home", "away"):
            rules.append({"field": f"{market}_form_pts_5", "op": ">=", "value": 4 + i % 5})
        filters.append({"rules": rules, "market": market, "price": "avg", "stake": 1.0})
    assert len({json.dumps(f, sort_keys=True) for f in filters}) == count
    return filters


def sweep_speedup(tmp: Path, n_matches: int, n_filters: int, turns: int) -> float:
    """(c): a worker with 1 process and one with 2, side by side, taking turns ``turns`` times;
    the first turn (each pool process still loading the columns of the filters' markets) and
    the median of the turns after it (every process's match cache warm) are printed apart.

    Taking turns matters on this shared machine: the same sweep's speed drifts by 20-30 % over
    minutes, which a 1-process sweep followed by a 2-process one would read as scaling (or its
    absence); one sweep each gave 1.56-2.00x within ten minutes on 4 December.
    """
    filters = sweep_filters(n_filters)
    flush_redis()
    try:
        with scratch_database() as database_url:
            env = redis_env(tmp / "sweep", database_url)
            Path(env["FILTERBETS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
            upgrade = subprocess.run(
                [sys.executable, "-m", "filterbets_nb.cli", "db", "upgrade"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if upgrade.returncode != 0:
                raise RuntimeError(f"db upgrade failed:\n{upgrade.stderr}")
            loaded = run_client(env, LOAD_CLIENT, str(n_matches), "3")
            print(
                f"(c) demo data: {loaded['added']:,} matches into a fresh PostgreSQL database "
                f"in {loaded['seconds']:.1f} s",
                flush=True,
            )
            with worker(env, "sweep-c1", 1) as one, worker(env, "sweep-c2", 2) as two:
                window = CpuWindow()
                spec = turns_spec([(one, 1), (two, 2)])
                out = run_client(
                    env, SWEEP_CLIENT, json.dumps(filters), spec, str(turns), timeout=3600
                )
                sides = {1: out[one.node], 2: out[two.node]}
                logs = {1: one.read_text(), 2: two.read_text()}
            cpu = window.summary()  # the workers have exited: their CPU time is counted
    finally:
        flush_redis()
    bets = {tuple(run["bets"]) for side in sides.values() for run in side}
    assert len(bets) == 1, "the sweeps disagree on the bets"
    for n, side in sides.items():
        # The warm-up jobs finish first; the rest are the sweeps'.
        links = link_seconds(logs[n], skip=n)
        per_link = ", ".join(f"{name} {sec:.2f} s" for name, sec in links.items())
        walls = ", ".join(f"{run['wall']:.2f}" for run in side)
        print(
            f"(c) {n_filters} filters x {n_matches:,} matches on 1 worker with {n} "
            f"process{'es' if n > 1 else ''}, turn by turn: {walls} s (submitting "
            f"{statistics.median(r['submitted'] for r in side):.2f} s; worker CPU "
            f"{statistics.median(r['cpu'] for r in side):.2f} s a sweep; per job on average: "
            f"{per_link})",
            flush=True,
        )
    ratios = [a["wall"] / b["wall"] for a, b in zip(sides[1], sides[2], strict=True)]
    first, later = ratios[0], ratios[1:]
    print(
        f"(c) sweep speed-up, 2 processes vs 1, first turn (fresh workers, as issue 10 measured "
        f"it): {first:.2f}x (target >= {SWEEP_TARGET}x: {verdict(first >= SWEEP_TARGET)}; "
        f"{os.cpu_count()} CPU cores, shared with PostgreSQL, Redis and the client)",
        flush=True,
    )
    if later:
        print(
            f"(c) the {len(later)} turns after it (every process's columns already loaded): "
            f"median {statistics.median(later):.2f}x (range {min(later):.2f}-{max(later):.2f}x)",
            flush=True,
        )
    print(f"(c)   both workers' turns: {cpu}", flush=True)
    return first


# ------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chains", type=int, default=50, help="timed chains per mode")
    parser.add_argument("--warmup", type=int, default=10, help="untimed chains first")
    parser.add_argument("--progress-matches", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=15, help="runs per progress variant")
    parser.add_argument("--sweep-matches", type=int, default=50_000)
    parser.add_argument("--sweep-filters", type=int, default=20)
    parser.add_argument(
        "--sweep-turns", type=int, default=7, help="sweeps per worker in (c), taking turns"
    )
    parser.add_argument(
        "--only", choices=["chain", "progress", "sweep"], action="append", help="run just these"
    )
    args = parser.parse_args(argv)
    parts = set(args.only or ["chain", "progress", "sweep"])

    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    print(f"Redis {REDIS_URL} (flushed before and after), PostgreSQL {mask_url(PG_ADMIN_URL)}")
    try:
        with tempfile.TemporaryDirectory(prefix="filterbets-bench-") as tmp:
            if "chain" in parts:
                chain_round_trip(Path(tmp), args.warmup, args.chains)
            if "progress" in parts:
                progress_cost(args.progress_matches, args.repeats)
            if "sweep" in parts:
                sweep_speedup(Path(tmp), args.sweep_matches, args.sweep_filters, args.sweep_turns)
    finally:
        stop_children()
    print(f"total benchmark time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
