"""Real football-data.co.uk seasons, imported with the CLI and backtested through the chain,
checked against an independent pandas computation on the raw CSV files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SHARED_DATA, Worker, cli, embedded_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared football-data files absent"),
]


def raw(season: str) -> pd.DataFrame:
    return pd.read_csv(SHARED_DATA / f"E0_{season}.csv", encoding="latin-1")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("real")
    env = embedded_env(data_dir)
    proc = cli(env, "import", *map(str, sorted(SHARED_DATA.glob("*.csv"))))
    assert proc.returncode == 0, proc.stderr
    assert "1140 added, 0 updated, 0 skipped" in proc.stdout
    worker = Worker(env, data_dir / "worker.log")
    yield env
    worker.stop()


def run(env: dict[str, str], tmp: Path, flt: dict, *args: str) -> dict:
    path = tmp / "filter.json"
    path.write_text(json.dumps(flt))
    proc = cli(env, "backtest", str(path), "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_reimport_changes_nothing(env: dict[str, str]) -> None:
    proc = cli(env, "import", str(SHARED_DATA / "E0_2019-20.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "0 added, 0 updated, 380 skipped" in proc.stdout


def test_home_favourites_at_average_odds(env: dict[str, str], tmp_path: Path) -> None:
    flt = {
        "rules": [{"field": "home_odds", "op": "between", "value": [1.5, 2.2]}],
        "market": "home",
        "price": "avg",
        "stake": 1.0,
    }
    got = run(env, tmp_path, flt, "--seasons", "2015-16", "--seasons", "2019-20")
    frames = [raw("2015-16").rename(columns={"BbAvH": "AvgH"}), raw("2019-20")]
    df = pd.concat([f[["AvgH", "FTR"]] for f in frames])
    sel = df[(df.AvgH >= 1.5) & (df.AvgH <= 2.2)]
    won = sel.FTR == "H"
    profit = float(np.where(won, sel.AvgH - 1.0, -1.0).sum())
    assert got["bets"] == len(sel)
    assert got["wins"] == int(won.sum())
    assert got["losses"] == len(sel) - int(won.sum())
    assert got["profit"] == pytest.approx(profit, abs=1e-9)
    assert got["roi"] == pytest.approx(profit / len(sel), abs=1e-12)
    assert got["hit_rate"] == pytest.approx(won.mean(), abs=1e-12)
    assert got["skipped_no_odds"] == 0


def test_under_bets_use_under_odds_and_count_missing_prices(
    env: dict[str, str], tmp_path: Path
) -> None:
    flt = {
        "rules": [{"field": "away_odds", "op": ">=", "value": 3.0}],
        "market": "under25",
        "price": "b365",
        "stake": 2.0,
    }
    got = run(env, tmp_path, flt)
    # 2015-16 has B365 1X2 but no B365 over/under prices; 2000-01 has no B365 at all.
    old = raw("2015-16")
    skipped = int((old.B365A >= 3.0).sum())
    new = raw("2019-20")
    sel = new[new.B365A >= 3.0]
    won = (sel.FTHG + sel.FTAG) <= 2
    profit = float(np.where(won, 2.0 * (sel["B365<2.5"] - 1.0), -2.0).sum())
    assert got["skipped_no_odds"] == skipped
    assert got["bets"] == len(sel)
    assert got["wins"] == int(won.sum())
    assert got["profit"] == pytest.approx(profit, abs=1e-9)
    assert got["roi"] == pytest.approx(profit / (2.0 * len(sel)), abs=1e-12)


def handicap_outcomes(margin: pd.Series, line: pd.Series) -> pd.Series:
    """Asian handicap outcome per row, counted in quarter goals (independent of the engine).

    ``4 * (margin + line)`` is an integer; on a quarter line (odd ``4 * line``) the two halves sit
    one quarter either side, so the stake is split between ``x - 1`` and ``x + 1``.
    """
    x = (4 * (margin + line)).round().astype(int)
    quarter = (4 * line).round().astype(int) % 2 == 1
    sign_low = np.sign(np.where(quarter, x - 1, x))
    sign_high = np.sign(np.where(quarter, x + 1, x))
    names = {2: "win", 1: "half_win", 0: "push", -1: "half_loss", -2: "loss"}
    return pd.Series(sign_low + sign_high, index=margin.index).map(names)


PAYOFF = {"win": 1.0, "half_win": 0.5, "push": 0.0, "half_loss": -0.5, "loss": -1.0}


def check_handicap(got: dict, outcome: pd.Series, odds: pd.Series) -> None:
    counts = outcome.value_counts()
    for name, key in (
        ("win", "wins"),
        ("half_win", "half_wins"),
        ("push", "pushes"),
        ("half_loss", "half_losses"),
        ("loss", "losses"),
    ):
        assert got[key] == int(counts.get(name, 0)), key
    # winning parts pay odds - 1 per unit, losing parts cost the unit
    profit = sum(
        PAYOFF[o] * (p - 1.0) if PAYOFF[o] > 0 else PAYOFF[o]
        for o, p in zip(outcome, odds, strict=True)
    )
    assert got["bets"] == len(outcome)
    assert got["profit"] == pytest.approx(profit, abs=1e-9)


def test_asian_handicap_home_at_average_prices_both_eras(
    env: dict[str, str], tmp_path: Path
) -> None:
    """2015-16 quotes BetBrain's line and average (BbAHh, BbAvAHH), 2019-20 AHh and AvgAHH."""
    flt = {
        "rules": [{"field": "ah_line", "op": "between", "value": [-1.0, 0.0]}],
        "market": "ah_home",
        "price": "avg",
    }
    got = run(env, tmp_path, flt, "--seasons", "2015-16", "--seasons", "2019-20")
    old = raw("2015-16").rename(columns={"BbAHh": "AHh", "BbAvAHH": "AvgAHH"})
    df = pd.concat([f[["AHh", "AvgAHH", "FTHG", "FTAG"]] for f in (old, raw("2019-20"))])
    sel = df[(df.AHh >= -1.0) & (df.AHh <= 0.0)]
    outcome = handicap_outcomes(sel.FTHG - sel.FTAG, sel.AHh)
    assert set(outcome) == set(PAYOFF)  # every kind of outcome occurs in these seasons
    check_handicap(got, outcome, sel.AvgAHH)


def test_asian_handicap_away_at_pinnacle_close_with_fair_close(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The closing source bets the closing line (AHCh); its fair close is Pinnacle's own."""
    flt = {"rules": [], "market": "ah_away", "price": "pinnacle_close"}
    got = run(env, tmp_path, flt, "--seasons", "2019-20")
    new = raw("2019-20")
    outcome = handicap_outcomes(new.FTAG - new.FTHG, -new.AHCh)
    check_handicap(got, outcome, new.PCAHA)
    fair = (1 / new.PCAHA) / (1 / new.PCAHH + 1 / new.PCAHA)
    assert got["clv_bets"] == len(new)
    assert got["clv_mean"] == pytest.approx(float((new.PCAHA * fair - 1).mean()), abs=1e-12)
    assert got["p_value_null"] == "fair_close"
