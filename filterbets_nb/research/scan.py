"""The fixture scanner: which upcoming matches does a filter pick, at what price, on what record.

Fixtures are matches without a result. Their pre-match features are computed from the stored
history exactly as a backtest's are (:func:`filterbets_nb.features.with_features` over history
plus fixtures: only matches that kicked off earlier, and were played, count), so a fixture is
judged on what is known before its kick-off and nothing later.

Fixtures come from the database (stored matches with no full-time goals) or from a
football-data.co.uk file: ``fixtures.csv`` (no goal columns at all) or a league file whose future
rows have blank goals. Such a file is read by the package's importer (so every layout and price
column it knows works here too); only its unplayed rows are fixtures, its played rows are history
and belong in the database (``fb.import_csv``).
"""

from __future__ import annotations

import csv
import html
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from filterbets_nb.engine import run_backtest
from filterbets_nb.features import with_features
from filterbets_nb.filters import Filter
from filterbets_nb.importer import decode_text, parse_football_data
from filterbets_nb.schema import MATCH_COLUMNS, season_of

__all__ = ["ScanResult", "read_fixtures", "scan_fixtures"]

_GOALS: Final[tuple[tuple[str, ...], tuple[str, ...]]] = (("FTHG", "HG"), ("FTAG", "AG"))
_NEEDED: Final[tuple[str, ...]] = ("league", "kickoff", "home_team", "away_team")


def read_fixtures(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The unplayed rows of a football-data.co.uk file, in the matches' shape (goals NaN).

    Raises :class:`~filterbets_nb.importer.CsvFormatError` naming the file and line when a row
    is malformed, like an import does.
    """
    text, _ = decode_text(Path(path).read_bytes())
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValueError(f"{path}: the file is empty")
    header = list(rows[0])
    while header and not header[-1].strip():
        header.pop()
    width = len(header)
    names = [h.strip() for h in header]
    found = [next((names.index(c) for c in spellings if c in names), None) for spellings in _GOALS]
    if found == [None, None]:
        header += ["FTHG", "FTAG"]
        found = [width, width + 1]
    goal_at = [i for i in found if i is not None]
    if len(goal_at) != 2:
        raise ValueError(f"{path}: line 1 has only one of the two full-time goal columns")
    kept = [header]
    for row in rows[1:]:
        cells = (row + [""] * width)[: max(width, len(row))]
        if not any(cell.strip() for cell in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        if all(not cells[i].strip() for i in goal_at):
            for i in goal_at:
                cells[i] = "0"  # placeholder so the importer keeps the row; reset below
            kept.append(cells)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(kept)
    frame = parse_football_data(buffer.getvalue(), os.fspath(path)).frame
    for column in ("fthg", "ftag", "hthg", "htag"):
        frame[column] = np.nan
    return frame


def _as_fixtures(fixtures: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _NEEDED if c not in fixtures.columns]
    if missing:
        raise ValueError(f"fixtures lack columns {missing} (football-data layout, as imported)")
    out = fixtures.copy()
    out["kickoff"] = pd.to_datetime(out["kickoff"])
    if "season" not in out.columns:
        out["season"] = [season_of(t.year, t.month) for t in out["kickoff"]]
    for column in MATCH_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan
    return out[list(MATCH_COLUMNS)]


@dataclass
class ScanResult:
    """The fixtures ``filter`` selects (with their price) and its historical record."""

    filter: Filter
    selected: pd.DataFrame
    record: pd.Series
    n_fixtures: int
    no_history: int

    def _repr_html_(self) -> str:
        head = html.escape(
            f"{len(self.selected)} of {self.n_fixtures} fixtures selected by "
            f"{self.filter.describe()}; on history: {int(self.record['bets'])} bets, "
            f"ROI {float(self.record['roi']):.2%}"
        )
        return f"<div><b>Scan</b> {head}{self.selected.to_html(max_rows=30)}</div>"


def scan_fixtures(
    history: pd.DataFrame, flt: Filter, fixtures: pd.DataFrame | None = None
) -> ScanResult:
    """Select ``fixtures`` (default: the rows of ``history`` without a result) with ``flt``.

    ``history`` is the stored matches (with or without features); fixtures already in it (same
    league, kick-off and teams) are taken from it. ``no_history`` counts fixtures with a team
    that has no earlier match in its league (their features are NaN, so feature rules skip them).
    """
    base = history[list(MATCH_COLUMNS)].copy()
    base["kickoff"] = pd.to_datetime(base["kickoff"])
    unplayed = base["fthg"].isna() | base["ftag"].isna()
    if fixtures is None:
        combined = base
        ids = set(base.loc[unplayed, "match_id"])
    else:
        extra = _as_fixtures(fixtures).drop(columns="match_id")
        key = ["league", "kickoff", "home_team", "away_team"]
        known = extra.merge(base[[*key, "match_id"]], on=key, how="left")["match_id"]
        fresh = extra[known.isna().to_numpy()].copy()  # fixtures not stored yet
        start = int(base["match_id"].max()) + 1 if len(base) else 1
        fresh["match_id"] = np.arange(start, start + len(fresh))
        ids = set(known.dropna().astype("int64")) | set(fresh["match_id"])
        combined = pd.concat([base, fresh], ignore_index=True)
    combined = combined.sort_values(["kickoff", "match_id"], kind="stable", ignore_index=True)
    featured = with_features(combined)
    upcoming = featured[featured["match_id"].isin(ids)].reset_index(drop=True)
    price = upcoming[flt.odds_column].to_numpy(dtype=np.float64, na_value=np.nan)
    chosen = flt.mask(upcoming) & (price > 1.0)
    rule_columns = list(dict.fromkeys(flt.column_of(r.field) for r in flt.rules))
    shown = ["kickoff", "league", "season", "home_team", "away_team"]
    selected = upcoming.loc[chosen, shown + [c for c in rule_columns if c not in shown]]
    selected.insert(5, "market", flt.market)
    selected.insert(6, "odds", price[chosen])
    played = featured[~featured["match_id"].isin(ids) & featured["fthg"].notna()]
    record = run_backtest(played.reset_index(drop=True), flt).summary()
    no_history = int((upcoming["home_played"].isna() | upcoming["away_played"].isna()).sum())
    return ScanResult(flt, selected.reset_index(drop=True), record, len(upcoming), no_history)
