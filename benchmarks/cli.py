"""Benchmark what a CLI user feels: ``filterbets-nb --help`` against a cold and a warm backtest.

Run ``python benchmarks/cli.py`` (about a minute). On a fresh embedded data dir (a temp dir,
removed at the end) holding the demo leagues, it times, as wall clock of the whole command:

a. ``filterbets-nb --help``: the floor (interpreter start and the CLI's imports);
b. a **cold** ``filterbets-nb backtest FILTER.json --json``: no worker runs, so the command
   starts the data dir's shared worker and waits for its answer;
c. a **warm** one: the shared worker is up.

Each figure is the median of ``--repeat`` runs (cold runs stop the worker before each run,
outside the timing), as wall time and as the command's own CPU time (user + system of the child;
on a loaded machine the CPU figure is the steadier one). It prints the medians and the
warm/--help and cold/--help ratios, with the targets of issue 9 (warm <= 2x, cold <= 4x), and
the load average. Then the parts a cold run is made of: the backtest path's imports in the CLI
process, and how long the shared worker takes from its start to "ready" (its own imports,
pool start, broker connection). The shared worker is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILTER = {
    "rules": [{"field": "home_odds", "op": "between", "value": [1.5, 2.2]}],
    "market": "home",
    "price": "avg",
    "stake": 1.0,
}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``cmd``; raises with its output if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


#: What the CLI's backtest path imports: through the shared worker's door it submits nothing
#: itself (``worker_door``), so neither the client nor the task system is loaded.
PATH_IMPORTS = (
    "import filterbets_nb.cli, filterbets_nb.worker_door, filterbets_nb.progress_text,"
    " filterbets_nb.worker, filterbets_nb.status"
)


def import_cost(env: dict[str, str]) -> tuple[float, list[str]]:
    """Seconds the backtest path's imports take in a fresh interpreter, and which of the heavy
    libraries they load (none of pandas, pyarrow, alembic is wanted)."""
    code = (
        "import sys, time; t = time.perf_counter(); "
        f"{PATH_IMPORTS}; "
        "print(time.perf_counter() - t); "
        "print(' '.join(m for m in ('pandas', 'pyarrow', 'alembic', 'numpy', 'sqlalchemy',"
        " 'celery', 'pydantic_settings') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    return float(out[0]), out[1].split()


def worker_start(env: dict[str, str], log: Path) -> float:
    """Seconds from starting the data dir's shared worker to its "ready." log line."""
    code = "from filterbets_nb.worker import ensure_shared_worker; ensure_shared_worker()"
    old = log.read_text(errors="replace") if log.exists() else ""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
    while time.perf_counter() - start < 120:
        text = log.read_text(errors="replace") if log.exists() else ""
        new = text[len(old) :] if text.startswith(old) else text  # the start may rotate it
        if " ready." in new:
            return time.perf_counter() - start
        time.sleep(0.02)
    raise TimeoutError(f"the shared worker did not get ready: {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "filterbets_nb.cli"]
    tmp = Path(tempfile.mkdtemp(prefix="filterbets-bench-cli-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILTERBETS_")}
    env["FILTERBETS_DATA_DIR"] = str(tmp / "data")
    env["FILTERBETS_WORKER_IDLE_TIMEOUT"] = "300"
    filter_file = tmp / "filter.json"
    filter_file.write_text(json.dumps(FILTER))
    backtest = [*cli, "backtest", str(filter_file), "--json"]
    stop = [*cli, "worker", "stop"]
    try:
        subprocess.run(
            [sys.executable, "-c", "import filterbets_nb as fb; fb.load_demo()"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        timed([*cli, "--help"], env)  # warm the OS file cache for every figure alike
        figures: dict[str, list[tuple[float, float]]] = {"help": [], "cold": [], "warm": []}
        for _ in range(args.repeat):
            figures["help"].append(timed([*cli, "--help"], env))
            timed(stop, env)
            figures["cold"].append(timed(backtest, env))
            figures["warm"].append(timed(backtest, env))
        wall = {name: statistics.median(w for w, _ in runs) for name, runs in figures.items()}
        cpu = {name: statistics.median(c for _, c in runs) for name, runs in figures.items()}
        rows = [
            ("filterbets-nb --help", "help"),
            ("backtest, cold (starts worker)", "cold"),
            ("backtest, warm (worker up)", "warm"),
        ]
        print(f"{'':32}{'wall':>8}{'CPU':>8}")
        for title, name in rows:
            print(f"{title:32}{wall[name]:7.2f}s{cpu[name]:7.2f}s")
        for name, target in (("warm", 2), ("cold", 4)):
            print(
                f"{name} / --help  wall {wall[name] / wall['help']:5.2f}x"
                f"  CPU {cpu[name] / cpu['help']:5.2f}x  (target <= {target}x)"
            )
        seconds, heavy = import_cost(env)
        print(f"backtest path imports: {seconds:.2f} s, loading {' '.join(heavy)}")
        timed(stop, env)
        starts = []
        for _ in range(args.repeat):
            starts.append(worker_start(env, tmp / "data" / "worker.log"))
            timed(stop, env)
        print(f"shared worker start to ready: {statistics.median(starts):.2f} s (median)")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        subprocess.run(stop, env=env, cwd=ROOT, capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
