"""Vectorised backtest of one :class:`~filterbets_nb.filters.Filter` over a matches frame.

The engine is pure: frame in, :class:`BacktestResult` out, no database and no Celery. Long runs
report progress through a plain callback so a Celery task (or a notebook progress bar) can show it
without the engine knowing about either.

Per match, in this order (every step is a whole-array operation over a chunk of rows):

1. matches without a full-time result (NaN ``fthg``/``ftag``, e.g. future fixtures) cannot be
   settled and are not considered (counted in ``unsettled``);
2. the filter's rules select matches (``selected``);
3. a selected match whose price (``{price}_{market}``) is NaN or <= 1.0 is not bet
   (``skipped_no_odds``);
4. with Kelly staking, a zero stake (no edge, or NaN probability) is not bet (``skipped_no_edge``);
5. the rest are bets, settled from the goals: won -> ``stake * (odds - 1)``, lost -> ``-stake``.

Bets come back in kick-off order, ties broken by ``match_id`` (stable). Nothing is rounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from filterbets_nb import stats
from filterbets_nb.filters import Filter, FilterError, evaluate
from filterbets_nb.schema import IDENTITY_COLUMNS, MARKET_SETTLEMENT_COLUMNS, SETTLEMENT_COLUMNS

__all__ = [
    "BET_COLUMNS",
    "BacktestResult",
    "Selection",
    "needed_columns",
    "run_backtest",
    "select_bets",
    "settle",
]

#: Columns of ``BacktestResult.bets``, in order.
BET_COLUMNS: Final[tuple[str, ...]] = (
    "match_id",
    "kickoff",
    "league",
    "season",
    "home_team",
    "away_team",
    "market",
    "odds",
    "closing_odds",
    "prob",
    "stake",
    "won",
    "profit",
    "cum_profit",
    "fthg",
    "ftag",
)

_MATCH_COLUMNS = SETTLEMENT_COLUMNS

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Progress = Callable[[int, int], object]  # the return value is ignored


@dataclass
class BacktestResult:
    """Outcome of :func:`run_backtest`.

    ``selected = len(bets) + skipped_no_odds + skipped_no_edge``; ``matches_considered`` counts the
    matches with a result (``unsettled`` the ones without). ``summary`` is
    :func:`filterbets_nb.stats.compute_stats` of the bets.
    """

    filter: Filter
    bets: pd.DataFrame
    skipped_no_odds: int
    skipped_no_edge: int
    matches_considered: int
    selected: int
    unsettled: int
    summary: pd.Series

    def equity_curve(self) -> pd.DataFrame:
        return stats.equity_curve(self.bets)

    def monthly(self) -> pd.DataFrame:
        return stats.monthly_breakdown(self.bets)


def settle(market: str, fthg: FloatArray, ftag: FloatArray) -> BoolArray:
    """Whether a bet on ``market`` won, from full-time goals (arrays)."""
    match market:
        case "home":
            return fthg > ftag
        case "draw":
            return fthg == ftag
        case "away":
            return fthg < ftag
        case "over25":
            return fthg + ftag >= 3
        case "under25":
            return fthg + ftag <= 2
        case "btts_yes":
            return (fthg >= 1) & (ftag >= 1)
        case "btts_no":
            return ~((fthg >= 1) & (ftag >= 1))
    raise FilterError(f"cannot settle market {market!r}")


def _float_column(frame: pd.DataFrame, column: str, what: str) -> FloatArray:
    if column not in frame.columns:
        raise FilterError(f"{what}: column {column!r} is not in the matches frame")
    try:
        return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise FilterError(f"{what}: column {column!r} is not numeric") from None


@dataclass
class Selection:
    """The bets of a filter before they become a frame: arrays in input row order.

    ``rows`` are positions in the matches frame; ``odds``, ``stake``, ``won`` and ``profit`` are
    aligned with them. This is the engine's hot path (rule evaluation, staking, settlement), kept
    separate so it can be timed and reused without building the bets frame.
    """

    rows: npt.NDArray[np.intp]
    odds: FloatArray
    stake: FloatArray
    won: BoolArray
    profit: FloatArray
    selected: int
    skipped_no_odds: int
    skipped_no_edge: int
    matches_considered: int
    total: int


def select_bets(
    matches: pd.DataFrame,
    flt: Filter,
    *,
    progress: Progress | None = None,
    chunk_size: int = 100_000,
) -> Selection:
    """Evaluate, stake and settle ``flt`` over ``matches`` in chunks (see :func:`run_backtest`)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    missing = [c for c in _MATCH_COLUMNS if c not in matches.columns]
    if missing:
        raise ValueError(f"matches frame lacks columns {missing}")

    compiled = flt.compile(matches)
    odds_all = _float_column(matches, flt.odds_column, f"market {flt.market!r} @ {flt.price!r}")
    prob_all: FloatArray | None = None
    if flt.staking == "kelly":
        assert flt.prob_field is not None
        prob_all = _float_column(matches, flt.prob_field, "prob_field")
    fthg_all = matches["fthg"].to_numpy(dtype=np.float64, na_value=np.nan)
    ftag_all = matches["ftag"].to_numpy(dtype=np.float64, na_value=np.nan)
    has_result = ~(np.isnan(fthg_all) | np.isnan(ftag_all))

    total = len(matches)
    parts: list[tuple[npt.NDArray[np.intp], FloatArray, FloatArray, BoolArray]] = []
    skipped_no_odds = skipped_no_edge = selected = 0
    for start in range(0, total, chunk_size):
        stop = min(start + chunk_size, total)
        sel = evaluate(compiled, start, stop) & has_result[start:stop]
        rows = np.flatnonzero(sel) + start
        selected += len(rows)
        odds = odds_all[rows]
        priced = odds > 1.0  # False for NaN
        skipped_no_odds += int(len(rows) - np.count_nonzero(priced))
        rows, odds = rows[priced], odds[priced]
        if prob_all is None:
            stake = np.full(len(rows), flt.stake, dtype=np.float64)
        else:
            stake = _kelly_stakes(flt, prob_all[rows], odds)
            edge = stake > 0  # False for NaN probabilities
            skipped_no_edge += int(len(rows) - np.count_nonzero(edge))
            rows, odds, stake = rows[edge], odds[edge], stake[edge]
        won = settle(flt.market, fthg_all[rows], ftag_all[rows])
        parts.append((rows, odds, stake, won))
        if progress is not None:
            progress(stop, total)
    if total == 0 and progress is not None:
        progress(0, 0)

    rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.intp)
    odds = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    stake = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    won = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, dtype=bool)
    return Selection(
        rows=rows,
        odds=odds,
        stake=stake,
        won=won,
        profit=np.where(won, stake * (odds - 1.0), -stake),
        selected=selected,
        skipped_no_odds=skipped_no_odds,
        skipped_no_edge=skipped_no_edge,
        matches_considered=int(np.count_nonzero(has_result)),
        total=total,
    )


