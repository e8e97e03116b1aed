"""Loading demo matches into the embedded default, beside the floor of any Python loader.

Issue 10 asks for ``filterbets-nb demo --matches 1000000`` in well under a minute. Most of the
load is SQLite storing about 120 values per match (the match row and its features) through the
standard ``sqlite3`` driver, the only one that can share the import's transaction. This prints,
in one process:

- ``load_demo``: :func:`filterbets_nb.loading.load_demo` into a fresh data dir (generation in
  a helper process, upsert, features, commit), wall and this process's CPU;
- ``floor``: the same stored rows (read back from that database, untimed), written again with
  nothing but the driver's ``executemany`` of ready-made tuples into a fresh database with the
  same schema and pragmas, in one transaction with its commit (the log copied afterwards, as
  the load's is): what storing them costs whoever builds the rows;

and their ratio. Run: ``python benchmarks/load.py --matches 300000`` (``--keep`` leaves the
data dirs in place and prints them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

#: Rows read and written again per ``executemany`` (memory holds one batch of tuples).
BATCH = 50_000


def _use_data_dir(data_dir: Path) -> None:
    """Point the package's settings at the embedded default in ``data_dir``."""
    os.environ["FILTERBETS_DATA_DIR"] = str(data_dir)
    from filterbets_nb.config import get_settings

    get_settings.cache_clear()


def _load(data_dir: Path, matches: int, seed: int) -> tuple[float, float]:
    """``load_demo`` into ``data_dir``: (wall seconds, CPU seconds of this process)."""
    _use_data_dir(data_dir)
    from filterbets_nb.loading import load_demo

    cpu, wall = time.process_time(), time.perf_counter()
    report = load_demo(n_matches=matches, seed=seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"load_demo: {report}", file=sys.stderr)
    # Its log is copied into the file after it returns (db/checkpoint.py): not beside the floor.
    for thread in threading.enumerate():
        if thread.name == "filterbets-checkpoint":
            thread.join()
    return wall, cpu


def _floor(source: Path, target_dir: Path) -> tuple[float, float, int]:
    """Every row of ``matches`` and ``match_features`` of ``source`` written again into a
    fresh database under ``target_dir``: (seconds in ``executemany`` and commit, CPU seconds,
    rows)."""
    _use_data_dir(target_dir)
    from filterbets_nb.config import get_settings
    from filterbets_nb.db.migrate import ensure_schema
    from filterbets_nb.db.sqlite_connection import CONNECT_ARGS
    from filterbets_nb.db.wal_hold import sqlite_file

    ensure_schema()
    target = sqlite_file(get_settings().database)
    assert target is not None
    reader = sqlite3.connect(source)
    writer = sqlite3.connect(target, isolation_level=None, **CONNECT_ARGS)
    writer.execute("PRAGMA wal_autocheckpoint=0")  # as the load's commit: the copy comes later
    spent = cpu = 0.0
    rows = 0
    try:
        # Leagues and teams first (a few thousand rows, untimed): the matches refer to them.
        for table in ("leagues", "teams"):
            records = reader.execute(f"SELECT * FROM {table}").fetchall()
            marks = ", ".join("?" * len(records[0]))
            writer.executemany(f"INSERT INTO {table} VALUES ({marks})", records)
        writer.execute("BEGIN")
        for table in ("matches", "match_features"):
            key = "id" if table == "matches" else "match_id"
            every = [r[1] for r in reader.execute(f"PRAGMA table_info({table})")]
            # Only the columns with a value: the load leaves a column NULL in every row out
            # too (binding None goes through the driver's slow adapter path).
            counts = reader.execute(
                f"SELECT {', '.join(f'count({c})' for c in every)} FROM {table}"
            ).fetchone()
            columns = [c for c, n in zip(every, counts, strict=True) if n]
            names = ", ".join(columns)
            sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
            last = 0
            while True:
                batch = reader.execute(
                    f"SELECT {names} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT {BATCH}",
                    (last,),
                ).fetchall()
                if not batch:
                    break
                last = batch[-1][columns.index(key)]
                start_cpu, start = time.process_time(), time.perf_counter()
                writer.executemany(sql, batch)
                spent += time.perf_counter() - start
                cpu += time.process_time() - start_cpu
                rows += len(batch)
        start_cpu, start = time.process_time(), time.perf_counter()
        writer.execute("COMMIT")
        spent += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
    finally:
        writer.close()
        reader.close()
    return spent, cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fb-load-bench-"))
    try:
        load_wall, load_cpu = _load(root / "load", args.matches, args.seed)
        floor_wall, floor_cpu, rows = _floor(root / "load" / "filterbets.db", root / "floor")
        print(f"{args.matches:,} demo matches ({rows:,} match and feature rows)")
        print(f"  load_demo              {load_wall:7.1f} s wall  {load_cpu:7.1f} s CPU")
        print(f"  floor (executemany)    {floor_wall:7.1f} s wall  {floor_cpu:7.1f} s CPU")
        print(f"  load_demo / floor      {load_wall / floor_wall:7.2f}x")
        if args.keep:
            print(f"  data dirs: {root}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
