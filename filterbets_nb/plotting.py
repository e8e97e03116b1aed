"""Matplotlib figures of a backtest: the equity curve with its drawdowns shaded, and profit per
season."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from filterbets_nb.stats import equity_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes

XAxis = Literal["date", "bet"]


def plot_equity(
    bets: pd.DataFrame, *, title: str = "", ax: Axes | None = None, x: XAxis = "date"
) -> Axes:
    """Cumulative profit with the running peak and the drawdown below it shaded.

    ``x="date"`` (default) plots against kick-off dates, so seasons and summer breaks read as
    they happened; ``x="bet"`` plots against the bet number, which spreads out a filter that
    bets in bursts. Bets without a kick-off column fall back to the bet number.
    """
    import matplotlib.pyplot as plt

    if x not in ("date", "bet"):
        raise ValueError(f"x must be 'date' or 'bet', not {x!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    curve = equity_curve(bets)
    by_date = x == "date" and isinstance(curve.index, pd.DatetimeIndex)
    xs: Any = curve.index if by_date else range(1, len(curve) + 1)
    # A step line: the profit changes at a kick-off and stays until the next one.
    step: Literal["post"] | None = "post" if by_date else None
    ax.plot(
        xs,
        curve["cum_profit"].to_numpy(),
        color="tab:blue",
        lw=1.4,
        label="profit",
        drawstyle="steps-post" if step else "default",
    )
    ax.plot(xs, curve["peak"].to_numpy(), color="tab:gray", lw=0.8, ls="--", label="peak")
    ax.fill_between(
        xs,
        curve["cum_profit"].to_numpy(),
        curve["peak"].to_numpy(),
        color="tab:red",
        alpha=0.25,
        label="drawdown",
        step=step,
    )
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("kick-off" if by_date else "bet")
    ax.set_ylabel("profit (stake units)")
    ax.set_title(title or "Equity curve")
    ax.legend(loc="best")
    if by_date:
        ax.figure.autofmt_xdate()
    return ax


def plot_seasons(bets: pd.DataFrame, *, title: str = "", ax: Axes | None = None) -> Axes:
    """Profit per season as bars (green above zero, red below), bets per season on the labels."""
    import matplotlib.pyplot as plt

    if "season" not in bets.columns:
        raise ValueError("per-season bars need the bets' 'season' column")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    per = bets.groupby("season", sort=True)["profit"].agg(["sum", "size"])
    colors = ["tab:green" if v >= 0 else "tab:red" for v in per["sum"]]
    labels = [f"{season}\n{n:,} bets" for season, n in zip(per.index, per["size"], strict=True)]
    ax.bar(labels, per["sum"].to_numpy(), color=colors)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel("profit (stake units)")
    ax.set_title(title or "Profit per season")
    return ax
