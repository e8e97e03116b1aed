"""Benchmark sweeps: one chunked workflow against the same filters sent one by one.

Run ``python benchmarks/sweep.py`` (a few minutes on 2 cores; Redis and PostgreSQL on loopback).
Data: the three demo leagues over 5 seasons (5,700 matches), or ``--matches N`` demo matches, in a
fresh PostgreSQL database (created here, dropped at the end). Filters: a grid of ``--filters``
(default 500) home/away filters on odds, form and goals. It prints one figure per line with its
target:

a. ``fb.sweep`` of all the filters (even chunks, as ``chunk_bounds`` cuts them by default or
   ``--chunk-size`` filters each; each process loading the matches once, from its cache when
   warm) against the same filters submitted at once with ``fb.backtest`` (a 3-link chain each,
   bets stored), both on one worker with 2 processes, both timed in the same client process
   from submission until every result is in (target >= 20x).
b. the same sweep on a worker with 1 process and on one with 2 (target >= 1.8x; issue 10 asks
   it of ``--filters 20 --matches 50000``), with how busy the machine was, since a second
   process needs a free core, and the worker's own CPU seconds per filter (its processes' user
   + system time over its timed sweeps, read from /proc): equal per-filter CPU on 1 and 2
   processes means the work split without overhead, whatever else loads the machine. Then the
   machine's own ceiling: the same filters evaluated in process over the same matches (no
   worker, queue or database), by one process alone and by two processes at once, in every
   turn, with both workers idle. Two vCPUs that slow each other down (shared caches and memory
   bandwidth, or SMT siblings on the host) cap the sweep's scaling below 2x whatever the task
   system does.

Both workers run side by side and take turns, sweep by sweep: before each sweep the client
tells one worker to consume the queues and the other to stop (Celery's remote control,
``add_consumer``/``cancel_consumer``), so the idle one costs nothing. Each side's figure is
the median of its ``--repeat`` sweeps (default 5), each timed alone. Taking turns matters on
this shared machine: the same sweep's speed drifts by 20-30 % over minutes, which a block of
1-process sweeps followed by a block of 2-process ones would read as scaling (or its absence).

Each worker first runs a small untimed sweep over filters from the whole grid, chunks of one,
so imports, connections and every process's match cache are warm for both sides. Redis is an
index of its own (``FILTERBETS_BENCH_REDIS_URL``, or else an empty one claimed the way the tests
claim theirs, see ``benchmarks/tasks.py``), flushed first and at the end; every process started
here is stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The process, database and CPU helpers of the task benchmark (never imports the Celery app).
import tasks as bench  # noqa: E402

SPEEDUP_TARGET = 20.0
SCALING_TARGET = 1.8

CLIENT = (
    bench.TURNS_CLIENT
    + r"""
import json, os, statistics, sys, time
import filterbets_nb as fb
from filterbets_nb import F

n_filters, chunk_size, mode = int(sys.argv[1]), int(sys.argv[2]) or None, sys.argv[3]
n_matches, workers_arg, repeat = int(sys.argv[4]) or None, sys.argv[5], int(sys.argv[6])
fb.connect(start_worker=False, quiet=True)

def make(side, lo, pts, gf):
    odds, form = getattr(F, f"{side}_odds"), getattr(F, f"{side}_form_pts_5")
    return ((odds >= lo) & (form >= pts) & (getattr(F, f"{side}_gf_avg") >= gf)).bet(side)

GRID = {
    "side": ["home", "away"],
    "lo": [1.3, 1.5, 1.7, 1.9, 2.1, 2.4, 2.7, 3.0, 3.5, 4.0],
    "pts": [0, 3, 6, 9, 12],
    "gf": [0.0, 0.8, 1.2, 1.6, 2.0],
}
from filterbets_nb.research.grid import expand_grid
points = expand_grid(make, GRID)[:n_filters]
if mode == "load":
    if n_matches:
        print(json.dumps(fb.load_demo(n_matches=n_matches, seed=0).added))
        raise SystemExit
    from filterbets_nb.loading import store_frames
    from filterbets_nb.synthetic import generate_matches
    frame = generate_matches(seasons=5, seed=0).drop(columns="match_id")
    print(json.dumps(str(store_frames([(frame, "synthetic:bench")]))))
    raise SystemExit

