"""Bankroll simulation: many plausible orderings of a run's bets, as bank paths.

The bets are resampled with a *circular moving-block bootstrap* in time order: each path is built
from blocks of ``block`` consecutive bets (start drawn uniformly, wrapping at the end), so streaks
and any slow drift within a block survive, which an i.i.d. shuffle would destroy. The default block
length is ``ceil(n ** (1/3))`` bets (the usual order for the block bootstrap of a mean; 13 for 2,000
bets). Each path has as many bets as the run.

Staking, per bet with per-unit return ``r`` (``odds - 1`` if won, ``-1`` if lost):

* ``"flat"``: every bet stakes ``fraction * bank`` (the starting bank; default 1 %). A path whose
  bank reaches 0 stops betting.
* ``"kelly"``: every bet stakes ``fraction * f * current bank`` with the Kelly fraction
  ``f = max(0, (p * odds - 1) / (odds - 1))``. ``p`` is the bet's ``prob`` when the run has one
  (Kelly filters), else the run's own record taken at face value: ``p = (1 + roi) / odds``, the
  probability that makes each bet's edge the run's ROI (so a losing run stakes nothing).

Reported: percentiles of the final bank and of the maximum drawdown (in money and in percent of
the running peak), the probability of ruin (the bank ever falling below ``ruin * bank``) and of
ending below the start, and a fan chart (percentile bands of the bank after every bet).

All paths are computed as numpy arrays, ``chunk`` paths at a time to bound memory.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Simulation", "default_block", "simulate"]

PERCENTILES: Final[tuple[int, ...]] = (5, 25, 50, 75, 95)
_FAN_POINTS: Final = 200
FloatArray = npt.NDArray[np.float64]


def default_block(n_bets: int) -> int:
    """``ceil(n ** (1/3))``, at least 1: the documented default block length."""
    return max(1, math.ceil(n_bets ** (1.0 / 3.0) - 1e-9))


@dataclass
class Simulation:
    """Outcome of :func:`simulate`: per-path figures and the fan chart's percentile bands."""

    final: FloatArray
    max_drawdown: FloatArray
    max_drawdown_pct: FloatArray
    min_bank: FloatArray
    fan: pd.DataFrame
    bank: float
    ruin_level: float
    staking: str
    fraction: float
    block: int
    n_bets: int

    @property
    def n_paths(self) -> int:
        return len(self.final)

    @property
    def p_ruin(self) -> float:
        """Share of paths whose bank ever fell below ``ruin_level``."""
        return float(np.mean(self.min_bank < self.ruin_level))

    @property
    def p_loss(self) -> float:
        """Share of paths that end below the starting bank."""
        return float(np.mean(self.final < self.bank))

    def percentiles(self) -> pd.DataFrame:
        """Final bank and max drawdown (money and %) at the 5/25/50/75/95th percentiles."""
        q = list(PERCENTILES)
        return pd.DataFrame(
            {
                "final_bank": np.percentile(self.final, q),
                "max_drawdown": np.percentile(self.max_drawdown, q),
                "max_drawdown_pct": np.percentile(self.max_drawdown_pct, q),
            },
            index=pd.Index([f"p{p}" for p in q], name="percentile"),
        )

    def summary(self) -> pd.Series:
        return pd.Series(
            {
                "paths": self.n_paths,
                "bets_per_path": self.n_bets,
                "block": self.block,
                "staking": self.staking,
                "fraction": self.fraction,
                "bank": self.bank,
                "median_final_bank": float(np.median(self.final)),
                "p_loss": self.p_loss,
                "ruin_level": self.ruin_level,
                "p_ruin": self.p_ruin,
            },
            dtype=object,
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Fan chart: 5-95 and 25-75 percentile bands and the median bank after each bet."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 4))
        x = self.fan.index.to_numpy()
        ax.fill_between(x, self.fan["p5"], self.fan["p95"], alpha=0.2, label="5-95 %")
        ax.fill_between(x, self.fan["p25"], self.fan["p75"], alpha=0.35, label="25-75 %")
        ax.plot(x, self.fan["p50"], lw=1.5, label="median")
        ax.axhline(self.bank, color="grey", lw=0.8, ls="--")
        ax.axhline(self.ruin_level, color="red", lw=0.8, ls=":", label="ruin level")
        ax.set_xlabel("bet")
        ax.set_ylabel("bank")
        ax.set_title(
            f"{self.n_paths} paths, {self.staking} staking x {self.fraction:g}, "
            f"block {self.block}: P(ruin) {self.p_ruin:.1%}"
        )
        ax.legend(loc="upper left")
        return ax

    def _repr_html_(self) -> str:
        head = html.escape(
            f"{self.n_paths} bankroll paths of {self.n_bets} bets ({self.staking}): "
            f"P(ruin) {self.p_ruin:.1%}, P(loss) {self.p_loss:.1%}"
        )
        return f"<div><b>Simulation</b> {head}{self.percentiles().to_html()}</div>"


def _bets_frame(bets: Any) -> pd.DataFrame:
    """Accept a bets frame, or anything with ``.bets`` (a frame or a method returning one)."""
    if isinstance(bets, pd.DataFrame):
        return bets
    attr = getattr(bets, "bets", None)
    if attr is None:
        raise TypeError(f"cannot simulate {type(bets).__name__}: expected bets or a run")
    return attr() if callable(attr) else attr


def _stake_fractions(
    frame: pd.DataFrame, staking: str, fraction: float
) -> tuple[FloatArray, FloatArray]:
    """(per-unit return, share of the bank staked) per bet."""
    odds = frame["odds"].to_numpy(dtype=np.float64)
    won = frame["won"].to_numpy(dtype=bool)
    unit = np.where(won, odds - 1.0, -1.0)
    if staking == "flat":
        return unit, np.full(len(unit), fraction)
    prob = (
        frame["prob"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "prob" in frame.columns
        else np.full(len(unit), np.nan)
    )
    if np.isnan(prob).all():
        stake = frame["stake"].to_numpy(dtype=np.float64)
        profit = frame["profit"].to_numpy(dtype=np.float64)
        roi = profit.sum() / stake.sum() if stake.sum() > 0 else 0.0
        prob = (1.0 + roi) / odds
    kelly = np.maximum((prob * odds - 1.0) / (odds - 1.0), 0.0)
    return unit, np.nan_to_num(fraction * kelly, nan=0.0)


def simulate(
    bets: Any,
    n: int = 10_000,
    bank: float = 100.0,
    staking: Literal["flat", "kelly"] = "flat",
    fraction: float | None = None,
    seed: int = 0,
    *,
    block: int | None = None,
    ruin: float = 0.5,
    chunk: int = 1_000,
) -> Simulation:
    """Bootstrap ``bets`` (a bets frame, a run or a result) into ``n`` bankroll paths.

    ``fraction`` defaults to 0.01 for flat staking (1 % of the starting bank per bet) and 0.25
    for Kelly (quarter Kelly). ``ruin`` is the ruin level as a share of ``bank``. See the module
    docstring for the bootstrap and the staking rules.
    """
    frame = _bets_frame(bets)
    if staking not in ("flat", "kelly"):
        raise ValueError(f"staking must be 'flat' or 'kelly', got {staking!r}")
    if fraction is None:
        fraction = 0.01 if staking == "flat" else 0.25
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if n < 1 or bank <= 0:
        raise ValueError(f"need n >= 1 paths and a positive bank, got n={n}, bank={bank}")
    missing = [c for c in ("odds", "won", "stake", "profit") if c not in frame.columns]
    if missing:
        raise ValueError(f"bets frame lacks columns {missing}")
    m = len(frame)
    if m == 0:
        raise ValueError("no bets to simulate")
    block = default_block(m) if block is None else int(block)
    if not 1 <= block <= m:
        raise ValueError(f"block must be between 1 and the number of bets ({m}), got {block}")
    unit, share = _stake_fractions(frame, staking, fraction)
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(m / block)
    fan_at = np.unique(np.linspace(0, m, min(_FAN_POINTS, m) + 1).round().astype(np.intp))
    final, dd, dd_pct, low, fan_parts = [], [], [], [], []
    offsets = np.arange(block)
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        starts = rng.integers(0, m, size=(k, n_blocks))
        idx = ((starts[:, :, None] + offsets) % m).reshape(k, -1)[:, :m]
        if staking == "flat":
            steps = fraction * bank * unit[idx]
            path = bank + np.cumsum(steps, axis=1)
            broke = np.logical_or.accumulate(path <= 0.0, axis=1)
            path = np.where(broke, 0.0, path)
        else:
            growth = np.maximum(1.0 + share[idx] * unit[idx], 0.0)
            path = bank * np.cumprod(growth, axis=1)
        full = np.concatenate([np.full((k, 1), bank), path], axis=1)
        peak = np.maximum.accumulate(full, axis=1)
        fall = peak - full
        final.append(full[:, -1])
        dd.append(fall.max(axis=1))
        dd_pct.append((100.0 * fall / peak).max(axis=1))
        low.append(full.min(axis=1))
        fan_parts.append(full[:, fan_at])
    sampled = np.concatenate(fan_parts)
    fan = pd.DataFrame(
        np.percentile(sampled, list(PERCENTILES), axis=0).T,
        index=pd.Index(fan_at, name="bet"),
        columns=[f"p{p}" for p in PERCENTILES],
    )
    return Simulation(
        final=np.concatenate(final),
        max_drawdown=np.concatenate(dd),
        max_drawdown_pct=np.concatenate(dd_pct),
        min_bank=np.concatenate(low),
        fan=fan,
        bank=float(bank),
        ruin_level=float(ruin * bank),
        staking=staking,
        fraction=float(fraction),
        block=block,
        n_bets=m,
    )
