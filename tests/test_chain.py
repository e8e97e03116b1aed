"""The backtest chain end to end with real worker processes: embedded mode and Redis+PostgreSQL.

Each mode gets its own data dir (and, for services, the session's PostgreSQL database and the
test Redis index), a real ``celery worker`` subprocess, and a client in a fresh interpreter, so
nothing is shared with this process but the URLs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Worker, cli, embedded_env, run_py, services_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FILTER = {
    "rules": [
        {"field": "home_odds", "op": "between", "value": [1.5, 2.2]},
        {"field": "league", "op": "in", "value": ["SYN1", "SYN3"]},
    ],
    "market": "home",
    "price": "avg",
    "stake": 1.0,
}

CLIENT = """
import json, filterbets_nb as fb
from filterbets_nb.db import store
from filterbets_nb.db.session import run_async
from filterbets_nb.engine import run_backtest
from filterbets_nb.tasks.progress import read_progress
fb.connect(start_worker=False, quiet=True)
fb.load_demo(n_matches=2000, seed=7)
flt = fb.Filter.from_dict(json.loads({filter!r}))
run = fb.backtest(flt, seasons=["2021-22", "2022-23"], label="chain test")
run.wait(timeout=240)
summary = run.summary()
bets = run.bets()
matches = run_async(lambda s: store.load_matches(s, None, ["2021-22", "2022-23"]))
local = run_backtest(matches, flt)
again = fb.load_results(run.job_id)
print(json.dumps({{
    "job_id": run.job_id,
    "status": run.status()["state"],
    "links": [read_progress(t)["state"] for t in run.task_ids],
    "summary": {{k: summary[k] for k in ("bets", "wins", "losses", "profit", "roi", "hit_rate",
                                         "skipped_no_odds")}},
    "bet_ids": bets["match_id"].tolist(),
    "bet_profit": float(bets["profit"].sum()),
    "local_ids": local.bets()["match_id"].tolist(),
    "local_profit": float(local.bets()["profit"].sum()),
    "local_skipped": int(local.skipped_no_odds),
    "again_bets": len(again.bets()),
    "jobs": len(fb.jobs()),
    "progress": run.status()["progress"],
}}, default=str))
"""


@pytest.fixture(scope="module", params=["embedded", "services"])
def mode_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    data_dir = tmp_path_factory.mktemp(f"chain-{request.param}")
    if request.param == "embedded":
        env = embedded_env(data_dir)
    else:
        pg = request.getfixturevalue("pg_url")
        env = services_env(data_dir, pg, request.getfixturevalue("redis_url"))
    assert cli(env, "db", "upgrade").returncode == 0
    worker = Worker(env, data_dir / "worker.log")
    yield env
    worker.stop()
    assert "Traceback" not in worker.text(), worker.text()


def test_chain_stores_the_engines_bets(mode_env: dict[str, str]) -> None:
    out = run_py(mode_env, CLIENT.format(filter=json.dumps(FILTER)))
    assert out["status"] == "SUCCESS"
    assert out["links"] == ["SUCCESS", "SUCCESS", "SUCCESS"]
    assert out["bet_ids"] == out["local_ids"] and len(out["bet_ids"]) > 50
    assert out["summary"]["bets"] == len(out["local_ids"])
    assert out["summary"]["profit"] == pytest.approx(out["local_profit"], abs=1e-9)
    assert out["bet_profit"] == pytest.approx(out["local_profit"], abs=1e-9)
    assert out["summary"]["skipped_no_odds"] == out["local_skipped"]
    assert out["summary"]["roi"] == pytest.approx(out["local_profit"] / out["summary"]["bets"])
    assert out["again_bets"] == len(out["bet_ids"])
    assert out["jobs"] >= 1
    assert out["progress"]["stage"] == "save" and out["progress"]["percent"] == 100.0


def test_cli_backtest_json(mode_env: dict[str, str], tmp_path: Path) -> None:
    filter_file = tmp_path / "filter.json"
    filter_file.write_text(json.dumps({**FILTER, "market": "draw", "rules": FILTER["rules"][:1]}))
    proc = cli(mode_env, "backtest", str(filter_file), "--json", "--seasons", "2021-22")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    for key in ("bets", "wins", "losses", "profit", "roi", "hit_rate", "skipped_no_odds", "job_id"):
        assert key in summary
    assert summary["bets"] == summary["wins"] + summary["losses"]
    assert "3/3" in proc.stderr  # the text progress bar reached the last link


def test_bad_filter_is_rejected_before_submitting(mode_env: dict[str, str], tmp_path: Path) -> None:
    filter_file = tmp_path / "bad.json"
    filter_file.write_text(
        json.dumps({**FILTER, "rules": [{"field": "home_oods", "op": ">", "value": 2}]})
    )
    proc = cli(mode_env, "backtest", str(filter_file), "--json")
    assert proc.returncode == 1
    assert "home_oods" in proc.stderr and proc.stdout == ""
