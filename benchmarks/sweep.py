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
b. the same sweep on a worker with 1 process and then with 2 (target >= 1.8x; issue 10 asks it
   of ``--filters 20 --matches 50000``), with how busy the machine was, since a second process
   needs a free core, and the worker's own CPU seconds per filter (its processes' user + system
   time over the timed sweep, read from /proc): equal per-filter CPU on 1 and 2 processes means
   the work split without overhead, whatever else loads the machine.

Each side's figure is the median of ``--repeat`` sweeps (default 5) on its worker, one after
the other, each timed alone: one sweep lasts about half a second, so a single one moves with
whatever else the machine does in that moment. The two worker sizes take turns ``--rounds``
times (default 3; a 1-process worker, then a 2-process one, again), and each side's median
pools all its rounds: on this shared machine the speed of the same sweep drifts by 20-30 %
over minutes, which one 1-process block followed by one 2-process block would read as
scaling (or its absence).

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

CLIENT = r"""
import json, os, statistics, sys, time
from pathlib import Path
import filterbets_nb as fb
from filterbets_nb import F

n_filters, chunk_size, mode = int(sys.argv[1]), int(sys.argv[2]) or None, sys.argv[3]
n_matches, worker_pid, repeat = int(sys.argv[4]) or None, int(sys.argv[5]), int(sys.argv[6])
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
    from filterbets_nb.loading import _store
    from filterbets_nb.db.session import run_async
    from filterbets_nb.synthetic import generate_matches
    frame = generate_matches(seasons=5, seed=0).drop(columns="match_id")
    print(json.dumps(str(run_async(lambda s: _store(s, [(frame, "synthetic:bench")])))))
    raise SystemExit

def worker_cpu():
    # user + system seconds of the worker's main process and its pool processes (Linux)
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    for pid in [str(worker_pid), *children]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks

from filterbets_nb.research.runs import submit_sweep
names = list(GRID)
# Warm-up: filters from all over the timed grid, one per chunk, so every process loads every
# column the timed sweep needs into its cache before the clock starts.
step = max(1, len(points) // 8)
submit_sweep(points[::step][:8], names, chunk_size=1).wait(timeout=600)
cpu0, own0, sweeps = worker_cpu(), time.process_time(), []
for _ in range(repeat):
    time.sleep(0.2)  # the worker idle, as before a single sweep
    t0 = time.perf_counter()
    result = submit_sweep(points, names, chunk_size=chunk_size).wait(timeout=1800)
    sweeps.append(time.perf_counter() - t0)
out = {"sweeps": sweeps, "sweep": statistics.median(sweeps), "n": result.n_tried,
       "cpu": (worker_cpu() - cpu0) / repeat, "client_cpu": (time.process_time() - own0) / repeat,
       "bets": int(result.frame["bets"].sum()), "load": os.getloadavg()[0]}
if mode == "both":
    cpu0, t0 = worker_cpu(), time.perf_counter()
    runs = [fb.backtest(p.filter) for p in points]
    for run in runs:
        run.wait(timeout=3600, poll=0.05)
    out["single"] = time.perf_counter() - t0
    out["single_cpu"] = worker_cpu() - cpu0
    out["single_bets"] = sum(int(run.summary()["bets"]) for run in runs)
print(json.dumps(out))
"""


