"""Matplotlib figures of a backtest: the equity curve with its drawdowns shaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from filterbets_nb.stats import equity_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_equity(bets: pd.DataFrame, *, title: str = "", ax: Axes | None = None) -> Axes:
    """Cumulative profit per bet, with the running peak and the drawdown below it shaded.

    The x axis is the bet number, not the date: a filter that bets in bursts would otherwise
    squeeze most of its history into a few pixels.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    curve = equity_curve(bets)
    x = range(1, len(curve) + 1)
    ax.plot(x, curve["cum_profit"].to_numpy(), color="tab:blue", lw=1.4, label="profit")
    ax.plot(x, curve["peak"].to_numpy(), color="tab:gray", lw=0.8, ls="--", label="peak")
    ax.fill_between(
        x,
        curve["cum_profit"].to_numpy(),
        curve["peak"].to_numpy(),
        color="tab:red",
        alpha=0.25,
        label="drawdown",
    )
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("bet")
    ax.set_ylabel("profit (stake units)")
    ax.set_title(title or "Equity curve")
    ax.legend(loc="best")
    return ax
