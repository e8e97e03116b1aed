"""The one interface of a backtest's results, written once for both kinds of result.

:class:`~filterbets_nb.engine.BacktestResult` (run in process by ``fb.run_backtest``) and
:class:`~filterbets_nb.client.BacktestRun` (run by the task system, ``fb.backtest``) both derive
from :class:`BacktestResults`, so a notebook cell reads either the same way: ``summary()``,
``bets()``, ``equity()``, ``monthly()``, ``plot()`` and ``simulate()``, all methods. A method
rather than an attribute because a run's results live in the database and are read on demand;
the in-process result returns what it already holds. Each class says only where its summary
and bets come from and what to title a plot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class BacktestResults(ABC):
    """``summary()`` and ``bets()`` from the subclass; ``equity()``, ``monthly()``, ``plot()``
    and ``simulate()`` from the bets."""

    @abstractmethod
    def summary(self) -> pd.Series:
        """Named metrics (bets, profit, roi, hit_rate, ...) of the bets, rates as fractions."""

    @abstractmethod
    def bets(self) -> pd.DataFrame:
        """Every bet, in kick-off order, with its match, odds, stake, result and profit."""

    def _plot_title(self) -> str:
        return ""

    def equity(self) -> pd.DataFrame:
        """Cumulative profit, running peak and drawdown after every bet."""
        from filterbets_nb import stats

        return stats.equity_curve(self.bets())

    def monthly(self) -> pd.DataFrame:
        """Bets, wins, staked, profit, ROI and hit rate per calendar month."""
        from filterbets_nb import stats

        return stats.monthly_breakdown(self.bets())

    def plot(self, ax: Any = None, *, x: str = "date", by: str | None = None) -> Any:
        """Matplotlib equity curve against kick-off dates (``x="bet"``: bet number) with the
        drawdowns shaded, or ``by="season"`` profit bars per season; returns the Axes."""
        from filterbets_nb.plotting import plot_equity, plot_seasons

        if by == "season":
            return plot_seasons(self.bets(), title=self._plot_title(), ax=ax)
        if by is not None:
            raise ValueError(f"by must be None or 'season', not {by!r}")
        return plot_equity(self.bets(), title=self._plot_title(), ax=ax, x=x)  # type: ignore[arg-type]

    def simulate(self, **options: Any) -> Any:
        """Bankroll paths bootstrapped from these bets (``n``, ``bank``, ``staking``,
        ``fraction``, ``seed``...): see :func:`filterbets_nb.research.simulate.simulate`."""
        from filterbets_nb.research.simulate import simulate

        return simulate(self.bets(), **options)
