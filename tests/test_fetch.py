"""fb.fetch and `filterbets-nb fetch` against a real HTTP server laid out like the site."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from filterbets_nb.config import get_settings
from filterbets_nb.fetch import expand_seasons, fetch, file_url
from tests.conftest import SHARED_DATA, Worker, cli, embedded_env, run_py
from tests.football_data_site import SiteServer, build_site

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared data absent")

BRA = (
    "Country,League,Season,Date,Time,Home,Away,HG,AG,Res,PSCH,PSCD,PSCA\n"
    "Brazil,Serie A,2024,13/04/2024,21:00,Internacional,Bahia,2,1,H,1.9,3.4,4.1\n"
    "Brazil,Serie A,2024,14/04/2024,16:00,Santos,Flamengo,0,0,D,2.5,3.1,Pinnacle\n"
    "Brazil,Serie A,2024,08/12/2099,16:00,Bahia,Internacional,,,,2.2,3.3,3.3\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteServer]:
    root = tmp_path / "site"
    build_site(root)
    (root / "new").mkdir()
    (root / "new" / "BRA.csv").write_text(BRA)
    with SiteServer(root) as server:
        yield server


@pytest.fixture
def here(settings_env: Path, site: SiteServer, monkeypatch: pytest.MonkeyPatch) -> SiteServer:
    """This process on an embedded data dir of its own, fetching from the local site."""
    monkeypatch.setenv("FILTERBETS_FOOTBALL_DATA_URL", site.url)
    get_settings.cache_clear()
    return site


def statuses(report: object) -> dict[str, tuple[str, str]]:
    table = report.table()  # type: ignore[attr-defined]
    return {f"{r.league} {r.season}": (r.download, r["import"]) for _, r in table.iterrows()}


def test_seasons_and_addresses() -> None:
    today = dt.date(2025, 12, 3)
    assert expand_seasons(None, today) == ["2025-26"]
    assert expand_seasons(["2024-25", "2021-22"], today) == [
        "2021-22",
        "2022-23",
        "2023-24",
        "2024-25",
    ]
    assert expand_seasons("all", today)[:2] == ["1993-94", "1994-95"]
    assert expand_seasons("all", today)[-1] == "2025-26"
    assert expand_seasons(["1999-00", "2005-06", "2001-02"], today) == [
        "1999-00",
        "2001-02",
        "2005-06",
    ]
    with pytest.raises(ValueError, match="2015-17"):
        expand_seasons(["2015-17"], today)
    assert file_url("http://x/", "E0", "1999-00") == "http://x/mmz4281/9900/E0.csv"
    assert file_url("http://x", "BRA", None) == "http://x/new/BRA.csv"


def test_fresh_download_cached_rerun_and_a_changed_file(here: SiteServer) -> None:
    first = fetch(["E0", "BRA"], ["2019-20", "2015-16"], progress=False)
    assert statuses(first) == {
        "E0 2015-16": ("downloaded", "imported"),
        "E0 2016-17": ("missing", ""),
        "E0 2017-18": ("missing", ""),
        "E0 2018-19": ("missing", ""),
        "E0 2019-20": ("downloaded", "imported"),
        "BRA all": ("downloaded", "imported"),
    }
    assert not first.offline
    imported = first.imported.table().set_index("file")
    assert imported.loc["E0_2015-16.csv", "added"] == 380
    assert imported.loc[
        "BRA_all.csv", ["seasons", "added", "prices_dropped", "fixtures"]
    ].tolist() == [
        "2024",
        3,  # the fixture is stored too
        1,
        1,
    ]
    assert first.imported.dropped_prices()[["line", "column", "value"]].values.tolist() == [
        [3, "PSCA", "Pinnacle"]
    ]
    cache = get_settings().data_dir / "football-data"
    assert (cache / "mmz4281" / "1516" / "E0.csv").read_bytes() == (
        SHARED_DATA / "E0_2015-16.csv"
    ).read_bytes()

    here.requests.clear()
    again = fetch(["E0", "BRA"], ["2015-16", "2019-20"], progress=False)
    assert [status for _, status in here.requests] == [304, 404, 404, 404, 304, 304]
    assert set(statuses(again).values()) == {("not modified", "unchanged"), ("missing", "")}
    assert again.imported is None  # nothing changed, nothing re-imported

    season = here.root / "mmz4281" / "1920" / "E0.csv"
    lines = season.read_bytes().decode("latin-1").splitlines(keepends=True)
    cells = lines[1].split(",")
    cells[6] = "9"  # FTAG of Liverpool v Norwich; FTR stays H, so make it consistent too
    cells[5], cells[6] = "9", "1"
    lines[1] = ",".join(cells)
    season.write_bytes("".join(lines).encode("latin-1"))
    os.utime(season, (season.stat().st_mtime + 10, season.stat().st_mtime + 10))
    changed = fetch("E0", ["2019-20"], progress=False)
    assert statuses(changed) == {"E0 2019-20": ("downloaded", "imported")}
    assert changed.imported.table()[["added", "updated", "unchanged"]].values.tolist() == [
        [0, 1, 379]
    ]


def test_dropped_connections_are_retried_then_reported_offline(here: SiteServer) -> None:
    here.drop(1, midway=True)
    report = fetch("E0", ["2015-16"], progress=False, backoff=0.01)
    assert statuses(report) == {"E0 2015-16": ("downloaded", "imported")}
    assert [status for _, status in here.requests] == [0, 200]

    here.drop(100)
    offline = fetch("E0", ["2015-16", "2016-17"], progress=False, retries=1, backoff=0.01)
    assert offline.offline and "cannot reach" in offline.offline_reason
    assert statuses(offline) == {
        "E0 2015-16": ("cached", "unchanged"),
        "E0 2016-17": ("failed", ""),
    }
    assert "offline" in str(offline) and "1 cached file(s)" in str(offline)
    assert len(here.requests) == 2 + 2  # two attempts for the first file, none after


def test_a_rejected_file_is_reported_and_the_others_imported(here: SiteServer) -> None:
    (here.root / "new" / "BRA.csv").write_text(
        BRA.replace("Santos,Flamengo,0,0,D", "Santos,Flamengo,0,0,H")
    )
    report = fetch(["BRA", "E0"], ["2019-20"], progress=False)
    assert statuses(report)["BRA all"] == ("downloaded", "rejected")
    assert "line 3, column Res" in report.table().set_index("league").loc["BRA", "error"]
    assert statuses(report)["E0 2019-20"] == ("downloaded", "imported")


@pytest.mark.slow
def test_cli_fetch_prints_the_report(site: SiteServer, tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "cli")
    env["FILTERBETS_FOOTBALL_DATA_URL"] = site.url
    done = cli(env, "fetch", "E0", "BRA", "--seasons", "2018-19", "2019-20")
    assert done.returncode == 0, done.stderr
    assert "E0 2018-19    missing" in done.stdout
    assert "E0 2019-20 downloaded 175094 imported" in done.stdout
    assert "E0_2019-20.csv     E0 2019-20    380" in done.stdout
    assert "BRA_all.csv line 3, column PSCA: 'Pinnacle' is not a number" in done.stdout
    assert "fetch: 2/4 import [#" in done.stderr and "waiting" not in done.stderr  # progress


@pytest.mark.slow
def test_daily_refresh_fetches_followed_leagues_then_refreshes_the_rest(
    site: SiteServer, tmp_path: Path
) -> None:
    env = embedded_env(tmp_path / "refresh")
    env.update(FILTERBETS_FOOTBALL_DATA_URL=site.url, FILTERBETS_FOLLOW_LEAGUES="BRA,E0")
    done = cli(env, "import", str(SHARED_DATA / "E0_2019-20.csv"))
    assert done.returncode == 0, done.stderr
    code = """
