"""What a sweep returns: one row per grid point, adjusted p-values, a heatmap, a haircut winner.

Built from the stored rows alone (see :mod:`.evaluate`), so a result read back from the database
and one computed in process are the same object with the same numbers.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd

from filterbets_nb.filters import Filter
from filterbets_nb.research.evaluate import add_sums, metrics_from_sums
from filterbets_nb.research.multiple import (
    bh_adjust,
    deflated_sharpe,
    expected_max_sharpe,
    holm_adjust,
)
from filterbets_nb.stats import HEADLINE_METRICS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from filterbets_nb.research.simulate import Simulation

__all__ = ["SMALLER_IS_BETTER", "SweepResult", "Winner"]

#: Metrics of which less is better (the rest: more is better).
SMALLER_IS_BETTER: Final[frozenset[str]] = frozenset(
    {"p_value", "p_edge", "p_adj", "p_holm", "max_drawdown", "max_drawdown_pct", "losses",
     "longest_losing_streak"}
)  # fmt: skip
#: Summary metrics shown per grid point, read by name (a summary may carry more).
FRAME_METRICS: Final[tuple[str, ...]] = (*HEADLINE_METRICS[:-1], "clv_mean", "z_score", "p_value")

#: Columns of a sweep's frame after its grid parameters.
FRAME_COLUMNS: Final[tuple[str, ...]] = (
    *FRAME_METRICS, "sharpe", "p_edge", "p_adj", "p_holm", "n_tried"
)  # fmt: skip

BetsFn = Callable[[Filter], pd.DataFrame]


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _frame(rows: Sequence[Mapping[str, Any]], grid_names: Sequence[str]) -> pd.DataFrame:
    records = []
    for row in sorted(rows, key=lambda r: int(r["idx"])):
        summary = row["summary"]  # stored JSON: NaN is None there
        sums = metrics_from_sums(add_sums(row["seasons"].values()))
        record: dict[str, Any] = {name: row["params"].get(name) for name in grid_names}
        record.update({m: _number(summary.get(m)) for m in FRAME_METRICS})
        record.update(sharpe=sums["sharpe"], p_edge=sums["p_edge"])
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
    frame["bets"] = frame["bets"].astype("int64")
    frame["p_adj"] = bh_adjust(frame["p_edge"].to_numpy(dtype=np.float64))
    frame["p_holm"] = holm_adjust(frame["p_edge"].to_numpy(dtype=np.float64))
    frame["n_tried"] = len(frame)
    return frame


@dataclass
class Winner:
    """The best grid point of a sweep, with the haircut for having tried ``n_tried`` filters.

    ``deflated_sharpe`` is the probability that its true per-bet Sharpe ratio is above zero once
    the expected best of ``n_tried`` skill-less tries (``sharpe_haircut``) is taken off (see
    :mod:`.multiple`); ``p_adj`` is its Benjamini-Hochberg adjusted one-sided p-value.
    """

    params: dict[str, Any]
    filter: Filter
    metrics: pd.Series
    n_tried: int
    sharpe: float
    sharpe_haircut: float
    deflated_sharpe: float
    p_adj: float
    bets_fn: BetsFn | None = field(default=None, repr=False)

    @property
    def significant(self) -> bool:
        """Whether the winner survives both corrections at 5 %: p_adj < 0.05 and DSR > 0.95."""
        return bool(self.p_adj < 0.05 and self.deflated_sharpe > 0.95)

    def bets(self) -> pd.DataFrame:
        """The winner's bets over the sweep's scope (a backtest of its filter)."""
        if self.bets_fn is None:
            raise RuntimeError("this result has no way to re-run its winner (no bets_fn)")
        return self.bets_fn(self.filter)

    def simulate(self, **options: Any) -> Simulation:
        """Bankroll simulation of the winner's bets (see :func:`.simulate.simulate`)."""
        from filterbets_nb.research.simulate import simulate

        return simulate(self.bets(), **options)

    def summary(self) -> pd.Series:
        """The winner's metrics with the honesty figures appended."""
        extra = pd.Series(
            {
                "sharpe_haircut": self.sharpe_haircut,
                "deflated_sharpe": self.deflated_sharpe,
                "significant": self.significant,
            }
        )
        return pd.concat([self.metrics, extra])

    def _repr_html_(self) -> str:
        head = (
            f"<b>Best of {self.n_tried} filters</b> {html.escape(str(self.params))}<br>"
            f"<code>{html.escape(self.filter.describe())}</code>"
        )
        return f"<div>{head}{self.summary().to_frame('value').to_html()}</div>"


