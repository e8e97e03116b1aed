"""Honesty about many tries: multiple-testing adjustments and the deflated Sharpe ratio.

A sweep asks hundreds of questions of the same matches; the best answer is then best partly by
luck. Two corrections are offered, both computed over *every* filter tried (a filter with no bets
still counts as a try: its p-value is taken as 1 and its adjusted value reported as NaN):

* Benjamini-Hochberg (false discovery rate): with ``p_(1) <= ... <= p_(m)``,
  ``p_adj_(i) = min_{k >= i} min(1, m * p_(k) / k)``. This is ``p_adj`` in a sweep's frame.
* Holm (family-wise error rate, stricter): ``p_holm_(i) = max_{k <= i} min(1, (m - k + 1) p_(k))``.

The best-of-N haircut is the deflated Sharpe ratio of Bailey & Lopez de Prado (2014), on
per-bet returns ``r = profit / stake``::

    SR0 = sqrt(V[SR]) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))
    DSR = Z( (SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2) )

where ``SR`` is the winner's per-bet Sharpe ratio (mean / standard deviation of r), ``T`` its
number of bets, ``skew`` and ``kurt`` (not excess) the third and fourth standardised moments of
its returns, ``N`` the number of filters tried, ``V[SR]`` the variance of the Sharpe ratios across
them, ``g`` the Euler-Mascheroni constant and ``Z`` the standard normal CDF. ``SR0`` is the Sharpe
ratio the best of ``N`` skill-less tries is expected to reach; DSR is the probability that the
winner's true Sharpe ratio exceeds 0 once that luck is taken off. Call a winner significant at 5 %
when DSR > 0.95.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "EULER_GAMMA",
    "bh_adjust",
    "deflated_sharpe",
    "expected_max_sharpe",
    "holm_adjust",
    "one_sided_p",
]

EULER_GAMMA: Final[float] = 0.5772156649015329
_NORMAL: Final = NormalDist()
FloatArray = npt.NDArray[np.float64]


def _prepared(p_values: npt.ArrayLike) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be one-dimensional, got shape {p.shape}")
    finite = np.isfinite(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    filled = np.where(finite, p, 1.0)
    return p, filled, np.argsort(filled, kind="stable")


def bh_adjust(p_values: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values, in the input order (NaN stays NaN)."""
    p, filled, order = _prepared(p_values)
    m = len(p)
    if m == 0:
        return p.copy()
    ranked = filled[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    out[~np.isfinite(p)] = np.nan
    return out


def holm_adjust(p_values: npt.ArrayLike) -> FloatArray:
    """Holm step-down adjusted p-values, in the input order (NaN stays NaN)."""
    p, filled, order = _prepared(p_values)
    m = len(p)
    if m == 0:
        return p.copy()
    ranked = filled[order] * (m - np.arange(m))
    adjusted = np.minimum(np.maximum.accumulate(ranked), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    out[~np.isfinite(p)] = np.nan
    return out


def one_sided_p(z_score: float) -> float:
    """``P(Z >= z)``: the chance of winning at least this much more than the prices imply."""
    if not math.isfinite(z_score):
        return math.nan
    return 0.5 * math.erfc(z_score / math.sqrt(2.0))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """``SR0``: the expected best Sharpe ratio of ``n_trials`` tries without skill."""
    if n_trials <= 1 or not sharpe_variance > 0:
        return 0.0
    a = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    b = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def deflated_sharpe(
    sharpe: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
    n_trials: int,
    sharpe_variance: float,
) -> float:
    """DSR (see the module docstring); NaN when it is undefined (fewer than 2 bets...)."""
    if n_obs < 2 or not all(map(math.isfinite, (sharpe, skew, kurtosis))):
        return math.nan
    denominator = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if denominator <= 0:
        return math.nan
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    return _NORMAL.cdf((sharpe - sr0) * math.sqrt(n_obs - 1) / math.sqrt(denominator))
