"""Property-based fuzzing of the filter parser: any JSON either parses or raises FilterError that
says where (rule index and field, or the key), in a bounded message, and nothing is stored."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filterbets_nb import schema
from filterbets_nb.db.models import BacktestJob
from filterbets_nb.filters import (
    FIELDS,
    MAX_LABEL_CHARS,
    MAX_RULES,
    MAX_TEXT_CHARS,
    OPS,
    Filter,
    FilterError,
    job_label,
)

#: Longest message a rejected filter may produce (values are quoted cut short).
MAX_MESSAGE = 600
TOP_KEYS = ("rules", "market", "price", "stake", "staking", "kelly_fraction", "prob_field")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)

# Close to valid: real field names, ops and markets mixed with wrong ones, so most examples get
# past the first check and exercise the rule-level validation.
fields = st.sampled_from(sorted(FIELDS)) | st.text(max_size=20)
ops = st.sampled_from(OPS) | json_values
rule_values = (
    json_values
    | st.lists(json_scalars, max_size=4)
    | st.sampled_from(["E0", "2019-20", "2020-01-31", "x" * (MAX_TEXT_CHARS + 1)])
    | st.floats(min_value=1.0, max_value=10.0)
)
rules = st.fixed_dictionaries({"field": fields, "op": ops, "value": rule_values}) | json_values
filters = st.fixed_dictionaries(
    {
        "rules": st.lists(rules, max_size=6),
        "market": st.sampled_from(schema.ODDS_MARKETS) | json_values,
    },
    optional={
        "price": st.sampled_from(schema.PRICE_SOURCES) | json_values,
        "stake": st.floats(min_value=-1, max_value=1e6) | json_values,
        "staking": st.sampled_from(["flat", "kelly"]) | json_values,
        "kelly_fraction": st.floats() | json_values,
        "prob_field": st.text(max_size=80) | json_values,
    },
)


def check(data: Any) -> Filter | None:
    """Parse ``data``; a refusal must be a FilterError naming where, in a bounded message."""
    try:
        flt = Filter.from_dict(data)
    except FilterError as exc:
        message = str(exc)
        assert len(message) <= MAX_MESSAGE, message[:200]
        assert message.startswith(("rule ", "field ", "a filter must")) or any(
            key in message for key in (*TOP_KEYS, "filter keys")
        ), message
        return None
    # What parses survives a round trip through its JSON form.
    assert Filter.from_dict(json.loads(json.dumps(flt.to_dict()))) == flt
    return flt


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_parses_or_is_refused_with_a_location(data: Any) -> None:
    check(data)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filters)
def test_near_valid_filters_parse_or_are_refused_with_a_location(data: dict[str, Any]) -> None:
    check(data)


def test_long_and_nul_text_is_refused_at_validation() -> None:
    base = {"market": "home", "rules": []}
    for value in ("E" * (MAX_TEXT_CHARS + 1), "E\x000", "x" * 1_000_000):
        rule = {"field": "league", "op": "=", "value": value}
        with pytest.raises(FilterError, match=r"^rule 0 \(field 'league'\)") as info:
            Filter.from_dict({**base, "rules": [rule]})
        assert len(str(info.value)) < 200
    rule = {"field": "home_odds", "op": ">", "value": 1.5}
    with pytest.raises(FilterError, match=f"too many rules \\({MAX_RULES + 1}\\)"):
        Filter.from_dict({**base, "rules": [rule] * (MAX_RULES + 1)})
    with pytest.raises(FilterError, match="prob_field: longer than"):
        Filter.from_dict({**base, "staking": "kelly", "prob_field": "p" * 65})
    with pytest.raises(FilterError) as info:
        Filter.from_dict({**base, "rules": [{"field": "f" * 1_000_000, "op": "=", "value": 1}]})
    assert len(str(info.value)) < 200


def test_labels_fit_the_column() -> None:
    """A 50-rule filter's derived label is cut (the same way every time); an explicit label
    over the limit is refused rather than silently changed."""
    assert BacktestJob.__table__.c.label.type.length == MAX_LABEL_CHARS
    rule = {"field": "league", "op": "in", "value": [f"L{i}" for i in range(20)]}
    big = Filter.from_dict({"market": "home", "rules": [rule] * MAX_RULES})
    derived = job_label(big)
    assert len(derived) == MAX_LABEL_CHARS and derived == job_label(big)
    assert derived.endswith("...") and big.describe().startswith(derived[:-3])
    small = Filter.from_dict({"market": "home", "rules": []})
    assert job_label(small) == small.describe()
    assert job_label(small, "x" * MAX_LABEL_CHARS) == "x" * MAX_LABEL_CHARS
    with pytest.raises(FilterError, match="label: longer than 200"):
        job_label(small, "x" * (MAX_LABEL_CHARS + 1))
    with pytest.raises(FilterError, match="label: contains a NUL"):
        job_label(small, "a\x00b")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=filters, label=st.sampled_from(["", "ok", "x" * (MAX_LABEL_CHARS + 1)]))
def test_a_refused_filter_or_label_stores_and_sends_nothing(
    settings_env: Path, data: dict[str, Any], label: str
) -> None:
    """Through the analyst's entry point: a refusal leaves no job row and no broker message."""
    import filterbets_nb as fb
    from filterbets_nb.db import store
    from filterbets_nb.db.migrate import ensure_schema
    from filterbets_nb.db.session import run_async

    ensure_schema()

    def jobs() -> int:
        return len(run_async(lambda s: store.unfinished_jobs(s, dt.datetime(1970, 1, 1))))

    broker = settings_env / "broker"
    before = (jobs(), sorted(broker.glob("*")))
    try:
        parsed = Filter.from_dict(data)
        job_label(parsed, label)
    except FilterError:
        with pytest.raises(FilterError):
            fb.backtest(data, label=label)
        assert (jobs(), sorted(broker.glob("*"))) == before


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"leagues": ["E" * 33]}, r"leagues: 'E+' is not a code \(1 to 32 characters"),
        ({"seasons": ["2019-20", "s" * 17]}, r"seasons: 's+' is not a code \(1 to 16 characters"),
        ({"leagues": ["E0\x00"]}, r"leagues: .* is not a code .*no NUL"),
        ({"leagues": ["E0"] * 1001}, "at most 500 leagues"),
    ],
)
def test_an_over_long_scope_stores_and_sends_nothing(
    settings_env: Path, scope: dict[str, list[str]], message: str
) -> None:
    import filterbets_nb as fb
    from filterbets_nb.db import store
    from filterbets_nb.db.migrate import ensure_schema
    from filterbets_nb.db.session import run_async

    ensure_schema()
    flt = {"market": "home", "rules": []}
    with pytest.raises(ValueError, match=message):
        fb.backtest(flt, **scope)  # type: ignore[arg-type]
    jobs = run_async(lambda s: store.unfinished_jobs(s, dt.datetime(1970, 1, 1)))
    assert jobs == [] and not any((settings_env / "broker").glob("*"))
