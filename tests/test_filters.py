"""Filter validation, stored form, DSL and vectorised rule semantics."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filterbets_nb import schema
from filterbets_nb.features import FEATURE_COLUMNS
from filterbets_nb.filters import (
    FIELDS,
    MARKETS,
    MAX_RULES,
    OPS,
    F,
    Filter,
    FilterError,
    Rule,
)

# --------------------------------------------------------------------------------------- FIELDS


def test_fields_cover_schema_and_features() -> None:
    for column in schema.ODDS_COLUMNS:
        assert FIELDS[column].kind == "number"
        assert FIELDS[column].column == column
    for market in schema.ODDS_MARKETS:
        assert FIELDS[f"{market}_odds"].kind == "number"
    for column in FEATURE_COLUMNS:
        assert FIELDS[column].kind == "number"
    assert FIELDS["league"].kind == "str"
    assert FIELDS["season"].kind == "season"
    assert FIELDS["date"].kind == "date"
    assert all(info.description for info in FIELDS.values())
    assert set(MARKETS) == set(schema.ODDS_MARKETS)


def test_odds_field_reads_price_source_column() -> None:
    assert Filter((), "home", price="avg").column_of("home_odds") == "avg_home"
    assert Filter((), "home", price="b365").column_of("under25_odds") == "b365_under25"
    assert Filter((), "home", price="b365").column_of("max_over25") == "max_over25"
    assert Filter((), "home").column_of("date") == "kickoff"
    assert Filter((), "under25", price="pinnacle").odds_column == "pinnacle_under25"
    assert Filter((), "under25", price="pinnacle").closing_column == "pinnacle_close_under25"
    assert Filter((), "draw", price="avg_close").closing_column == "avg_close_draw"


# ----------------------------------------------------------------------------------- validation

BASE: dict[str, Any] = {"rules": [], "market": "home"}


def _rule(field: str, op: str, value: Any) -> dict[str, Any]:
    return {
        **BASE,
        "rules": [
            {"field": "league", "op": "=", "value": "E0"},
            {"field": field, "op": op, "value": value},
        ],
    }


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_rule("nope", "=", 1), "unknown field"),
        (_rule("home_odds", "~", 1), "unknown op"),
        (_rule("home_odds", "=", "2.0"), "expected a number"),
        (_rule("home_odds", "=", True), "expected a number"),
        (_rule("league", "=", 3), "expected a string"),
        (_rule("league", "=", ""), "empty string"),
        (_rule("league", ">", "E0"), "not allowed on a text field"),
        (_rule("league", "between", ["A", "B"]), "not allowed on a text field"),
        (_rule("season", "=", "2019/20"), "season must look like"),
        (_rule("date", ">=", "2019-13-01"), "date must be"),
        (_rule("date", ">=", "1/8/2019"), "date must be"),
        (_rule("home_odds", "in", []), "non-empty"),
        (_rule("home_odds", "in", 2.0), "needs a list"),
        (_rule("league", "in", "E0"), "needs a list"),
        (_rule("home_odds", "between", [2.5, 1.5]), "lo > hi"),
        (_rule("home_odds", "between", [1.5]), "needs [lo, hi]"),
        (_rule("home_odds", "between", [1.0, 2.0, 3.0]), "needs [lo, hi]"),
        (_rule("home_odds", "=", [1.0]), "single value"),
        (_rule("home_odds", "=", float("nan")), "finite"),
        (_rule("home_odds", ">", float("inf")), "finite"),
        (_rule("home_odds", "in", [1.5, float("nan")]), "finite"),
    ],
)
def test_invalid_rule_names_rule_and_reason(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(FilterError) as err:
        Filter.from_dict(data)
    message = str(err.value)
    assert reason in message
    assert "rule 1" in message
    assert repr(data["rules"][1]["field"]) in message


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"market": "home_draw"}, "unknown market"),
        ({"market": "1"}, "unknown market"),
        ({"price": "bet365"}, "unknown price"),
        ({"stake": 0}, "stake"),
        ({"stake": -1.0}, "stake"),
        ({"stake": float("nan")}, "stake"),
        ({"stake": "1"}, "stake"),
        ({"staking": "martingale"}, "unknown staking"),
        ({"staking": "kelly"}, "prob_field"),
        ({"staking": "kelly", "prob_field": ""}, "prob_field"),
        ({"staking": "kelly", "prob_field": "p", "kelly_fraction": 0}, "kelly_fraction"),
        ({"staking": "kelly", "prob_field": "p", "kelly_fraction": 1.5}, "kelly_fraction"),
        ({"staking": "kelly", "prob_field": "p", "kelly_fraction": math.nan}, "kelly_fraction"),
        ({"kelly_fraction": 0.5}, "only allowed with staking 'kelly'"),
        ({"prob_field": "p"}, "only allowed with staking 'kelly'"),
        ({"colour": "red"}, "unknown filter keys"),
        ({"rules": {"field": "league"}}, "rules must be a list"),
    ],
)
def test_invalid_filter_settings(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(FilterError, match=reason):
        Filter.from_dict({**BASE, **changes})


def test_rule_dict_shape_errors() -> None:
    with pytest.raises(FilterError, match="rule 0"):
        Filter.from_dict({**BASE, "rules": [{"field": "league", "op": "="}]})
    with pytest.raises(FilterError, match="rule 0"):
        Filter.from_dict({**BASE, "rules": ["league = E0"]})
    with pytest.raises(FilterError, match="needs 'market'"):
        Filter.from_dict({"rules": []})


def test_max_rules() -> None:
    rule = {"field": "home_odds", "op": ">", "value": 1.1}
    Filter.from_dict({**BASE, "rules": [rule] * MAX_RULES})
    with pytest.raises(FilterError, match="too many rules"):
        Filter.from_dict({**BASE, "rules": [rule] * (MAX_RULES + 1)})


def test_constructor_validates_too() -> None:
    with pytest.raises(FilterError, match="unknown market"):
        Filter((), "nowhere")
    with pytest.raises(FilterError, match="rule 0"):
        Filter(({"field": "home_odds", "op": "=", "value": "x"},), "home")  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="expected a number"):
        Rule("home_odds", ">", "1.5")


# --------------------------------------------------------------------------------- stored form


def test_canonical_dict_round_trips_exactly() -> None:
    d = {
        "rules": [
            {"field": "home_odds", "op": "between", "value": [1.5, 2.2]},
            {"field": "home_form_pts_5", "op": ">=", "value": 10},
            {"field": "league", "op": "in", "value": ["E0", "E1"]},
            {"field": "date", "op": "<", "value": "2020-03-01"},
        ],
        "market": "home",
        "price": "avg",
        "stake": 2.0,
        "staking": "kelly",
        "kelly_fraction": 0.25,
        "prob_field": "model_p",
    }
    flt = Filter.from_dict(d)
    assert flt.to_dict() == d
    assert json.loads(json.dumps(flt.to_dict())) == d
    assert Filter.from_dict(flt.to_dict()) == flt


def test_defaults_are_filled() -> None:
    flt = Filter.from_dict({"rules": [], "market": "draw"})
    assert flt.to_dict() == {
        "rules": [],
        "market": "draw",
        "price": "avg",
        "stake": 1.0,
        "staking": "flat",
    }
    kelly = Filter.from_dict({"rules": [], "market": "draw", "staking": "kelly", "prob_field": "p"})
    assert kelly.kelly_fraction == 0.25


_LEAGUES = st.sampled_from(["E0", "E1", "SP1", "D1"])
_SEASONS = st.sampled_from(["2017-18", "2018-19", "2019-20"])
_DATES = st.dates(min_value=pd.Timestamp("2015-01-01").date()).map(lambda d: d.isoformat())
_NUMBERS = st.one_of(
    st.floats(min_value=-100, max_value=100, allow_nan=False), st.integers(-100, 100)
)
_NUMERIC_FIELDS = st.sampled_from([f for f, info in FIELDS.items() if info.kind == "number"])


def _rules_for(
    field: st.SearchStrategy[str], values: st.SearchStrategy[Any], ordered: bool
) -> st.SearchStrategy[dict[str, Any]]:
    ops = [op for op in OPS if ordered or op in ("=", "!=", "in")]
    scalar_ops = [op for op in ops if op not in ("in", "between")]
    return st.one_of(
        st.builds(
            lambda f, o, v: {"field": f, "op": o, "value": v},
            field,
            st.sampled_from(scalar_ops),
            values,
        ),
        st.builds(
            lambda f, v: {"field": f, "op": "in", "value": v},
            field,
            st.lists(values, min_size=1, max_size=4),
        ),
        *(
            [
                st.builds(
                    lambda f, a, b: {"field": f, "op": "between", "value": sorted([a, b])},
                    field,
                    values,
                    values,
                )
            ]
            if ordered
            else []
        ),
    )


RULE_DICTS = st.one_of(
    _rules_for(st.just("league"), _LEAGUES, ordered=False),
    _rules_for(st.just("season"), _SEASONS, ordered=True),
    _rules_for(st.just("date"), _DATES, ordered=True),
    _rules_for(_NUMERIC_FIELDS, _NUMBERS, ordered=True),
)


@st.composite
def filter_dicts(draw: st.DrawFn) -> dict[str, Any]:
    d: dict[str, Any] = {
        "rules": draw(st.lists(RULE_DICTS, max_size=6)),
        "market": draw(st.sampled_from(MARKETS)),
        "price": draw(st.sampled_from(schema.PRICE_SOURCES)),
        "stake": draw(st.floats(min_value=0.01, max_value=1000)),
        "staking": draw(st.sampled_from(["flat", "kelly"])),
    }
    if d["staking"] == "kelly":
        d["kelly_fraction"] = draw(st.floats(min_value=0.01, max_value=1.0))
        d["prob_field"] = draw(st.sampled_from(["p", "model_p"]))
    return d


@settings(max_examples=200, deadline=None)
@given(filter_dicts())
def test_round_trip_property(d: dict[str, Any]) -> None:
    flt = Filter.from_dict(d)
    assert flt.to_dict() == d
    again = Filter.from_dict(json.loads(json.dumps(flt.to_dict())))
    assert again == flt
    assert again.to_dict() == d
    assert hash(again) == hash(flt)


# ------------------------------------------------------------------------------------------ DSL


def test_dsl_builds_the_same_rules_as_dicts() -> None:
    flt = (F.home_odds.between(1.5, 2.2) & (F.home_form_pts_5 >= 10) & F.league.isin(["E0"])).bet(
        "home", price="avg", stake=1.0
    )
    by_hand = Filter.from_dict(
        {
            "rules": [
                {"field": "home_odds", "op": "between", "value": [1.5, 2.2]},
                {"field": "home_form_pts_5", "op": ">=", "value": 10},
                {"field": "league", "op": "in", "value": ["E0"]},
            ],
            "market": "home",
            "price": "avg",
            "stake": 1.0,
        }
    )
    assert flt == by_hand
    assert flt.to_dict() == by_hand.to_dict()
    assert flt.describe() == (
        "home @ avg | home_odds between 1.5 and 2.2 & home_form_pts_5 >= 10 & league in [E0]"
    )


def test_dsl_every_operator() -> None:
    conds = [
        (F.league == "E0", "="),
        (F.league != "E0", "!="),
        (F.draw_odds > 3, ">"),
        (F.draw_odds < 3, "<"),
        (F.draw_odds >= 3, ">="),
        (F.draw_odds <= 3, "<="),
    ]
    for cond, op in conds:
        assert cond.to_list()[0]["op"] == op
    where = Filter.where(*(c for c, _ in conds), market="draw", price="b365")
    assert [r["op"] for r in where.to_dict()["rules"]] == [op for _, op in conds]
    assert F["b365_home"].isin([2.0, 2.5]).to_list() == [
        {"field": "b365_home", "op": "in", "value": [2.0, 2.5]}
    ]
    assert Filter(F.league == "E0", "away").to_dict()["rules"] == [
        {"field": "league", "op": "=", "value": "E0"}
    ]


def test_dsl_kelly_dict_form() -> None:
    flt = (F.away_odds >= 2.5).bet(
        "away", stake=10, staking="kelly", kelly_fraction=0.5, prob_field="p_away"
    )
    assert flt.to_dict() == {
        "rules": [{"field": "away_odds", "op": ">=", "value": 2.5}],
        "market": "away",
        "price": "avg",
        "stake": 10.0,
        "staking": "kelly",
        "kelly_fraction": 0.5,
        "prob_field": "p_away",
    }
    assert flt.describe() == "away @ avg | away_odds >= 2.5 | kelly 0.5 x p=p_away, bank 10.0"


def test_dsl_errors() -> None:
    with pytest.raises(FilterError, match="'home_odz'"):
        _ = F.home_odz
    with pytest.raises(AttributeError):
        _ = F.home_odz
    assert not hasattr(F, "_repr_html_")
    assert "home_form_pts_5" in dir(F)
    with pytest.raises(TypeError, match="between"):
        _ = 1.5 < F.home_odds < 2.0
    with pytest.raises(TypeError, match="'&'"):
        _ = (F.home_odds > 1.5) and (F.away_odds > 2)
    with pytest.raises(FilterError, match="expected a number"):
        _ = F.home_odds > "2"
    with pytest.raises(FilterError, match="lo > hi"):
        F.home_odds.between(3, 2)


def test_describe_without_rules_and_with_stake() -> None:
    assert Filter((), "btts_no", price="max", stake=2).describe() == (
        "btts_no @ max | all matches | stake 2.0"
    )


# ---------------------------------------------------------------------------------- evaluation


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "league": pd.Series(["E0", "E1", None, "E0", "SP1"], dtype="str"),
            "season": ["2018-19", "2019-20", "2019-20", "2020-21", "2019-20"],
            "kickoff": pd.to_datetime(
                [
                    "2019-08-01 15:00",
                    "2019-08-01 20:00",
                    "2019-08-02 12:00",
                    "2020-09-01 00:00",
                    "2019-12-31 23:59",
                ]
            ),
            "avg_home": [1.5, 2.2, np.nan, 2.21, 1.49],
            "b365_home": [1.4, 2.0, 3.0, np.nan, 1.5],
            "home_form_pts_5": [10.0, np.nan, 12.0, 9.0, 15.0],
        }
    )


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (F.home_odds.between(1.5, 2.2), [True, True, False, False, False]),
        (F.home_odds != 1.5, [False, True, False, True, True]),  # NaN never matches
        (F.home_odds == 2.21, [False, False, False, True, False]),
        (F.home_odds.isin([1.49, 2.2]), [False, True, False, False, True]),
        (F.home_odds > 2.2, [False, False, False, True, False]),
        (F.home_odds <= 1.5, [True, False, False, False, True]),
        (F.b365_home >= 2.0, [False, True, True, False, False]),
        (F.home_form_pts_5 < 11, [True, False, False, True, False]),
        (F.league == "E0", [True, False, False, True, False]),
        (F.league != "E0", [False, True, False, False, True]),  # missing league never matches
        (F.league.isin(["E1", "SP1"]), [False, True, False, False, True]),
        (F.season >= "2019-20", [False, True, True, True, True]),
        (F.season.between("2018-19", "2019-20"), [True, True, True, False, True]),
        (F.date == "2019-08-01", [True, True, False, False, False]),
        (F.date > "2019-08-01", [False, False, True, True, True]),
        (F.date.between("2019-08-02", "2019-12-31"), [False, False, True, False, True]),
        (F.date.isin(["2020-09-01"]), [False, False, False, True, False]),
        (
            (F.league == "E0") & (F.home_form_pts_5 >= 10) & F.home_odds.between(1, 2),
            [True, False, False, False, False],
        ),
    ],
)
def test_mask_semantics(cond: Any, expected: list[bool]) -> None:
    mask = cond.bet("home").mask(_frame())
    assert mask.dtype == bool
    assert mask.tolist() == expected


def test_mask_uses_price_source() -> None:
    frame = _frame()
    assert (F.home_odds >= 2.0).bet("home", price="b365").mask(frame).tolist() == [
        False,
        True,
        True,
        False,
        False,
    ]
    assert Filter((), "home").mask(frame).tolist() == [True] * 5


def test_mask_missing_column_names_the_rule() -> None:
    flt = ((F.league == "E0") & (F.away_ppg > 1.5)).bet("home")
    with pytest.raises(FilterError, match=r"rule 1 \(field 'away_ppg'\).*with_features"):
        flt.mask(_frame())
    flt = (F.draw_odds > 3).bet("draw")
    with pytest.raises(FilterError, match="avg_draw"):
        flt.mask(_frame())


def test_mask_non_numeric_column() -> None:
    frame = _frame().assign(avg_draw=["x", "y", "z", "w", "v"])
    with pytest.raises(FilterError, match="not numeric"):
        (F.draw_odds > 3).bet("draw").mask(frame)


@pytest.mark.parametrize("dtype", ["str", "object", "category", "string"])
def test_text_rules_work_for_every_string_dtype(dtype: str) -> None:
    frame = _frame()
    frame["league"] = frame["league"].astype(dtype)
    frame["season"] = frame["season"].astype(dtype)
    assert (F.league != "E0").bet("home").mask(frame).tolist() == [False, True, False, False, True]
    assert F.league.isin(["E1", "E0"]).bet("home").mask(frame).tolist() == [
        True,
        True,
        False,
        True,
        False,
    ]
    assert (F.season < "2019-20").bet("home").mask(frame).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]


# ------------------------------------------------------------------------- Asian handicap, fair


def test_handicap_fields_follow_the_price_source() -> None:
    assert Filter((), "ah_home", price="avg").column_of("ah_line") == "ah_home_line"
    assert Filter((), "ah_away", price="pinnacle_close").column_of("ah_line") == (
        "ah_home_line_close"
    )
    assert Filter((), "home", price="b365").column_of("ah_away_odds") == "b365_ah_away"
    assert Filter((), "home").column_of("ah_home_line_close") == "ah_home_line_close"
    assert Filter((), "home").column_of("pinnacle_close_ah_home") == "pinnacle_close_ah_home"
    frame = pd.DataFrame({"ah_home_line": [-0.5, 0.25, np.nan], "ah_home_line_close": [0, 0, 0]})
    assert Filter.where(F.ah_line <= 0, market="ah_home").mask(frame).tolist() == [
        True,
        False,
        False,
    ]
    closing = Filter.where(F.ah_line == 0, market="ah_home", price="avg_close")
    assert closing.mask(frame).tolist() == [True, True, True]


def test_fair_method_is_validated_and_stored_only_when_set() -> None:
    default = Filter((), "ah_home")
    assert default.fair_method == "multiplicative"
    assert "fair_method" not in default.to_dict()  # stored form unchanged for old filters
    shin = (F.ah_line < 0).bet("ah_home", fair_method="shin")
    assert shin.to_dict()["fair_method"] == "shin"
    assert Filter.from_dict(shin.to_dict()) == shin
    assert "fair close shin" in shin.describe()
    with pytest.raises(FilterError, match="unknown fair_method 'logit'"):
        Filter.from_dict({"rules": [], "market": "home", "fair_method": "logit"})
