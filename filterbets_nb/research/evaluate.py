"""Evaluate many filters over one loaded frame of matches: the work of a sweep, in one place.

Workers call :func:`evaluate_points` on their chunk of a sweep; the in-process sweep (tests,
benchmarks' baseline, the honesty demo) calls it on the whole grid. Each filter goes through the
engine's hot path (:func:`filterbets_nb.engine.select_bets`) and the summary through
:func:`filterbets_nb.stats.compute_stats`, so a sweep's numbers are a backtest's numbers.

Besides the summary, every row keeps *additive* sums per season (bets, wins, stakes, profit, the
prices' expected wins and their variance, and the first four power sums of per-bet returns
``r = profit / stake``). Sums add up over any set of seasons, so walk-forward folds and the
deflated Sharpe ratio need no second pass over the matches: :func:`metrics_from_sums` turns
them into ROI, hit rate, z-score, one-sided p-value, Sharpe ratio, skewness and kurtosis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from filterbets_nb.engine import OUTCOMES, fair_close, select_bets
from filterbets_nb.filters import Filter
from filterbets_nb.research.grid import GridPoint
from filterbets_nb.research.multiple import one_sided_p
from filterbets_nb.stats import compute_stats, to_jsonable

__all__ = ["SUM_KEYS", "add_sums", "evaluate_filter", "evaluate_points", "metrics_from_sums"]

#: Additive figures kept per season for every filter of a sweep.
SUM_KEYS: Final[tuple[str, ...]] = (
    "bets",
    "wins",
    "staked",
    "profit",
    "tested_wins",
    "exp_wins",
    "var_wins",
    "r1",
    "r2",
    "r3",
    "r4",
)

#: Metrics :func:`metrics_from_sums` derives (larger is better for all but ``p_edge``).
SUM_METRICS: Final[tuple[str, ...]] = (
    "bets",
    "wins",
    "staked",
    "profit",
    "roi",
    "hit_rate",
    "z_score",
    "p_edge",
    "sharpe",
    "skew",
    "kurtosis",
)


#: The engine's outcome codes (-2 loss ... 2 win) plus 2 are places in this.
_OUTCOME_CATEGORIES: Final = pd.Index(OUTCOMES, dtype=object)


class _Frame:
    """What every filter of a sweep needs from the matches, computed once per frame."""

    def __init__(self, matches: pd.DataFrame) -> None:
        self.matches = matches
        self.kickoff = pd.to_datetime(matches["kickoff"]).to_numpy()
        codes, labels = pd.factorize(matches["season"].astype(str), sort=True)
        self.season_code = codes.astype(np.intp)
        self.seasons = [str(label) for label in labels]


def _season_sums(
    frame: _Frame,
    rows: np.ndarray,
    stake: np.ndarray,
    won: np.ndarray,
    profit: np.ndarray,
    outcome: np.ndarray,
    p_fair: np.ndarray,
) -> dict[str, dict[str, float]]:
    """:data:`SUM_KEYS` per season of the bets at ``rows`` (seasons without bets left out).

    The significance sums follow :func:`filterbets_nb.stats.compute_stats`'s default null: over
    the bets with a fair closing probability ``q`` and a decided stake, ``tested_wins`` adds the
    share of the decided stake that won, ``exp_wins`` adds ``q`` and ``var_wins`` ``q(1-q)``.
    """
    code = frame.season_code[rows]
    # Won and decided units per outcome code (-2 loss ... 2 win), as compute_stats counts them.
    won_units = np.array([0.0, 0.0, 0.0, 0.5, 1.0])[outcome + 2]
    decided = np.array([1.0, 0.5, 0.0, 0.5, 1.0])[outcome + 2]
    tested = np.isfinite(p_fair) & (decided > 0)
    q = np.where(tested, p_fair, 0.0)
    r = profit / stake
    values = {
        "bets": np.ones(len(r)),
        "wins": won.astype(np.float64),
        "staked": stake,
        "profit": profit,
        "tested_wins": np.where(tested, won_units / np.where(decided > 0, decided, 1.0), 0.0),
        "exp_wins": q,
        "var_wins": q * (1.0 - q),
        "r1": r,
        "r2": r**2,
        "r3": r**3,
        "r4": r**4,
    }
    width = len(frame.seasons)
    sums = {k: np.bincount(code, weights=v, minlength=width) for k, v in values.items()}
    return {
        season: {k: float(sums[k][i]) for k in SUM_KEYS}
        for i, season in enumerate(frame.seasons)
        if sums["bets"][i] > 0
    }  # fmt: skip


def evaluate_filter(frame: _Frame, flt: Filter) -> dict[str, Any]:
    """``{"summary": jsonable compute_stats, "seasons": {season: sums}}`` for one filter.

    The frame is expected in kick-off order; bets are ordered by kick-off as the engine does.
    """
    matches = frame.matches
    sel = select_bets(matches, flt)
    order = np.argsort(frame.kickoff[sel.rows], kind="stable")
    rows = sel.rows[order]
    p_fair, closing = fair_close(matches, rows, flt)
    odds, stake, won, profit = sel.odds[order], sel.stake[order], sel.won[order], sel.profit[order]
    bets = pd.DataFrame(
        {
            "kickoff": frame.kickoff[rows],
            "odds": odds,
            "closing_odds": closing,
            "p_fair_close": p_fair,
            "stake": stake,
            "outcome": pd.Categorical.from_codes(sel.outcome[order] + 2, _OUTCOME_CATEGORIES),
            "won": won,
            "profit": profit,
        }
    )
    summary = compute_stats(
        bets,
        skipped_no_odds=sel.skipped_no_odds,
        skipped_no_edge=sel.skipped_no_edge,
        matches_considered=sel.matches_considered,
    )
    return {
        "summary": to_jsonable(summary),
        "seasons": _season_sums(frame, rows, stake, won, profit, sel.outcome[order], p_fair),
    }


def evaluate_points(
    matches: pd.DataFrame,
    points: Sequence[GridPoint],
    *,
    start: int = 0,
    step: int = 1,
    progress: Callable[[int, int], object] | None = None,
) -> list[dict[str, Any]]:
    """One stored row per grid point: ``idx`` (the point's place in the grid, ``points`` being
    the grid's slice ``start::step``), params, filter, figures."""
    frame = _Frame(matches)
    rows: list[dict[str, Any]] = []
    for i, point in enumerate(points):
        figures = evaluate_filter(frame, Filter.from_dict(point.filter))
        idx = start + i * step
        rows.append({"idx": idx, "params": point.params, "filter": point.filter, **figures})
        if progress is not None:
            progress(i + 1, len(points))
    return rows


def add_sums(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The sums of several seasons (missing keys count as 0)."""
    total = dict.fromkeys(SUM_KEYS, 0.0)
    for part in parts:
        for key in SUM_KEYS:
            total[key] += float(part.get(key, 0.0))
    return total


def metrics_from_sums(sums: Mapping[str, float]) -> dict[str, float]:
    """ROI, hit rate, z-score, one-sided p (``p_edge``), and the Sharpe ratio, skewness and
    kurtosis of per-bet returns, from :data:`SUM_KEYS` sums (NaN where undefined)."""
    n = float(sums.get("bets", 0.0))
    staked, profit, wins = (float(sums.get(k, 0.0)) for k in ("staked", "profit", "wins"))
    nan = math.nan
    var_wins = float(sums.get("var_wins", 0.0))
    tested = float(sums.get("tested_wins", 0.0))
    z = (tested - float(sums.get("exp_wins", 0.0))) / math.sqrt(var_wins) if var_wins > 0 else nan
    sharpe = skew = kurt = nan
    if n >= 2:
        m1, m2, m3, m4 = (float(sums.get(f"r{k}", 0.0)) / n for k in (1, 2, 3, 4))
        var = m2 - m1**2
        if var > 1e-12:
            sd = math.sqrt(var)
            sharpe = m1 / sd
            skew = (m3 - 3 * m1 * m2 + 2 * m1**3) / sd**3
            kurt = (m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4) / var**2
    return {
        "bets": n,
        "wins": wins,
        "staked": staked,
        "profit": profit,
        "roi": profit / staked if staked > 0 else nan,
        "hit_rate": wins / n if n > 0 else nan,
        "z_score": z,
        "p_edge": one_sided_p(z),
        "sharpe": sharpe,
        "skew": skew,
        "kurtosis": kurt,
    }
