"""Performance statistics of a list of settled bets, backtesting.py style.

:func:`compute_stats` returns a ``pd.Series`` of named figures (keys: :data:`SUMMARY_KEYS`); it is
what notebooks display, what the database stores (through :func:`to_jsonable`) and what the CLI
prints. The input is a bets frame as produced by :func:`filterbets_nb.engine.run_backtest`
(columns ``odds``, ``stake``, ``won``, ``profit``; optional ``kickoff``, ``outcome``,
``closing_odds`` and ``p_fair_close``), in its row order, which the engine makes chronological.

Definitions (n = number of bets; every ratio is NaN when its denominator is 0, never an error):

* ``wins``, ``half_wins``, ``pushes``, ``half_losses``, ``losses`` count the bets by ``outcome``
  (Asian handicap quarter lines settle half the stake on each of two lines, so a half-win is half
  the stake won and half pushed); without an ``outcome`` column a bet is a win or a loss by
  ``won``.
* Decided stakes: the pushed part of a stake decided nothing, so hit rate, its interval and the
  streaks count only the decided part. A win is 1 decided unit won, a half-win 1/2 unit won, a
  half-loss 1/2 unit lost, a loss 1 unit lost, a push nothing. ``hit_rate`` = units won / units
  decided, with a 95% Wilson interval ``hit_rate_ci_low``/``hit_rate_ci_high`` on those (the
  interval's n is the decided units, which is the bet count for win/lose markets).
* ``longest_win_streak``/``longest_losing_streak``: longest runs, in row order, of bets that
  returned a profit (win, half-win) / a loss (loss, half-loss); pushes neither extend nor break
  a run.
* ``staked`` = sum of stakes, ``profit`` = sum of profits, ``roi`` = profit / staked (yield).
* ``avg_odds``/``min_odds``/``median_odds``/``max_odds``: unweighted, over bets.
* ``implied_prob`` = mean of 1/odds (the bookmaker's view at the price taken, margin included).
* The significance test compares the units won with what a null probability ``q`` per bet
  expects: ``expected_wins`` = sum of ``q``, ``z_score`` = (units won - expected_wins) /
  sqrt(sum q(1-q)) (the normal approximation of the Poisson-binomial count), ``p_value`` two-sided
  ``erfc(|z| / sqrt 2)``, over the bets the null covers with their decided part. ``p_value_null``
  names the null: ``"fair_close"`` (the default) takes ``q = p_fair_close``, the margin-free
  closing probability, over the bets that have one; ``"implied"`` takes ``q = 1/odds``, margin
  included, which biases the test towards "worse than expected" and is kept only by name. For
  Asian handicap ``q`` is the two-way probability of the side, i.e. of winning a decided stake,
  which is an approximation on quarter lines.
* ``max_drawdown``: largest peak-to-trough fall of cumulative profit, the curve starting at 0
  before the first bet (>= 0, in stake units).
* ``max_drawdown_pct``: the same fall as a percent of the peak *bankroll*, where bankroll =
  ``starting_bank`` + cumulative profit. ``starting_bank`` defaults to 100 x the mean stake (the
  "100-unit bank" convention, independent of the unit size) and is reported in the summary.
* Closing-line value, over the ``clv_bets`` bets with a fair closing probability:
  ``clv_mean`` = mean of ``odds * p_fair_close - 1`` (the bet's expected profit per unit if the
  margin-free close is the truth); ``expected_value`` = the stake-weighted mean of the same; and
  ``clv_beat_share`` = share of the bets with a closing price of the bet's own source
  (``closing_odds``) whose price beat it (``odds > closing_odds``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "SUMMARY_KEYS",
    "compute_stats",
    "equity_curve",
    "from_jsonable",
    "monthly_breakdown",
    "to_jsonable",
]

SUMMARY_KEYS: Final[tuple[str, ...]] = (
    "bets",
    "wins",
    "half_wins",
    "pushes",
    "half_losses",
    "losses",
    "hit_rate",
    "hit_rate_ci_low",
    "hit_rate_ci_high",
    "staked",
    "profit",
    "roi",
    "avg_odds",
    "min_odds",
    "median_odds",
    "max_odds",
    "implied_prob",
    "expected_wins",
    "z_score",
    "p_value",
    "p_value_null",
    "longest_win_streak",
    "longest_losing_streak",
    "starting_bank",
    "max_drawdown",
    "max_drawdown_pct",
    "expected_value",
    "clv_mean",
    "clv_beat_share",
    "clv_bets",
    "skipped_no_odds",
    "skipped_no_edge",
    "matches_considered",
    "first_bet",
    "last_bet",
)

#: The nulls of the significance test (see the module docstring); the first is the default.
P_VALUE_NULLS: Final[tuple[str, ...]] = ("fair_close", "implied")
#: Bet outcomes, worst first, and the decided units each one won and lost.
_OUTCOME_UNITS: Final[dict[str, tuple[float, float]]] = {
    "loss": (0.0, 1.0),
    "half_loss": (0.0, 0.5),
    "push": (0.0, 0.0),
    "half_win": (0.5, 0.0),
    "win": (1.0, 0.0),
}
_TIMESTAMP_KEYS: Final[frozenset[str]] = frozenset({"first_bet", "last_bet"})
_Z95: Final[float] = 1.959963984540054  # two-sided 95% normal quantile
NAN: Final[float] = float("nan")

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


#: The metrics a one-row-per-run table or a short summary shows first (jobs, compare, sweeps).
HEADLINE_METRICS: Final[tuple[str, ...]] = (
    "bets",
    "wins",
    "hit_rate",
    "staked",
    "profit",
    "roi",
    "avg_odds",
    "max_drawdown",
    "longest_losing_streak",
    "p_value",
)


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 else NAN


def wilson_interval(wins: float, n: float, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (NaN, NaN for n = 0).

    ``wins`` and ``n`` may be fractional (decided stake units, see the module docstring).
    """
    if n == 0:
        return NAN, NAN
    p = wins / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def longest_streaks(won: BoolArray) -> tuple[int, int]:
    """(longest run of True, longest run of False) in ``won``."""
    if len(won) == 0:
        return 0, 0
    change = np.flatnonzero(won[1:] != won[:-1]) + 1
    starts = np.r_[0, change]
    lengths = np.diff(np.r_[starts, len(won)])
    values = won[starts]
    win = int(lengths[values].max()) if values.any() else 0
    lose = int(lengths[~values].max()) if (~values).any() else 0
    return win, lose


