"""Walk-forward: choose on past seasons, judge on the next one, and show the difference.

Seasons roll forward: with ``train=2, test=1`` over 2019-20 ... 2023-24 the folds are
(2019-20, 2020-21) -> 2021-22, (2020-21, 2021-22) -> 2022-23, (2021-22, 2022-23) -> 2023-24. On
each fold the best grid point on the training seasons (by ``metric``, among points with at least
``min_bets`` training bets) is chosen from the sweep's per-season sums, and its bets on the test
seasons are its out-of-sample record. The in-sample figure of a chosen point is optimistic by
construction (it won a contest); the gap to its out-of-sample figure is the point of the exercise.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from filterbets_nb.research.evaluate import SUM_METRICS, add_sums, metrics_from_sums
from filterbets_nb.stats import compute_stats, equity_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Fold", "WalkForwardResult", "choose", "make_folds", "walk_forward_result"]

#: Test bets of a filter (its dict) over some seasons.
OosBetsFn = Callable[[dict[str, Any], Sequence[str]], pd.DataFrame]


@dataclass(frozen=True)
class Fold:
    train: tuple[str, ...]
    test: tuple[str, ...]


def make_folds(seasons: Sequence[str], train: int = 2, test: int = 1) -> list[Fold]:
    """Rolling folds over the sorted distinct ``seasons``, moving ``test`` seasons each step."""
    if train < 1 or test < 1:
        raise ValueError(f"train and test must be >= 1, got train={train}, test={test}")
    ordered = sorted(set(seasons))
    if len(ordered) < train + test:
        raise ValueError(
            f"walk-forward with train={train}, test={test} needs {train + test} seasons;"
            f" the scope has {len(ordered)}: {ordered}"
        )
    return [
        Fold(tuple(ordered[i : i + train]), tuple(ordered[i + train : i + train + test]))
        for i in range(0, len(ordered) - train - test + 1, test)
    ]


def choose(
    rows: Sequence[Mapping[str, Any]], seasons: Sequence[str], metric: str, min_bets: int
) -> tuple[Mapping[str, Any], dict[str, float]] | None:
    """The row that is best by ``metric`` over ``seasons`` (ties: first), with its figures."""
    if metric not in SUM_METRICS:
        raise ValueError(f"walk-forward metric must be one of {SUM_METRICS}, got {metric!r}")
    best: tuple[Mapping[str, Any], dict[str, float]] | None = None
    best_score = -math.inf
    sign = -1.0 if metric == "p_edge" else 1.0
    for row in sorted(rows, key=lambda r: int(r["idx"])):
        figures = metrics_from_sums(add_sums(row["seasons"].get(s, {}) for s in seasons))
        score = sign * figures[metric]
        if figures["bets"] >= min_bets and math.isfinite(score) and score > best_score:
            best, best_score = (row, figures), score
    return best


@dataclass
class WalkForwardResult:
    """Per-fold choices with in-sample (``is_``) and out-of-sample (``oos_``) figures, the
    combined out-of-sample bets, their summary and equity curve, and the IS-OOS gap.

    Read like every backtest result: ``summary()``, ``bets()``, ``equity()``, ``plot()`` are
    methods, as on :class:`~filterbets_nb.results.BacktestResults`."""

    folds: pd.DataFrame
    out_of_sample: pd.DataFrame
    metric: str
    n_tried: int

    def bets(self) -> pd.DataFrame:
        """Every out-of-sample bet of every fold, in kick-off order, with its ``fold``."""
        return self.out_of_sample

    def summary(self) -> pd.Series:
        """:func:`~filterbets_nb.stats.compute_stats` of all out-of-sample bets together."""
        return compute_stats(self.out_of_sample)

    def equity(self) -> pd.DataFrame:
        return equity_curve(self.out_of_sample)

    @property
    def gap(self) -> float:
        """Mean in-sample minus mean out-of-sample ``metric`` over the folds with a choice."""
        done = self.folds.dropna(subset=[f"is_{self.metric}", f"oos_{self.metric}"])
        if done.empty:
            return math.nan
        return float(done[f"is_{self.metric}"].mean() - done[f"oos_{self.metric}"].mean())

    def plot(self, ax: Axes | None = None) -> Axes:
        """Out-of-sample equity curve, the fold boundaries marked."""
        from filterbets_nb.plotting import plot_equity

        ax = plot_equity(
            self.out_of_sample, title=f"walk-forward out-of-sample ({self.metric})", ax=ax
        )
        return ax

    def _repr_html_(self) -> str:
        head = html.escape(
            f"walk-forward over {len(self.folds)} folds, {self.n_tried} filters per fold; "
            f"in-sample minus out-of-sample {self.metric}: {self.gap:.4g}"
        )
        return f"<div><b>Walk-forward</b> {head}{self.folds.to_html()}</div>"


def walk_forward_result(
    rows: Sequence[Mapping[str, Any]],
    grid_names: Sequence[str],
    folds: Sequence[Fold],
    metric: str,
    min_bets: int,
    oos_bets: OosBetsFn,
) -> WalkForwardResult:
    """Choose per fold from the sweep ``rows``; ``oos_bets`` backtests each choice on its test
    seasons (in process, or through the task system)."""
    records: list[dict[str, Any]] = []
    parts: list[pd.DataFrame] = []
    for number, fold in enumerate(folds, start=1):
        record: dict[str, Any] = {
            "fold": number,
            "train": " ".join(fold.train),
            "test": " ".join(fold.test),
        }
        chosen = choose(rows, fold.train, metric, min_bets)
        if chosen is None:
            record.update({name: None for name in grid_names})
            records.append(record)
            continue
        row, figures = chosen
        record.update({name: row["params"].get(name) for name in grid_names})
        record.update({f"is_{k}": figures[k] for k in ("bets", "roi", metric)})
        bets = oos_bets(dict(row["filter"]), fold.test)
        oos = compute_stats(bets)
        record.update({f"oos_{k}": oos.get(k, math.nan) for k in ("bets", "roi")})
        if metric in oos.index:
            record[f"oos_{metric}"] = oos[metric]
        else:
            sums = add_sums(row["seasons"].get(s, {}) for s in fold.test)
            record[f"oos_{metric}"] = metrics_from_sums(sums)[metric]
        parts.append(bets.assign(fold=number))
        records.append(record)
    bets = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not bets.empty:
        bets = bets.sort_values("kickoff", kind="stable").reset_index(drop=True)
        bets["cum_profit"] = bets["profit"].cumsum()
    return WalkForwardResult(pd.DataFrame.from_records(records), bets, metric, len(rows))
