"""Vectorised backtest of one :class:`~filterbets_nb.filters.Filter` over a matches frame.

The engine is pure: frame in, :class:`BacktestResult` out, no database and no Celery. Long runs
report progress through a plain callback so a Celery task (or a notebook progress bar) can show it
without the engine knowing about either.

Per match, in this order (every step is a whole-array operation over a chunk of rows):

1. matches without a full-time result (NaN ``fthg``/``ftag``, e.g. future fixtures) cannot be
   settled and are not considered (counted in ``unsettled``);
2. the filter's rules select matches (``selected``);
3. a selected match whose price (``{price}_{market}``) is NaN or <= 1.0 is not bet
   (``skipped_no_odds``); for Asian handicap markets neither is one without a line (NaN, or not a
   whole number of quarter goals);
4. with Kelly staking, a zero stake (no edge, or NaN probability) is not bet (``skipped_no_edge``);
5. the rest are bets, settled from the goals (see :func:`settle_handicap`): a win pays
   ``stake * (odds - 1)``, a loss costs ``stake``, and on Asian handicap lines a push returns the
   stake and quarter lines settle each half of the stake on its own line.

Every bet also carries its fair closing probability ``p_fair_close`` (:func:`fair_close`) and its
closing-line value ``clv = odds * p_fair_close - 1``: the bet's expected profit per unit if the
margin-free closing price is the truth.

Bets come back in kick-off order, ties broken by ``match_id`` (stable). Nothing is rounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from filterbets_nb import prices, schema, stats
from filterbets_nb.filters import Filter, FilterError, evaluate
from filterbets_nb.formatting import Summary
from filterbets_nb.results import BacktestResults
from filterbets_nb.schema import IDENTITY_COLUMNS, MARKET_SETTLEMENT_COLUMNS, SETTLEMENT_COLUMNS

__all__ = [
    "BET_COLUMNS",
    "OUTCOMES",
    "BacktestResult",
    "Selection",
    "fair_close",
    "needed_columns",
    "run_backtest",
    "select_bets",
    "settle",
    "settle_handicap",
]

#: Columns of ``BacktestResult.bets()``, in order.
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
    "p_fair_close",
    "clv",
    "prob",
    "line",
    "stake",
    "outcome",
    "won",
    "profit",
    "cum_profit",
    "fthg",
    "ftag",
)

#: Settlement outcomes, indexed by ``code + 2`` where ``code`` (-2..2) is the sum of the signs
#: of the two half-stakes (a whole line settles both halves alike, so it is -2, 0 or 2).
OUTCOMES: Final[tuple[str, ...]] = ("loss", "half_loss", "push", "half_win", "win")
_OUTCOME_NAMES: Final = np.array(OUTCOMES, dtype=object)

_MATCH_COLUMNS = SETTLEMENT_COLUMNS

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Progress = Callable[[int, int], object]  # the return value is ignored


class BacktestResult(BacktestResults):
    """Outcome of :func:`run_backtest`: ``summary()`` and ``bets()`` like a task-system run.

    ``selected = len(bets()) + skipped_no_odds + skipped_no_edge``; ``matches_considered``
    counts the matches with a result (``unsettled`` the ones without). ``summary()`` is
    :func:`filterbets_nb.stats.compute_stats` of the bets.
    """

    def __init__(
        self,
        *,
        filter: Filter,
        bets: pd.DataFrame,
        summary: pd.Series,
        skipped_no_odds: int,
        skipped_no_edge: int,
        matches_considered: int,
        selected: int,
        unsettled: int,
    ) -> None:
        self.filter = filter
        self._bets = bets
        self._summary = summary
        self.skipped_no_odds = skipped_no_odds
        self.skipped_no_edge = skipped_no_edge
        self.matches_considered = matches_considered
        self.selected = selected
        self.unsettled = unsettled

    def __repr__(self) -> str:
        return f"BacktestResult({self.filter.describe()!r}, bets={len(self._bets)})"

    def summary(self) -> Summary:
        return Summary(self._summary)

    def bets(self) -> pd.DataFrame:
        return self._bets

    def _plot_title(self) -> str:
        return self.filter.describe()


def settle_handicap(
    margin: FloatArray, line: FloatArray, odds: FloatArray
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """Asian handicap settlement: (outcome codes, profit per unit staked), arrays.

    ``margin`` is the goal difference seen from the backed side and ``line`` its handicap. A
    quarter line (odd multiple of 0.25) splits the stake in two halves on ``line - 0.25`` and
    ``line + 0.25``; any other line settles both halves on ``line``. Each half with
    ``margin + its line`` > 0 wins ``(odds - 1) / 2``, = 0 pushes (0), < 0 loses ``1 / 2``. The
    code is the sum of the halves' signs, so a half-win is a half won and a half pushed.
    """
    quarter = np.mod(line * 4.0, 2.0) == 1.0
    low = margin + line - 0.25 * quarter
    high = margin + line + 0.25 * quarter

    def half(result: FloatArray) -> FloatArray:
        return np.where(result > 0, odds - 1.0, np.where(result < 0, -1.0, 0.0))

    code = (np.sign(low) + np.sign(high)).astype(np.int8)
    return code, 0.5 * (half(low) + half(high))


def settle(market: str, fthg: FloatArray, ftag: FloatArray) -> BoolArray:
    """Whether a bet on a win/lose ``market`` won, from full-time goals (arrays).

    Asian handicap markets need a line and can push: use :func:`settle_handicap`.
    """
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


def _backed_line(matches: pd.DataFrame, flt: Filter) -> FloatArray | None:
    """The backed side's handicap per row (the away side gets ``-AHh``); None off AH markets."""
    column = schema.line_column(flt.price, flt.market)
    if column is None:
        return None
    home_line = _float_column(matches, column, f"market {flt.market!r} @ {flt.price!r} line")
    return -home_line if flt.market == "ah_away" else home_line