def _drawdown(profit: FloatArray, bank: float) -> tuple[float, float]:
    """(max drawdown in units, max drawdown as % of the peak bankroll)."""
    curve = np.r_[0.0, np.cumsum(profit)]
    dd = np.maximum.accumulate(curve) - curve
    abs_dd = float(dd.max())
    if not math.isfinite(bank) or bank <= 0:
        return abs_dd, NAN
    equity = bank + curve
    peak = np.maximum.accumulate(equity)
    return abs_dd, float(((peak - equity) / peak).max() * 100.0)


#: The outcome names and the units each won and lost, rows in the order of
#: :data:`_OUTCOME_UNITS`: a bet's outcome code is its place in both.
_OUTCOME_INDEX: Final = pd.Index(list(_OUTCOME_UNITS), dtype=object)
_UNITS_TABLE: Final = np.array(list(_OUTCOME_UNITS.values()), dtype=np.float64)


def _outcome_codes(bets: pd.DataFrame, won: BoolArray) -> npt.NDArray[np.intp]:
    """Each bet's outcome as its place in :data:`_OUTCOME_UNITS`; from ``won`` when the frame
    has no ``outcome`` column.

    The names are looked up by hash in one call: a lookup per bet in Python, with the checks
    and counts around it, was a third of the time a sweep spent on one filter over 50k matches.
    """
    if "outcome" not in bets.columns:
        return np.where(won, len(_OUTCOME_UNITS) - 1, 0).astype(np.intp)
    column = bets["outcome"]
    if isinstance(column.dtype, pd.CategoricalDtype):  # the categories looked up, not each bet
        places = np.append(_OUTCOME_INDEX.get_indexer(column.cat.categories), -1)  # -1: missing
        codes = places[column.cat.codes.to_numpy()]
    else:
        codes = _OUTCOME_INDEX.get_indexer(pd.Index(column))
    unknown = codes < 0
    if unknown.any():
        names = {str(name) for name in column.to_numpy(dtype=object)[unknown]}
        raise ValueError(f"unknown bet outcomes {sorted(names)}")
    return codes


