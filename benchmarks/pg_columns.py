"""Loading a scope's columns from PostgreSQL: raw binary COPY vs the column snapshot table.

In one process, over an existing migrated database (``--pg-database URL``, an async SQLAlchemy
URL; the 1M-match one is built as ``benchmarks/grow_tenfold.sql`` says), for the columns
``benchmarks/scale.py``'s filter needs over every match:

- a raw binary ``COPY`` of those columns through asyncpg, the bytes thrown away (the floor of
  any read of the matches: what a worker on a machine without snapshot files paid);
- the worker's own read of them (:func:`load_columns`, the same COPY cut into numpy);
- writing them to ``column_snapshots`` (what the worker that read them does once per version);
- fetching them back from ``column_snapshots`` into a frame (what every other machine does).

The worker's reads run in one open session, as in a job; the raw COPY connects first (~10 ms).

Each read is the median of ``--repeat`` runs; rows/s and the ratio to the raw COPY are printed
side by side. The frame fetched is checked equal to the frame read. Target (issue 10): loading
from PostgreSQL >= 1M rows/s for the columns a filter needs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scale import FILTER, RATE_TARGET, raw_copy_seconds  # noqa: E402


def timed_sync(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls of ``fn``, and its last result."""
    seconds, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), result


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` awaits of ``fn()``, and its last result."""
    seconds, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = await fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), result


def main(argv: list[str] | None = None) -> None:
    import pandas as pd
    from sqlalchemy import delete, func, select

    from filterbets_nb.db import match_columns
    from filterbets_nb.db.models import column_snapshots_table
    from filterbets_nb.db.session import run_async
    from filterbets_nb.engine import needed_columns
    from filterbets_nb.filters import Filter
    from filterbets_nb.tasks import db_snapshots

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-database", required=True, help="async SQLAlchemy URL, migrated")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    url: str = args.pg_database
    columns = needed_columns(Filter.from_dict(FILTER))
    scope = db_snapshots.scope_digest(None, None)
    t = column_snapshots_table

    raw_s, _ = timed_sync(lambda: raw_copy_seconds(url), args.repeat)

    async def measure(session: Any) -> dict[str, Any]:
        """Both reads in one open session, as a worker's job does them."""
        state = await match_columns.scope_state(session, None, None)
        copy_s, frame = await timed(
            lambda: match_columns.load_columns(session, columns, None, None, state), args.repeat
        )
        await session.execute(delete(t).where(t.c.scope == scope))
        await session.commit()
        t0 = time.perf_counter()
        await db_snapshots.write(session, scope, state.version, frame)
        write_s = time.perf_counter() - t0
        size = select(func.sum(func.octet_length(t.c.payload))).where(t.c.scope == scope)
        stored_mb = (await session.scalar(size) or 0) / 2**20
        fetch_s, fetched = await timed(
            lambda: db_snapshots.read(session, scope, state.version, list(frame.columns)),
            args.repeat,
        )
        await session.execute(delete(t).where(t.c.scope == scope))
        return {
            "copy_s": copy_s,
            "frame": frame,
            "write_s": write_s,
            "stored_mb": stored_mb,
            "fetch_s": fetch_s,
            "fetched": fetched,
        }

    m = run_async(measure, url)
    frame, fetched, fetch_s = m["frame"], m["fetched"], m["fetch_s"]
    assert fetched is not None, "nothing fetched from column_snapshots"
    pd.testing.assert_frame_equal(fetched[list(frame.columns)], frame)
    rows = len(frame)
    print(f"{rows:,} matches, {len(frame.columns)} columns {list(frame.columns)}")
    for name, seconds in (
        ("raw binary COPY, bytes thrown away", raw_s),
        ("load_columns (COPY into numpy)", m["copy_s"]),
        ("column_snapshots fetch into a frame", fetch_s),
    ):
        print(
            f"  {name:38s} {seconds:6.3f} s  {rows / seconds:>12,.0f} rows/s  "
            f"{seconds / raw_s:5.2f}x raw COPY"
        )
    print(
        f"  column_snapshots write (once a version) {m['write_s']:6.3f} s, "
        f"{m['stored_mb']:.0f} MB stored"
    )
    rate = rows / fetch_s
    ok = "OK" if rate >= RATE_TARGET else "MISSED"
    print(
        f"target: loading >= {RATE_TARGET:,.0f} rows/s: {rate:,.0f} rows/s: {ok}; "
        f"raw COPY / fetch {raw_s / fetch_s:.1f}x"
    )


if __name__ == "__main__":
    main()
