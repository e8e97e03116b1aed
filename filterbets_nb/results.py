"""The views every backtest result offers, written once for both kinds of result.

:class:`~filterbets_nb.engine.BacktestResult` (run in process by ``fb.run_backtest``) and
:class:`~filterbets_nb.client.BacktestRun` (run by the task system, ``fb.backtest``) both derive
from :class:`ResultViews`, so ``equity()``, ``monthly()``, ``plot()`` and ``simulate()`` have the
same names, signatures and code whichever way the bets were computed. Each class only says where
its bets frame comes from (:meth:`ResultViews._bets_frame`) and what to title a plot.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from filterbets_nb import stats


class ResultViews:
    """``equity()``, ``monthly()``, ``plot()`` and ``simulate()`` from a bets frame."""

    def _bets_frame(self) -> pd.DataFrame:
        raise NotImplementedError

    def _plot_title(self) -> str:
        return ""

    def equity(self) -> pd.DataFrame:
        """Cumulative profit, running peak and drawdown after every bet."""
        return stats.equity_curve(self._bets_frame())

    def monthly(self) -> pd.DataFrame:
        """Bets, wins, staked, profit, ROI and hit rate per calendar month."""
        return stats.monthly_breakdown(self._bets_frame())

    def plot(self, ax: Any = None, *, x: str = "date", by: str | None = None) -> Any:
        """Matplotlib equity curve against kick-off dates (``x="bet"``: bet number) with the
        drawdowns shaded, or ``by="season"`` profit bars per season; returns the Axes."""
        from filterbets_nb.plotting import plot_equity, plot_seasons

        if by == "season":
            return plot_seasons(self._bets_frame(), title=self._plot_title(), ax=ax)
        if by is not None:
            raise ValueError(f"by must be None or 'season', not {by!r}")
        return plot_equity(self._bets_frame(), title=self._plot_title(), ax=ax, x=x)  # type: ignore[arg-type]

    def simulate(self, **options: Any) -> Any:
        """Bankroll paths bootstrapped from these bets (``n``, ``bank``, ``staking``,
        ``fraction``, ``seed``...): see :func:`filterbets_nb.research.simulate.simulate`."""
        from filterbets_nb.research.simulate import simulate

        return simulate(self._bets_frame(), **options)
