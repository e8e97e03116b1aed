"""The vectorised engine: hand-computed backtests and equality with the row-loop reference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filterbets_nb import schema
from filterbets_nb.engine import BET_COLUMNS, OUTCOMES, run_backtest, settle, settle_handicap
from filterbets_nb.features import FEATURE_COLUMNS, with_features
from filterbets_nb.filters import MARKETS, F, Filter, FilterError

try:
    from tests.reference_engine import reference_backtest
except ImportError:  # tests/ is not a package: pytest puts it on sys.path itself
    from reference_engine import reference_backtest  # type: ignore[no-redef]


def _matches() -> pd.DataFrame:
    """Six matches, deliberately not in kick-off order, with a kick-off tie (ids 5 and 2)."""
    frame = pd.DataFrame(
        {
            "match_id": [5, 2, 9, 1, 7, 3],
            "league": ["E0", "E0", "E0", "E1", "E0", "E0"],
            "season": ["2019-20"] * 6,
            "kickoff": pd.to_datetime(
                [
                    "2019-08-10 15:00",
                    "2019-08-10 15:00",
                    "2019-08-03 15:00",
                    "2019-08-03 15:00",
                    "2019-08-17 15:00",
                    "2019-08-24 15:00",
                ]
            ),
            "home_team": ["A", "B", "C", "X", "A", "C"],
            "away_team": ["C", "D", "A", "Y", "B", "D"],
            "fthg": [2, 0, 1, 3, 1, 0],
            "ftag": [1, 0, 1, 0, 2, 0],
            "hthg": [1.0, 0.0, 0.0, 1.0, np.nan, 0.0],
            "htag": [0.0, 0.0, 1.0, 0.0, np.nan, 0.0],
        }
    )
    for column in schema.ODDS_COLUMNS:
        frame[column] = np.nan
    frame["avg_home"] = [2.0, 1.8, 2.5, 1.3, np.nan, 3.0]
    frame["avg_close_home"] = [1.9, 2.0, np.nan, 1.3, 1.5, 3.3]
    frame["avg_draw"] = [3.4, 3.1, 3.2, 5.0, 3.5, 1.0]  # 1.0 is not a real price
    frame["avg_under25"] = [2.1, 1.6, 1.7, 2.0, 2.2, 1.5]
    frame["b365_under25"] = [2.0, 1.7, 1.65, 1.9, 2.3, 1.4]
    frame["p"] = [0.6, 0.5, 0.45, 0.9, 0.5, np.nan]
    return frame


def test_hand_computed_flat_home() -> None:
    result = run_backtest(_matches(), (F.league == "E0").bet("home", stake=2))
    bets = result.bets()
    assert list(bets.columns) == list(BET_COLUMNS)
    # E0 in kick-off order (tie at 08-10 broken by id): 9, 2, 5, 7 (no odds), 3.
    assert bets["match_id"].tolist() == [9, 2, 5, 3]
    assert bets["odds"].tolist() == [2.5, 1.8, 2.0, 3.0]
    assert bets["won"].tolist() == [False, False, True, False]  # 1-1, 0-0, 2-1, 0-0
    assert bets["profit"].tolist() == [-2.0, -2.0, 2.0, -2.0]
    assert bets["cum_profit"].tolist() == [-2.0, -4.0, -2.0, -4.0]
    assert bets["stake"].tolist() == [2.0] * 4
    assert bets["closing_odds"].tolist()[1:] == [2.0, 1.9, 3.3]
    assert math.isnan(bets["closing_odds"].iloc[0])
    assert (bets["market"] == "home").all()
    assert bets["fthg"].tolist() == [1, 0, 2, 0]
    assert bets["won"].dtype == bool
    assert result.selected == 5
    assert result.skipped_no_odds == 1
    assert result.skipped_no_edge == 0
    assert result.matches_considered == 6
    assert result.unsettled == 0
    assert result.summary()["bets"] == 4
    assert result.summary()["profit"] == -4.0
    assert result.summary()["roi"] == -0.5
    assert result.summary()["skipped_no_odds"] == 1


def test_each_market_uses_its_own_column_and_settlement() -> None:
    under = run_backtest(_matches(), Filter((), "under25"))
    # goals 3, 0, 2, 3, 3, 0 -> under wins for ids 2, 9, 3 (<= 2 goals)
    order = under.bets().set_index("match_id")
    assert order["won"].to_dict() == {9: True, 1: False, 2: True, 5: False, 7: False, 3: True}
    assert order.loc[7, "odds"] == 2.2
    assert math.isclose(under.summary()["profit"], 0.7 + 0.6 + 0.5 - 3, abs_tol=1e-12)
    b365 = run_backtest(_matches(), Filter((), "under25", price="b365"))
    assert b365.bets().set_index("match_id").loc[7, "odds"] == 2.3
    draw = run_backtest(_matches(), Filter((), "draw"))
    assert draw.skipped_no_odds == 1  # match 3 priced at 1.0
    assert draw.bets()["won"].sum() == 2  # 1-1 (id 9) and 0-0 (id 2)


@pytest.mark.parametrize(
    ("market", "expected"),
    [
        ("home", [False, False, True, True, False]),
        ("draw", [True, True, False, False, False]),
        ("away", [False, False, False, False, True]),
        ("over25", [False, True, True, False, True]),
        ("under25", [True, False, False, True, False]),
        ("btts_yes", [False, True, True, False, True]),
        ("btts_no", [True, False, False, True, False]),
    ],
)
def test_settle(market: str, expected: list[bool]) -> None:
    home = np.array([0, 2, 2, 1, 1], dtype=float)
    away = np.array([0, 2, 1, 0, 3], dtype=float)
    assert settle(market, home, away).tolist() == expected


@pytest.mark.parametrize(
    ("margin", "line", "outcome", "per_unit"),
    [
        # whole and half lines: win, push, loss
        (1, 0.0, "win", 0.9),
        (0, 0.0, "push", 0.0),
        (-1, 0.0, "loss", -1.0),
        (1, -1.0, "push", 0.0),
        (2, -1.5, "win", 0.9),
        (1, -1.5, "loss", -1.0),
        (-1, 1.5, "win", 0.9),
        # quarter lines: halves on line -/+ 0.25
        (0, -0.25, "half_loss", -0.5),  # halves at -0.5 (lost) and 0 (pushed)
        (1, -0.25, "win", 0.9),
        (0, 0.25, "half_win", 0.45),  # halves at 0 (pushed) and +0.5 (won)
        (-1, 0.25, "loss", -1.0),
        (1, -0.75, "half_win", 0.45),  # halves at -0.5 (won) and -1 (pushed)
        (2, -1.75, "half_win", 0.45),
        (1, -1.25, "half_loss", -0.5),  # halves at -1 (pushed) and -1.5 (lost)
        (-1, 0.75, "half_loss", -0.5),
        (-2, 2.25, "half_win", 0.45),
    ],
)
def test_settle_handicap(margin: int, line: float, outcome: str, per_unit: float) -> None:
    codes, profit = settle_handicap(np.array([float(margin)]), np.array([line]), np.array([1.9]))
    assert OUTCOMES[codes[0] + 2] == outcome
    assert profit[0] == pytest.approx(per_unit, abs=1e-12)


def _handicap_matches() -> pd.DataFrame:
    """Four matches with Asian handicap lines, prices and closing prices."""
    frame = _matches().iloc[:4].copy()  # ids 5 (2-1), 2 (0-0), 9 (1-1), 1 (3-0)
    frame["ah_home_line"] = [-0.25, 0.0, 0.5, -2.75]
    frame["ah_home_line_close"] = [-0.25, 0.25, 0.5, -2.75]
    frame["avg_ah_home"] = [1.9, 2.0, 1.8, 2.2]
    frame["avg_ah_away"] = [1.95, 1.85, 2.05, 1.7]
    frame["avg_close_ah_home"] = [1.85, 1.8, 1.9, 2.1]
    frame["avg_close_ah_away"] = [2.0, 2.05, 1.95, 1.75]
    # Pinnacle's close is complete for match 5 only
    frame["pinnacle_close_ah_home"] = [1.88, np.nan, 1.92, np.nan]
    frame["pinnacle_close_ah_away"] = [2.02, 2.0, np.nan, 1.8]
    return frame


def test_handicap_backtest_hand_computed() -> None:
    result = run_backtest(_handicap_matches(), Filter((), "ah_home"))
    bets = result.bets().set_index("match_id")
    assert bets["line"].to_dict() == {9: 0.5, 1: -2.75, 2: 0.0, 5: -0.25}
    # 1-1 +0.5 win; 3-0 -2.75: halves at -2.5 (won) and -3 (pushed); 0-0 push; 2-1 -0.25 win
    outcome = {9: "win", 1: "half_win", 2: "push", 5: "win"}
    assert bets["outcome"].to_dict() == outcome
    assert bets["profit"].to_dict() == pytest.approx({9: 0.8, 1: 0.6, 2: 0.0, 5: 0.9})
    assert bets["won"].to_dict() == {9: True, 1: True, 2: False, 5: True}
    s = result.summary()
    assert (s["wins"], s["half_wins"], s["pushes"], s["half_losses"], s["losses"]) == (
        2,
        1,
        1,
        0,
        0,
    )
    # fair close: Pinnacle where complete (match 5), else the average close; match 2 was priced
    # at line 0 but closed at +0.25, another bet: no closing price, no fair probability.
    p5 = (1 / 1.88) / (1 / 1.88 + 1 / 2.02)
    p9 = (1 / 1.9) / (1 / 1.9 + 1 / 1.95)
    p1 = (1 / 2.1) / (1 / 2.1 + 1 / 1.75)
    assert bets.loc[5, "p_fair_close"] == pytest.approx(p5, abs=1e-12)
    assert bets.loc[9, "p_fair_close"] == pytest.approx(p9, abs=1e-12)
    assert bets.loc[1, "p_fair_close"] == pytest.approx(p1, abs=1e-12)
    assert math.isnan(bets.loc[2, "p_fair_close"]) and math.isnan(bets.loc[2, "closing_odds"])
    assert bets.loc[5, "clv"] == pytest.approx(1.9 * p5 - 1, abs=1e-12)
    assert bets.loc[9, "closing_odds"] == 1.9
    assert s["clv_bets"] == 3
    assert s["clv_beat_share"] == pytest.approx(2 / 3)  # 1.9 > 1.85, 2.2 > 2.1, 1.8 < 1.9


def test_handicap_away_line_close_source_and_fair_method() -> None:
    frame = _handicap_matches()
    away = run_backtest(frame, Filter((), "ah_away", price="avg_close")).bets()
    away = away.set_index("match_id")
    # the away side gets -AHCh: 0.25, -0.25, -0.5, 2.75; margins -1, 0, 0, -3
    assert away["line"].to_dict() == {9: -0.5, 1: 2.75, 2: -0.25, 5: 0.25}
    assert away["outcome"].to_dict() == {9: "loss", 1: "half_loss", 2: "half_loss", 5: "loss"}
    assert away["odds"].to_dict() == {9: 1.95, 1: 1.75, 2: 2.05, 5: 2.0}
    assert away["p_fair_close"].notna().all()  # a closing price is at the closing line
    shin = run_backtest(frame, Filter((), "ah_away", price="avg_close", fair_method="shin"))
    additive = run_backtest(frame, Filter((), "ah_away", price="avg_close", fair_method="additive"))
    # two outcomes: Shin's probabilities are the additive ones, not the multiplicative ones
    pd.testing.assert_series_equal(shin.bets()["p_fair_close"], additive.bets()["p_fair_close"])
    assert not np.allclose(shin.bets()["p_fair_close"], away.sort_index()["p_fair_close"].values)


@pytest.mark.parametrize(
    "flt",
    [
        Filter((), "ah_home"),
        (F.ah_line <= 0).bet("ah_away", price="avg", fair_method="power"),
        (F.home_odds > 1.5).bet("draw", price="pinnacle_close"),
    ],
)
def test_market_columns_are_all_a_backtest_reads(flt: Filter) -> None:
    """A frame cut down to schema.market_columns (plus the rules' columns) gives the same bets."""
    frame = _handicap_matches()
    frame["pinnacle_close_home"] = [2.0, 2.1, 2.2, 2.3]
    frame["pinnacle_close_draw"] = [3.0, 3.2, 3.4, 3.6]
    frame["pinnacle_close_away"] = [4.0, 3.6, 3.4, 3.0]
    rule_columns = [flt.column_of(rule.field) for rule in flt.rules]
    needed = [*schema.SETTLEMENT_COLUMNS, *schema.market_columns(flt.price, flt.market)]
    slim = frame[list(dict.fromkeys(needed + rule_columns))]
    full_bets = run_backtest(frame, flt).bets()
    pd.testing.assert_frame_equal(run_backtest(slim, flt).bets(), full_bets)
    assert len(full_bets) > 0 and full_bets["p_fair_close"].notna().any()


def test_handicap_without_a_usable_line_is_not_bet() -> None:
    frame = _handicap_matches()
    frame["ah_home_line"] = [np.nan, 0.1, 0.5, -2.75]  # no line; not a quarter line
    result = run_backtest(frame, Filter((), "ah_home"))
    assert result.skipped_no_odds == 2
    assert sorted(result.bets()["match_id"]) == [1, 9]


def test_kelly_hand_computed() -> None:
    flt = Filter(
        (F.league == "E0").rules,
        "home",
        stake=100,
        staking="kelly",
        kelly_fraction=0.5,
        prob_field="p",
    )
    result = run_backtest(_matches(), flt)
    # id 9: p .45 @2.5: f*=(1.125-1)/1.5=1/12 -> 100*.5/12; id 2: .5@1.8: (.9-1)<0 -> no edge
    # id 5: .6@2.0: f*=.2 -> 10; id 7 no odds; id 3: p NaN -> no edge
    assert result.bets()["match_id"].tolist() == [9, 5]
    assert result.bets()["stake"].tolist() == pytest.approx([50 / 12, 10.0], abs=1e-12)
    assert result.bets()["profit"].tolist() == pytest.approx([-50 / 12, 10.0], abs=1e-12)
    assert result.bets()["prob"].tolist() == [0.45, 0.6]
    assert result.skipped_no_edge == 2
    assert result.skipped_no_odds == 1
    assert result.selected == 5
    assert result.summary()["skipped_no_edge"] == 2


def test_kelly_rejects_bad_probabilities_and_missing_column() -> None:
    frame = _matches().assign(p=[0.5, 1.2, 0.5, 0.5, 0.5, 0.5])
    flt = Filter((), "home", staking="kelly", prob_field="p")
    with pytest.raises(FilterError, match=r"prob_field 'p'.*\[0, 1\]"):
        run_backtest(frame, flt)
    with pytest.raises(FilterError, match="'model_p'"):
        run_backtest(frame, Filter((), "home", staking="kelly", prob_field="model_p"))


def test_unsettled_matches_are_not_considered() -> None:
    frame = _matches()
    frame["fthg"] = frame["fthg"].astype(float)
    frame.loc[frame["match_id"] == 5, "fthg"] = np.nan
    result = run_backtest(frame, Filter((), "home"))
    assert 5 not in result.bets()["match_id"].tolist()
    assert result.matches_considered == 5
    assert result.unsettled == 1


def test_missing_columns() -> None:
    with pytest.raises(FilterError, match=r"rule 0 \(field 'home_ppg'\)"):
        run_backtest(_matches(), (F.home_ppg > 1).bet("home"))
    with pytest.raises(FilterError, match="pinnacle_btts_yes"):
        run_backtest(
            _matches().drop(columns=["pinnacle_btts_yes"]), Filter((), "btts_yes", price="pinnacle")
        )
    with pytest.raises(ValueError, match="fthg"):
        run_backtest(_matches().drop(columns=["fthg"]), Filter((), "home"))


def test_closing_odds_nan_without_close_column() -> None:
    frame = _matches().drop(columns=["avg_close_home"])
    bets = run_backtest(frame, Filter((), "home")).bets()
    assert bets["closing_odds"].isna().all()


def test_empty_frame_and_no_bets() -> None:
    calls: list[tuple[int, int]] = []
    empty = _matches().iloc[:0]
    result = run_backtest(empty, Filter((), "home"), progress=lambda a, b: calls.append((a, b)))
    assert calls == [(0, 0)]
    assert result.bets().empty
    assert list(result.bets().columns) == list(BET_COLUMNS)
    assert result.summary()["bets"] == 0
    assert math.isnan(result.summary()["roi"])
    none = run_backtest(_matches(), (F.league == "XX").bet("home"))
    assert none.selected == 0
    assert none.summary()["bets"] == 0


def test_progress_increases_to_total() -> None:
    frame = pd.concat([_matches()] * 7, ignore_index=True)  # 42 rows
    frame["match_id"] = np.arange(len(frame))
    calls: list[tuple[int, int]] = []
    result = run_backtest(
        frame, Filter((), "home"), progress=lambda a, b: calls.append((a, b)), chunk_size=10
    )
    assert calls == [(10, 42), (20, 42), (30, 42), (40, 42), (42, 42)]
    whole = run_backtest(frame, Filter((), "home"))
    pd.testing.assert_frame_equal(result.bets(), whole.bets())
    with pytest.raises(ValueError, match="chunk_size"):
        run_backtest(frame, Filter((), "home"), chunk_size=0)


# ------------------------------------------------------------------ engine == reference property

_GRID = np.array([1.0, 1.5, 1.8, 2.0, 2.5, 3.1, 4.0])
_AH_LINES = np.arange(-1.5, 1.51, 0.25)
_LEAGUES = ["E0", "E1", "SP1"]
_SEASONS = ["2018-19", "2019-20"]
_TEAMS = ["A", "B", "C", "D", "E", "F"]


def random_matches(seed: int, n: int) -> pd.DataFrame:
    """Random schema-shaped matches: kick-off ties, NaN odds, grid odds (so '=' can match)."""
    rng = np.random.default_rng(seed)
    day = rng.integers(0, 12, n)
    frame = pd.DataFrame(
        {
            "match_id": rng.permutation(n) + 100,
            "league": rng.choice(_LEAGUES, n),
            "season": np.where(day < 6, _SEASONS[0], _SEASONS[1]),
            "kickoff": pd.Timestamp("2019-08-01")
            + pd.to_timedelta(day, "D")
            + pd.to_timedelta(rng.choice([0, 15], n), "h"),
            "home_team": rng.choice(_TEAMS, n),
            "away_team": rng.choice(_TEAMS, n),
            "fthg": rng.integers(0, 4, n).astype(float),
            "ftag": rng.integers(0, 4, n).astype(float),
            "hthg": np.nan,
            "htag": np.nan,
        }
    )
    frame.loc[rng.random(n) < 0.05, "fthg"] = np.nan  # a few unplayed fixtures
    odds = np.where(
        rng.random((n, len(schema.ODDS_COLUMNS))) < 0.7,
        rng.choice(_GRID, (n, len(schema.ODDS_COLUMNS))),
        np.round(rng.uniform(1.01, 6.0, (n, len(schema.ODDS_COLUMNS))), 2),
    )
    odds[rng.random(odds.shape) < 0.15] = np.nan
    frame = pd.concat([frame, pd.DataFrame(odds, columns=list(schema.ODDS_COLUMNS))], axis=1)
    # Handicap lines: quarter lines of both signs, some NaN, an impossible 0.1; the closing line
    # equals the earlier one about half the time.
    lines = rng.choice([*np.arange(-2.0, 2.01, 0.25).tolist(), np.nan, 0.1], n)
    frame["ah_home_line"] = lines
    frame["ah_home_line_close"] = np.where(rng.random(n) < 0.5, lines, rng.choice(_AH_LINES, n))
    p = rng.uniform(0.0, 1.0, n)
    p[rng.random(n) < 0.1] = np.nan
    frame["p"] = p
    return with_features(frame)


_NUMERIC = st.sampled_from(
    [f"{m}_odds" for m in schema.ODDS_MARKETS]
    + ["b365_home", "max_over25", "pinnacle_close_draw", "ah_line", "ah_home_line_close"]
    + [c for c in FEATURE_COLUMNS if "form" in c or "ppg" in c or "played" in c]
)
_EXACT = st.sampled_from([*_GRID.tolist(), 0, 1, 3, 5])  # values the data holds exactly
_NUM_VALUES = st.one_of(_EXACT, _EXACT, st.floats(min_value=0, max_value=10))
_DATES = st.sampled_from([f"2019-08-{d:02d}" for d in range(1, 14)])


def _rule(
    field: st.SearchStrategy[str], values: st.SearchStrategy[Any], ops: list[str]
) -> st.SearchStrategy[dict[str, Any]]:
    def build(f: str, op: str, a: Any, b: Any, extra: list[Any]) -> dict[str, Any]:
        if op == "between":
            return {"field": f, "op": op, "value": sorted([a, b])}
        if op == "in":
            return {"field": f, "op": op, "value": [a, *extra]}
        return {"field": f, "op": op, "value": a}

    return st.builds(
        build, field, st.sampled_from(ops), values, values, st.lists(values, max_size=2)
    )


_ALL_OPS = ["=", "!=", ">", "<", ">=", "<=", "in", "between"]
_RULES = st.one_of(
    _rule(st.just("league"), st.sampled_from([*_LEAGUES, "XX"]), ["=", "!=", "in"]),
    _rule(st.just("season"), st.sampled_from([*_SEASONS, "2020-21"]), _ALL_OPS),
    _rule(st.just("date"), _DATES, _ALL_OPS),
    _rule(_NUMERIC, _NUM_VALUES, _ALL_OPS),
)


@st.composite
def random_filters(draw: st.DrawFn) -> Filter:
    d: dict[str, Any] = {
        "rules": draw(st.lists(_RULES, max_size=3)),
        "market": draw(st.sampled_from(MARKETS)),
        "price": draw(st.sampled_from(schema.PRICE_SOURCES)),
        "stake": draw(st.sampled_from([1.0, 2.5, 0.3, 100.0])),
        "staking": draw(st.sampled_from(["flat", "kelly"])),
    }
    if d["staking"] == "kelly":
        d["kelly_fraction"] = draw(st.sampled_from([0.1, 0.25, 1.0, 0.33]))
        d["prob_field"] = "p"
    return Filter.from_dict(d)


def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 80),
    flt=random_filters(),
    chunk=st.sampled_from([1, 7, 100_000]),
)
def test_engine_matches_reference(seed: int, n: int, flt: Filter, chunk: int) -> None:
    frame = random_matches(seed, n)
    got = run_backtest(frame, flt, chunk_size=chunk)
    ref = reference_backtest(frame, flt.to_dict())
    assert got.matches_considered == ref.matches_considered
    assert got.selected == ref.selected
    assert got.skipped_no_odds == ref.skipped_no_odds
    assert got.skipped_no_edge == ref.skipped_no_edge
    assert len(got.bets()) == len(ref.bets)
    assert got.bets()["match_id"].tolist() == [b["match_id"] for b in ref.bets]
    assert got.bets()["won"].tolist() == [b["won"] for b in ref.bets]
    assert got.bets()["outcome"].tolist() == [b["outcome"] for b in ref.bets]
    columns = ("odds", "stake", "profit", "cum_profit", "closing_odds", "prob", "line")
    for column in (*columns, "p_fair_close", "clv"):
        for mine, theirs in zip(
            got.bets()[column].tolist(), [b[column] for b in ref.bets], strict=True
        ):
            assert _same(mine, theirs), (column, mine, theirs)
    assert got.bets()["kickoff"].tolist() == [b["kickoff"] for b in ref.bets]
    assert _same(got.summary()["profit"], sum(b["profit"] for b in ref.bets))
    assert got.filter.mask(frame).sum() >= got.selected


def test_arrow_table_input_gives_the_same_result() -> None:
    import pyarrow as pa

    from filterbets_nb.engine import run_backtest
    from filterbets_nb.filters import F
    from filterbets_nb.synthetic import generate_matches

    matches = generate_matches(n_matches=500, seed=11)
    flt = F.home_odds.between(1.5, 2.5).bet("home")
    from_pandas = run_backtest(matches, flt)
    from_arrow = run_backtest(pa.Table.from_pandas(matches), flt)
    pd.testing.assert_frame_equal(from_pandas.bets(), from_arrow.bets())
    assert len(from_arrow.bets()) > 0


@pytest.mark.parametrize("market", MARKETS)
def test_the_input_frame_is_left_as_it_was(market: str) -> None:
    """Workers hand one cached frame to job after job: the engine must only read it."""
    matches = _matches()
    before = matches.copy(deep=True)
    run_backtest(matches, Filter((), market))
    run_backtest(matches, F.home_odds.between(1.5, 2.6).bet(market))
    run_backtest(
        matches, F.home_odds.between(1.5, 2.6).bet(market, staking="kelly", prob_field="p")
    )
    pd.testing.assert_frame_equal(matches, before)
