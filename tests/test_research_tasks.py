"""Research verbs through the task system: real workers, both modes, the CLI.

A sweep runs as one chunked workflow on a worker with two processes; its table must equal the
in-process sweep over the same stored matches, its aggregate bar must reach every filter, and a
walk-forward on the workers must choose and judge exactly as the in-process one. In the embedded
mode a worker SIGKILLed in the middle of a chunk must not end the sweep: the next worker sends
that chunk again and the sweep ends with every grid point, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from filterbets_nb import testing
from filterbets_nb.tasks.research_tasks import chunk_bounds, chunk_signature
from tests.conftest import (
    PG_ADMIN_URL,
    Worker,
    cli,
    embedded_env,
    run_py,
    services_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PRELUDE = """
import json
import filterbets_nb as fb
from filterbets_nb import F
from filterbets_nb.research.inprocess import sweep_in_process, walk_forward_in_process
fb.connect(start_worker=False, quiet=True)
def make(lo, pts):
    return ((F.home_odds >= lo) & (F.home_form_pts_5 >= pts)).bet("home")
GRID = {"lo": [1.5, 1.8, 2.1, 2.6], "pts": [0, 5, 9]}
"""


@pytest.fixture(scope="module", params=["embedded", "services"])
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Demo leagues (3 leagues x 3 seasons) stored, and a worker with two processes."""
    data_dir = tmp_path_factory.mktemp(f"research-{request.param}")
    if request.param == "embedded":
        env = embedded_env(data_dir)
    else:
        name = testing.create_database(PG_ADMIN_URL, "fbresearch_")
        request.addfinalizer(lambda: testing.drop_database(PG_ADMIN_URL, name))
        pg = testing.database_url(PG_ADMIN_URL, name)
        env = services_env(data_dir, pg, request.getfixturevalue("redis_url"))
    env["FILTERBETS_PROGRESS_INTERVAL"] = "0.01"
    assert run_py(env, "import filterbets_nb as fb\nfb.load_demo(seed=4)\nprint(1)") == 1
    worker = Worker(env, data_dir / "worker.log", concurrency=2)
    yield env
    worker.stop()


def test_sweep_and_walk_forward_on_the_workers_equal_in_process(env: dict[str, str]) -> None:
    """One interpreter per mode: a sweep, a sweep that must fail, and (embedded) a walk-forward
    and the beat scan task; the services mode runs the sweep part, the same code path."""
    embedded = not env.get("FILTERBETS_DATABASE_URL")
    out = run_py(
        env,
        PRELUDE
        + f"EMBEDDED = {embedded}\n"
        + """
run = fb.sweep(make, chunk_size=5, **GRID)
seen = []
while (status := run.status())["state"] not in ("SUCCESS", "FAILURE", "REVOKED"):
    seen.append(status["progress"]["current"])
result = run.wait(timeout=300)
local = sweep_in_process(fb.matches(), make, **GRID)
columns = ["lo", "pts", "bets", "profit", "roi", "p_value", "p_adj", "p_holm", "sharpe"]
same = result.frame[columns].round(9).equals(local.frame[columns].round(9))
again = fb.load_sweep(run.run_id).result()
try:
    fb.sweep(make, leagues="NOPE", **GRID)  # refused at submit, as a backtest's scope is
    error = None
except fb.ScopeError as exc:
    error = str(exc)
cancelled = fb.sweep(make, chunk_size=1, **GRID)
cancelled.cancel()
try:
    cancelled.wait(timeout=300)
    verdict = "finished"
except fb.BacktestCancelled:
    verdict = "cancelled"
import time
time.sleep(1.0)  # a chunk that was already running must not bring the run back
out = {
    "cancel": [verdict, cancelled.state],
    "same": bool(same), "tasks": len(run.task_ids), "n": result.n_tried,
    "seen": seen, "final": status["progress"],
    "again": bool(again.frame.equals(result.frame)), "error": error,
}
if EMBEDDED:
    remote = fb.walk_forward(make, GRID, train=1, test=1, min_bets=30).wait(timeout=300)
    mine = walk_forward_in_process(fb.matches(), make, GRID, train=1, test=1, min_bets=30)
    columns = ["train", "test", "lo", "pts", "is_roi", "oos_bets", "oos_roi"]
    from filterbets_nb.tasks.research_tasks import scan_fixtures_task
    scanned = scan_fixtures_task.delay(make(2.0, 6).to_dict()).get(timeout=300)
    out.update({
        "wf_same": bool(remote.folds[columns].round(9).equals(mine.folds[columns].round(9))),
        "folds": len(remote.folds),
        "profit": [float(remote.bets()["profit"].sum()), float(mine.bets()["profit"].sum())],
        "gap": [remote.gap, mine.gap],
        "scan": [scanned["fixtures"], scanned["record"]["bets"]],
        "record": int(fb.run_backtest(fb.matches(), make(2.0, 6)).summary()["bets"]),
    })
print(json.dumps(out))
""",
    )
    assert out["same"] and out["again"] and out["n"] == 12
    assert out["tasks"] == 1 + 3  # prepare, three chunks of at most 5 (4 each: even chunks)
    assert out["final"]["current"] == out["final"]["total"] == 12
    assert out["seen"] == sorted(out["seen"])  # the aggregate bar never goes back
    assert out["error"].startswith("no stored match in the scope (leagues NOPE); stored: ")
    assert out["cancel"] == ["cancelled", "REVOKED"]
    if embedded:
        assert out["wf_same"] and out["folds"] == 2
        assert out["profit"][0] == pytest.approx(out["profit"][1])
        assert out["gap"][0] == pytest.approx(out["gap"][1])
        assert out["scan"] == [0, out["record"]]  # the beat task: no stored fixtures, a record


