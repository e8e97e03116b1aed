"""Margin removal: hand-computed values from the published formulas, and penaltyblog's answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from penaltyblog.implied import calculate_implied

from filterbets_nb import prices
from filterbets_nb.synthetic import generate_matches

# q = 1/odds = 0.5, 0.4, 0.2: booksum 1.1
BOOK = [2.0, 2.5, 5.0]


def test_multiplicative_and_additive_by_hand() -> None:
    assert prices.multiplicative(BOOK) == pytest.approx([0.5 / 1.1, 0.4 / 1.1, 0.2 / 1.1])
    # the 0.1 overround taken off each of the three outcomes equally
    assert prices.additive(BOOK) == pytest.approx([0.5 - 0.1 / 3, 0.4 - 0.1 / 3, 0.2 - 0.1 / 3])


def test_power_satisfies_its_definition() -> None:
    p = prices.power(BOOK)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    k = np.log(p) / np.log([0.5, 0.4, 0.2])  # p_i = q_i ** k with one k for every outcome
    assert k == pytest.approx([k[0]] * 3, abs=1e-9)
    assert k[0] > 1  # an overround book shrinks every q
    # two outcomes 1.5 / 2.5: (2/3)^k + 0.4^k = 1
    two = prices.power([1.5, 2.5])
    kk = math.log(two[0]) / math.log(2 / 3)
    assert (2 / 3) ** kk + 0.4**kk == pytest.approx(1.0, abs=1e-12)
    assert two[1] == pytest.approx(0.4**kk, abs=1e-12)


def test_shin_satisfies_its_definition() -> None:
    p = prices.shin(BOOK)
    q = np.array([0.5, 0.4, 0.2])
    booksum = q.sum()
    # recover z from the first outcome on a fine grid; the same z must give the other two
    z_grid = np.linspace(0.0, 0.2, 200_001)
    formula = (np.sqrt(z_grid**2 + 4 * (1 - z_grid) * q[0] ** 2 / booksum) - z_grid) / (
        2 * (1 - z_grid)
    )
    z = z_grid[np.abs(formula - p[0]).argmin()]
    expected = (np.sqrt(z**2 + 4 * (1 - z) * q**2 / booksum) - z) / (2 * (1 - z))
    assert p == pytest.approx(expected, abs=1e-6)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    # with two outcomes Shin's probabilities are the additive ones (a known identity)
    assert prices.shin([1.83, 2.02]) == pytest.approx(prices.additive([1.83, 2.02]), abs=1e-12)


def test_odds_ratio_satisfies_its_definition() -> None:
    p = prices.odds_ratio(BOOK)
    q = np.array([0.5, 0.4, 0.2])
    ratio = (q / (1 - q)) / (p / (1 - p))  # one odds ratio c for every outcome
    assert ratio == pytest.approx([ratio[0]] * 3, abs=1e-9)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    # a symmetric two-way book at 1.9: p = 1/2, c = (1/1.9) / (1 - 1/1.9) = 1/0.9
    assert prices.odds_ratio([1.9, 1.9]) == pytest.approx([0.5, 0.5], abs=1e-12)


@pytest.mark.parametrize("method", prices.METHODS)
def test_a_fair_book_is_left_alone(method: str) -> None:
    assert prices.remove_margin([1.5, 3.0], method) == pytest.approx([2 / 3, 1 / 3], abs=1e-12)
    assert prices.remove_margin([[4.0, 4.0, 2.0]], method)[0] == pytest.approx(
        [0.25, 0.25, 0.5], abs=1e-12
    )


@pytest.mark.parametrize("method", prices.METHODS)
def test_vectorised_rows_and_bad_rows(method: str) -> None:
    rows = np.array(
        [BOOK, [1.3, 5.5, 9.0], [np.nan, 3.0, 3.0], [1.0, 3.0, 3.0], [3.1, 3.3, 2.4]],
    )
    got = prices.remove_margin(rows, method)
    assert got.shape == rows.shape
    for i in (0, 1, 4):  # each row solved on its own gives the same answer
        assert got[i] == pytest.approx(prices.remove_margin(rows[i], method), abs=1e-12)
        assert got[i].sum() == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(got[2]).all() and np.isnan(got[3]).all()  # a hole, a price of 1.0


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="'logit'"):
        prices.remove_margin(BOOK, "logit")
    with pytest.raises(ValueError, match="at least 2 outcomes"):
        prices.multiplicative([2.0])


@pytest.mark.parametrize("method", prices.METHODS)
def test_same_answers_as_penaltyblog(method: str) -> None:
    """Synthetic 1X2 and over/under books (margins 2.5-7.5 %), row by row against penaltyblog."""
    matches = generate_matches(n_matches=120, seed=3)
    for markets in (["home", "draw", "away"], ["over25", "under25"], ["ah_home", "ah_away"]):
        books = matches[[f"avg_{m}" for m in markets]].dropna().to_numpy()
        mine = prices.remove_margin(books, method)
        theirs = np.array(
            [calculate_implied(list(row), method=method).probabilities for row in books]
        )
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-9)
