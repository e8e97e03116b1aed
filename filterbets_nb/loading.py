"""Getting matches into the database: football-data.co.uk CSV files, or the synthetic demo set.

Both paths parse everything first and then write in one transaction, so a malformed file leaves
the database exactly as it was, and then recompute the touched leagues' pre-match features.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db import store
from filterbets_nb.db.migrate import ensure_schema
from filterbets_nb.db.session import run_async
from filterbets_nb.importer import read_football_data
from filterbets_nb.synthetic import generate_match_blocks
from filterbets_nb.teamstats import refresh_league


@dataclass(frozen=True)
class LoadReport:
    """What a load did, per the natural key (league, date, home, away)."""

    added: int
    updated: int
    unchanged: int
    leagues: list[str] = field(default_factory=list)
    skipped_rows: int = 0

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} skipped (unchanged)"
            f" in {', '.join(self.leagues) or 'no league'}"
        )


#: Rows the demo hands to one upsert: the upsert holds a few Python objects per cell, so a
#: million matches at once peak at gigabytes; blocks of this size keep it to tens of megabytes.
_DEMO_BLOCK_ROWS = 20_000


async def _store(session: AsyncSession, frames: Iterable[tuple[pd.DataFrame, str]]) -> LoadReport:
    counts = store.UpsertCounts()
    leagues: set[str] = set()
    for frame, source in frames:
        counts += await store.upsert_matches(session, frame, source)
        leagues.update(frame["league"].astype(str).unique())
    for league in sorted(leagues):
        await refresh_league(session, league)
    return LoadReport(counts.added, counts.updated, counts.unchanged, sorted(leagues))


def import_csv(paths: Sequence[str | os.PathLike[str]]) -> LoadReport:
    """Import football-data.co.uk files; any malformed file rejects the whole import."""
    parsed = [read_football_data(path) for path in paths]  # raises before anything is written
    ensure_schema()
    report = run_async(
        lambda s: _store(s, [(p.frame, os.path.basename(str(p.path))) for p in parsed])
    )
    skipped = sum(p.rows_skipped for p in parsed)
    return LoadReport(report.added, report.updated, report.unchanged, report.leagues, skipped)


def load_demo(*, n_matches: int | None = None, seed: int = 0) -> LoadReport:
    """Generate the seeded synthetic leagues and store them (idempotent for the same seed).

    The matches are generated and written a block at a time, so a million of them never sit
    in memory at once.
    """
    ensure_schema()
    source = f"synthetic:{seed}"

    def blocks() -> Iterator[tuple[pd.DataFrame, str]]:
        for block in generate_match_blocks(n_matches=n_matches, seed=seed):
            rows = block.drop(columns="match_id")
            for start in range(0, len(rows), _DEMO_BLOCK_ROWS):
                yield rows.iloc[start : start + _DEMO_BLOCK_ROWS], source

    return run_async(lambda s: _store(s, blocks()))