def run_backtest(
    matches: pd.DataFrame | pa.Table,
    flt: Filter,
    *,
    progress: Progress | None = None,
    chunk_size: int = 100_000,
) -> BacktestResult:
    """Backtest ``flt`` on ``matches`` (schema shape plus any feature columns its rules use).

    ``matches`` may also be a pyarrow Table (e.g. read from Parquet); it is converted once.

    ``progress(rows_done, total_rows)`` is called after each chunk of ``chunk_size`` rows, with
    strictly increasing ``rows_done`` ending at ``total_rows`` (an empty frame gives one
    ``(0, 0)`` call). Raises FilterError naming the rule when a column it needs is missing, and
    ValueError when the frame lacks identity/result columns.
    """
    if isinstance(matches, pa.Table):
        matches = matches.to_pandas()
    sel = select_bets(matches, flt, progress=progress, chunk_size=chunk_size)
    bets = _bets_frame(matches, flt, sel)
    summary = stats.compute_stats(
        bets,
        skipped_no_odds=sel.skipped_no_odds,
        skipped_no_edge=sel.skipped_no_edge,
        matches_considered=sel.matches_considered,
    )
    return BacktestResult(
        filter=flt,
        bets=bets,
        skipped_no_odds=sel.skipped_no_odds,
        skipped_no_edge=sel.skipped_no_edge,
        matches_considered=sel.matches_considered,
        selected=sel.selected,
        unsettled=sel.total - sel.matches_considered,
        summary=summary,
    )


def _kelly_stakes(flt: Filter, p: FloatArray, odds: FloatArray) -> FloatArray:
    """``stake * kelly_fraction * max(0, (p*o - 1) / (o - 1))``; NaN p gives NaN (no bet)."""
    bad = (p < 0) | (p > 1)
    if bad.any():
        raise FilterError(
            f"prob_field {flt.prob_field!r}: probabilities must be in [0, 1], got {p[bad][0]!r}"
        )
    assert flt.kelly_fraction is not None
    fstar = np.maximum((p * odds - 1.0) / (odds - 1.0), 0.0)  # NaN stays NaN
    return flt.stake * flt.kelly_fraction * fstar


def _bets_frame(matches: pd.DataFrame, flt: Filter, sel: Selection) -> pd.DataFrame:
    """The bets of ``sel`` as a frame in kick-off order (ties: match_id, then input order)."""
    kickoff = pd.to_datetime(matches["kickoff"]).to_numpy()[sel.rows]
    match_id = matches["match_id"].to_numpy()[sel.rows]
    order = np.lexsort((match_id, kickoff))  # lexsort is stable
    rows = sel.rows[order]
    profit = sel.profit[order]
    closing_col = flt.closing_column
    if closing_col in matches.columns:
        closing = _float_column(matches, closing_col, "closing odds")[rows]
    else:
        closing = np.full(len(rows), np.nan)
    if flt.staking == "kelly":
        assert flt.prob_field is not None
        prob = _float_column(matches, flt.prob_field, "prob_field")[rows]
    else:
        prob = np.full(len(rows), np.nan)
    base = matches[list(_MATCH_COLUMNS)].iloc[rows].reset_index(drop=True)
    base["kickoff"] = pd.to_datetime(base["kickoff"])
    out = base.assign(
        market=flt.market,
        odds=sel.odds[order],
        closing_odds=closing,
        prob=prob,
        stake=sel.stake[order],
        won=sel.won[order].astype(bool),
        profit=profit,
        cum_profit=np.cumsum(profit),
    )
    return out[list(BET_COLUMNS)]


def needed_columns(flt: Filter) -> tuple[str, ...]:
    """The matches columns a backtest of ``flt`` reads: identity, what settles its market, its
    rules' columns, its price and closing price, and its probability column (Kelly).

    A frame holding only these gives the same bets as the full one, so the data path loads
    only them instead of every price of every source.
    """
    wanted = [*IDENTITY_COLUMNS, *SETTLEMENT_COLUMNS, *MARKET_SETTLEMENT_COLUMNS[flt.market]]
    wanted += [flt.column_of(rule.field) for rule in flt.rules]
    wanted += [flt.odds_column, flt.closing_column]
    if flt.prob_field is not None:
        wanted.append(flt.prob_field)
    return tuple(dict.fromkeys(wanted))
