"""Getting matches into the database: football-data.co.uk CSV files, or the synthetic demo set.

Both paths parse everything first and then write in one transaction, so a malformed file leaves
the database exactly as it was, and then recompute the touched leagues' pre-match features.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.config import get_settings
from filterbets_nb.db import store
from filterbets_nb.db.checkpoint import checkpoint_after, skip_autocheckpoint
from filterbets_nb.db.fresh_results import FreshResults
from filterbets_nb.db.migrate import ensure_schema
from filterbets_nb.db.session import run_async
from filterbets_nb.helper_process import HelperItems, can_help
from filterbets_nb.importer import DroppedPrices, ImportedFile, read_football_data
from filterbets_nb.synthetic import generate_match_blocks
from filterbets_nb.teamstats import refresh_leagues


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


#: Most leagues a load's one-line report names; a larger load (``demo --matches 1000000``
#: makes 878) is counted, with its first and last codes.
NAMED_LEAGUES = 8


def _leagues_text(leagues: list[str]) -> str:
    if not leagues:
        return "no league"
    if len(leagues) <= NAMED_LEAGUES:
        return ", ".join(leagues)
    # In natural order, so the ends read SYN1 ... SYN878, not SYN1, SYN10 ... SYN99.
    ordered = sorted(
        leagues,
        key=lambda code: [
            (0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.findall(r"\d+|\D+", code)
        ],
    )
    return f"{len(leagues)} leagues ({', '.join(ordered[:3])}, ..., {ordered[-1]})"


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
            f" in {_leagues_text(self.leagues)}"
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


#: ``progress(stage, done, total, description)``: what :func:`import_files` reports as it goes
#: (stage ``"store"``: rows written; ``"features"``: leagues whose features are recomputed).
Progress = Callable[[str, int, int, str], None]


class PushProgress:
    """Push-style progress for the package's :class:`.notebook.ProgressBar` (widget in Jupyter,
    one text line elsewhere), for work done in this process (a fetch, an import, the demo).

    ``stages`` are the steps in order: the status carries the step's index so the bar draws the
    whole run's percent, each step an equal share. ``on_status`` gets the status once per step
    and count (the daily refresh task publishes it as its task meta).
    """

    def __init__(
        self,
        description: str,
        stages: Sequence[str],
        total: int,
        show: bool,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.stages = tuple(stages)
        self.status: dict[str, Any] = {}
        self.on_status = on_status
        self._step: tuple[str, int] | None = None
        self.set(self.stages[0], 0, total, "starting")
        self.bar: Any = None
        if show:
            from filterbets_nb.notebook import ProgressBar

            self.bar = ProgressBar(lambda: self.status, description=description)
            self.bar.display()

    def set(self, stage: str, done: int, total: int, description: str) -> None:
        percent = 100.0 if total <= 0 else round(100.0 * min(done, total) / total, 2)
        index = self.stages.index(stage) + 1 if stage in self.stages else 0
        self.status = {
            "state": "PROGRESS",
            "error": None,
            "progress": {
                "current": done,
                "total": total,
                "percent": percent,
                "stage": stage,
                "stage_index": index,
                "stages": len(self.stages) if index else 0,
                "description": description,
            },
        }
        if self.on_status is not None and (stage, done) != self._step:
            self._step = (stage, done)
            self.on_status(self.status)

    def end(self, error: str | None = None) -> None:
        self.status = {
            **self.status,
            "state": "FAILURE" if error else "SUCCESS",
            "error": error,
        }
        if self.on_status is not None:
            self.on_status(self.status)
        if self.bar is not None:
            self.bar.update(self.status)
            self.bar.close()


#: Rows handed to one upsert: the upsert is a handful of statements whatever its size, and
#: its frames (about 1 kB a row) stay near fifty megabytes.
_BLOCK_ROWS = 50_000


def _batches(
    frames: Iterable[tuple[pd.DataFrame, str]],
) -> Iterator[list[tuple[pd.DataFrame, str]]]:
    """Consecutive frames gathered into lists of about :data:`_BLOCK_ROWS` rows."""
    batch: list[tuple[pd.DataFrame, str]] = []
    rows = 0
    for frame, source in frames:
        if batch and rows + len(frame) > _BLOCK_ROWS:
            yield batch
            batch, rows = [], 0
        batch.append((frame, source))
        rows += len(frame)
    if batch:
        yield batch


async def _store(
    session: AsyncSession,
    frames: Iterable[tuple[pd.DataFrame, str]],
    progress: Progress | None = None,
    total: int = 0,
) -> tuple[LoadReport, list[store.UpsertCounts]]:
    """Upsert ``frames`` (``total`` rows, 0 when not known) and recompute the features of the
    leagues that changed, reporting rows stored and leagues done to ``progress``."""
    report = progress or (lambda stage, done, total, description: None)
    await skip_autocheckpoint(session)  # store_frames copies the log once this commits
    await store.lock_for_import(session)
    counts = store.UpsertCounts()
    per_frame: list[store.UpsertCounts] = []
    leagues: set[str] = set()
    changed: set[str] = set()
    stored = 0
    fresh = FreshResults()
    report("store", 0, total, "writing matches")
    for batch in _batches(frames):
        done = await store.upsert_match_frames(session, batch, fresh)
        per_frame += done
        for (frame, _), part in zip(batch, done, strict=True):
            counts += part
            stored += len(frame)
            codes = set(frame["league"].astype(str).unique())
            leagues |= codes
            if part.added or part.updated:
                changed |= codes
        report("store", stored, max(total, stored), f"{stored:,} matches written")
    # Features depend only on the stored matches: a league whose rows all came back unchanged
    # keeps them (unless some are missing), which makes a re-import cheap.
    if leagues - changed:
        changed |= set(await store.matches_missing_features(session, sorted(leagues - changed)))
    todo = sorted(changed)
    report("features", 0, len(todo), "features")
    await refresh_leagues(
        session,
        todo,
        lambda done, league: report("features", done, len(todo), f"features up to {league}"),
        fresh=fresh,
    )
    report("features", len(todo), len(todo), f"features of {len(todo)} league(s)")
    return LoadReport(counts.added, counts.updated, counts.unchanged, sorted(leagues)), per_frame


def store_frames(
    frames: Iterable[tuple[pd.DataFrame, str]], progress: Progress | None = None, total: int = 0
) -> tuple[LoadReport, list[store.UpsertCounts]]:
    """:func:`_store` in a transaction of its own: the one way a load runs. Its connection skips
    SQLite's checkpoint, so the log is copied into the file here, in the background once the
    load has committed (:mod:`.db.checkpoint`)."""
    with checkpoint_after(get_settings().database):
        return run_async(lambda s: _store(s, frames, progress, total))


def import_files(parsed: Sequence[ImportedFile], *, progress: Progress | None = None) -> LoadReport:
    """Store already parsed files in one transaction and recompute their leagues' features;
    ``progress`` hears of rows stored and leagues refreshed."""
    ensure_schema()
    # Played matches and fixtures are upserted apart: their goal columns differ in type.
    report, per_frame = store_frames(
        [(frame, os.path.basename(str(p.path))) for p in parsed for frame in (p.frame, p.fixtures)],
        progress,
        sum(len(p.frame) + len(p.fixtures) for p in parsed),
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
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    strict: bool = False,
    progress: bool = True,
) -> LoadReport:
    """Import football-data.co.uk files in one transaction.

    Any file with a malformed date, team or result rejects the whole import (nothing is
    written); a row with a stray price cell is kept without prices and listed in
    :meth:`LoadReport.dropped_prices`, unless ``strict``, which rejects that too.
    ``progress`` shows the package's progress bar (files read, matches written, leagues whose
    features are recomputed).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    bar = PushProgress("import", _IMPORT_STAGES, len(paths), progress)
    try:
        parsed = []
        for n, path in enumerate(paths):  # everything is parsed before anything is written
            bar.set("read", n, len(paths), f"reading {os.path.basename(path)}")
            parsed.append(read_football_data(path, strict=strict))
        report = import_files(parsed, progress=bar.set)
    except BaseException as exc:
        bar.end(f"{type(exc).__name__}: {exc}")
        raise
    bar.end()
    return report


