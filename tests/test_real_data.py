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
