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
from filterbets_nb.importer import DroppedPrices, ImportedFile, read_football_data
from filterbets_nb.synthetic import generate_match_blocks
from filterbets_nb.teamstats import refresh_league


@dataclass(frozen=True)
class FileReport:
    """What the import did with one file."""

    file: str
    league: str
    seasons: tuple[str, ...]
    added: int
    updated: int
    unchanged: int
    fixtures: int
    dropped_prices: tuple[DroppedPrices, ...] = ()


#: Columns of :meth:`LoadReport.table`, one row per file.
REPORT_COLUMNS = (
    "file",
    "league",
    "seasons",
    "added",
    "updated",
    "unchanged",
    "prices_dropped",
    "fixtures",
)


@dataclass(frozen=True)
class LoadReport:
    """What a load did, per the natural key (league, date, home, away), and per file."""

    added: int
    updated: int
    unchanged: int
    leagues: list[str] = field(default_factory=list)
    skipped_rows: int = 0
    files: list[FileReport] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} skipped (unchanged)"
            f" in {', '.join(self.leagues) or 'no league'}"
        )

    def table(self) -> pd.DataFrame:
        """One row per file: league, seasons, rows added/updated/unchanged (fixtures included),
        rows whose prices were dropped, and fixtures (rows without a result: stored, never
        bet on, never in the features)."""
        rows = [
            (
                f.file,
                f.league,
                ", ".join(f.seasons),
                f.added,
                f.updated,
                f.unchanged,
                len(f.dropped_prices),
                f.fixtures,
            )
            for f in self.files
        ]
        return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))

    def dropped_prices(self) -> pd.DataFrame:
        """Every kept match whose prices were dropped: file, line, column, value and why."""
        rows = [
            (f.file, d.line, d.column, d.value, d.reason)
            for f in self.files
            for d in f.dropped_prices
        ]
        return pd.DataFrame(rows, columns=["file", "line", "column", "value", "reason"])


#: Rows the demo hands to one upsert: the upsert holds a few Python objects per cell, so a
#: million matches at once peak at gigabytes; blocks of this size keep it to tens of megabytes.
_DEMO_BLOCK_ROWS = 20_000


async def _store(
    session: AsyncSession, frames: Iterable[tuple[pd.DataFrame, str]]
) -> tuple[LoadReport, list[store.UpsertCounts]]:
    await store.lock_for_import(session)
    counts = store.UpsertCounts()
    per_frame: list[store.UpsertCounts] = []
    leagues: set[str] = set()
    changed: set[str] = set()
    for frame, source in frames:
        done = await store.upsert_matches(session, frame, source)
        per_frame.append(done)
        counts += done
        codes = set(frame["league"].astype(str).unique())
        leagues |= codes
        if done.added or done.updated:
            changed |= codes
    # Features depend only on the stored matches: a league whose rows all came back unchanged
    # keeps them (unless some are missing), which makes a re-import cheap.
    if leagues:
        changed |= set(await store.matches_missing_features(session, sorted(leagues)))
    for league in sorted(changed):
        await refresh_league(session, league)
    return LoadReport(counts.added, counts.updated, counts.unchanged, sorted(leagues)), per_frame


def import_files(parsed: Sequence[ImportedFile]) -> LoadReport:
    """Store already parsed files in one transaction and recompute their leagues' features."""
    ensure_schema()
    # Played matches and fixtures are upserted apart: their goal columns differ in type.
    report, per_frame = run_async(
        lambda s: _store(
            s,
            [
                (frame, os.path.basename(str(p.path)))
                for p in parsed
                for frame in (p.frame, p.fixtures)
            ],
        )
    )
    per_file = [per_frame[2 * i] + per_frame[2 * i + 1] for i in range(len(parsed))]
    files = [
        FileReport(
            file=os.path.basename(str(p.path)),
            league=", ".join(sorted(set(p.frame["league"].astype(str)))),
            seasons=p.seasons,
            added=c.added,
            updated=c.updated,
            unchanged=c.unchanged,
            fixtures=p.rows_skipped_unplayed,
            dropped_prices=p.dropped_prices,
        )
        for p, c in zip(parsed, per_file, strict=True)
    ]
    skipped = sum(p.rows_skipped for p in parsed)
    return LoadReport(
        report.added, report.updated, report.unchanged, report.leagues, skipped, files
    )


def import_csv(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, strict: bool = False
) -> LoadReport:
    """Import football-data.co.uk files in one transaction.

    Any file with a malformed date, team or result rejects the whole import (nothing is
    written); a row with a stray price cell is kept without prices and listed in
    :meth:`LoadReport.dropped_prices`, unless ``strict``, which rejects that too.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    parsed = [read_football_data(path, strict=strict) for path in paths]  # raises before writing
    return import_files(parsed)


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

    report, _ = run_async(lambda s: _store(s, blocks()))
    return report
