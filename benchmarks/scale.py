"""Benchmark how a backtest through the real chain grows with the matches stored.

Run ``python benchmarks/scale.py`` (Redis and PostgreSQL on loopback). For each size
(``--sizes``, default 100,000 and 1,000,000 matches), on PostgreSQL and on the embedded default
(SQLite + ``filesystem://``), it prints:

* cold: the first backtest on a freshly started worker (``fb.backtest(...).wait()``, submit to
  SUCCESS), and warm: the same filter again, then a filter reading two more columns, then that
  one again (the worker's snapshot is reused and only the new columns are read);
* rows/s loaded: the scope's rows over the seconds the evaluate link spent reading columns
  (from the worker's log);
* the worker pool process's peak RSS over all four jobs;
* the cold job and the load alone against a raw read of the same columns in this process: a
  binary ``COPY`` through asyncpg (PostgreSQL) or a ``SELECT`` through sqlite3 (SQLite);
* a second, freshly started worker on the same data dir: its first job maps the snapshot files
  the first worker wrote (rows/s mapped), then runs warm;
* on PostgreSQL, a third worker whose data dir holds no snapshot files (another machine): its
  first job fetches the columns the first worker stored in ``column_snapshots`` (rows/s
  fetched; ``benchmarks/pg_columns.py`` compares that fetch with a raw COPY in one process);

and then the 1 -> 2 worker-process sweep ratio of ``benchmarks/tasks.py`` (20 filters over 50k
matches). Targets (issue 10): warm 1M on PostgreSQL < 2 s, cold within 3x the raw COPY, worker
RSS < 1 GB, loading >= 1M rows/s, SQLite within 3x of PostgreSQL, sweep >= 1.8x.

Loading a million demo matches takes minutes; ``--pg-database SIZE=URL`` and
``--sqlite-dir SIZE=DIR`` reuse databases that already hold exactly SIZE demo matches (migrated
to head; their ``column_snapshots`` is emptied first, so the cold job reads the matches).
Everything else it makes (databases, data dirs, workers, its Redis index) it removes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import tasks as bench  # noqa: E402

# Submit to SUCCESS, one job at a time, in a fresh interpreter.
CHAIN_CLIENT = r"""
import json, sys, time
import filterbets_nb as fb
fb.connect(start_worker=False, quiet=True)
out = []
for flt in json.loads(sys.argv[1]):
    t0 = time.perf_counter()
    run = fb.backtest(flt).wait(timeout=1800, poll=0.02)
    out.append({"seconds": time.perf_counter() - t0, "bets": int(run.summary()["bets"])})
print(json.dumps(out))
"""

#: The filter timed cold and warm, and one that reads two more columns (draw price, a feature).
FILTER: dict[str, Any] = {
    "rules": [
        {"field": "home_odds", "op": "between", "value": [1.8, 2.2]},
        {"field": "home_form_pts_5", "op": ">=", "value": 10},
    ],
    "market": "home",
    "price": "avg",
}
WIDER: dict[str, Any] = {
    "rules": [*FILTER["rules"], {"field": "away_ga_avg", "op": ">=", "value": 1.2}],
    "market": "draw",
    "price": "avg",
}
_LOADED = re.compile(r"(\d+) matches: read \d+ columns .* in ([0-9.]+) s")
_MAPPED = re.compile(r"(\d+) matches: mapped \d+ columns from the snapshot files in ([0-9.]+) s")
_FETCHED = re.compile(r"(\d+) matches: fetched \d+ columns from the database's .* in ([0-9.]+) s")
WARM_TARGET_S = 2.0
COLD_TARGET = 3.0
RSS_TARGET_MB = 1024.0
RATE_TARGET = 1_000_000.0


def raw_columns_sql() -> str:
    """The columns FILTER reads (identity, result, its rules, its price and the closing prices
    its CLV needs), as a plain query of the tables: what a raw read of them would do."""
    from filterbets_nb.db.match_columns import LOADABLE
    from filterbets_nb.engine import needed_columns
    from filterbets_nb.filters import Filter
    from filterbets_nb.schema import FEATURE_COLUMNS

    renamed = {"match_id": "id", "league": "league_id"}
    renamed.update(home_team="home_team_id", away_team="away_team_id")
    columns = []
    for name in dict.fromkeys(["match_id", "kickoff", *needed_columns(Filter.from_dict(FILTER))]):
        if name in LOADABLE:
            table = "f" if name in FEATURE_COLUMNS else "t"
            columns.append(f"{table}.{renamed.get(name, name)}")
    return (
        f"SELECT {', '.join(columns)} FROM matches t "
        "LEFT JOIN match_features f ON f.match_id = t.id WHERE t.fthg IS NOT NULL"
    )


def raw_copy_seconds(database_url: str) -> float:
    """Binary COPY of FILTER's columns through asyncpg, the bytes thrown away."""
    import asyncpg

    async def main() -> float:
        url = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        conn = await asyncpg.connect(url)
        try:
            t0 = time.perf_counter()

            async def sink(chunk: bytes) -> None:
                return None

            await conn.copy_from_query(raw_columns_sql(), output=sink, format="binary")
            return time.perf_counter() - t0
        finally:
            await conn.close()

    return asyncio.run(main())


