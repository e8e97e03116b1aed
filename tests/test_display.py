"""What the analyst reads: summaries and tables formatted, raw values kept underneath."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from filterbets_nb.formatting import Summary, Table, summary_html, summary_text


def test_summary_reads_formatted_and_holds_raw_floats() -> None:
    summary = Summary({"bets": 220.0, "hit_rate": 0.555118, "roi": -0.0163, "profit": -3.2})
    text = repr(summary)
    assert "hit_rate  55.51 %" in text and "roi       -1.63 %" in text
    assert "bets          220" in text and "-3.20" in text and "220.0" not in text
    assert summary["hit_rate"] == 0.555118  # the value code reads is exact
    picked = summary[["bets", "roi"]]
    assert isinstance(picked, Summary) and "-1.63 %" in repr(picked)
    html = summary._repr_html_()
    assert "55.51 %" in html and "0.555118" not in html


def test_summary_html_is_the_same_for_the_same_numbers() -> None:
    """Stored notebooks re-executed with unchanged numbers must not change (no random ids)."""
    one = Summary({"bets": 3.0, "roi": 0.1})
    assert summary_html(one) == summary_html(Summary({"bets": 3.0, "roi": 0.1}))
    assert summary_html(one) != summary_html(Summary({"bets": 4.0, "roi": 0.1}))
    assert summary_text(Summary(dtype=float)) == "(no metrics)"


def test_table_shows_missing_and_counts_and_keeps_the_frame() -> None:
    table = Table({"label": ["a", "b"], "bets": [220.0, float("nan")], "roi": [0.1, None]})
    text = repr(table)
    assert "220" in text and "220.0" not in text and "10.00 %" in text and "NaN" not in text
    assert table["roi"].iloc[0] == 0.1 and isinstance(table[table["bets"] > 0], Table)
    assert "10.00 %" in table._repr_html_()


def test_jobs_show_scope_state_and_formatted_numbers(settings_env: Path) -> None:
    import filterbets_nb as fb
    from filterbets_nb.client import _prepare, _validate

    fb.load_demo(n_matches=300, seed=3)
    for leagues in (["SYN1"], ["SYN1", "SYN2"]):
        _prepare(_validate((fb.F.home_odds > 1.5).bet("home"), leagues, "2020-21", "same", None))
    jobs = fb.jobs()
    assert list(jobs["leagues"]) == ["SYN1,SYN2", "SYN1"]  # newest first
    assert set(jobs["seasons"]) == {"2020-21"} and set(jobs["state"]) == {"PENDING"}
    assert {"label", "created_at", "bets", "roi"} <= set(jobs.columns)
    assert "NaN" not in repr(jobs)


def test_field_catalog_lists_every_field_with_its_file_columns() -> None:
    import filterbets_nb as fb
    from filterbets_nb.filters import FIELDS

    catalog = fb.fields()
    assert list(catalog["field"]) == list(FIELDS)
    by_name = catalog.set_index("field")["football_data"]
    assert by_name["b365_home"] == "B365H"
    assert "AvgH / BbAvH" in by_name["home_odds"]
    assert "synthetic" in by_name["b365_btts_yes"]
    assert pd.api.types.is_string_dtype(catalog["description"])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda fb: fb.F.home_odd, "did you mean 'home_odds'"),
        (
            lambda fb: fb.Filter.from_dict({"rules": [], "market": "hme", "price": "avg"}),
            "did you mean 'home'",
        ),
        (
            lambda fb: fb.Filter.from_dict({"rules": [], "market": "home", "price": "avgg"}),
            "did you mean 'avg'",
        ),
        (
            lambda fb: fb.Filter.from_dict(
                {"rules": [{"field": "home_odds", "op": "=>", "value": 1}], "market": "home"}
                | {"price": "avg"}
            ),
            "did you mean",
        ),
    ],
)
def test_unknown_names_suggest_the_closest(make: object, expected: str) -> None:
    import filterbets_nb as fb

    with pytest.raises(fb.FilterError, match=expected) as caught:
        make(fb)  # type: ignore[operator]
    assert caught.value._render_traceback_() == [f"{type(caught.value).__name__}: {caught.value}"]


def test_a_scope_with_no_match_fails_before_anything_is_stored(settings_env: Path) -> None:
    import filterbets_nb as fb
    from filterbets_nb.client import ScopeError

    fb.load_demo(n_matches=300, seed=3)
    with pytest.raises(ScopeError) as caught:
        fb.backtest((fb.F.home_odds > 1.5).bet("home"), leagues="E0,SP1")
    message = str(caught.value)
    assert "leagues E0,SP1" in message and "SYN1 2021-22 (105)" in message
    assert fb.jobs().empty
    with pytest.raises(ScopeError):
        fb.compare([(fb.F.home_odds > 1.5).bet("home")], seasons=["1999-00"], show_progress=False)
    assert fb.jobs().empty


def test_plots_by_date_by_bet_and_by_season() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from filterbets_nb.plotting import plot_equity, plot_seasons

    kickoff = pd.to_datetime(["2021-08-14", "2021-08-21", "2022-08-13", "2022-09-01"])
    bets = pd.DataFrame(
        {"kickoff": kickoff, "season": ["2021-22", "2021-22", "2022-23", "2022-23"]}
        | {"profit": [1.0, -1.0, -1.0, 0.8]}
    )
    by_date = plot_equity(bets)
    assert by_date.get_xlabel() == "kick-off" and len(by_date.collections) == 1  # the shading
    assert by_date.lines[0].get_xdata()[0] == kickoff[0]
    assert plot_equity(bets, x="bet").get_xlabel() == "bet"
    bars = plot_seasons(bets)
    heights = [round(patch.get_height(), 2) for patch in bars.patches]
    assert heights == [0.0, -0.2]
    assert [t.get_text() for t in bars.get_xticklabels()] == ["2021-22\n2 bets", "2022-23\n2 bets"]
    with pytest.raises(ValueError, match="'date' or 'bet'"):
        plot_equity(bets, x="week")  # type: ignore[arg-type]
