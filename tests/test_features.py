"""Pre-match team features: hand-checked values, no look-ahead, and a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filterbets_nb.features import (
    FEATURE_COLUMNS,
    FEATURE_DESCRIPTIONS,
    SNAPSHOT_COLUMNS,
    compute_features,
    team_snapshot,
    with_features,
)

try:
    from tests.reference_engine import reference_features
except ImportError:  # tests/ is not a package: pytest puts it on sys.path itself
    from reference_engine import reference_features  # type: ignore[no-redef]


def _fixture() -> pd.DataFrame:
    """Five E0 matches (3 and 4 kick off together) and one E1 match with a clashing name 'A'."""
    return pd.DataFrame(
        {
            "match_id": [1, 2, 3, 4, 5, 6],
            "league": ["E0", "E0", "E0", "E0", "E0", "E1"],
            "season": ["2019-20", "2019-20", "2019-20", "2019-20", "2020-21", "2019-20"],
            "kickoff": pd.to_datetime(
                [
                    "2019-08-01",
                    "2019-08-08",
                    "2019-08-15",
                    "2019-08-15",
                    "2020-08-20",
                    "2019-08-20",
                ]
            ),
            "home_team": ["A", "B", "A", "C", "A", "A"],
            "away_team": ["B", "A", "C", "B", "B", "Z"],
            "fthg": [2, 1, 0, 3, 1, 0],
            "ftag": [0, 1, 0, 1, 2, 5],
        }
    )


def _row(feats: pd.DataFrame, match_id: int, side: str) -> dict[str, float]:
    return {
        c.removeprefix(f"{side}_"): feats.loc[match_id, c]
        for c in FEATURE_COLUMNS
        if c.startswith(f"{side}_")
    }


def test_columns_and_descriptions() -> None:
    assert len(FEATURE_COLUMNS) == 36
    assert FEATURE_COLUMNS[0] == "home_played"
    assert "away_failed_to_score_pct" in FEATURE_COLUMNS
    assert "home_form_w_5" in FEATURE_COLUMNS and "away_form_l_10" in FEATURE_COLUMNS
    assert set(FEATURE_DESCRIPTIONS) == set(FEATURE_COLUMNS)
    feats = compute_features(_fixture())
    assert list(feats.columns) == list(FEATURE_COLUMNS)
    assert feats.index.name == "match_id"
    assert feats.index.tolist() == [1, 2, 3, 4, 5, 6]


def test_first_match_has_no_history() -> None:
    a = _row(compute_features(_fixture()), 1, "home")
    assert a["played"] == 0
    assert all(math.isnan(v) for k, v in a.items() if k != "played")


def test_hand_checked_values() -> None:
    feats = compute_features(_fixture())
    # Match 3, home A: before it A won 2-0 at home (match 1) and drew 1-1 away (match 2).
    a = _row(feats, 3, "home")
    assert a["played"] == 2
    assert a["ppg"] == 2.0
    assert (a["form_pts_5"], a["form_w_5"], a["form_d_5"], a["form_l_5"]) == (4, 1, 1, 0)
    assert a["form_pts_10"] == 4
    assert (a["gf_avg"], a["ga_avg"]) == (1.5, 0.5)
    assert (a["gf_avg_home"], a["ga_avg_home"]) == (2.0, 0.0)  # home split: match 1 only
    assert (a["gf_avg_away"], a["ga_avg_away"]) == (1.0, 1.0)  # away split: match 2 only
    assert a["clean_sheet_pct"] == 50.0
    assert a["failed_to_score_pct"] == 0.0
    # Match 2, away A: one home win 2-0 -> no away history yet.
    a2 = _row(feats, 2, "away")
    assert (a2["played"], a2["ppg"], a2["gf_avg_home"]) == (1, 3.0, 2.0)
    assert math.isnan(a2["gf_avg_away"]) and math.isnan(a2["ga_avg_away"])
    assert a2["clean_sheet_pct"] == 100.0
    # Match 4, away B: lost 0-2 away, drew 1-1 at home.
    b = _row(feats, 4, "away")
    assert (b["played"], b["ppg"], b["form_pts_5"], b["form_l_5"]) == (2, 0.5, 1, 1)
    assert (b["gf_avg_home"], b["ga_avg_home"], b["gf_avg_away"], b["ga_avg_away"]) == (
        1.0,
        1.0,
        0.0,
        2.0,
    )
    assert b["failed_to_score_pct"] == 50.0


def test_same_kickoff_is_not_earlier() -> None:
    feats = compute_features(_fixture())
    # C plays match 3 and match 4 at the same kick-off: neither sees the other.
    assert feats.loc[3, "away_played"] == 0
    assert feats.loc[4, "home_played"] == 0
    assert math.isnan(feats.loc[4, "home_form_pts_5"])


def test_new_season_resets_season_stats_but_not_form() -> None:
    feats = compute_features(_fixture())
    a = _row(feats, 5, "home")
    assert a["played"] == 0 and math.isnan(a["ppg"])
    assert (a["form_pts_5"], a["form_w_5"], a["form_d_5"], a["form_l_5"]) == (5, 1, 2, 0)
    b = _row(feats, 5, "away")
    assert (b["form_pts_5"], b["form_l_5"]) == (1, 2)


def test_team_identity_is_per_league() -> None:
    feats = compute_features(_fixture())
    # E1's 'A' is a different team from E0's 'A'.
    assert feats.loc[6, "home_played"] == 0
    assert math.isnan(feats.loc[6, "home_form_pts_10"])


def test_form_window_is_last_n_only() -> None:
    n = 12
    frame = pd.DataFrame(
        {
            "match_id": np.arange(n),
            "league": "E0",
            "season": "2019-20",
            "kickoff": pd.date_range("2019-08-01", periods=n, freq="7D"),
            "home_team": "A",
            "away_team": [f"T{i}" for i in range(n)],
            # A wins the first 6 (3 pts), then loses every match.
            "fthg": [1] * 6 + [0] * 6,
            "ftag": [0] * 6 + [1] * 6,
        }
    )
    feats = compute_features(frame)
    assert feats["home_form_pts_5"].tolist()[:3] == [pytest.approx(np.nan, nan_ok=True), 3, 6]
    # before match 8: last 5 = matches 3..7 = W W W L L; last 10 = matches 0..7 = 6 W, 2 L.
    assert (feats.loc[8, "home_form_pts_5"], feats.loc[8, "home_form_w_5"]) == (9, 3)
    assert (feats.loc[8, "home_form_pts_10"], feats.loc[8, "home_form_l_10"]) == (18, 2)
    # before match 11: last 5 all losses, last 10 = matches 1..10 = 5 W + 5 L.
    assert feats.loc[11, "home_form_pts_5"] == 0
    assert feats.loc[11, "home_form_w_10"] == 5
    assert feats.loc[11, "home_ppg"] == pytest.approx(18 / 11, abs=1e-12)


def test_unplayed_fixtures_get_features_but_add_nothing() -> None:
    frame = _fixture()
    frame["fthg"] = frame["fthg"].astype(float)
    frame["ftag"] = frame["ftag"].astype(float)
    frame.loc[frame["match_id"] == 2, ["fthg", "ftag"]] = np.nan
    feats = compute_features(frame)
    assert feats.loc[2, "home_played"] == 1  # B: match 1 only
    assert feats.loc[2, "away_ppg"] == 3.0  # A: one win
    assert feats.loc[3, "home_played"] == 1  # match 2 did not count
    assert feats.loc[3, "home_form_pts_5"] == 3
    assert (feats.loc[4, "away_played"], feats.loc[4, "away_form_pts_10"]) == (1, 0)


def test_with_features_keeps_rows_and_replaces_columns() -> None:
    frame = _fixture().sample(frac=1.0, random_state=3)
    out = with_features(frame)
    assert out.index.tolist() == frame.index.tolist()
    assert out["match_id"].tolist() == frame["match_id"].tolist()
    again = with_features(out)
    pd.testing.assert_frame_equal(again, out)
    feats = compute_features(_fixture())
    for mid, value in zip(out["match_id"], out["home_played"], strict=True):
        assert feats.loc[mid, "home_played"] == value


def test_team_snapshot() -> None:
    snap = team_snapshot(_fixture())
    assert list(snap.columns) == list(SNAPSHOT_COLUMNS)
    assert list(zip(snap["league"], snap["team"], strict=True)) == [
        ("E0", "A"),
        ("E0", "B"),
        ("E0", "C"),
        ("E1", "A"),
        ("E1", "Z"),
    ]
    a = snap.iloc[0]
    assert (a["season"], a["played"], a["ppg"]) == ("2020-21", 1, 0.0)
    assert (a["form_pts_5"], a["form_pts_10"], a["gf_avg"], a["ga_avg"]) == (5, 5, 1.0, 2.0)
    assert a["last_match"] == pd.Timestamp("2020-08-20")
    c = snap.iloc[2]
    assert (c["season"], c["played"], c["ppg"], c["gf_avg"], c["ga_avg"]) == (
        "2019-20",
        2,
        2.0,
        1.5,
        0.5,
    )
    z = snap.iloc[4]
    assert (z["played"], z["ppg"], z["form_pts_5"], z["gf_avg"]) == (1, 3.0, 3, 5.0)
    assert team_snapshot(_fixture().iloc[:0]).empty


# ------------------------------------------------------------------------------------ properties


def random_matches(seed: int, n: int) -> pd.DataFrame:
    """Two leagues, five teams, weekly kick-offs with ties, about 10% unplayed fixtures."""
    rng = np.random.default_rng(seed)
    day = rng.integers(0, 40, n)
    home = rng.integers(0, 5, n)
    away = (home + rng.integers(1, 5, n)) % 5  # never a team against itself
    teams = np.array(list("ABCDE"))
    return pd.DataFrame(
        {
            "match_id": rng.permutation(n) * 3 + 1,
            "league": rng.choice(["E0", "E1"], n),
            "season": np.where(day < 20, "2018-19", "2019-20"),
            "kickoff": pd.Timestamp("2019-01-01") + pd.to_timedelta(day * 7, "D"),
            "home_team": teams[home],
            "away_team": teams[away],
            "fthg": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 4, n)),
            "ftag": rng.integers(0, 4, n),
        }
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 45))
def test_matches_brute_force_reference(seed: int, n: int) -> None:
    frame = random_matches(seed, n)
    feats = compute_features(frame)
    ref = reference_features(frame)
    for mid, expected in ref.items():
        for column, value in expected.items():
            got = feats.loc[mid, column]
            if math.isnan(value):
                assert math.isnan(got), (mid, column)
            else:
                assert got == pytest.approx(value, abs=1e-9), (mid, column, got, value)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    pick=st.integers(0, 10**6),
    goals=st.tuples(st.integers(0, 9), st.integers(0, 9)),
)
def test_no_look_ahead(seed: int, n: int, pick: int, goals: tuple[int, int]) -> None:
    """Changing one match's result never changes features of matches kicking off no later."""
    frame = random_matches(seed, n)
    before = compute_features(frame)
    i = pick % n
    changed = frame.copy()
    changed.loc[changed.index[i], ["fthg", "ftag"]] = goals
    after = compute_features(changed)
    unaffected = frame["match_id"][frame["kickoff"] <= frame["kickoff"].iloc[i]]
    pd.testing.assert_frame_equal(before.loc[unaffected], after.loc[unaffected])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60))
def test_row_order_does_not_matter(seed: int, n: int) -> None:
    frame = random_matches(seed, n)
    shuffled = frame.sample(frac=1.0, random_state=seed % 1000)
    pd.testing.assert_frame_equal(
        compute_features(frame).sort_index(), compute_features(shuffled).sort_index()
    )
