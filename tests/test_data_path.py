"""The narrow data path: only the columns a filter needs, as columns, reused while unchanged.

On SQLite and PostgreSQL: a backtest over the columns :func:`needed_columns` names, read by
:func:`load_columns`, places the very bets a backtest over the full ``load_matches`` frame
places (NULL prices and features included); and the worker's snapshot of a scope is reused
while its data is unchanged and dropped by an import, a price change and a feature refresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import update

from filterbets_nb.db import match_columns, store
from filterbets_nb.db.models import match_features_table, matches_table
from filterbets_nb.db.session import run_async
from filterbets_nb.engine import needed_columns, run_backtest
from filterbets_nb.filters import F, Filter, FilterError
from filterbets_nb.loading import load_demo
from filterbets_nb.synthetic import generate_matches
from filterbets_nb.teamstats import refresh_league

FILTERS = [
    (F.home_odds.between(1.6, 2.4) & (F.home_form_pts_5 >= 6)).bet("home", price="avg"),
    (F.draw_odds > 3.1).bet("draw", price="b365"),
    (F.league.isin(["SYN1", "SYN3"]) & (F.away_gf_avg >= 1.2)).bet("away", price="max"),
    ((F.season == "2021-22") & (F.date >= "2021-10-01") & (F.over25_odds <= 2.0)).bet("over25"),
    F.avg_close_under25.between(1.5, 2.5).bet("under25", price="avg_close"),
]


@pytest.fixture
def database(database: str) -> Iterator[str]:
    """Demo matches in conftest's fresh database of each kind, with NULL prices and NULL
    features."""
    url = database
    load_demo(n_matches=1200, seed=4)

    async def holes(session: Any) -> None:
        t, f = matches_table, match_features_table
        no_price = {"avg_home": None, "b365_draw": None}
        await session.execute(update(t).where(t.c.id % 7 == 0).values(**no_price))
        await session.execute(update(t).where(t.c.id % 11 == 0).values(max_away=None))
        await session.execute(
            update(f).where(f.c.match_id % 5 == 0).values(home_form_pts_5=None, away_gf_avg=None)
        )

    run_async(holes)
    yield url


def _bets(flt: Filter, matches: pd.DataFrame) -> pd.DataFrame:
    bets = run_backtest(matches, flt).bets()
    text = ["league", "season", "home_team", "away_team"]
    return bets.astype(dict.fromkeys(text, str))


def test_narrow_columns_place_the_same_bets_as_the_full_frame(database: str) -> None:
    for leagues, seasons in ((None, None), (["SYN1", "SYN3"], ["2021-22"])):
        full = run_async(lambda s, lg=leagues, ss=seasons: store.load_matches(s, lg, ss))
        assert full["avg_home"].isna().any() and full["home_form_pts_5"].isna().any()
        for flt in FILTERS:

            async def narrow(
                session: Any, flt: Filter = flt, lg: Any = leagues, ss: Any = seasons
            ) -> pd.DataFrame:
                state = await match_columns.scope_state(session, lg, ss)
                return await match_columns.load_columns(session, needed_columns(flt), lg, ss, state)

            columns = run_async(narrow)
            assert set(columns.columns) == set(needed_columns(flt))
            expected = _bets(flt, full)
            assert len(expected) > 0, flt.describe()
            pd.testing.assert_frame_equal(_bets(flt, columns), expected)
    # A column the database does not hold is left out, and the engine names it as before.
    kelly = Filter.where(market="home", staking="kelly", prob_field="model_p")
    with pytest.raises(FilterError, match="model_p"):
        run_backtest(full, kelly)
    state = run_async(lambda s: match_columns.scope_state(s, None, None))
    narrow_frame = run_async(
        lambda s: match_columns.load_columns(s, needed_columns(kelly), None, None, state)
    )
    with pytest.raises(FilterError, match="model_p"):
        run_backtest(narrow_frame, kelly)


def test_snapshot_is_reused_until_an_import_a_price_change_or_a_feature_refresh(
    database: str,
) -> None:
    from filterbets_nb.tasks import backtest_tasks

    flt = (F.home_odds.between(1.6, 2.4) & (F.home_form_pts_5 >= 6)).bet("home")
    scope = {"leagues": ["SYN1"], "seasons": None}
    backtest_tasks._match_snapshots().clear()

    def matches() -> pd.DataFrame:
        return run_async(lambda s: backtest_tasks.matches_with(s, needed_columns(flt), scope))

    first = matches()
    assert matches() is first  # unchanged data: the snapshot itself

    # Another filter's columns are added to the snapshot, not read again with the rest.
    draw = (F.away_form_pts_10 >= 8).bet("draw", price="b365")
    wider = run_async(lambda s: backtest_tasks.matches_with(s, needed_columns(draw), scope))
    assert {"away_form_pts_10", "b365_draw", "avg_home"} <= set(wider.columns)
    assert matches() is wider

    # An import of new matches into the scope.
    extra = generate_matches(n_matches=40, leagues=["SYN1"], seed=9, start_season=2030)
    run_async(lambda s: store.upsert_matches(s, extra.drop(columns="match_id"), "more"))
    imported = matches()
    assert imported is not wider and len(imported) == len(wider) + 40

    # A changed price of one stored match, re-imported.
    demo = generate_matches(n_matches=1200, seed=4).drop(columns="match_id")
    row = demo[demo["league"] == "SYN1"].iloc[[3]].assign(avg_home=9.5)
    counts = run_async(lambda s: store.upsert_matches(s, row, "repriced"))
    assert counts.updated == 1
    repriced = matches()
    assert repriced is not imported
    assert (repriced["avg_home"] == 9.5).sum() == 1
    # Importing the same rows again changes nothing, so nothing is read again.
    assert run_async(lambda s: store.upsert_matches(s, row, "repriced")).unchanged == 1
    assert matches() is repriced

    # A feature refresh (it rewrites the league's features even when their values are equal).
    run_async(lambda s: refresh_league(s, "SYN1"))
    refreshed = matches()
    assert refreshed is not repriced
    assert refreshed["home_form_pts_5"].notna().sum() > repriced["home_form_pts_5"].notna().sum()
    assert matches() is refreshed

    # A change in another league leaves this scope's snapshot alone.
    run_async(lambda s: refresh_league(s, "SYN2"))
    assert matches() is refreshed


#: A fresh process (a new worker, a second pool process): the scope's columns as it gets them,
#: and how many times it read the database for them.
SNAPSHOT_CHILD = r"""
import json, sys
import pandas as pd
from filterbets_nb.db import match_columns
from filterbets_nb.db.session import run_async
from filterbets_nb.engine import needed_columns
from filterbets_nb.filters import Filter
from filterbets_nb.tasks import backtest_tasks

