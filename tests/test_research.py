"""The research core in process: grids, adjustments, sweep figures, folds, simulation, scanning.

Every figure is checked against an independent computation: a plain loop over the textbook
definition, or a backtest of the same filter with the engine.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest

from filterbets_nb.engine import run_backtest
from filterbets_nb.features import with_features
from filterbets_nb.filters import F, Filter, FilterError
from filterbets_nb.research.evaluate import add_sums, metrics_from_sums
from filterbets_nb.research.grid import expand_grid, template_filter
from filterbets_nb.research.inprocess import sweep_in_process, walk_forward_in_process
from filterbets_nb.research.multiple import (
    bh_adjust,
    deflated_sharpe,
    expected_max_sharpe,
    holm_adjust,
)
from filterbets_nb.research.scan import read_fixtures, scan_fixtures
from filterbets_nb.research.simulate import default_block, simulate
from filterbets_nb.research.walkforward import make_folds
from filterbets_nb.synthetic import generate_matches
from tests.conftest import SHARED_DATA

matplotlib.use("Agg")


def make_home(lo: float, pts: int) -> Filter:
    return ((F.home_odds >= lo) & (F.home_form_pts_5 >= pts)).bet("home")


def make_side(side: str, lo: float, pts: int) -> Filter:
    odds, form = getattr(F, f"{side}_odds"), getattr(F, f"{side}_form_pts_5")
    return ((odds >= lo) & (form >= pts)).bet(side)


@pytest.fixture(scope="module")
def matches() -> pd.DataFrame:
    """Three synthetic leagues over four seasons, with features."""
    return with_features(generate_matches(seasons=4, seed=5))


# --- grids -----------------------------------------------------------------------------------


def test_grid_is_every_combination_first_name_slowest() -> None:
    points = expand_grid(make_home, {"lo": [1.5, np.float64(1.6)], "pts": [6, 8, 10]})
    assert [p.params for p in points][:4] == [
        {"lo": 1.5, "pts": 6},
        {"lo": 1.5, "pts": 8},
        {"lo": 1.5, "pts": 10},
        {"lo": 1.6, "pts": 6},
    ]
    assert type(points[3].params["lo"]) is float  # numpy scalars become JSON numbers
    assert points[4].filter == make_home(1.6, 8).to_dict()


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "at least one grid parameter"),
        ({"lo": 1.5, "pts": [6]}, "'lo': expected a list"),
        ({"lo": [], "pts": [6]}, "'lo' has no values"),
        ({"lo": [[1.5]], "pts": [6]}, "'lo': values must be"),
        ({"lo": [math.nan], "pts": [6]}, "not a finite number"),
    ],
)
def test_bad_grids_are_refused_with_the_parameter_named(grid: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand_grid(make_home, grid)


def test_a_filter_that_cannot_be_built_names_its_grid_point() -> None:
    with pytest.raises(FilterError, match=r"grid point \{'market': 'corners'\}"):
        expand_grid(lambda market: F.home_odds.between(1, 2).bet(market), {"market": ["corners"]})


def test_template_filter_substitutes_placeholders_and_checks_names() -> None:
    template = {"rules": [{"field": "home_odds", "op": ">=", "value": "$lo"}], "market": "home"}
    points = expand_grid(template_filter(template, ["lo"]), {"lo": [1.5, 2.0]})
    assert points[1].filter["rules"][0]["value"] == 2.0
    with pytest.raises(ValueError, match="grid has no 'hi'"):
        template_filter({**template, "rules": [{"value": "$hi"}]}, ["lo"])
    with pytest.raises(ValueError, match=r"\['pts'\] appear nowhere"):
        template_filter(template, ["lo", "pts"])


# --- multiple testing ------------------------------------------------------------------------


def _bh_loop(p: list[float]) -> list[float]:
    m = len(p)
    return [min(min(1.0, m * q / sum(x <= q for x in p)) for q in p if q >= pi) for pi in p]


def _holm_loop(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_bh_and_holm_match_their_definitions() -> None:
    rng = np.random.default_rng(3)
    p = list(np.r_[rng.uniform(0, 0.05, 5), rng.uniform(0, 1, 30)])
    assert np.allclose(bh_adjust(p), _bh_loop(p))
    assert np.allclose(holm_adjust(p), _holm_loop(p))
    assert (holm_adjust(p) >= bh_adjust(p) - 1e-12).all()  # Holm is the stricter one


def test_untested_filters_count_as_tries_but_get_no_adjusted_value() -> None:
    adjusted = bh_adjust([0.01, math.nan, 0.04])
    assert math.isnan(adjusted[1])
    assert adjusted[0] == pytest.approx(min(0.01 * 3, 0.04 * 3 / 2))  # m = 3, not 2
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bh_adjust([1.5])


def test_expected_max_sharpe_matches_the_maximum_of_normal_draws() -> None:
    draws = np.random.default_rng(0).standard_normal((4000, 200)).max(axis=1)
    assert expected_max_sharpe(200, 1.0) == pytest.approx(draws.mean(), abs=0.03)
    assert expected_max_sharpe(1, 1.0) == 0.0


def test_deflated_sharpe_falls_with_the_number_of_tries() -> None:
    one = deflated_sharpe(0.1, 500, 0.0, 3.0, 1, 0.002)
    # One try: the probabilistic Sharpe ratio against 0, Z(SR sqrt(T-1) / sqrt(1 + SR^2/2)).
    assert one == pytest.approx(0.5 * math.erfc(-0.1 * math.sqrt(499 / 1.005) / math.sqrt(2)))
    many = [deflated_sharpe(0.1, 500, 0.0, 3.0, n, 0.002) for n in (10, 100, 1000)]
    assert one > many[0] > many[1] > many[2]
    assert math.isnan(deflated_sharpe(0.1, 1, 0.0, 3.0, 10, 0.002))


# --- sweep figures ---------------------------------------------------------------------------


def test_sweep_rows_are_the_backtests_numbers(matches: pd.DataFrame) -> None:
    result = sweep_in_process(matches, make_home, lo=[1.5, 2.2], pts=[0, 9])
    assert result.n_tried == 4
    for i, row in result.frame.iterrows():
        summary = run_backtest(matches, make_home(row["lo"], row["pts"])).summary()
        for key in ("bets", "wins", "profit", "roi", "max_drawdown", "p_value", "z_score"):
            assert row[key] == pytest.approx(summary[key], nan_ok=True), (i, key)
        sums = add_sums(result.rows[int(i)]["seasons"].values())
        derived = metrics_from_sums(sums)
        for key in ("bets", "profit", "roi", "hit_rate", "z_score"):
            assert derived[key] == pytest.approx(summary[key]), (i, key)
    assert result.frame["n_tried"].eq(4).all()
    assert np.allclose(result.frame["p_adj"], bh_adjust(result.frame["p_edge"]))


def test_per_bet_moments_match_numpy(matches: pd.DataFrame) -> None:
    result = sweep_in_process(matches, make_home, lo=[2.0], pts=[6])
    bets = run_backtest(matches, make_home(2.0, 6)).bets()
    r = (bets["profit"] / bets["stake"]).to_numpy()
    figures = metrics_from_sums(add_sums(result.rows[0]["seasons"].values()))
    z = (r - r.mean()) / r.std()
    assert figures["sharpe"] == pytest.approx(r.mean() / r.std())
    assert figures["skew"] == pytest.approx((z**3).mean())
    assert figures["kurtosis"] == pytest.approx((z**4).mean())


def test_best_respects_min_bets_and_applies_the_haircut(matches: pd.DataFrame) -> None:
    result = sweep_in_process(matches, make_home, lo=[1.5, 2.0, 3.0], pts=[0, 6, 12])
    frame = result.frame
    eligible = frame[frame["bets"] >= 200]
    best = result.best("roi", min_bets=200)
    assert best.metrics["roi"] == eligible["roi"].max()
    assert best.n_tried == 9
    assert best.sharpe_haircut > 0
    assert 0 <= best.deflated_sharpe <= 1
    lowest = result.best("p_adj", min_bets=0)
    assert lowest.p_adj == frame["p_adj"].min()
    with pytest.raises(ValueError, match="no filter of the 9 has 100000 bets"):
        result.best(min_bets=100_000)
    with pytest.raises(KeyError, match="unknown metric 'yield'"):
        result.best("yield")
    assert best.bets()["profit"].sum() == pytest.approx(best.metrics["profit"])


def test_heatmap_shows_the_grid(matches: pd.DataFrame) -> None:
    result = sweep_in_process(matches, make_side, side=["home", "away"], lo=[1.5, 2.5], pts=[6])
    ax = result.heatmap("lo", "side", "roi")
    image = ax.get_images()[0].get_array()
    table = result.frame.pivot_table(index="side", columns="lo", values="roi", aggfunc="max")
    assert np.allclose(np.asarray(image), table.to_numpy())
    assert "4 filters tried" in ax.get_title()
    with pytest.raises(KeyError, match="'market' is not a grid parameter"):
        result.heatmap("lo", "market")


@pytest.mark.slow
def test_no_edge_winners_are_rarely_significant_once_adjusted() -> None:
    """The synthetic bookmaker has a margin and no exploitable edge: 20 seeds, 200 filters each.

    The raw p-value of the best-ROI filter calls many winners significant. The adjusted verdict
    (``Winner.significant``: BH-adjusted p < 0.05 and deflated Sharpe > 0.95) and Holm's
    family-wise p call at most 5 % of them. BH alone is counted too: under a global null its
    guarantee is an *expected* 5 %, so one seed in ten may pass it by chance.
    """
    grid = {
        "side": ["home", "away"],
        "lo": [1.5, 1.7, 1.9, 2.1, 2.4, 2.7, 3.0, 3.5, 4.0, 5.0],
        "pts": [0, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    }
    counts = dict.fromkeys(("raw", "bh", "holm", "dsr", "significant"), 0)
    for seed in range(20):
        data = with_features(generate_matches(seasons=1, seed=100 + seed))
        result = sweep_in_process(data, make_side, **grid)
        assert result.n_tried == 200
        best = result.best("roi", min_bets=30)
        counts["raw"] += int(best.metrics["p_edge"] < 0.05)
        counts["bh"] += int(best.p_adj < 0.05)
        counts["holm"] += int(best.metrics["p_holm"] < 0.05)
        counts["dsr"] += int(best.deflated_sharpe > 0.95)
        counts["significant"] += int(best.significant)
    assert counts["significant"] <= 1 and counts["holm"] <= 1 and counts["dsr"] <= 1, counts
    assert counts["raw"] >= 4 * max(counts["significant"], 1), counts


# --- walk-forward ----------------------------------------------------------------------------


def test_folds_roll_forward() -> None:
    seasons = ["2023-24", "2019-20", "2020-21", "2021-22", "2022-23"]
    folds = make_folds(seasons, train=2, test=1)
    assert [(f.train, f.test) for f in folds] == [
        (("2019-20", "2020-21"), ("2021-22",)),
        (("2020-21", "2021-22"), ("2022-23",)),
        (("2021-22", "2022-23"), ("2023-24",)),
    ]
    assert len(make_folds(seasons, train=1, test=2)) == 2
    with pytest.raises(ValueError, match="needs 3 seasons; the scope has 2"):
        make_folds(["2019-20", "2020-21"])


def test_walk_forward_chooses_on_training_and_judges_on_the_next_season(
    matches: pd.DataFrame,
) -> None:
    grid = {"lo": [1.5, 2.0, 2.5], "pts": [0, 6, 10]}
    result = walk_forward_in_process(matches, make_home, grid, metric="roi", min_bets=50)
    assert list(result.folds["test"]) == ["2023-24", "2024-25"]
    seasons = matches["season"].astype(str)
    for _, fold in result.folds.iterrows():
        train = matches[seasons.isin(fold["train"].split())].reset_index(drop=True)
        test = matches[seasons == fold["test"]].reset_index(drop=True)
        scores = {
            (lo, pts): run_backtest(train, make_home(lo, pts)).summary()
            for lo in grid["lo"]
            for pts in grid["pts"]
        }
        eligible = {k: s["roi"] for k, s in scores.items() if s["bets"] >= 50}
        chosen = max(eligible, key=lambda k: eligible[k])
        assert (fold["lo"], fold["pts"]) == chosen
        assert fold["is_roi"] == pytest.approx(eligible[chosen])
        oos = run_backtest(test, make_home(*chosen)).summary()
        assert fold["oos_roi"] == pytest.approx(oos["roi"])
        assert fold["oos_bets"] == oos["bets"]
    assert len(result.bets()) == result.folds["oos_bets"].sum()
    assert result.summary()["bets"] == len(result.bets())
    gap = (result.folds["is_roi"] - result.folds["oos_roi"]).mean()
    assert result.gap == pytest.approx(gap)
    assert result.equity()["cum_profit"].iloc[-1] == pytest.approx(result.bets()["profit"].sum())


# --- bankroll simulation ---------------------------------------------------------------------


def _bets(won: np.ndarray, odds: float | np.ndarray = 2.0) -> pd.DataFrame:
    odds_array = np.broadcast_to(np.asarray(odds, dtype=float), won.shape).copy()
    profit = np.where(won, odds_array - 1.0, -1.0)
    return pd.DataFrame({"odds": odds_array, "won": won, "stake": 1.0, "profit": profit})


def test_simulation_is_seeded_and_its_figures_hold() -> None:
    rng = np.random.default_rng(1)
    bets = _bets(rng.random(300) < 0.52)
    a, b = simulate(bets, n=500, seed=7), simulate(bets, n=500, seed=7)
    assert np.array_equal(a.final, b.final)
    assert a.block == default_block(300) == 7
    assert a.p_ruin == np.mean(a.min_bank < 50.0)
    assert (a.max_drawdown >= 0).all() and (a.max_drawdown_pct <= 100).all()
    assert list(a.percentiles().index) == ["p5", "p25", "p50", "p75", "p95"]
    assert a.fan.index[0] == 0 and a.fan.index[-1] == 300
    assert a.fan["p50"].iloc[0] == 100.0


def test_a_whole_block_is_a_rotation_so_the_flat_final_bank_never_changes() -> None:
    rng = np.random.default_rng(2)
    bets = _bets(rng.random(120) < 0.5, odds=rng.uniform(1.5, 3.0, 120))
    result = simulate(bets, n=200, block=120, bank=1000, fraction=0.001)
    expected = 1000 + bets["profit"].sum()
    assert np.allclose(result.final, expected)


def test_ruin_and_kelly_edge_cases() -> None:
    losing = simulate(_bets(np.zeros(200, dtype=bool)), n=50, fraction=0.1)
    assert losing.p_ruin == 1.0 and (losing.final == 0).all()  # broke after 10 bets, stops
    winning = simulate(_bets(np.ones(50, dtype=bool)), n=20, staking="kelly")
    assert np.allclose(winning.final, winning.final[0]) and winning.final[0] > 100
    no_edge = simulate(_bets(np.array([True, False] * 50), odds=1.9), n=20, staking="kelly")
    assert np.allclose(no_edge.final, 100.0)  # a losing record stakes nothing under Kelly
    with pytest.raises(ValueError, match="staking must be"):
        simulate(_bets(np.ones(5, dtype=bool)), staking="martingale")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no bets"):
        simulate(_bets(np.ones(0, dtype=bool)))


# --- fixture scanner -------------------------------------------------------------------------


def _with_fixtures(matches: pd.DataFrame, n: int = 90) -> pd.DataFrame:
    frame = matches.copy()
    last = frame["kickoff"].sort_values().iloc[-n]
    frame.loc[frame["kickoff"] >= last, ["fthg", "ftag", "hthg", "htag"]] = np.nan
    return frame


def test_scan_uses_only_what_was_known_before_kick_off(matches: pd.DataFrame) -> None:
    stored = _with_fixtures(matches)
    flt = ((F.home_odds <= 2.2) & (F.home_form_pts_5 >= 9)).bet("home")
    result = scan_fixtures(stored, flt)
    fixtures = stored[stored["fthg"].isna()]
    assert result.n_fixtures == len(fixtures) and result.no_history == 0
    played = stored[stored["fthg"].notna()]
    assert result.record["bets"] == run_backtest(played, flt).summary()["bets"]
    assert len(result.selected) > 0
    for _, pick in result.selected.head(5).iterrows():
        # The form of the home team from its last 5 *played* matches before this kick-off.
        team = pick["home_team"]
        earlier = played[
            (played["league"] == pick["league"])
            & (played["kickoff"] < pick["kickoff"])
            & ((played["home_team"] == team) | (played["away_team"] == team))
        ].tail(5)
        home = earlier["home_team"] == team
        goals_for = np.where(home, earlier["fthg"], earlier["ftag"])
        goals_against = np.where(home, earlier["ftag"], earlier["fthg"])
        points = 3 * (goals_for > goals_against).sum() + (goals_for == goals_against).sum()
        assert pick["home_form_pts_5"] == points
        assert pick["odds"] <= 2.2 and pick["market"] == "home"
    # The same fixtures given as a frame select the same matches at the same prices.
    given = scan_fixtures(played, flt, fixtures.drop(columns="match_id"))
    assert given.selected["odds"].tolist() == result.selected["odds"].tolist()


def test_fixtures_file_rows_without_goals(tmp_path: Path) -> None:
    lines = (SHARED_DATA / "E0_2019-20.csv").read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    blank = [header.index(c) for c in ("FTHG", "FTAG", "FTR", "HTHG", "HTAG", "HTR")]
    future = []
    for line in lines[1:4]:
        cells = line.split(",")
        for i in blank:
            cells[i] = ""
        future.append(",".join(cells))
    league_file = tmp_path / "E0.csv"
    league_file.write_text("\n".join([lines[0], *lines[4:10], *future]) + "\n")
    fixtures = read_fixtures(league_file)
    assert list(fixtures["home_team"]) == [line.split(",")[3] for line in lines[1:4]]
    assert fixtures["fthg"].isna().all() and fixtures["avg_home"].notna().all()
    keep = [i for i in range(len(header)) if i not in blank]
    only = tmp_path / "fixtures.csv"
    only.write_text(
        "\n".join(",".join(line.split(",")[i] for i in keep) for line in lines[:4]) + "\n"
    )
    assert read_fixtures(only)["b365_home"].tolist() == fixtures["b365_home"].tolist()
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + "\n" + future[0].replace(",Liverpool,", ",,") + "\n")
    with pytest.raises(ValueError, match=r"bad\.csv"):
        read_fixtures(bad)


# --- command line (the paths that need no worker) --------------------------------------------


def test_cli_refuses_a_bad_sweep_spec_and_scans_nothing_without_fixtures(
    settings_env: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from filterbets_nb.cli import app

    runner = CliRunner()
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"filter": {"rules": [], "market": "home"}, "grid": {"x": [1]}}))
    result = runner.invoke(app, ["sweep", str(spec)])
    assert result.exit_code == 1 and "['x'] appear nowhere in the filter template" in result.output
    spec.write_text(json.dumps({"filter": {"rules": [], "market": "home"}, "grid": {}}))
    result = runner.invoke(app, ["sweep", str(spec), "--metric", "yield"])
    assert result.exit_code == 1 and "at least one grid parameter" in result.output
    spec.write_text(
        json.dumps(
            {
                "filter": {
                    "rules": [{"field": "home_odds", "op": ">=", "value": "$x"}],
                    "market": "home",
                },
                "grid": {"x": [1]},
            }
        )
    )
    result = runner.invoke(app, ["sweep", str(spec), "--metric", "yield"])
    assert result.exit_code == 1 and "unknown metric 'yield'" in result.output
    spec.write_text(json.dumps({"filter": {}, "grid": {}, "scope": {}}))
    result = runner.invoke(app, ["sweep", str(spec)])
    assert result.exit_code == 1 and "unknown keys ['scope']" in result.output
    flt = tmp_path / "filter.json"
    flt.write_text(json.dumps({"rules": [], "market": "home"}))
    result = runner.invoke(app, ["scan", str(flt)])
    assert result.exit_code == 0 and "no fixtures" in result.output
    result = runner.invoke(app, ["scan", str(flt), "--fixtures", str(tmp_path / "none.csv")])
    assert result.exit_code == 1 and "no such file" in result.output


def test_cli_scans_a_fixtures_file_against_stored_history(
    settings_env: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from filterbets_nb.cli import app
    from filterbets_nb.loading import import_csv

    source = SHARED_DATA / "E0_2019-20.csv"
    import_csv([source])
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    keep = [i for i, h in enumerate(header) if h not in ("FTHG", "FTAG", "FTR", "HTHG", "HTAG")]
    fixtures = tmp_path / "fixtures.csv"  # next season's opening day, same teams and prices
    rows = [line.replace("/2019,", "/2020,").split(",") for line in lines[1:11]]
    fixtures.write_text("\n".join(",".join(row[i] for i in keep) for row in [header, *rows]) + "\n")
    flt = tmp_path / "filter.json"
    flt.write_text(
        json.dumps(
            {
                "rules": [
                    {"field": "home_odds", "op": "<=", "value": 3.0},
                    {"field": "home_form_pts_5", "op": ">=", "value": 7},
                ],
                "market": "home",
            }
        )
    )
    result = CliRunner().invoke(app, ["scan", str(flt), "--fixtures", str(fixtures), "--json"])
    assert result.exit_code == 0, result.output
    selected = json.loads(result.output)
    assert selected and all(r["odds"] <= 3.0 and r["home_form_pts_5"] >= 7 for r in selected)
    assert {r["home_team"] for r in selected} <= {row[3] for row in rows}
    result = CliRunner().invoke(app, ["scan", str(flt), "--fixtures", str(fixtures)])
    assert "of 10 fixtures; history: " in result.output