import json
from celery.result import GroupResult
from filterbets_nb.tasks.celery_app import celery_app
from filterbets_nb.tasks.stats_tasks import refresh_all_team_stats_task
out = refresh_all_team_stats_task.delay().get(timeout=180)
group = GroupResult.restore(out["group_id"], app=celery_app)
refreshed = sorted(r["league"] for r in group.get(timeout=180)) if group else []
print(json.dumps({**out, "refreshed": refreshed}))
"""
    worker = Worker(env, tmp_path / "worker.log", concurrency=1)
    try:
        first = run_py(env, code)
        assert first["followed"] == ["BRA", "E0"]
        assert first["changes"] == {"BRA": {"added": 3, "updated": 0}}  # 2 played, 1 fixture
        assert "404" in first["fetch_problems"]  # the current E0 season is not on the mirror
        assert first["refreshed"] == ["E0"]  # BRA's features came with its import
        site.stop()  # offline: the fetch fails softly, every league is still refreshed
        second = run_py(env, code)
        assert "cannot reach" in second["fetch_problems"] and second["changes"] == {}
        assert second["refreshed"] == ["BRA", "E0"]
    finally:
        worker.stop()


@pytest.mark.slow
def test_daily_refresh_shows_one_bar_across_fetch_import_and_the_fan_out(
    site: SiteServer, tmp_path: Path
) -> None:
    """The refresh, followed like ``fb.refresh_team_stats`` follows it (``TaskRun`` through
    ``status.wait_for``): one job-wide percent that never goes back, through the fetch's
    steps and the per-league fan-out, ending only when every league is refreshed, with what
    the import changed per league."""
    env = embedded_env(tmp_path / "bar")
    env.update(FILTERBETS_FOOTBALL_DATA_URL=site.url, FILTERBETS_FOLLOW_LEAGUES="BRA,E0")
    done = cli(env, "import", str(SHARED_DATA / "E0_2019-20.csv"))
    assert done.returncode == 0, done.stderr
    code = """
import json
from filterbets_nb.client import TaskRun
from filterbets_nb.notebook import job_percent
from filterbets_nb.status import wait_for
from filterbets_nb.tasks.stats_tasks import refresh_all_team_stats_task
import filterbets_nb as fb
seen = []
def note(status):
    p = status["progress"]
    seen.append([status["state"], p.get("stage", ""), job_percent(status)])
task = TaskRun(refresh_all_team_stats_task.delay().id, "refresh")
end = wait_for(task, timeout=180, poll=0.02, on_status=note)
from filterbets_nb.tasks.progress import read_progress
result = read_progress(task.task_id)["result"]
print(json.dumps({"seen": seen, "changes": result["changes"],
                  "teams": sorted(set(fb.team_stats()["league"]))}))
"""
    worker = Worker(env, tmp_path / "worker.log", concurrency=1)
    try:
        out = run_py(env, code)
    finally:
        worker.stop()
    percents = [p for _, _, p in out["seen"]]
    assert percents == sorted(percents), out["seen"]  # one bar, never going back
    stages = {stage for state, stage, _ in out["seen"] if state == "PROGRESS"}
    assert stages & {"download", "import", "store", "features"}, stages
    # The bar ends on the fan-out's count (the group followed to its end). A PROGRESS poll on
    # the "stats" stage is not required: one league's refresh can pass between two polls when
    # the machine is busy.
    assert out["seen"][-1][:2] == ["SUCCESS", "stats"] and percents[-1] == 100.0, out["seen"]
    assert out["changes"] == {"BRA": {"added": 3, "updated": 0}}
    assert out["teams"] == ["BRA", "E0"]  # the fan-out had ended when the wait did
