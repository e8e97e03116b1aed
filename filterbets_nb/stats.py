"""Performance statistics of a list of settled bets, backtesting.py style.

:func:`compute_stats` returns a ``pd.Series`` of named figures (keys: :data:`SUMMARY_KEYS`); it is
what notebooks display, what the database stores (through :func:`to_jsonable`) and what the CLI
prints. The input is a bets frame as produced by :func:`filterbets_nb.engine.run_backtest`
(columns ``odds``, ``stake``, ``won``, ``profit``; optional ``kickoff`` and ``closing_odds``), in
its row order, which the engine makes chronological.

Definitions (n = number of bets; every ratio is NaN when its denominator is 0, never an error):

* ``hit_rate`` = wins / n, with a 95% Wilson interval ``hit_rate_ci_low``/``hit_rate_ci_high``.
* ``staked`` = sum of stakes, ``profit`` = sum of profits, ``roi`` = profit / staked (yield).
* ``avg_odds``/``min_odds``/``median_odds``/``max_odds``: unweighted, over bets.
* ``implied_prob`` = mean of 1/odds; ``expected_wins`` = sum of 1/odds (the bookmaker's view,
  margin included); ``z_score`` = (wins - expected_wins) / sqrt(sum q(1-q)) with q = 1/odds, the
  normal approximation of the Poisson-binomial number of wins; ``p_value`` is two-sided,
  ``erfc(|z| / sqrt 2)``.
* ``max_drawdown``: largest peak-to-trough fall of cumulative profit, the curve starting at 0
  before the first bet (>= 0, in stake units).
* ``max_drawdown_pct``: the same fall as a percent of the peak *bankroll*, where bankroll =
  ``starting_bank`` + cumulative profit. ``starting_bank`` defaults to 100 x the mean stake (the
  "100-unit bank" convention, independent of the unit size) and is reported in the summary.
* ``clv_mean``: mean closing-line value, ``odds / closing_odds - 1``, over the ``clv_bets`` bets
  that have closing odds.
* ``expected_value``: expected profit per unit staked if the closing line is the true
  probability (q = 1/closing_odds, margin included, so it is conservative): the stake-weighted
  mean of ``odds * q - 1`` over bets with closing odds; NaN without closing odds.
* ``longest_win_streak``/``longest_losing_streak``: longest runs in row order.
* ``pushes`` is always 0 for the supported markets (kept for a stable schema).
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
    "losses",
    "pushes",
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
    "longest_win_streak",
    "longest_losing_streak",
    "starting_bank",
    "max_drawdown",
    "max_drawdown_pct",
    "expected_value",
    "clv_mean",
    "clv_bets",
    "skipped_no_odds",
    "skipped_no_edge",
    "matches_considered",
    "first_bet",
    "last_bet",
)

_TIMESTAMP_KEYS: Final[frozenset[str]] = frozenset({"first_bet", "last_bet"})
_Z95: Final[float] = 1.959963984540054  # two-sided 95% normal quantile
NAN: Final[float] = float("nan")

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 else NAN


def wilson_interval(wins: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (NaN, NaN for n = 0)."""
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


def compute_stats(
    bets: pd.DataFrame,
    *,
    skipped_no_odds: int = 0,
    skipped_no_edge: int = 0,
    matches_considered: int | None = None,
    starting_bank: float | None = None,
) -> pd.Series:
    """Summary figures of ``bets`` (see the module docstring for every definition)."""
    odds = bets["odds"].to_numpy(dtype=np.float64) if len(bets) else np.zeros(0)
    stake = bets["stake"].to_numpy(dtype=np.float64) if len(bets) else np.zeros(0)
    profit = bets["profit"].to_numpy(dtype=np.float64) if len(bets) else np.zeros(0)
    won = bets["won"].to_numpy(dtype=bool) if len(bets) else np.zeros(0, dtype=bool)
    n = len(odds)
    wins = int(np.count_nonzero(won))
    staked = float(stake.sum())
    total_profit = float(profit.sum())
    low, high = wilson_interval(wins, n)

    q = 1.0 / odds
    expected_wins = float(q.sum())
    variance = float((q * (1.0 - q)).sum())
    z = (wins - expected_wins) / math.sqrt(variance) if variance > 0 else NAN
    p_value = math.erfc(abs(z) / math.sqrt(2.0)) if math.isfinite(z) else NAN

    win_streak, lose_streak = longest_streaks(won)
    bank = (100.0 * staked / n if n else NAN) if starting_bank is None else float(starting_bank)
    max_dd, max_dd_pct = _drawdown(profit, bank) if n else (0.0, NAN)

    if "closing_odds" in bets.columns and n:
        closing = bets["closing_odds"].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        closing = np.full(n, np.nan)
    has_close = np.isfinite(closing) & (closing > 0)
    clv = odds[has_close] / closing[has_close] - 1.0
    clv_bets = int(np.count_nonzero(has_close))
    ev = _ratio(float((stake[has_close] * clv).sum()), float(stake[has_close].sum()))

    first: Any = pd.NaT
    last: Any = pd.NaT
    if "kickoff" in bets.columns and n:
        kickoff = pd.to_datetime(bets["kickoff"])
        first, last = kickoff.min(), kickoff.max()

    values: dict[str, Any] = {
        "bets": n,
        "wins": wins,
        "losses": n - wins,
        "pushes": 0,
        "hit_rate": _ratio(wins, n),
        "hit_rate_ci_low": low,
        "hit_rate_ci_high": high,
        "staked": staked,
        "profit": total_profit,
        "roi": _ratio(total_profit, staked),
        "avg_odds": float(odds.mean()) if n else NAN,
        "min_odds": float(odds.min()) if n else NAN,
        "median_odds": float(np.median(odds)) if n else NAN,
        "max_odds": float(odds.max()) if n else NAN,
        "implied_prob": float(q.mean()) if n else NAN,
        "expected_wins": expected_wins,
        "z_score": z,
        "p_value": p_value,
        "longest_win_streak": win_streak,
        "longest_losing_streak": lose_streak,
        "starting_bank": bank,
        "max_drawdown": max_dd,
        "max_drawdown_pct": max_dd_pct,
        "expected_value": ev,
        "clv_mean": float(clv.mean()) if clv_bets else NAN,
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

    Columns: bets, wins, staked, profit, roi (profit / staked), hit_rate (wins / bets).
    """
    month = pd.to_datetime(bets["kickoff"]).dt.strftime("%Y-%m").rename("month")
    grouped = (
        pd.DataFrame(
            {
                "bets": np.ones(len(bets), dtype=np.int64),
                "wins": bets["won"].to_numpy(dtype=bool).astype(np.int64),
                "staked": bets["stake"].to_numpy(dtype=np.float64),
                "profit": bets["profit"].to_numpy(dtype=np.float64),
            },
            index=pd.Index(month.to_numpy(dtype=object), name="month"),
        )
        .groupby(level="month", sort=True)
        .sum()
    )
    grouped["roi"] = grouped["profit"] / grouped["staked"]
    grouped["hit_rate"] = grouped["wins"] / grouped["bets"]
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
