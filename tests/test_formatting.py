"""Numbers people can read: every metric's presentation follows from its name."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from filterbets_nb.formatting import (
    MISSING,
    format_frame,
    format_summary,
    format_value,
    kind_of,
    styled,
)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("hit_rate", 0.555118, "55.51 %"),
        ("roi", -0.0163, "-1.63 %"),
        ("hit_rate_ci_low", 0.5, "50.00 %"),
        ("max_drawdown_pct", 12.345, "12.35 %"),  # stored as a percentage already
        ("clv_beat_share", 0.25, "25.00 %"),
        ("p_fair_close", 0.4, "40.00 %"),
        ("bets", 220.0, "220"),
        ("half_wins", 3, "3"),
        ("longest_losing_streak", 7.0, "7"),
        ("matches_considered", 12000, "12,000"),
        ("n_filters", 200, "200"),
        ("profit", -3.2, "-3.20"),
        ("staked", 1234.5, "1,234.50"),
        ("avg_odds", 2.0, "2.00"),
        ("line", -0.25, "-0.25"),
        ("p_value", 0.04321, "0.0432"),
        ("p_adj", 1e-9, "< 0.0001"),
        ("z_score", 1.23456, "1.235"),
        ("first_bet", pd.Timestamp("2022-08-06"), "2022-08-06"),
        ("created_at", pd.Timestamp("2026-12-03 06:48:39"), "2026-12-03 06:48"),
        ("label", "quickstart", "quickstart"),
    ],
)
def test_format_value(name: str, value: object, shown: str) -> None:
    assert format_value(name, value) == shown


@pytest.mark.parametrize("missing", [None, math.nan, np.nan, pd.NaT, pd.NA])
def test_missing_values_read_as_no_figure(missing: object) -> None:
    assert format_value("roi", missing) == MISSING
    assert format_value("bets", missing) == MISSING


def test_names_that_only_look_alike_are_not_confused() -> None:
    assert kind_of("mean_return") != "count"  # contains "n_" but is not a count
    assert kind_of("p_fair_close") == "percent"  # a probability, not a p-value
    assert kind_of("max_drawdown") == "money"


def test_summary_and_frames_keep_raw_values() -> None:
    summary = pd.Series({"bets": 220.0, "hit_rate": 0.555118, "roi": float("nan")}, name="s")
    shown = format_summary(summary)
    assert list(shown) == ["220", "55.51 %", MISSING]
    assert shown.name == "s"
    jobs = pd.DataFrame(
        {"label": ["a", "b"], "bets": [220.0, np.nan], "roi": [0.1, -0.05], "won": [True, False]}
    )
    text = format_frame(jobs)
    assert list(text["bets"]) == ["220", MISSING]
    assert list(text["roi"]) == ["10.00 %", "-5.00 %"]
    assert list(text["won"]) == [True, False]
    view = styled(jobs)
    assert view.data is jobs
    html = view.to_html()
    assert "10.00 %" in html and "220" in html and "220.0" not in html