#: The steps of an import, as its progress bar counts them.
_IMPORT_STAGES = ("read", "store", "features")


def load_demo(*, n_matches: int | None = None, seed: int = 0, progress: bool = False) -> LoadReport:
    """Generate the seeded synthetic leagues and store them (idempotent for the same seed).

    The matches are generated and written a block at a time, so a million of them never sit
    in memory at once; with more than one block and a core to spare, a helper process
    generates the next block while this one stores the last (:mod:`.helper_process`).
    ``progress`` shows the package's progress bar.
    """
    source = f"synthetic:{seed}"
    made: Iterable[pd.DataFrame]
    with ExitStack() as stack:
        if n_matches is not None and n_matches > _BLOCK_ROWS and can_help():
            # The helper makes every block but the first, which is made here meanwhile: this
            # process would otherwise wait out the helper's imports and first block (~3 s).
            rest = stack.enter_context(
                HelperItems(generate_match_blocks, n_matches=n_matches, seed=seed, first_block=1)
            )
            first = itertools.islice(generate_match_blocks(n_matches=n_matches, seed=seed), 1)
            made = itertools.chain(first, rest)
        else:
            made = generate_match_blocks(n_matches=n_matches, seed=seed)
        ensure_schema()

        def blocks() -> Iterator[tuple[pd.DataFrame, str]]:
            for block in made:
                rows = block.drop(columns="match_id")
                for start in range(0, len(rows), _BLOCK_ROWS):
                    yield rows.iloc[start : start + _BLOCK_ROWS], source

        bar = PushProgress("demo", ("store", "features"), n_matches or 0, progress)
        try:
            report, _ = store_frames(blocks(), bar.set, n_matches or 0)
        except BaseException as exc:
            bar.end(f"{type(exc).__name__}: {exc}")
            raise
        bar.end()
        return report