reads = []
load = match_columns.load_columns

async def counting(*args, **kwargs):
    reads.append(1)
    return await load(*args, **kwargs)

match_columns.load_columns = counting
flt, scope = Filter.from_dict(json.loads(sys.argv[1])), json.loads(sys.argv[2])
frame = run_async(lambda s: backtest_tasks.matches_with(s, needed_columns(flt), scope))
columns = sorted(needed_columns(flt))
digest = int(pd.util.hash_pandas_object(frame[columns], index=False).sum())
print(json.dumps({"reads": len(reads), "rows": len(frame), "digest": digest,
                  "avg_home": frame["avg_home"].tolist()}))
"""


def test_snapshot_files_are_shared_by_processes_and_dropped_by_a_write(
    database: str, settings_env: Path
) -> None:
    """A second process maps the columns the first one read (the database is not read again),
    gets exactly what a read gives, and a price change makes the next process read again."""
    import json
    import os

    from filterbets_nb.testing import run_python

    flt = (F.home_odds.between(1.6, 2.4) & (F.home_form_pts_5 >= 6)).bet("home")
    scope = {"leagues": ["SYN1"], "seasons": None}
    env = {**os.environ, "FILTERBETS_DATABASE_URL": database}

    def child() -> dict[str, Any]:
        out: dict[str, Any] = run_python(
            SNAPSHOT_CHILD, env, json.dumps(flt.to_dict()), json.dumps(scope)
        )
        return out

    first, second = child(), child()
    assert (first["reads"], second["reads"]) == (1, 0)
    assert second["digest"] == first["digest"] and second["rows"] == first["rows"] > 0
    assert list((settings_env / "snapshots").rglob("home_form_pts_5.arrow"))

    # A changed price (re-imported): the files of the old version are not used, and go.
    demo = generate_matches(n_matches=1200, seed=4).drop(columns="match_id")
    row = demo[demo["league"] == "SYN1"].iloc[[3]].assign(avg_home=9.5)
    assert run_async(lambda s: store.upsert_matches(s, row, "repriced")).updated == 1
    third, fourth = child(), child()
    assert (third["reads"], fourth["reads"]) == (1, 0)
    assert third["avg_home"].count(9.5) == 1 and fourth["digest"] == third["digest"]
    assert third["digest"] != first["digest"]
    versions = {p.parent for p in (settings_env / "snapshots").rglob("match_id.arrow")}
    assert len(versions) == 1

    # Turned off (and the PostgreSQL column snapshot too): every process reads the database.
    env["FILTERBETS_SNAPSHOT_FILES_MB"] = "0"
    env["FILTERBETS_DB_SNAPSHOTS"] = "false"
    assert child()["reads"] == 1


def test_stored_fixtures_are_never_loaded_nor_bet(database: str, tmp_path: Path) -> None:
    """A file's rows without a result are stored for the scanner, but the narrow path, which
    takes the goal columns as never NULL, leaves them out of every scope."""
    from filterbets_nb.loading import import_csv
    from filterbets_nb.tasks import backtest_tasks

    csv = tmp_path / "FX1.csv"
    csv.write_text(
        "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,HTHG,HTAG,AvgH,AvgD,AvgA\n"
        "FX1,01/09/2019,Alpha,Beta,2,0,1,0,1.9,3.4,4.2\n"
        "FX1,01/09/2099,Beta,Alpha,,,,,2.0,3.3,4.0\n"
    )
    report = import_csv(csv)
    assert report.files[0].fixtures == 1
    flt = F.home_odds.between(1.0, 10.0).bet("home", price="avg")
    for scope in ({"leagues": ["FX1"], "seasons": []}, {"leagues": [], "seasons": []}):
        backtest_tasks._match_snapshots().clear()
        matches = run_async(
            lambda s, sc=scope: backtest_tasks.matches_with(s, needed_columns(flt), sc)
        )
        fx1 = matches[matches["league"].astype(str) == "FX1"]
        assert len(fx1) == 1 and fx1["home_team"].astype(str).tolist() == ["Alpha"]
        bets = run_backtest(matches, flt).bets()
        assert (bets["league"].astype(str) == "FX1").sum() == 1


def test_the_database_snapshot_gives_exactly_the_frame_a_read_gives(database: str) -> None:
    """Every loadable column (NULL prices and features, team names, seasons, kick-off times)
    comes back from ``column_snapshots`` as ``load_columns`` read it; SQLite stores none."""
    from sqlalchemy import func, select

    from filterbets_nb.db.models import column_snapshots_table
    from filterbets_nb.tasks import db_snapshots

    scope = db_snapshots.scope_digest(["SYN1", "SYN3"], None)

    async def round_trip(session: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        state = await match_columns.scope_state(session, ["SYN1", "SYN3"], None)
        frame = await match_columns.load_columns(
            session, match_columns.LOADABLE, ["SYN1", "SYN3"], None, state
        )
        await db_snapshots.write(session, scope, state.version, frame)
        return frame, await db_snapshots.read(session, scope, state.version, list(frame.columns))

    frame, stored = run_async(round_trip)
    assert frame["avg_home"].isna().any() and frame["home_form_pts_5"].isna().any()
    rows = run_async(lambda s: s.scalar(select(func.count()).select_from(column_snapshots_table)))
    if database.startswith("sqlite"):
        assert stored is None and rows == 0
        return
    assert stored is not None and rows == len(frame.columns)
    pd.testing.assert_frame_equal(stored[list(frame.columns)], frame)
    # Another scope, or another version of this one, finds nothing.
    other = db_snapshots.scope_digest(["SYN1"], None)
    assert run_async(lambda s: db_snapshots.read(s, other, "v", ["avg_home"])) is None


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Calls of ``match_columns.<name>`` (an async function) from now on, one item each."""
    calls: list[int] = []
    real = getattr(match_columns, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(match_columns, name, counted)
    return calls


def test_the_database_snapshot_serves_a_worker_without_files_until_the_data_changes(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no snapshot files and an empty process cache (a worker on another machine), the
    columns one read stored in PostgreSQL are used by the next, until an import, a price
    change or a feature refresh; then read again, stored again, and only that version kept."""
    from sqlalchemy import func, select

    from filterbets_nb.config import get_settings
    from filterbets_nb.db.models import column_snapshots_table
    from filterbets_nb.tasks import backtest_tasks

    if database.startswith("sqlite"):
        pytest.skip("PostgreSQL only: the embedded default keeps its snapshot files")
    monkeypatch.setenv("FILTERBETS_SNAPSHOT_FILES_MB", "0")
    get_settings.cache_clear()
    reads = _count_calls(monkeypatch, "load_columns")
    flt = (F.home_odds.between(1.6, 2.4) & (F.home_form_pts_5 >= 6)).bet("home")
    scope = {"leagues": ["SYN1"], "seasons": None}

    def matches() -> pd.DataFrame:
        backtest_tasks._match_snapshots().clear()  # a fresh worker process
        return run_async(lambda s: backtest_tasks.matches_with(s, needed_columns(flt), scope))

    def versions() -> int:
        t = column_snapshots_table
        return int(run_async(lambda s: s.scalar(select(func.count(t.c.version.distinct())))))

    def read_then_reused() -> pd.DataFrame:
        before = len(reads)
        first = matches()
        second = matches()
        assert len(reads) == before + 1
        pd.testing.assert_frame_equal(second[list(first.columns)], first)
        assert versions() == 1
        return first

    original = read_then_reused()

    # The scope's counts too: a fresh process on another machine does not count them again.
    counts = _count_calls(monkeypatch, "scope_state")
    states = []
    for _ in range(2):
        backtest_tasks._match_snapshots().clear()
        states.append(run_async(lambda s: backtest_tasks.cached_scope_state(s, ["SYN1"], None)))
    assert states[0] == states[1] and states[0].matches == len(original)
    assert counts == []  # the first read above counted them and stored them beside its columns

    extra = generate_matches(n_matches=40, leagues=["SYN1"], seed=9, start_season=2030)
    run_async(lambda s: store.upsert_matches(s, extra.drop(columns="match_id"), "more"))
    imported = read_then_reused()
    assert len(imported) == len(original) + 40

    demo = generate_matches(n_matches=1200, seed=4).drop(columns="match_id")
    row = demo[demo["league"] == "SYN1"].iloc[[3]].assign(avg_home=9.5)
    assert run_async(lambda s: store.upsert_matches(s, row, "repriced")).updated == 1
    repriced = read_then_reused()
    assert (repriced["avg_home"] == 9.5).sum() == 1

    run_async(lambda s: refresh_league(s, "SYN1"))
    refreshed = read_then_reused()
    assert refreshed["home_form_pts_5"].notna().sum() > repriced["home_form_pts_5"].notna().sum()

    monkeypatch.setenv("FILTERBETS_DB_SNAPSHOTS", "false")
    get_settings.cache_clear()
    before = len(reads)
    matches()
    matches()
    assert len(reads) == before + 2
