"""Summary statistics against numbers worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from filterbets_nb.stats import (
    SUMMARY_KEYS,
    compute_stats,
    equity_curve,
    from_jsonable,
    longest_streaks,
    monthly_breakdown,
    to_jsonable,
    wilson_interval,
)


def _bets() -> pd.DataFrame:
    """Five bets: W W W L L; the fourth stakes 2 units; three have a fair closing probability."""
    return pd.DataFrame(
        {
            "kickoff": pd.to_datetime(
                ["2019-08-10", "2019-08-24", "2019-09-01", "2019-09-14", "2019-10-05"]
            ),
            "odds": [2.0, 1.5, 3.0, 2.0, 4.0],
            "closing_odds": [1.8, np.nan, 3.3, 2.0, np.nan],
            "p_fair_close": [0.55, np.nan, 0.3, 0.45, np.nan],
            "stake": [1.0, 1.0, 1.0, 2.0, 1.0],
            "won": [True, True, True, False, False],
            "profit": [1.0, 0.5, 2.0, -2.0, -1.0],
        }
    )


def test_counts_and_money() -> None:
    s = compute_stats(_bets(), skipped_no_odds=3, skipped_no_edge=1, matches_considered=40)
    assert list(s.index) == list(SUMMARY_KEYS)
    assert (s["bets"], s["wins"], s["losses"], s["pushes"]) == (5, 3, 2, 0)
    assert (s["half_wins"], s["half_losses"]) == (0, 0)
    assert s["hit_rate"] == 0.6
    assert s["staked"] == 6.0
    assert s["profit"] == 0.5
    assert s["roi"] == pytest.approx(0.5 / 6, abs=1e-15)
    assert (s["skipped_no_odds"], s["skipped_no_edge"], s["matches_considered"]) == (3, 1, 40)
    assert s["first_bet"] == pd.Timestamp("2019-08-10")
    assert s["last_bet"] == pd.Timestamp("2019-10-05")


def test_odds_figures() -> None:
    s = compute_stats(_bets(), null="implied")
    assert s["avg_odds"] == 2.5  # 12.5 / 5
    assert (s["min_odds"], s["median_odds"], s["max_odds"]) == (1.5, 2.0, 4.0)
    # 1/odds = 1/2, 2/3, 1/3, 1/2, 1/4 -> sum 9/4
    assert s["expected_wins"] == pytest.approx(2.25, abs=1e-12)
    assert s["implied_prob"] == pytest.approx(0.45, abs=1e-12)


def test_p_value_margin_laden_null_by_name() -> None:
    s = compute_stats(_bets(), null="implied")
    assert s["p_value_null"] == "implied"
    # sum q(1-q) = 1/4 + 2/9 + 2/9 + 1/4 + 3/16 = 163/144; z = (3 - 9/4) / sqrt(163/144)
    z = 9 / math.sqrt(163)
    assert s["z_score"] == pytest.approx(z, abs=1e-12)
    assert s["p_value"] == pytest.approx(0.4808510580715232, abs=1e-12)
    with pytest.raises(ValueError, match="'bogus'"):
        compute_stats(_bets(), null="bogus")


def test_p_value_against_fair_closing_probabilities_by_default() -> None:
    s = compute_stats(_bets())
    assert s["p_value_null"] == "fair_close"
    # bets 1, 3, 4 have q = 0.55, 0.3, 0.45 and went W W L: 2 wins against 1.3 expected
    variance = 2 * 0.55 * 0.45 + 0.3 * 0.7
    z = (2 - 1.3) / math.sqrt(variance)
    assert s["expected_wins"] == pytest.approx(1.3, abs=1e-12)
    assert s["z_score"] == pytest.approx(z, abs=1e-12)
    assert s["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-12)


def test_wilson_interval() -> None:
    low, high = wilson_interval(3, 5)
    assert (low, high) == pytest.approx((0.2307, 0.8824), abs=5e-5)  # textbook values
    s = compute_stats(_bets())
    assert (s["hit_rate_ci_low"], s["hit_rate_ci_high"]) == (low, high)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_streaks() -> None:
    s = compute_stats(_bets())
    assert (s["longest_win_streak"], s["longest_losing_streak"]) == (3, 2)
    won = np.array([False, True, False, False, False, True, True, False])
    assert longest_streaks(won) == (2, 3)
    assert longest_streaks(np.array([True])) == (1, 0)
    assert longest_streaks(np.zeros(0, dtype=bool)) == (0, 0)


def test_drawdown() -> None:
    s = compute_stats(_bets())
    # cum profit 1, 1.5, 3.5, 1.5, 0.5 -> peak 3.5, trough 0.5
    assert s["max_drawdown"] == 3.0
    # bank = 100 x mean stake = 120; peak bankroll 123.5
    assert s["starting_bank"] == 120.0
    assert s["max_drawdown_pct"] == pytest.approx(3.0 / 123.5 * 100, abs=1e-12)
    s = compute_stats(_bets(), starting_bank=10.0)
    assert s["max_drawdown_pct"] == pytest.approx(3.0 / 13.5 * 100, abs=1e-12)


def test_drawdown_from_the_start() -> None:
    # The curve starts at 0 before the first bet: losing straight away is a drawdown.
    bets = pd.DataFrame(
        {
            "odds": [2.0, 2.0, 2.0],
            "stake": [1.0] * 3,
            "won": [False, False, True],
            "profit": [-1.0, -1.0, 1.0],
        }
    )
    s = compute_stats(bets)
    assert s["max_drawdown"] == 2.0
    assert s["max_drawdown_pct"] == pytest.approx(2.0, abs=1e-12)  # 2 / 100
    assert pd.isna(s["first_bet"])


def test_closing_line_value_and_expected_value() -> None:
    s = compute_stats(_bets())
    clv = [2.0 * 0.55 - 1, 3.0 * 0.3 - 1, 2.0 * 0.45 - 1]  # odds x p_fair_close - 1
    assert s["clv_bets"] == 3
    assert s["clv_mean"] == pytest.approx(sum(clv) / 3, abs=1e-12)
    # stake-weighted (stakes 1, 1, 2): no longer a copy of clv_mean
    assert s["expected_value"] == pytest.approx((clv[0] + clv[1] + 2 * clv[2]) / 4, abs=1e-12)
    assert s["expected_value"] != pytest.approx(s["clv_mean"])
    # prices vs the same source's close: 2.0 > 1.8 beat, 3.0 < 3.3 not, 2.0 = 2.0 not
    assert s["clv_beat_share"] == pytest.approx(1 / 3, abs=1e-12)
    no_close = compute_stats(_bets().drop(columns=["closing_odds", "p_fair_close"]))
    assert no_close["clv_bets"] == 0
    assert math.isnan(no_close["clv_mean"])
    assert math.isnan(no_close["expected_value"])
    assert math.isnan(no_close["clv_beat_share"])
    assert math.isnan(no_close["p_value"])


def _handicap_bets() -> pd.DataFrame:
    """Seven Asian handicap bets at odds 2.0, one of each outcome and two more wins/pushes."""
    outcome = ["win", "half_win", "push", "half_loss", "loss", "push", "win"]
    profit = {"win": 1.0, "half_win": 0.5, "push": 0.0, "half_loss": -0.5, "loss": -1.0}
    return pd.DataFrame(
        {
            "odds": [2.0] * 7,
            "stake": [1.0] * 7,
            "outcome": outcome,
            "won": [o in ("win", "half_win") for o in outcome],
            "profit": [profit[o] for o in outcome],
            "p_fair_close": [0.5] * 7,
        }
    )


def test_handicap_outcomes_count_on_decided_stakes() -> None:
    s = compute_stats(_handicap_bets())
    counts = ("wins", "half_wins", "pushes", "half_losses", "losses")
    assert tuple(s[k] for k in counts) == (2, 1, 2, 1, 1)
    # decided units: won 1 + 0.5 + 1 = 2.5, lost 0.5 + 1 = 1.5
    assert s["hit_rate"] == pytest.approx(2.5 / 4.0, abs=1e-12)
    assert (s["hit_rate_ci_low"], s["hit_rate_ci_high"]) == wilson_interval(2.5, 4.0)
    # decided bets in order: W W L L W (pushes skipped, neither extending nor breaking a run)
    assert (s["longest_win_streak"], s["longest_losing_streak"]) == (2, 2)
    assert s["profit"] == pytest.approx(1.0, abs=1e-12)
    # the fair test sees the five decided bets, success = won share of the decided stake
    z = (3 - 2.5) / math.sqrt(5 * 0.25)
    assert s["z_score"] == pytest.approx(z, abs=1e-12)
    with pytest.raises(ValueError, match="bogus"):
        compute_stats(_handicap_bets().assign(outcome="bogus"))
    monthly = monthly_breakdown(_handicap_bets().assign(kickoff=pd.Timestamp("2019-08-10")))
    assert monthly.loc["2019-08", "wins"] == 3  # bets that returned a profit
    assert monthly.loc["2019-08", "hit_rate"] == pytest.approx(2.5 / 4.0, abs=1e-12)


def test_outcomes_read_the_same_as_text_or_categories_and_unknown_ones_fail() -> None:
    """The outcome column may come as strings (object or Arrow) or as a categorical (the
    sweep's frames): the same summary; a name outside the five, or a missing one, fails."""
    bets = _handicap_bets()
    expected = compute_stats(bets)
    for outcome in (
        bets["outcome"].astype(object),
        bets["outcome"].astype("string[pyarrow]"),
        bets["outcome"].astype("category"),
        pd.Categorical(
            bets["outcome"], categories=["win", "odd", "loss", "push", "half_win", "half_loss"]
        ),
    ):
        pd.testing.assert_series_equal(compute_stats(bets.assign(outcome=outcome)), expected)
    wrong = bets["outcome"].astype(object).where(bets.index != 2, "void").astype("category")
    with pytest.raises(ValueError, match=r"unknown bet outcomes \['void'\]"):
        compute_stats(bets.assign(outcome=wrong))
    missing = bets["outcome"].astype("category").where(bets.index != 3)
    with pytest.raises(ValueError, match=r"unknown bet outcomes \['nan'\]"):
        compute_stats(bets.assign(outcome=missing))
    with pytest.raises(ValueError, match=r"unknown bet outcomes \['draw', 'nan'\]"):
        compute_stats(bets.assign(outcome=["draw", None, *bets["outcome"][2:]]))


def test_zero_bets_gives_zero_counts_and_nan_ratios() -> None:
    s = compute_stats(_bets().iloc[:0])
    for key in ("bets", "wins", "losses", "pushes", "clv_bets", "longest_win_streak"):
        assert s[key] == 0
    assert s["staked"] == 0.0
    assert s["profit"] == 0.0
    assert s["max_drawdown"] == 0.0
    for key in (
        "hit_rate",
        "roi",
        "avg_odds",
        "median_odds",
        "p_value",
        "z_score",
        "hit_rate_ci_low",
        "implied_prob",
        "clv_mean",
        "expected_value",
        "max_drawdown_pct",
        "matches_considered",
    ):
        assert math.isnan(s[key]), key
    assert pd.isna(s["first_bet"])
    json.dumps(to_jsonable(s))


def test_equity_curve() -> None:
    curve = equity_curve(_bets())
    assert curve.index.name == "kickoff"
    assert curve.index[0] == pd.Timestamp("2019-08-10")
    assert curve["bet"].tolist() == [1, 2, 3, 4, 5]
    assert curve["cum_profit"].tolist() == [1.0, 1.5, 3.5, 1.5, 0.5]
    assert curve["peak"].tolist() == [1.0, 1.5, 3.5, 3.5, 3.5]
    assert curve["drawdown"].tolist() == [0.0, 0.0, 0.0, 2.0, 3.0]
    losing = equity_curve(pd.DataFrame({"profit": [-1.0, 0.5]}))
    assert losing.index.name == "bet"
    assert losing["peak"].tolist() == [0.0, 0.0]
    assert losing["drawdown"].tolist() == [1.0, 0.5]


def test_monthly_breakdown() -> None:
    monthly = monthly_breakdown(_bets())
    assert monthly.index.tolist() == ["2019-08", "2019-09", "2019-10"]
    assert monthly["bets"].tolist() == [2, 2, 1]
    assert monthly["wins"].tolist() == [2, 1, 0]
    assert monthly["staked"].tolist() == [2.0, 3.0, 1.0]
    assert monthly["profit"].tolist() == [1.5, 0.0, -1.0]
    assert monthly["roi"].tolist() == [0.75, 0.0, -1.0]
    assert monthly["hit_rate"].tolist() == [1.0, 0.5, 0.0]


def test_jsonable_round_trip() -> None:
    s = compute_stats(_bets(), skipped_no_odds=2)
    data = to_jsonable(s)
    assert json.loads(json.dumps(data)) == data
    assert type(data["bets"]) is int
    assert type(data["roi"]) is float
    assert data["first_bet"] == "2019-08-10T00:00:00"
    back = from_jsonable(data)
    pd.testing.assert_series_equal(back, s)
    empty = compute_stats(_bets().iloc[:0])
    data = to_jsonable(empty)
    assert data["roi"] is None and data["first_bet"] is None
    pd.testing.assert_series_equal(from_jsonable(data), empty)


def test_to_jsonable_converts_numpy_types() -> None:
    s = pd.Series(
        {
            "a": np.int64(3),
            "b": np.float32(0.5),
            "c": np.nan,
            "d": np.bool_(True),
            "e": pd.NaT,
            "f": "x",
        }
    )
    assert to_jsonable(s) == {"a": 3, "b": 0.5, "c": None, "d": True, "e": None, "f": "x"}