def _settle_bets(
    market: str, fthg: FloatArray, ftag: FloatArray, line: FloatArray, odds: FloatArray
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """(outcome codes, profit per unit staked) of bets on ``market``."""
    if market in schema.AH_MARKETS:
        margin = fthg - ftag if market == "ah_home" else ftag - fthg
        return settle_handicap(margin, line, odds)
    won = settle(market, fthg, ftag)
    return np.where(won, 2, -2).astype(np.int8), np.where(won, odds - 1.0, -1.0)


def fair_close(
    matches: pd.DataFrame, rows: npt.NDArray[np.intp], flt: Filter
) -> tuple[FloatArray, FloatArray]:
    """(fair closing probability, same source's closing price) of the bets at ``rows``.

    The fair probability comes from the first :data:`schema.FAIR_CLOSE_SOURCES` source (Pinnacle
    closing, then the market average closing) whose closing prices cover every outcome of the
    market on that row, with the margin removed by ``flt.fair_method``. An Asian handicap bet has
    a closing price only when it was struck at the closing line: a price at another line is a
    different bet, so comparing it with the close would be meaningless (both stay NaN). Columns
    the frame lacks read as NaN: a frame without closing prices simply has no CLV.
    """

    def column(name: str) -> FloatArray:
        if name not in matches.columns:
            return np.full(len(rows), np.nan)
        return _float_column(matches, name, "closing prices")[rows]

    outcomes = schema.MARKET_OUTCOMES[flt.market]
    p_fair = np.full(len(rows), np.nan)
    for source in schema.FAIR_CLOSE_SOURCES:
        block = np.column_stack([column(schema.odds_column(source, m)) for m in outcomes])
        fair = prices.remove_margin(block, flt.fair_method)[:, outcomes.index(flt.market)]
        p_fair = np.where(np.isnan(p_fair), fair, p_fair)
    closing = column(flt.closing_column)
    bet_line = schema.line_column(flt.price, flt.market)
    close_line = schema.line_column(schema.closing_source(flt.price), flt.market)
    if bet_line is not None and close_line is not None and bet_line != close_line:
        at_close = column(bet_line) == column(close_line)  # False where either is NaN
        p_fair = np.where(at_close, p_fair, np.nan)
        closing = np.where(at_close, closing, np.nan)
    return p_fair, closing


@dataclass
class Selection:
    """The bets of a filter before they become a frame: arrays in input row order.

    ``rows`` are positions in the matches frame; ``odds``, ``stake``, ``won`` (the bet returned a
    profit: a win or a half-win), ``profit``, ``line`` (the backed side's handicap, NaN off the
    AH markets) and ``outcome`` (codes into :data:`OUTCOMES`) are aligned with them. This is the
    engine's hot path (rule evaluation, staking, settlement), kept separate so it can be timed
    and reused without building the bets frame.
    """

    rows: npt.NDArray[np.intp]
    odds: FloatArray
    stake: FloatArray
    won: BoolArray
    profit: FloatArray
    line: FloatArray
    outcome: npt.NDArray[np.int8]
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
    line_all = _backed_line(matches, flt)
    if line_all is not None:
        # A price without a usable line cannot be settled: count it like a missing price.
        with np.errstate(invalid="ignore"):
            usable = np.isfinite(line_all) & (np.mod(line_all * 4.0, 1.0) == 0.0)
        odds_all = np.where(usable, odds_all, np.nan)
    prob_all: FloatArray | None = None
    if flt.staking == "kelly":
        assert flt.prob_field is not None
        prob_all = _float_column(matches, flt.prob_field, "prob_field")
    fthg_all = matches["fthg"].to_numpy(dtype=np.float64, na_value=np.nan)
    ftag_all = matches["ftag"].to_numpy(dtype=np.float64, na_value=np.nan)
    has_result = ~(np.isnan(fthg_all) | np.isnan(ftag_all))

    total = len(matches)
    parts: list[tuple[npt.NDArray[np.intp], FloatArray, FloatArray]] = []
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
        parts.append((rows, odds, stake))
        if progress is not None:
            progress(stop, total)
    if total == 0 and progress is not None:
        progress(0, 0)

    rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.intp)
    odds = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    stake = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    # Settled once over all the chunks' bets (a few per cent of the rows), not per chunk.
    line = np.full(len(rows), np.nan) if line_all is None else line_all[rows]
    outcome, per_unit = _settle_bets(flt.market, fthg_all[rows], ftag_all[rows], line, odds)
    return Selection(
        rows=rows,
        odds=odds,
        stake=stake,
        won=outcome > 0,
        profit=stake * per_unit,
        line=line,
        outcome=outcome,
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
    p_fair, closing = fair_close(matches, rows, flt)
    if flt.staking == "kelly":
        assert flt.prob_field is not None
        prob = _float_column(matches, flt.prob_field, "prob_field")[rows]
    else:
        prob = np.full(len(rows), np.nan)
    odds = sel.odds[order]
    # One frame from whole columns: assigning a dozen columns one by one to a frame taken from
    # the matches cost pandas a copy and an index check each, most of a small backtest's time.
    columns: dict[str, Any] = {
        c: matches[c].iloc[rows].reset_index(drop=True) for c in _MATCH_COLUMNS
    }
    columns["kickoff"] = pd.to_datetime(columns["kickoff"])
    columns.update(
        market=flt.market,
        odds=odds,
        closing_odds=closing,
        p_fair_close=p_fair,
        clv=odds * p_fair - 1.0,
        prob=prob,
        line=sel.line[order],
        stake=sel.stake[order],
        outcome=_OUTCOME_NAMES[sel.outcome[order] + 2],
        won=sel.won[order].astype(bool),
        profit=profit,
        cum_profit=np.cumsum(profit),
    )
    return pd.DataFrame({c: columns[c] for c in BET_COLUMNS})


def needed_columns(flt: Filter) -> tuple[str, ...]:
    """The matches columns a backtest of ``flt`` reads: identity, what settles its market, its
    rules' columns, its price, line and the closing prices its CLV reads
    (:func:`schema.market_columns`), and its probability column (Kelly).

    A frame holding only these gives the same bets as the full one, so the data path loads
    only them instead of every price of every source.
    """
    wanted = [*IDENTITY_COLUMNS, *SETTLEMENT_COLUMNS, *MARKET_SETTLEMENT_COLUMNS[flt.market]]
    wanted += [flt.column_of(rule.field) for rule in flt.rules]
    wanted += schema.market_columns(flt.price, flt.market)
    if flt.prob_field is not None:
        wanted.append(flt.prob_field)
    return tuple(dict.fromkeys(wanted))