from filterbets_nb.research.runs import submit_sweep
workers = parse_workers(workers_arg)

names = list(GRID)
# Warm-up on each worker: filters from all over the timed grid, one per chunk, so every process
# loads every column the timed sweep needs into its cache before the clock starts.
step = max(1, len(points) // 8)
for _, node, _ in workers:
    only(node, workers)
    submit_sweep(points[::step][:8], names, chunk_size=1).wait(timeout=600)
# The machine's own ceiling for this work: the same 20-filter evaluation in process (no queue,
# no database, no orchestration), by one process alone and by two at once, in each turn.
import multiprocessing as mp
from filterbets_nb.db import store
from filterbets_nb.db.session import run_shared
from filterbets_nb.research.evaluate import evaluate_points
frame = run_shared(lambda s: store.load_matches(s, None, None))
frame = frame.sort_values(["kickoff", "match_id"], kind="stable", ignore_index=True)
ctx = mp.get_context("fork")

def evaluate_once(times):
    start = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
    evaluate_points(frame, points)
    times.put((start, time.perf_counter()))

def at_once(n):
    times = ctx.Queue()
    procs = [ctx.Process(target=evaluate_once, args=(times,)) for _ in range(n)]
    for proc in procs:
        proc.start()
    spans = [times.get() for _ in procs]
    for proc in procs:
        proc.join()
    return max(end for _, end in spans) - min(start for start, _ in spans)

at_once(2)
alone, together = [], []
sides = {node: {"sweeps": [], "cpu": 0.0, "client_cpu": 0.0} for _, node, _ in workers}
for _ in range(repeat):
    only(None, workers)  # both workers idle while the machine is measured
    alone.append(at_once(1))
    together.append(at_once(2))
    for pid, node, _ in workers:
        only(node, workers)
        time.sleep(0.2)  # the worker idle, as before a single sweep
        cpu0, own0 = worker_cpu(pid), time.process_time()
        t0 = time.perf_counter()
        result = submit_sweep(points, names, chunk_size=chunk_size).wait(timeout=1800)
        side = sides[node]
        side["sweeps"].append(time.perf_counter() - t0)
        side["cpu"] += (worker_cpu(pid) - cpu0) / repeat
        side["client_cpu"] += (time.process_time() - own0) / repeat
        side["bets"] = int(result.frame["bets"].sum())
for side in sides.values():
    side["sweep"] = statistics.median(side["sweeps"])
out = {"sides": [sides[node] for _, node, _ in workers], "n": result.n_tried,
       "load": os.getloadavg()[0], "ceiling": {"alone": alone, "together": together}}
if mode == "both":
    pid, node, _ = workers[-1]
    only(node, workers)
    cpu0, t0 = worker_cpu(pid), time.perf_counter()
    runs = [fb.backtest(p.filter) for p in points]
    for run in runs:
        run.wait(timeout=3600, poll=0.05)
    out["single"] = time.perf_counter() - t0
    out["single_cpu"] = worker_cpu(pid) - cpu0
    out["single_bets"] = sum(int(run.summary()["bets"]) for run in runs)
print(json.dumps(out))
"""
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--filters", type=int, default=500, help="grid points (at most 500)")
    parser.add_argument(
        "--chunk-size", type=int, default=0, help="filters per chunk task (0: the default)"
    )
    parser.add_argument(
        "--matches", type=int, default=0, help="demo matches (0: 3 leagues x 5 seasons)"
    )
    parser.add_argument(
        "--no-single", action="store_true", help="skip the one-by-one baseline (figure b only)"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed sweeps per worker (their median is used)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, bench._terminate)
    print(f"Redis {bench.REDIS_URL} (flushed at the end), PostgreSQL database of its own")
    n, chunk, matches = str(args.filters), str(args.chunk_size), str(args.matches)

    def sweep_args(mode: str, workers: str) -> list[str]:
        return [n, chunk, mode, matches, workers, str(args.repeat)]

    try:
        bench.flush_redis()
        with tempfile.TemporaryDirectory() as tmp, bench.scratch_database() as url:
            env = bench.redis_env(Path(tmp), url)
            print("demo matches:", bench.run_client(env, CLIENT, *sweep_args("load", "0:-")))
            with bench.worker(env, "one", 1) as w1, bench.worker(env, "two", 2) as w2:
                window = bench.CpuWindow()
                mode = "sweep" if args.no_single else "both"
                spec = bench.turns_spec([(w1, 1), (w2, 2)])
                out = bench.run_client(env, CLIENT, *sweep_args(mode, spec), timeout=7200)
                busy = window.summary()
    finally:
        bench.stop_children()
        bench.flush_redis()
    one, two = out["sides"]
    one["n"] = two["n"] = out["n"]
    assert one["bets"] == two["bets"] == out.get("single_bets", two["bets"]), out
    scaling = one["sweep"] / two["sweep"]
    if "single" in out:
        speedup = out["single"] / two["sweep"]
        print(
            f"a. {out['n']} filters, {two['bets']} bets: fb.sweep {two['sweep']:.2f} s, "
            f"one fb.backtest each {out['single']:.2f} s: {speedup:.1f}x "
            f"(target >= {SPEEDUP_TARGET:.0f}x) {bench.verdict(speedup >= SPEEDUP_TARGET)}"
        )
        print(
            f"   worker CPU: {two['cpu']:.2f} s for the sweep, {out['single_cpu']:.2f} s for the "
            f"backtests ({out['single_cpu'] / two['cpu']:.1f}x; PostgreSQL's work storing "
            "every backtest's bets is not in it)"
        )
    print(
        f"b. sweep on 1 process {one['sweep']:.2f} s, on 2 processes {two['sweep']:.2f} s: "
        f"{scaling:.2f}x (target >= {SCALING_TARGET}x) {bench.verdict(scaling >= SCALING_TARGET)}"
    )
    if args.repeat > 1:
        print(
            f"   medians of {args.repeat} sweeps each, the two workers taking turns: "
            + "; ".join(
                f"{label} " + ", ".join(f"{t:.2f}" for t in sorted(side["sweeps"])) + " s"
                for label, side in (("1 process", one), ("2 processes", two))
            )
        )
        pairs = sorted(a / b for a, b in zip(one["sweeps"], two["sweeps"], strict=True))
        print(
            "   ratio of each turn (a 1-process sweep over the 2-process sweep after it): "
            f"median {statistics.median(pairs):.2f}x, range {pairs[0]:.2f}-{pairs[-1]:.2f}x"
        )
    alone, together = out["ceiling"]["alone"], out["ceiling"]["together"]
    ceilings = sorted(2 * a / b for a, b in zip(alone, together, strict=True))
    ceiling = 2 * statistics.median(alone) / statistics.median(together)
    print(
        f"   this machine's ceiling, measured in the same turns: the {out['n']} filters "
        f"evaluated in process by one process {statistics.median(alone):.2f} s, the same by "
        f"each of two at once {statistics.median(together):.2f} s: {ceiling:.2f}x (turns "
        f"{ceilings[0]:.2f}-{ceilings[-1]:.2f}x; 2.00x if the two cores did not slow each "
        f"other; a sweep cannot scale better). The sweep reached {scaling / ceiling:.0%} of it."
    )
    per = [1000 * one["cpu"] / one["n"], 1000 * two["cpu"] / two["n"]]
    print(
        f"   worker CPU per filter: {per[0]:.1f} ms on 1 process, {per[1]:.1f} ms on 2 "
        f"({per[0] / per[1]:.2f}x as much work per filter on 1); cores the worker kept busy: "
        f"{one['cpu'] / one['sweep']:.2f} on 1 process, {two['cpu'] / two['sweep']:.2f} on 2"
    )
    print(
        f"   client CPU per sweep (submit, follow, read the result): {one['client_cpu']:.2f} s "
        f"and {two['client_cpu']:.2f} s; load average (1 min) at the end: {out['load']:.1f}"
    )
    print(f"   both workers' turns{' and the single backtests' if 'single' in out else ''}: {busy}")


if __name__ == "__main__":
    main()
