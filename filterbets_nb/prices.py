"""Fair probabilities from bookmaker prices: the margin removed over the outcomes of one market.

A book's prices ``o_1..o_n`` on the outcomes of one market (home/draw/away, over/under, the two
sides of an Asian handicap) imply ``q_i = 1 / o_i``, whose sum ``B`` (the booksum) exceeds 1 by
the bookmaker's margin. Each method below turns the ``q`` into probabilities summing to 1; they
differ in how they think the margin was spread over the outcomes:

* ``multiplicative`` (proportional, "basic"): ``p_i = q_i / B``;
* ``additive`` (equal margin per outcome): ``p_i = q_i - (B - 1) / n`` (may go below 0 on long
  shots in very unbalanced books; it is returned as computed, not clipped);
* ``power``: ``p_i = q_i ** k`` with ``k`` solving ``sum p_i = 1`` (Vovk/Zhdanov; Clarke 2017);
* ``shin``: ``p_i = (sqrt(z**2 + 4 (1 - z) q_i**2 / B) - z) / (2 (1 - z))`` with ``z`` (the share
  of insider money) solving ``sum p_i = 1`` (Shin 1993, in Jullien and Salanie's closed form);
* ``odds_ratio``: ``q_i = c p_i / (1 - p_i + c p_i)``, i.e. ``p_i = q_i / (c + q_i - c q_i)``, with
  the odds ratio ``c`` solving ``sum p_i = 1`` (Cheung 2015).

Every function is vectorised: it takes a ``rows x outcomes`` array (one market per row, e.g. the
three 1X2 columns of a whole matches frame stacked side by side) and solves all rows at once; the
three implicit methods run one bisection over all rows together, so the cost is a fixed number of
whole-array steps, not a Python loop per match. A row with any missing or impossible price (NaN,
<= 1) gives NaN for every outcome: a market with a hole cannot be de-margined. The module is pure
(numpy only) and imports nothing from the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "METHODS",
    "additive",
    "implied",
    "multiplicative",
    "odds_ratio",
    "power",
    "remove_margin",
    "shin",
]

FloatArray = npt.NDArray[np.float64]

#: Margin-removal methods, by the name filters and backtests use.
METHODS: Final[tuple[str, ...]] = ("multiplicative", "additive", "power", "shin", "odds_ratio")

# Bisection halves the bracket each step: 200 steps take any of the brackets below to the
# resolution of a float64, whatever the row.
_STEPS: Final[int] = 200


def implied(odds: npt.ArrayLike) -> FloatArray:
    """``1 / odds`` as a 2-D float array (rows x outcomes); rows with a bad price become NaN.

    A 1-D input is one market (one row). Raises ValueError on fewer than two outcomes: a single
    price has no margin to remove.
    """
    o = np.array(odds, dtype=np.float64, ndmin=2)
    if o.ndim != 2 or o.shape[1] < 2:
        raise ValueError(f"expected rows x outcomes with at least 2 outcomes, got shape {o.shape}")
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(o) & (o > 1.0)).all(axis=1)
    q = np.full(o.shape, np.nan)
    q[ok] = 1.0 / o[ok]
    return q


def _shaped(result: FloatArray, odds: npt.ArrayLike) -> FloatArray:
    """Give a 1-D input its 1-D answer back."""
    return result[0] if np.ndim(odds) == 1 else result


def _bisect(
    total: Callable[[FloatArray], FloatArray], lo: float, hi: float, rows: int
) -> FloatArray:
    """Per row, the ``x`` in ``[lo, hi]`` where ``total(x) = 1``, ``total`` decreasing in ``x``.

    ``total`` maps a column of ``x`` (one per row) to the per-row sum of the probabilities; rows
    with NaN inputs stay NaN. A root outside the bracket ends at the nearer end.
    """
    low = np.full(rows, lo)
    high = np.full(rows, hi)
    for _ in range(_STEPS):
        mid = 0.5 * (low + high)
        above = total(mid) > 1.0
        low = np.where(above, mid, low)
        high = np.where(above, high, mid)
    return 0.5 * (low + high)


def multiplicative(odds: npt.ArrayLike) -> FloatArray:
    """``p_i = q_i / sum q`` (proportional normalisation)."""
    q = implied(odds)
    return _shaped(q / q.sum(axis=1, keepdims=True), odds)


def additive(odds: npt.ArrayLike) -> FloatArray:
    """``p_i = q_i - (sum q - 1) / n``: the same margin taken off every outcome."""
    q = implied(odds)
    return _shaped(q - (q.sum(axis=1, keepdims=True) - 1.0) / q.shape[1], odds)


def power(odds: npt.ArrayLike) -> FloatArray:
    """``p_i = q_i ** k`` with ``k`` such that the row sums to 1 (solved on ``log k``)."""
    q = implied(odds)
    log_q = np.log(q)

    def total(log_k: FloatArray) -> FloatArray:
        return np.exp(log_q * np.exp(log_k)[:, None]).sum(axis=1)

    k = np.exp(_bisect(total, -12.0, 12.0, len(q)))
    return _shaped(q ** k[:, None], odds)


def _shin_probabilities(q: FloatArray, z: FloatArray) -> FloatArray:
    booksum = q.sum(axis=1, keepdims=True)
    z = z[:, None]
    return (np.sqrt(z * z + 4.0 * (1.0 - z) * q * q / booksum) - z) / (2.0 * (1.0 - z))


def shin(odds: npt.ArrayLike) -> FloatArray:
    """Shin's model: ``z`` (insider share) such that the Shin probabilities sum to 1.

    The bracket is ``z`` in ``[-1, 1)``: an overround book has ``z`` in ``(0, 1)``; a book summing
    to less than 1 (a best-price or exchange "book") gets the negative ``z`` the same formula
    needs, rather than an error.
    """
    q = implied(odds)
    z = _bisect(lambda z: _shin_probabilities(q, z).sum(axis=1), -1.0, 1.0 - 1e-12, len(q))
    return _shaped(_shin_probabilities(q, z), odds)


def odds_ratio(odds: npt.ArrayLike) -> FloatArray:
    """Cheung's odds-ratio method: ``p_i = q_i / (c + q_i - c q_i)`` with ``c`` fitted per row."""
    q = implied(odds)

    def probabilities(log_c: FloatArray) -> FloatArray:
        c = np.exp(log_c)[:, None]
        return q / (c + q - c * q)

    log_c = _bisect(lambda x: probabilities(x).sum(axis=1), -30.0, 30.0, len(q))
    return _shaped(probabilities(log_c), odds)


_FUNCTIONS: Final[dict[str, Callable[[npt.ArrayLike], FloatArray]]] = {
    "multiplicative": multiplicative,
    "additive": additive,
    "power": power,
    "shin": shin,
    "odds_ratio": odds_ratio,
}


def remove_margin(odds: npt.ArrayLike, method: str = "multiplicative") -> FloatArray:
    """Fair probabilities of ``odds`` (rows x outcomes) by the named method of :data:`METHODS`."""
    try:
        function = _FUNCTIONS[method]
    except KeyError:
        known = f"expected one of {METHODS}"
        raise ValueError(f"unknown margin-removal method {method!r}; {known}") from None
    return function(odds)
