"""``fb.monitor()`` against a real worker, in embedded mode and with services."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Worker, embedded_env, run_py, services_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SUBMIT = """
import json, filterbets_nb as fb
from filterbets_nb.monitor import snapshot
fb.load_demo(n_matches=300, seed=3)
run = fb.backtest(fb.F.home_odds.between(1.5, 2.5).bet("home"), leagues="SYN1", label="watched")
shot = snapshot()
print(json.dumps({"job": run.job_id, "queues": shot.queues, "workers": shot.workers,
                  "running": [name for name, _ in shot.running], "error": shot.error}))
"""

WATCH = """
import io, json, time, filterbets_nb as fb
from filterbets_nb.monitor import Monitor, render_snapshot_html, render_snapshot_text
fb.load_results(JOB_ID).wait(timeout=240)
stream = io.StringIO()
monitor = Monitor(refresh=0.5, mode="text", stream=stream).start()
deadline = time.monotonic() + 60
while monitor.refreshes < 2 and time.monotonic() < deadline:
    time.sleep(0.1)
monitor.stop()
shot = monitor.last
print(json.dumps({"running": monitor.running, "refreshes": monitor.refreshes,
                  "workers": shot.workers, "queues": shot.queues, "error": shot.error,
                  "recent": [[r["label"], r["state"], r["leagues"]] for r in shot.recent],
                  "text": render_snapshot_text(shot), "html": render_snapshot_html(shot)}))
"""


def _env(mode: str, data_dir: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    if mode == "embedded":
        return embedded_env(data_dir)
    pg = request.getfixturevalue("pg_url")
    return services_env(data_dir, pg, request.getfixturevalue("redis_url"))


@pytest.mark.parametrize("mode", ["embedded", pytest.param("services", marks=pytest.mark.services)])
def test_monitor_shows_queue_worker_running_and_finished_jobs(
    mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = _env(mode, tmp_path / "data", request)
    submitted = run_py(env, SUBMIT)
    # no worker yet: the chain's first message waits in the backtest queue, the job is running
    assert submitted["error"] is None and submitted["workers"] == []
    assert submitted["queues"]["backtest"] >= 1
    assert "watched" in submitted["running"]
    worker = Worker(env, tmp_path / "worker.log", concurrency=1)
    try:
        watched = run_py(env, WATCH.replace("JOB_ID", repr(submitted["job"])))
    finally:
        worker.stop()
    assert watched["error"] is None and watched["refreshes"] >= 2
    assert watched["running"] is False  # stop() ended the poller thread
    (row,) = [w for w in watched["workers"] if w["name"].startswith("test-")]
    assert row["pool"].endswith("x1") and row["active"] == 0
    assert watched["queues"]["backtest"] == 0
    assert ["watched", "SUCCESS", "SYN1"] in watched["recent"]
    assert "watched [SYN1 all] SUCCESS" in watched["text"]
    assert "<b>Workers</b>" in watched["html"] and "watched" in watched["html"]


def test_monitor_widget_displays_with_a_static_copy(
    monkeypatch: pytest.MonkeyPatch, settings_env: Path
) -> None:
    """No worker, nothing queued: the widget still shows (and stores) a readable first view."""
    import IPython.display

    from filterbets_nb.monitor import Monitor

    shown: list[dict[str, object]] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    monitor = Monitor(refresh=0.5, mode="widget")
    try:
        monitor._ipython_display_()
        assert monitor.running
    finally:
        monitor.stop()
    assert not monitor.running
    (data,) = shown
    assert "application/vnd.jupyter.widget-view+json" in data
    assert str(data["text/plain"]).startswith("workers: 0\nqueues: backtest 0, stats 0")
    assert "<b>Workers</b>" in str(data["text/html"])