def test_cli_sweep(env: dict[str, str], tmp_path: Path) -> None:
    if env.get("FILTERBETS_DATABASE_URL"):
        pytest.skip("the CLI is the same code in both modes; once is enough")
    spec = {
        "filter": {
            "rules": [{"field": "away_odds", "op": ">=", "value": "$lo"}],
            "market": "away",
        },
        "grid": {"lo": [2.0, 3.0, 4.0]},
        "seasons": ["2022-23", "2023-24"],
    }
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    proc = cli(env, "sweep", str(spec_file), "--min-bets", "10")
    assert proc.returncode == 0, proc.stderr
    assert "3 filters tried" in proc.stdout
    assert "best by roi (>= 10 bets)" in proc.stdout and "after trying 3" in proc.stdout
    assert "3/3" in proc.stderr  # the aggregate bar, on stderr
    spec_file.write_text(json.dumps({**spec, "leagues": "NOPE"}))
    refused = cli(env, "sweep", str(spec_file))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "spec.json: no stored match in the scope (leagues NOPE" in refused.stderr


def test_chunks_are_even_and_cover_the_grid() -> None:
    for n in (1, 7, 12, 20, 24, 25, 100, 500, 601):
        chunks = chunk_bounds(n)
        taken = sorted(i for chunk in chunks for i in range(*chunk))
        assert taken == list(range(n)), n  # every grid point once
        sizes = [len(range(*chunk)) for chunk in chunks]
        assert max(sizes) - min(sizes) <= 1 and max(sizes) <= 25, (n, sizes)
    # Neighbouring grid points (alike in cost) go to different chunks: one in n each.
    assert chunk_bounds(20) == [[0, 20, 2], [1, 20, 2]]
    # At least 10 filters a chunk, in 1, 2, 4, 6 or 12 chunks, at most 25 filters a chunk.
    counts = {n: len(chunk_bounds(n)) for n in (7, 19, 20, 39, 40, 59, 60, 119, 120, 300, 500)}
    assert counts == {
        **{7: 1, 19: 1, 20: 2, 39: 2, 40: 4, 59: 4, 60: 6, 119: 6, 120: 12, 300: 12},
        500: 20,
    }
    assert [len(range(*chunk)) for chunk in chunk_bounds(12, 5)] == [4, 4, 4]
    # A run stored before chunks were strided ([start, stop]) is re-sent as a plain range.
    old = chunk_signature("run", [3, 9], "task")
    assert old.kwargs == {"run_id": "run", "start": 3, "stop": 9, "step": 1}
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        chunk_bounds(5, 0)


KILL_SUBMIT = """
import time
from filterbets_nb.tasks.progress import read_progress
run = fb.sweep(make, chunk_size=6, **GRID)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    states = [read_progress(t)["state"] for t in run.chunk_ids]
    if "PROGRESS" in states:
        break
    time.sleep(0.05)
print(json.dumps({"run_id": run.run_id, "states": states}))
"""

KILL_WAIT = """
run = fb.load_sweep({run_id!r})
result = run.wait(timeout=300)
local = sweep_in_process(fb.matches(), make, **GRID)
columns = ["lo", "pts", "bets", "profit", "roi", "p_value", "p_adj"]
from filterbets_nb.db import research as research_store
from filterbets_nb.db.session import run_async
rows = run_async(lambda s: research_store.count_rows(s, run.run_id))
print(json.dumps({{
    "state": run.state, "n": result.n_tried, "rows": rows,
    "same": bool(result.frame[columns].round(9).equals(local.frame[columns].round(9))),
}}))
"""


def test_a_sweep_survives_its_worker_killed_mid_chunk(tmp_path: Path) -> None:
    """Embedded mode: the worker running a chunk is SIGKILLed (the filesystem broker had
    already deleted that chunk's message); a new worker's recovery sends the chunk again and
    the sweep ends SUCCESS with all 12 grid points, each stored once, as in process."""
    env = embedded_env(tmp_path / "data")
    assert run_py(env, "import filterbets_nb as fb\nfb.load_demo(seed=4)\nprint(1)") == 1
    # The first worker holds each chunk 60 s after loading its matches: it is killed in there.
    first = Worker({**env, "FILTERBETS_EVALUATE_DELAY": "60"}, tmp_path / "first.log", 1)
    second = None
    try:
        submitted = run_py(env, PRELUDE + KILL_SUBMIT)
        assert "PROGRESS" in submitted["states"], (submitted, first.text()[-3000:])
        first.kill()
        second = Worker(env, tmp_path / "second.log", concurrency=2)
        out = run_py(env, PRELUDE + KILL_WAIT.format(run_id=submitted["run_id"]), timeout=400)
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert second is not None
    assert "sending it again" in second.text(), second.text()[-3000:]
    assert out == {"state": "SUCCESS", "n": 12, "rows": 12, "same": True}