def clear_column_snapshots(database_url: str) -> None:
    """Empty ``column_snapshots``, so a cold job finds no columns an earlier run stored."""
    import asyncpg

    async def main() -> None:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute("DELETE FROM column_snapshots")
        finally:
            await conn.close()

    asyncio.run(main())


def raw_select_seconds(data_dir: Path) -> float:
    """FILTER's columns through sqlite3 ``fetchall``."""
    conn = sqlite3.connect(data_dir / "filterbets.db")
    try:
        t0 = time.perf_counter()
        conn.execute(raw_columns_sql()).fetchall()
        return time.perf_counter() - t0
    finally:
        conn.close()


def load_seconds(log: str) -> list[tuple[int, float]]:
    return [(int(n), float(s)) for n, s in _LOADED.findall(log)]


def prepare(env: dict[str, str], size: int, reused: bool) -> None:
    Path(env["FILTERBETS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    # A cold job finds no snapshot files of an earlier run, nor its worker logs.
    shutil.rmtree(Path(env["FILTERBETS_DATA_DIR"]) / "snapshots", ignore_errors=True)
    for log in Path(env["FILTERBETS_DATA_DIR"]).glob("worker-scale-*.log"):
        log.unlink()
    if reused:
        if env["FILTERBETS_DATABASE_URL"].startswith("postgresql"):
            clear_column_snapshots(env["FILTERBETS_DATABASE_URL"])
        return
    t0 = time.perf_counter()
    out = bench.run_client(env, bench.LOAD_CLIENT, str(size), "0", timeout=3600)
    print(
        f"  demo data: {out['added']:,} matches loaded in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )


def measure(mode: str, size: int, env: dict[str, str], raw: Any) -> dict[str, float]:
    """Cold and warm chains on a fresh one-process worker, then the raw read of the same data."""
    with bench.worker(env, f"scale-{mode}-{size}", concurrency=1) as run:
        jobs = bench.run_client(
            env, CHAIN_CLIENT, json.dumps([FILTER, FILTER, WIDER, WIDER]), timeout=3600
        )
        rss = run.pool_peak_rss_mb()
        loads = load_seconds(run.read_text())
    # A second, fresh worker on the same data dir: it maps the first one's snapshot files.
    with bench.worker(env, f"scale-{mode}-{size}-fresh", concurrency=1) as run:
        fresh = bench.run_client(env, CHAIN_CLIENT, json.dumps([FILTER, FILTER]), timeout=3600)
        fresh_rss = run.pool_peak_rss_mb()
        maps = _MAPPED.findall(run.read_text())
    other: list[dict[str, Any]] = []
    fetches: list[tuple[str, str]] = []
    if mode == "postgresql":
        # Another machine: no snapshot files, so the columns come from column_snapshots.
        shutil.rmtree(Path(env["FILTERBETS_DATA_DIR"]) / "snapshots", ignore_errors=True)
        with bench.worker(env, f"scale-{mode}-{size}-other", concurrency=1) as run:
            other = bench.run_client(env, CHAIN_CLIENT, json.dumps([FILTER]), timeout=3600)
            fetches = _FETCHED.findall(run.read_text())
    raws = [raw() for _ in range(3)]
    raw_s = statistics.median(raws)
    cold, warm, wider_cold, wider_warm = (job["seconds"] for job in jobs)
    assert jobs[0]["bets"] == jobs[1]["bets"] and jobs[2]["bets"] == jobs[3]["bets"], jobs
    rows, first_load = loads[0] if loads else (0, float("nan"))
    rate = rows / first_load if first_load else float("nan")
    mapped_rows, mapped_s = (int(maps[0][0]), float(maps[0][1])) if maps else (0, float("nan"))
    map_rate = mapped_rows / mapped_s if mapped_s else float("inf")
    rss = max(rss, fresh_rss)
    raw_name = "raw COPY" if mode == "postgresql" else "raw SELECT"
    print(
        f"  {mode:10s} {size:>9,} matches: cold {cold:6.2f} s, warm {warm:5.2f} s "
        f"(wider filter: {wider_cold:5.2f} s adding 2 columns, then {wider_warm:5.2f} s); "
        f"loaded {rows:,} rows at {rate:,.0f} rows/s; worker peak RSS {rss:,.0f} MB",
        flush=True,
    )
    print(
        f"  {mode:10s} {size:>9,} matches: a fresh worker on the same data dir: first job "
        f"{fresh[0]['seconds']:5.2f} s, then {fresh[1]['seconds']:5.2f} s; mapped "
        f"{mapped_rows:,} rows from the snapshot files in {mapped_s:.3f} s "
        f"({map_rate:,.0f} rows/s)",
        flush=True,
    )
    fetch_rate = float("nan")
    if other and fetches:
        fetched_rows, fetched_s = int(fetches[0][0]), float(fetches[0][1])
        fetch_rate = fetched_rows / fetched_s if fetched_s else float("inf")
        print(
            f"  {mode:10s} {size:>9,} matches: a worker on another data dir (machine): first "
            f"job {other[0]['seconds']:5.2f} s; fetched {fetched_rows:,} rows from "
            f"column_snapshots in {fetched_s:.3f} s ({fetch_rate:,.0f} rows/s)",
            flush=True,
        )
    print(
        f"  {mode:10s} {size:>9,} matches: {raw_name} of the same columns {raw_s:.2f} s "
        f"(median of 3): cold chain / raw {cold / raw_s:.2f}x, load alone / raw "
        f"{first_load / raw_s:.2f}x",
        flush=True,
    )
    assert fresh[0]["bets"] == jobs[0]["bets"], (fresh, jobs)
    return {
        "cold": cold,
        "warm": warm,
        "rss": rss,
        "rate": rate,
        "raw": raw_s,
        "fresh": fresh[0]["seconds"],
        "map_rate": map_rate,
        "fetch_rate": fetch_rate,
    }


def parse_reuse(values: list[str] | None) -> dict[int, str]:
    out: dict[int, str] = {}
    for value in values or []:
        size, _, where = value.partition("=")
        out[int(size)] = where
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--pg-database", action="append", help="SIZE=URL of a loaded database")
    parser.add_argument("--sqlite-dir", action="append", help="SIZE=DIR of a loaded data dir")
    parser.add_argument("--modes", nargs="+", default=["postgresql", "embedded"])
    parser.add_argument("--no-sweep", action="store_true", help="skip the 1 -> 2 worker sweep")
    args = parser.parse_args(argv)
    pg_reuse, sqlite_reuse = parse_reuse(args.pg_database), parse_reuse(args.sqlite_dir)

    signal.signal(signal.SIGTERM, bench._terminate)
    started = time.perf_counter()
    print(f"Redis {bench.REDIS_URL} (flushed before and after); {os.cpu_count()} CPU cores")
    results: dict[tuple[str, int], dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="filterbets-scale-") as tmp:
            for size in args.sizes:
                print(f"{size:,} matches", flush=True)
                if "postgresql" in args.modes:
                    bench.flush_redis()
                    reuse = pg_reuse.get(size)
                    data_dir = Path(tmp) / f"pg-{size}"
                    if reuse:
                        env = bench.redis_env(data_dir, reuse)
                        prepare(env, size, reused=True)
                        results["postgresql", size] = measure(
                            "postgresql", size, env, lambda u=reuse: raw_copy_seconds(u)
                        )
                    else:
                        with bench.scratch_database() as url:
                            env = bench.redis_env(data_dir, url)
                            prepare(env, size, reused=False)
                            results["postgresql", size] = measure(
                                "postgresql", size, env, lambda u=url: raw_copy_seconds(u)
                            )
                    bench.flush_redis()
                if "embedded" in args.modes:
                    where = sqlite_reuse.get(size)
                    data_dir = Path(where) if where else Path(tmp) / f"sqlite-{size}"
                    env = bench.embedded_env(data_dir)
                    prepare(env, size, reused=bool(where))
                    results["embedded", size] = measure(
                        "embedded", size, env, lambda d=data_dir: raw_select_seconds(d)
                    )
            summarise(results)
            if not args.no_sweep:
                bench.sweep_speedup(Path(tmp), 50_000, 20)
    finally:
        bench.stop_children()
        bench.flush_redis()
    print(f"total benchmark time: {time.perf_counter() - started:.0f} s")


def summarise(results: dict[tuple[str, int], dict[str, float]]) -> None:
    for (mode, size), r in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if size < 1_000_000:
            continue
        if mode == "postgresql":
            print(
                f"targets, {size:,} on PostgreSQL: warm {r['warm']:.2f} s < {WARM_TARGET_S} s: "
                f"{bench.verdict(r['warm'] < WARM_TARGET_S)}; cold {r['cold'] / r['raw']:.2f}x "
                f"raw COPY <= {COLD_TARGET}x: {bench.verdict(r['cold'] <= COLD_TARGET * r['raw'])};"
                f" RSS {r['rss']:.0f} MB < 1 GB: {bench.verdict(r['rss'] < RSS_TARGET_MB)}; "
                f"load {r['rate']:,.0f} rows/s from the matches, {r['fetch_rate']:,.0f} rows/s "
                f"from column_snapshots, {r['map_rate']:,.0f} rows/s from the snapshot files "
                f">= 1M: {bench.verdict(r['rate'] >= RATE_TARGET)} / "
                f"{bench.verdict(r['fetch_rate'] >= RATE_TARGET)} / "
                f"{bench.verdict(r['map_rate'] >= RATE_TARGET)}; a fresh worker's first job "
                f"{r['fresh']:.2f} s",
                flush=True,
            )
        pg = results.get(("postgresql", size))
        if mode == "embedded" and pg:
            for phase in ("cold", "warm"):
                ratio = r[phase] / pg[phase]
                print(
                    f"targets, {size:,} embedded / PostgreSQL, {phase}: {ratio:.2f}x "
                    f"(<= 3x: {bench.verdict(ratio <= 3)})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
