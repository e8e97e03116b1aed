"""Benchmark sweeps: one chunked workflow against the same filters sent one by one.

Run ``python benchmarks/sweep.py`` (a few minutes on 2 cores; Redis and PostgreSQL on loopback).
Data: the three demo leagues over 5 seasons (5,700 matches) in a fresh PostgreSQL database
(created here, dropped at the end). Filters: a grid of ``--filters`` (default 500) home/away
filters on odds, form and goals. It prints one figure per line with its target:

a. ``fb.sweep`` of all the filters (chunks of ``--chunk-size`` per task, each chunk loading the
   matches once, from its process's cache when warm) against the same filters submitted at once
   with ``fb.backtest`` (a 3-link chain each, bets stored), both on one worker with 2 processes,
   both timed in the same client process from submission until every result is in
   (target >= 20x).
b. the same sweep on a worker with 1 process and then with 2 (target >= 1.8x), with how busy the
   machine was, since a second process needs a free core.

Each worker first runs a small untimed sweep, so imports, connections and the per-process match
cache are warm for both sides. Redis is its own index (``FILTERBETS_BENCH_REDIS_URL``, default
db 15), flushed before and after; every process started here is stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("FILTERBETS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

# The process, database and CPU helpers of the task benchmark (never imports the Celery app).
import tasks as bench  # noqa: E402

SPEEDUP_TARGET = 20.0
SCALING_TARGET = 1.8

CLIENT = r"""
import json, sys, time
import filterbets_nb as fb
from filterbets_nb import F

n_filters, chunk_size, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
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
    from filterbets_nb.loading import _store
    from filterbets_nb.db.session import run_async
    from filterbets_nb.synthetic import generate_matches
    frame = generate_matches(seasons=5, seed=0).drop(columns="match_id")
    print(json.dumps(str(run_async(lambda s: _store(s, [(frame, "synthetic:bench")])))))
    raise SystemExit
from filterbets_nb.research.runs import submit_sweep
names = list(GRID)
# Warm-up: one small sweep (every process loads the matches into its cache once).
submit_sweep(points[:8], names, chunk_size=2).wait(timeout=600)
t0 = time.perf_counter()
result = submit_sweep(points, names, chunk_size=chunk_size).wait(timeout=1800)
sweep = time.perf_counter() - t0
out = {"sweep": sweep, "n": result.n_tried, "bets": int(result.frame["bets"].sum())}
if mode == "both":
    t0 = time.perf_counter()
    runs = [fb.backtest(p.filter) for p in points]
    for run in runs:
        run.wait(timeout=3600, poll=0.05)
    out["single"] = time.perf_counter() - t0
    out["single_bets"] = sum(int(run.summary()["bets"]) for run in runs)
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--filters", type=int, default=500, help="grid points (at most 500)")
    parser.add_argument("--chunk-size", type=int, default=25, help="filters per chunk task")
    parser.add_argument(
        "--no-single", action="store_true", help="skip the one-by-one baseline (figure b only)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, bench._terminate)
    print(f"Redis {bench.REDIS_URL} (flushed before and after), PostgreSQL database of its own")
    n, chunk = str(args.filters), str(args.chunk_size)
    try:
        bench.flush_redis()
        with tempfile.TemporaryDirectory() as tmp, bench.scratch_database() as url:
            env = bench.redis_env(Path(tmp), url)
            print("demo data:", bench.run_client(env, CLIENT, n, chunk, "load"))
            with bench.worker(env, "one", 1):
                window = bench.CpuWindow()
                one = bench.run_client(env, CLIENT, n, chunk, "sweep", timeout=3600)
                busy_one = window.summary()
            with bench.worker(env, "two", 2):
                window = bench.CpuWindow()
                mode = "sweep" if args.no_single else "both"
                two = bench.run_client(env, CLIENT, n, chunk, mode, timeout=7200)
                busy_two = window.summary()
    finally:
        bench.stop_children()
        bench.flush_redis()
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
        f"b. sweep on 1 process {one['sweep']:.2f} s, on 2 processes {two['sweep']:.2f} s: "
        f"{scaling:.2f}x (target >= {SCALING_TARGET}x) {bench.verdict(scaling >= SCALING_TARGET)}"
    )
    print(f"   1 process: {busy_one}")
    print(f"   2 processes (sweep and the single backtests): {busy_two}")


if __name__ == "__main__":
    main()