def _pooled(sides: list[dict]) -> dict:
    """One worker size's figures over every round: the median of all its sweeps, the mean CPU
    per sweep, and the rest from the round that also ran the single backtests (the last)."""
    merged = dict(sides[-1])
    merged["sweeps"] = [t for side in sides for t in side["sweeps"]]
    merged["sweep"] = statistics.median(merged["sweeps"])
    merged["cpu"] = statistics.mean(side["cpu"] for side in sides)
    merged["client_cpu"] = statistics.mean(side["client_cpu"] for side in sides)
    assert len({side["bets"] for side in sides}) == 1, [side["bets"] for side in sides]
    return merged


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
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternations of a 1-process and a 2-process worker (the medians pool them all)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, bench._terminate)
    print(f"Redis {bench.REDIS_URL} (flushed at the end), PostgreSQL database of its own")
    n, chunk, matches = str(args.filters), str(args.chunk_size), str(args.matches)

    def sweep_args(mode: str, pid: str) -> list[str]:
        return [n, chunk, mode, matches, pid, str(args.repeat)]

    try:
        bench.flush_redis()
        with tempfile.TemporaryDirectory() as tmp, bench.scratch_database() as url:
            env = bench.redis_env(Path(tmp), url)
            print("demo matches:", bench.run_client(env, CLIENT, *sweep_args("load", "0")))
            ones: list[dict] = []
            twos: list[dict] = []
            for round_no in range(args.rounds):
                last = round_no == args.rounds - 1
                with bench.worker(env, f"one-{round_no}", 1) as run:
                    window = bench.CpuWindow()
                    pid = str(run.process.pid)
                    ones.append(
                        bench.run_client(env, CLIENT, *sweep_args("sweep", pid), timeout=3600)
                    )
                    busy_one = window.summary()
                with bench.worker(env, f"two-{round_no}", 2) as run:
                    window = bench.CpuWindow()
                    mode = "sweep" if args.no_single or not last else "both"
                    pid = str(run.process.pid)
                    twos.append(bench.run_client(env, CLIENT, *sweep_args(mode, pid), timeout=7200))
                    busy_two = window.summary()
    finally:
        bench.stop_children()
        bench.flush_redis()
    one, two = _pooled(ones), _pooled(twos)
    assert one["bets"] == two["bets"] == two.get("single_bets", two["bets"]), (one, two)
    scaling = one["sweep"] / two["sweep"]
    if "single" in two:
        speedup = two["single"] / two["sweep"]
        print(
            f"a. {two['n']} filters, {two['bets']} bets: fb.sweep {two['sweep']:.2f} s, "
            f"one fb.backtest each {two['single']:.2f} s: {speedup:.1f}x "
            f"(target >= {SPEEDUP_TARGET:.0f}x) {bench.verdict(speedup >= SPEEDUP_TARGET)}"
        )
        print(
            f"   worker CPU: {two['cpu']:.2f} s for the sweep, {two['single_cpu']:.2f} s for the "
            f"backtests ({two['single_cpu'] / two['cpu']:.1f}x; PostgreSQL's work storing "
            "every backtest's bets is not in it)"
        )
    print(
        f"b. sweep on 1 process {one['sweep']:.2f} s, on 2 processes {two['sweep']:.2f} s: "
        f"{scaling:.2f}x (target >= {SCALING_TARGET}x) {bench.verdict(scaling >= SCALING_TARGET)}"
    )
    if args.repeat > 1 or args.rounds > 1:
        print(
            f"   medians of {args.rounds} x {args.repeat} sweeps each, one worker after the "
            "other: "
            + "; ".join(
                f"{label} " + ", ".join(f"{t:.2f}" for t in sorted(side["sweeps"])) + " s"
                for label, side in (("1 process", one), ("2 processes", two))
            )
        )
    if args.rounds > 1:
        print(
            "   each round's ratio: "
            + ", ".join(f"{a['sweep'] / b['sweep']:.2f}x" for a, b in zip(ones, twos, strict=True))
        )
    per = [1000 * one["cpu"] / one["n"], 1000 * two["cpu"] / two["n"]]
    print(
        f"   worker CPU per filter: {per[0]:.1f} ms on 1 process, {per[1]:.1f} ms on 2 "
        f"({per[0] / per[1]:.2f}x as much work per filter on 1); cores the worker kept busy: "
        f"{one['cpu'] / one['sweep']:.2f} on 1 process, {two['cpu'] / two['sweep']:.2f} on 2"
    )
    print(
        f"   client CPU (submit, follow, read the result): {one['client_cpu']:.2f} s and "
        f"{two['client_cpu']:.2f} s; load average (1 min) at the end: {one['load']:.1f} and "
        f"{two['load']:.1f}"
    )
    print(f"   1 process: {busy_one}")
    print(f"   2 processes (sweep and the single backtests): {busy_two}")


if __name__ == "__main__":
    main()