class SweepResult:
    """A finished sweep: ``.frame`` (one row per grid point), ``.heatmap``, ``.best``.

    Every row counts as a try: ``n_tried`` is the grid size, whatever ``min_bets`` later hides.
    """

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        grid_names: Sequence[str],
        *,
        bets_fn: BetsFn | None = None,
        label: str = "",
    ) -> None:
        self.rows = sorted(rows, key=lambda r: int(r["idx"]))
        self.grid_names = list(grid_names)
        self.bets_fn = bets_fn
        self.label = label
        self.frame = _frame(self.rows, self.grid_names)

    @property
    def n_tried(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"SweepResult({self.n_tried} filters over {self.grid_names})"

    def filter(self, i: int) -> Filter:
        """The filter of row ``i`` of :attr:`frame`."""
        return Filter.from_dict(self.rows[i]["filter"])

    def best(self, metric: str = "roi", *, min_bets: int = 30) -> Winner:
        """The best row by ``metric`` among those with at least ``min_bets`` bets, haircut."""
        if metric not in self.frame.columns:
            raise KeyError(f"unknown metric {metric!r}; the frame has {list(self.frame.columns)}")
        values = pd.to_numeric(self.frame[metric], errors="coerce")
        eligible = (self.frame["bets"] >= min_bets) & values.notna()
        if not eligible.any():
            most = int(self.frame["bets"].max()) if len(self.frame) else 0
            raise ValueError(
                f"no filter of the {self.n_tried} has {min_bets} bets or more"
                f" (the most is {most}); lower min_bets"
            )
        ranked = values[eligible]
        pick = ranked.to_numpy(dtype=np.float64)
        position = int(np.argmin(pick) if metric in SMALLER_IS_BETTER else np.argmax(pick))
        i = int(np.flatnonzero(eligible.to_numpy())[position])
        row = self.rows[i]
        sums = metrics_from_sums(add_sums(row["seasons"].values()))
        sharpes = self.frame["sharpe"].to_numpy(dtype=np.float64)
        sharpes = sharpes[np.isfinite(sharpes)]
        variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
        return Winner(
            params=dict(row["params"]),
            filter=Filter.from_dict(row["filter"]),
            metrics=self.frame.iloc[i],
            n_tried=self.n_tried,
            sharpe=sums["sharpe"],
            sharpe_haircut=expected_max_sharpe(self.n_tried, variance),
            deflated_sharpe=deflated_sharpe(
                sums["sharpe"],
                int(sums["bets"]),
                sums["skew"],
                sums["kurtosis"],
                self.n_tried,
                variance,
            ),
            p_adj=float(self.frame["p_adj"].iloc[i]),
            bets_fn=self.bets_fn,
        )

    def heatmap(self, x: str, y: str, metric: str = "roi", *, ax: Axes | None = None) -> Axes:
        """``metric`` over two grid parameters (other parameters: their best value), annotated."""
        import matplotlib.pyplot as plt

        for name in (x, y):
            if name not in self.grid_names:
                raise KeyError(f"{name!r} is not a grid parameter; they are {self.grid_names}")
        agg: Literal["min", "max"] = "min" if metric in SMALLER_IS_BETTER else "max"
        table = self.frame.pivot_table(index=y, columns=x, values=metric, aggfunc=agg)
        if ax is None:
            _, ax = plt.subplots(figsize=(1.1 * len(table.columns) + 2.5, 0.6 * len(table) + 1.8))
        data = table.to_numpy(dtype=np.float64)
        image = ax.imshow(data, cmap="RdYlGn_r" if agg == "min" else "RdYlGn", aspect="auto")
        ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
        ax.set_yticks(range(len(table.index)), [str(i) for i in table.index])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        for (r, c), value in np.ndenumerate(data):
            text = "" if not np.isfinite(value) else f"{value:.3g}"
            ax.text(c, r, text, ha="center", va="center", fontsize=8)
        others = [n for n in self.grid_names if n not in (x, y)]
        note = f" ({agg} over {', '.join(others)})" if others else ""
        ax.set_title(f"{metric}{note}, {self.n_tried} filters tried")
        ax.figure.colorbar(image, ax=ax)
        return ax

    def _repr_html_(self) -> str:
        head = f"<b>Sweep</b> {html.escape(self.label)} {self.n_tried} filters tried"
        return f"<div>{head}{self.frame.to_html(max_rows=20)}</div>"