def _significance(units_won: FloatArray, q: FloatArray) -> tuple[float, float, float]:
    """(expected wins, z, two-sided p) of ``units_won`` against probabilities ``q``."""
    expected = float(q.sum())
    variance = float((q * (1.0 - q)).sum())
    z = (float(units_won.sum()) - expected) / math.sqrt(variance) if variance > 0 else NAN
    p_value = math.erfc(abs(z) / math.sqrt(2.0)) if math.isfinite(z) else NAN
    return expected, z, p_value


def _optional(bets: pd.DataFrame, column: str, n: int) -> FloatArray:
    if column in bets.columns and n:
        return bets[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.full(n, np.nan)


def compute_stats(
    bets: pd.DataFrame,
    *,
    skipped_no_odds: int = 0,
    skipped_no_edge: int = 0,
    matches_considered: int | None = None,
    starting_bank: float | None = None,
    null: str = P_VALUE_NULLS[0],
) -> pd.Series:
    """Summary figures of ``bets`` (see the module docstring for every definition).

    ``null`` picks the significance test's null probabilities, one of :data:`P_VALUE_NULLS`.
    """
    if null not in P_VALUE_NULLS:
        raise ValueError(f"unknown p-value null {null!r}; expected one of {P_VALUE_NULLS}")
    odds = bets["odds"].to_numpy(dtype=np.float64) if len(bets) else np.zeros(0)
    stake = bets["stake"].to_numpy(dtype=np.float64) if len(bets) else np.zeros(0)
    profit = bets["profit"].to_numpy(dtype=np.float64) if len(bets) else np.zeros(0)
    won = bets["won"].to_numpy(dtype=bool) if len(bets) else np.zeros(0, dtype=bool)
    n = len(odds)
    codes = _outcome_codes(bets, won)
    tally = np.bincount(codes, minlength=len(_OUTCOME_UNITS))
    counts = {name: int(c) for name, c in zip(_OUTCOME_UNITS, tally, strict=True)}
    units = _UNITS_TABLE[codes]
    won_units, lost_units = units[:, 0], units[:, 1]
    decided_units = won_units + lost_units
    units_won, units_decided = float(won_units.sum()), float(decided_units.sum())
    staked = float(stake.sum())
    total_profit = float(profit.sum())
    low, high = wilson_interval(units_won, units_decided)

    p_fair = _optional(bets, "p_fair_close", n)
    has_fair = np.isfinite(p_fair)
    if null == "fair_close":
        tested = has_fair & (decided_units > 0)
        q = p_fair[tested]
    else:
        tested = decided_units > 0
        q = 1.0 / odds[tested]
    # Each tested bet's success is the share of its decided stake that won.
    success = won_units[tested] / decided_units[tested]
    expected_wins, z, p_value = _significance(success, q)

    decided = decided_units > 0
    win_streak, lose_streak = longest_streaks(won_units[decided] > 0)
    bank = (100.0 * staked / n if n else NAN) if starting_bank is None else float(starting_bank)
    max_dd, max_dd_pct = _drawdown(profit, bank) if n else (0.0, NAN)

    clv = odds[has_fair] * p_fair[has_fair] - 1.0
    clv_bets = int(np.count_nonzero(has_fair))
    ev = _ratio(float((stake[has_fair] * clv).sum()), float(stake[has_fair].sum()))
    closing = _optional(bets, "closing_odds", n)
    has_close = np.isfinite(closing) & (closing > 0)
    beat = int(np.count_nonzero(odds[has_close] > closing[has_close]))

    first: Any = pd.NaT
    last: Any = pd.NaT
    if "kickoff" in bets.columns and n:
        kickoff = pd.to_datetime(bets["kickoff"])
        first, last = kickoff.min(), kickoff.max()

    values: dict[str, Any] = {
        "bets": n,
        "wins": counts["win"],
        "half_wins": counts["half_win"],
        "pushes": counts["push"],
        "half_losses": counts["half_loss"],
        "losses": counts["loss"],
        "hit_rate": _ratio(units_won, units_decided),
        "hit_rate_ci_low": low,
        "hit_rate_ci_high": high,
        "staked": staked,
        "profit": total_profit,
        "roi": _ratio(total_profit, staked),
        "avg_odds": float(odds.mean()) if n else NAN,
        "min_odds": float(odds.min()) if n else NAN,
        "median_odds": float(np.median(odds)) if n else NAN,
        "max_odds": float(odds.max()) if n else NAN,
        "implied_prob": float((1.0 / odds).mean()) if n else NAN,
        "expected_wins": expected_wins,
        "z_score": z,
        "p_value": p_value,
        "p_value_null": null,
        "longest_win_streak": win_streak,
        "longest_losing_streak": lose_streak,
        "starting_bank": bank,
        "max_drawdown": max_dd,
        "max_drawdown_pct": max_dd_pct,
        "expected_value": ev,
        "clv_mean": float(clv.mean()) if clv_bets else NAN,
        "clv_beat_share": _ratio(beat, int(np.count_nonzero(has_close))),
        "clv_bets": clv_bets,
        "skipped_no_odds": int(skipped_no_odds),
        "skipped_no_edge": int(skipped_no_edge),
        "matches_considered": NAN if matches_considered is None else int(matches_considered),
        "first_bet": first,
        "last_bet": last,
    }
    return pd.Series(values, index=list(SUMMARY_KEYS), dtype=object, name="summary")


def equity_curve(bets: pd.DataFrame) -> pd.DataFrame:
    """Cumulative profit per bet, indexed by kick-off (bet number when there is no kickoff).

    Columns: ``bet`` (1-based), ``cum_profit``, ``peak`` (running maximum, starting at 0) and
    ``drawdown`` (= peak - cum_profit, >= 0).
    """
    profit = bets["profit"].to_numpy(dtype=np.float64)
    cum = np.cumsum(profit)
    peak = np.maximum.accumulate(np.r_[0.0, cum])[1:]
    index: pd.Index
    if "kickoff" in bets.columns:
        index = pd.DatetimeIndex(pd.to_datetime(bets["kickoff"]).to_numpy(), name="kickoff")
    else:
        index = pd.RangeIndex(1, len(bets) + 1, name="bet")
    return pd.DataFrame(
        {
            "bet": np.arange(1, len(bets) + 1),
            "cum_profit": cum,
            "peak": peak,
            "drawdown": peak - cum,
        },
        index=index,
    )


def monthly_breakdown(bets: pd.DataFrame) -> pd.DataFrame:
    """One row per calendar month with bets (index ``month`` like ``"2019-08"``).

    Columns: bets, wins (bets that returned a profit), staked, profit, roi (profit / staked),
    hit_rate (units won / units decided, as in the summary; wins / bets for win/lose markets).
    """
    month = pd.to_datetime(bets["kickoff"]).dt.strftime("%Y-%m").rename("month")
    won = bets["won"].to_numpy(dtype=bool)
    units = _UNITS_TABLE[_outcome_codes(bets, won)]
    grouped = (
        pd.DataFrame(
            {
                "bets": np.ones(len(bets), dtype=np.int64),
                "wins": won.astype(np.int64),
                "staked": bets["stake"].to_numpy(dtype=np.float64),
                "profit": bets["profit"].to_numpy(dtype=np.float64),
                "units_won": units[:, 0],
                "units_decided": units.sum(axis=1),
            },
            index=pd.Index(month.to_numpy(dtype=object), name="month"),
        )
        .groupby(level="month", sort=True)
        .sum()
    )
    grouped["roi"] = grouped["profit"] / grouped["staked"]
    grouped["hit_rate"] = grouped.pop("units_won") / grouped.pop("units_decided")
    return grouped


def _plain(value: Any) -> Any:
    """One summary value as JSON: numpy -> Python, NaN/NaT/NA -> None, timestamps -> ISO."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        ts = pd.Timestamp(value)
        return None if pd.isna(ts) else ts.isoformat()
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def to_jsonable(summary: pd.Series) -> dict[str, Any]:
    """``summary`` as a plain dict ready for ``json.dumps`` (NaN becomes ``None``)."""
    return {str(k): _plain(v) for k, v in summary.items()}


def from_jsonable(data: Mapping[str, Any]) -> pd.Series:
    """Inverse of :func:`to_jsonable`: ``None`` -> NaN (NaT for dates), ISO strings -> Timestamp."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TIMESTAMP_KEYS:
            values[key] = pd.NaT if value is None else pd.Timestamp(value)
        else:
            values[key] = NAN if value is None else value
    return pd.Series(values, index=list(values), dtype=object, name="summary")
