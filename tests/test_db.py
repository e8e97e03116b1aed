"""Migrations, the natural-key upsert and all-or-nothing imports, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db import match_columns, store
from filterbets_nb.db.migrate import upgrade
from filterbets_nb.db.models import Base, match_features_table, matches_table
from filterbets_nb.db.session import engine_scope, run_async, run_coro
from filterbets_nb.importer import CsvFormatError
from filterbets_nb.loading import import_csv, load_demo
from tests.conftest import SHARED_DATA

FILES = sorted(SHARED_DATA.glob("*.csv"))
needs_data = pytest.mark.skipif(not FILES, reason="shared football-data files absent")


def _count(table: object) -> int:
    return run_async(lambda s: _scalar(s, select(func.count()).select_from(table)))  # type: ignore[arg-type]


async def _scalar_any(session: object, stmt: object) -> Any:
    return (await session.execute(stmt)).scalar_one()  # type: ignore[attr-defined]


async def _scalar(session: object, stmt: object) -> int:
    return int((await session.execute(stmt)).scalar_one())  # type: ignore[attr-defined]


def test_migrations_create_every_table(database: str) -> None:
    async def tables() -> set[str]:
        async with engine_scope(database) as engine, engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    names = run_coro(tables)
    assert set(Base.metadata.tables) <= names
    assert "alembic_version" in names
    upgrade(database)  # idempotent


@pytest.mark.parametrize("scope", [(None, None), ([1, 2], ["2019-20"])])
def test_counting_a_scope_reads_only_the_index(
    database: str, scope: tuple[list[int] | None, list[str] | None]
) -> None:
    """scope_state's grouped count: with ``fthg`` in the index (migration 0008) SQLite answers it
    without visiting a single wide match row."""
    from sqlalchemy import text

    async def plan(session: AsyncSession) -> str:
        connection = await session.connection()
        sql = str(
            match_columns.scope_counts(*scope).compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
        )
        if connection.dialect.name == "sqlite":
            rows = await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            return " ".join(str(row[-1]) for row in rows)
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        return " ".join(str(row[0]) for row in await session.execute(text(f"EXPLAIN {sql}")))

    found = run_async(plan)
    if database.startswith("sqlite"):
        assert "COVERING INDEX ix_matches_league_season_kickoff_fthg" in found
    else:
        # PostgreSQL picks index-only or bitmap scans by its statistics and visibility map; either
        # way the index, not the row, now answers the played-match test.
        assert "ix_matches_league_season_kickoff_fthg" in found
        assert "Filter: (fthg IS NOT NULL)" not in found


@needs_data
def test_import_real_files_is_idempotent(database: str) -> None:
    first = import_csv(FILES)
    assert (first.added, first.updated, first.unchanged) == (380 * len(FILES), 0, 0)
    assert first.leagues == ["E0"]
    assert _count(matches_table) == 380 * len(FILES)
    assert _count(match_features_table) == 380 * len(FILES)
    again = import_csv(FILES)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 380 * len(FILES))
    matches = run_async(lambda s: store.load_matches(s, ["E0"], ["2019-20"]))
    row = matches[(matches.home_team == "Liverpool") & (matches.away_team == "Norwich")].iloc[0]
    assert (row.fthg, row.ftag) == (4, 1)
    assert row.kickoff == pd.Timestamp("2019-08-09 20:00")
    assert row.avg_home == pytest.approx(1.14)
    extra = run_async(
        lambda s: _scalar_any(
            s, select(matches_table.c.odds_extra).where(matches_table.c.id == int(row.match_id))
        )
    )
    assert extra["BWH"] == pytest.approx(1.14) and row.b365_ah_home == pytest.approx(1.96)
    # First match of the season, but form runs across seasons: Liverpool's last five of 2015-16.
    assert row.home_played == 0
    old = pd.read_csv(SHARED_DATA / "E0_2015-16.csv", encoding="latin-1")
    old = old[(old.HomeTeam == "Liverpool") | (old.AwayTeam == "Liverpool")].tail(5)
    points = sum(
        3 if (r.FTR == "H") == (r.HomeTeam == "Liverpool") and r.FTR != "D" else int(r.FTR == "D")
        for r in old.itertuples()
    )
    assert row.home_form_pts_5 == points


@needs_data
def test_changed_rows_are_updated_not_duplicated(database: str, tmp_path: Path) -> None:
    source = SHARED_DATA / "E0_2019-20.csv"
    import_csv([source])
    lines = source.read_bytes().decode("latin-1").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    col = header.index("FTHG")
    cells = lines[1].rstrip("\r\n").split(",")
    cells[col] = "5"  # Liverpool 5-1 Norwich instead of 4-1
    lines[1] = ",".join(cells) + "\r\n"
    edited = tmp_path / "E0_2019-20.csv"
    edited.write_bytes("".join(lines).encode("latin-1"))
    report = import_csv([edited])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 379)
    assert _count(matches_table) == 380


@needs_data
def test_a_malformed_file_rejects_the_whole_import(database: str, tmp_path: Path) -> None:
    import_csv([SHARED_DATA / "E0_2015-16.csv"])
    before = _count(matches_table)
    good = tmp_path / "E0_2019-20.csv"
    shutil.copy(SHARED_DATA / "E0_2019-20.csv", good)
    bad = tmp_path / "broken.csv"
    text = (SHARED_DATA / "E0_2019-20.csv").read_text(encoding="latin-1").splitlines()
    cells = text[10].split(",")
    cells[5] = "x"  # FTHG of line 11
    text[10] = ",".join(cells)
    bad.write_text("\n".join(text) + "\n", encoding="latin-1")
    with pytest.raises(CsvFormatError) as info:
        import_csv([good, bad])
    message = str(info.value)
    assert "broken.csv" in message and "line 11" in message and "FTHG" in message
    assert _count(matches_table) == before


def test_stored_matches_read_back_as_generated(database: str) -> None:
    """Every value of a generated frame comes back as it went in: prices bit for bit, NULLs
    (columns empty in every row, which the insert leaves out, and scattered ones) as NaN,
    kick-off times, goals and their types."""
    from filterbets_nb.schema import MATCH_COLUMNS
    from filterbets_nb.synthetic import generate_matches

    frame = generate_matches(n_matches=900, seed=4)
    assert frame["betfair_ex_home"].isna().all() and frame["avg_home"].isna().any()
    run_async(lambda s: store.upsert_matches(s, frame.drop(columns="match_id")))
    back = run_async(lambda s: store.load_matches(s, features=False))
    key = ["kickoff", "league", "home_team"]
    columns = [c for c in MATCH_COLUMNS if c != "match_id"]
    expected = frame[columns].sort_values(key, ignore_index=True)
    got = back[columns].sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_dtype=False)
    for column in columns:
        assert got[column].dtype.kind == expected[column].dtype.kind, column


def test_a_load_failing_midway_leaves_what_was_stored(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Matches written by the bulk insert before a failure go with the transaction."""
    from filterbets_nb import loading

    load_demo(n_matches=600, seed=3)
    before = run_async(lambda s: store.load_matches(s))

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("features failed")

    monkeypatch.setattr(loading, "refresh_leagues", broken)
    with pytest.raises(RuntimeError, match="features failed"):
        load_demo(n_matches=130_000, seed=3)  # three blocks of rows written, then the failure
    assert _count(matches_table) == 600
    pd.testing.assert_frame_equal(run_async(lambda s: store.load_matches(s)), before)


def test_a_demo_load_made_by_two_processes_stores_the_generated_matches(database: str) -> None:
    """Past one block the first block is made here and the rest in a helper process: together
    they are the matches :func:`generate_matches` makes, each stored once."""
    from filterbets_nb.synthetic import generate_matches

    report = load_demo(n_matches=70_000, seed=3)
    assert (report.added, report.unchanged) == (70_000, 0)  # no block made twice or missed
    values = ["away_team", "fthg", "ftag", "avg_home", "b365_close_away", "max_over25"]
    key = ["league", "kickoff", "home_team"]

    async def read(session: AsyncSession) -> pd.DataFrame:
        state = await match_columns.scope_state(session, None, None)
        return await match_columns.load_columns(session, key + values, None, None, state)

    stored = run_async(read)
    made = generate_matches(n_matches=70_000, seed=3)
    columns = [*key, *values]
    got, expected = (
        f[columns]
        .astype({c: str for c in ("league", "home_team", "away_team")})
        .sort_values(key, ignore_index=True)
        for f in (stored, made)
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)


def test_demo_load_is_idempotent_and_has_features(database: str) -> None:
    first = load_demo(n_matches=600, seed=3)
    assert first.added == 600
    assert load_demo(n_matches=600, seed=3).unchanged == 600
    matches = run_async(lambda s: store.load_matches(s))
    assert len(matches) == 600
    assert matches["home_played"].notna().all()
    stats = run_async(lambda s: store.load_team_stats(s))
    assert not stats.empty and stats["played"].gt(0).all()


def test_paged_loading_equals_one_query(database: str) -> None:
    load_demo(n_matches=900, seed=5)
    whole = run_async(lambda s: store.load_matches(s, copy=False))
    seen: list[int] = []
    paged = run_async(
        lambda s: store.load_matches(s, page_size=128, progress=seen.append, copy=False)
    )
    pd.testing.assert_frame_equal(whole, paged)
    assert seen == [*range(128, 900, 128), 900]
    empty = run_async(lambda s: store.load_matches(s, ["XX"], page_size=50, copy=False))
    assert empty.empty and list(empty.columns) == list(whole.columns)


def test_copy_loading_equals_row_loading(database: str) -> None:
    """PostgreSQL's COPY path gives the very frame the row path gives: NULL odds stay NaN, a
    team called "NA" stays a team, an empty scope keeps its columns."""
    from filterbets_nb.synthetic import generate_matches

    frame = generate_matches(n_matches=700, seed=8).drop(columns="match_id")
    team = frame["home_team"].iloc[0]
    frame[["home_team", "away_team"]] = frame[["home_team", "away_team"]].replace(team, "NA")
    frame.loc[frame.index[::7], ["avg_home", "b365_over25"]] = float("nan")
    run_async(lambda s: store.upsert_matches(s, frame))
    rows = run_async(lambda s: store.load_matches(s, copy=False))
    seen: list[int] = []
    copied = run_async(lambda s: store.load_matches(s, progress=seen.append))
    pd.testing.assert_frame_equal(copied, rows)
    assert "NA" in set(copied["home_team"]) and copied["avg_home"].isna().sum() >= 100
    assert seen[-1] == 700 and seen == sorted(seen)
    seen.clear()
    paged = run_async(lambda s: store.load_matches(s, page_size=64, progress=seen.append))
    pd.testing.assert_frame_equal(paged, rows)
    assert seen == [*range(64, 700, 64), 700]
    for leagues in (["XX"], [str(frame["league"].iloc[0])]):
        a = run_async(lambda s, lg=leagues: store.load_matches(s, lg, ["2099-00"], copy=False))
        b = run_async(lambda s, lg=leagues: store.load_matches(s, lg, ["2099-00"]))
        assert b.empty and list(b.columns) == list(a.columns)


@needs_data
def test_a_stray_price_cell_keeps_the_match_without_prices_and_reports_it(
    database: str, tmp_path: Path
) -> None:
    lines = (SHARED_DATA / "E0_2015-16.csv").read_text(encoding="latin-1").splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    at = header.index("B365D")
    cells[at:at] = ["Bet365"]  # a bookmaker's name where a price belongs, shifting the rest
    lines[3] = ",".join(cells)
    path = tmp_path / "E0_2015-16.csv"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    report = import_csv(path)
    table = report.table()
    assert table[["league", "seasons", "added", "prices_dropped", "fixtures"]].values.tolist() == [
        ["E0", "2015-16", 380, 1, 0]
    ]
    assert report.dropped_prices().values.tolist() == [
        ["E0_2015-16.csv", 4, "B365D", "Bet365", "not a number"]
    ]
    home, away = cells[2], cells[3]
    frame = run_async(lambda s: store.load_matches(s, ["E0"]))
    kept = frame[(frame["home_team"] == home) & (frame["away_team"] == away)]
    assert len(kept) == 1 and kept[["avg_home", "b365_home", "max_away"]].isna().all().all()
    with pytest.raises(CsvFormatError, match="line 4, column B365D"):
        import_csv(path, strict=True)


def test_fixtures_are_stored_but_never_played_until_their_result_arrives(
    database: str, tmp_path: Path
) -> None:
    header = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR,B365H,B365D,B365A"
    rows = ["E1,01/09/2024,A,B,1,0,H,2,3,4", "E1,08/09/2024,B,A,,,,2.5,3.1,2.9"]
    path = tmp_path / "E1_2024-25.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    report = import_csv(path)
    assert report.table()[["added", "fixtures"]].values.tolist() == [[2, 1]]
    assert _count(matches_table) == 2
    frame = run_async(lambda s: store.load_matches(s, ["E1"]))
    assert frame[["home_team", "fthg"]].values.tolist() == [["A", 1]]  # the fixture is not
    assert run_async(lambda s: store.matches_missing_features(s, ["E1"])) == []
    rows[1] = "E1,08/09/2024,B,A,2,2,D,2.5,3.1,2.9"
    path.write_text("\n".join([header, *rows]) + "\n")
    report = import_csv(path)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    frame = run_async(lambda s: store.load_matches(s, ["E1"]))
    assert frame["fthg"].tolist() == [1, 2] and frame["home_played"].notna().all()


def test_schema_limits_are_checked_on_every_database(database: str) -> None:
    """A name the tables cannot hold is refused before writing, on SQLite as on PostgreSQL."""
    frame = load_demo_frame()
    frame.loc[frame.index[0], "home_team"] = "x" * 129
    with pytest.raises(ValueError, match=r"home_team: 'x+' is longer than the 128"):
        run_async(lambda s: store.upsert_matches(s, frame))
    frame = load_demo_frame()
    frame.loc[frame.index[1], "league"] = "E\x000"
    with pytest.raises(ValueError, match=r"row 1, column league: .* NUL byte"):
        run_async(lambda s: store.upsert_matches(s, frame))
    assert _count(matches_table) == 0


def load_demo_frame() -> pd.DataFrame:
    from filterbets_nb.synthetic import generate_matches

    return generate_matches(n_matches=20, seed=1).drop(columns="match_id")


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_processes_importing_at_once_on_a_fresh_database_both_succeed(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Both run the migrations and the import at once: one waits for the other, and the data
    is that of one import (leagues, teams, matches, alembic_version all created once)."""
    import json
    import subprocess
    import sys

    from filterbets_nb import testing
    from tests.conftest import PG_ADMIN_URL, ROOT, embedded_env

    env = embedded_env(tmp_path / "data")
    name = None
    if kind == "postgresql":
        request.getfixturevalue("pg_url")  # skips or fails the test the standard way
        name = testing.create_database(PG_ADMIN_URL, "fbrace_")
        env["FILTERBETS_DATABASE_URL"] = testing.database_url(PG_ADMIN_URL, name)
    code = (
        "import json, sys; from filterbets_nb.loading import import_csv;"
        "r = import_csv(sys.argv[1:]); print(json.dumps([r.added, r.unchanged]))"
    )
    files = [str(SHARED_DATA / "E0_2015-16.csv"), str(SHARED_DATA / "E0_2019-20.csv")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *files],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=240) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
        assert sorted(json.loads(out) for out, _ in outputs) == [[0, 760], [760, 0]]
        count = (
            "import json; from sqlalchemy import func, select;"
            "from filterbets_nb.db.session import run_async;"
            "from filterbets_nb.db.models import matches_table, Team;"
            "q = lambda t: run_async(lambda s: s.scalar(select(func.count()).select_from(t)));"
            "print(json.dumps([q(matches_table), q(Team.__table__)]))"
        )
        done = subprocess.run(
            [sys.executable, "-c", count], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert json.loads(done.stdout) == [760, 24], done.stderr
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if name:
            testing.drop_database(PG_ADMIN_URL, name)


def _stored(league: str) -> pd.DataFrame:
    """Every stored match of ``league`` (fixtures too), with its id, by kick-off."""
    t = matches_table

    async def read(session: Any) -> pd.DataFrame:
        stmt = select(t).order_by(t.c.kickoff, t.c.id)
        rows = (await session.execute(stmt)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows])

    return run_async(read)


def _version(league: str) -> str:
    from filterbets_nb.db.match_columns import scope_version

    return run_async(lambda s: scope_version(s, [league], None))


def test_bulk_upsert_inserts_updates_and_counts_unchanged(database: str) -> None:
    """The vectorised upsert: new rows in bulk, a re-upsert changes nothing, one changed price
    updates exactly that row (and the league's version), NULL equals NaN, None equals {}."""
    frame = load_demo_frame()
    frame["extra_odds"] = [{"XH": 2.5} if i % 2 else {} for i in range(len(frame))]
    frame.loc[frame.index[3], "b365_home"] = float("nan")
    first = run_async(lambda s: store.upsert_matches(s, frame, "a"))
    assert (first.added, first.updated, first.unchanged) == (len(frame), 0, 0)
    league = str(frame["league"].iloc[0])
    before, version = _stored(league), _version(league)
    again = run_async(lambda s: store.upsert_matches(s, frame, "a"))
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(frame))
    assert _version(league) == version  # nothing written, nothing bumped
    pd.testing.assert_frame_equal(_stored(league), before)
    changed = frame.copy()
    changed.loc[changed.index[5], "avg_draw"] = changed["avg_draw"].iloc[5] + 0.01
    counts = run_async(lambda s: store.upsert_matches(s, changed, "b"))
    assert (counts.added, counts.updated, counts.unchanged) == (0, 1, len(frame) - 1)
    assert _version(league) != version
    after = _stored(league)
    moved = after.index[(after["source"] == "b").to_numpy()].tolist()
    assert len(moved) == 1 and after.loc[moved[0], "id"] == before.loc[moved[0], "id"]
    assert after.loc[moved[0], "avg_draw"] == pytest.approx(changed["avg_draw"].iloc[5])
    assert after["b365_home"].isna().sum() == before["b365_home"].isna().sum()


def test_bulk_upsert_of_several_frames_counts_each(database: str) -> None:
    """Frames upserted together get their own counts; a key repeated across frames is upserted
    in order (the later frame updates the earlier one); a key twice in one frame is refused."""
    frame = load_demo_frame()
    head, tail = frame.iloc[:8], frame.iloc[8:]
    counts = run_async(lambda s: store.upsert_match_frames(s, [(head, "x"), (tail, "y")]))
    assert [(c.added, c.updated, c.unchanged) for c in counts] == [(8, 0, 0), (12, 0, 0)]
    repriced = head.assign(max_home=head["max_home"] + 1.0)
    counts = run_async(
        lambda s: store.upsert_match_frames(s, [(head, "x"), (repriced, "z"), (frame.iloc[:0], "")])
    )
    assert [(c.added, c.updated, c.unchanged) for c in counts] == [(0, 0, 8), (0, 8, 0), (0, 0, 0)]
    twice = pd.concat([head.iloc[:1], head.iloc[:1]])
    with pytest.raises(ValueError, match="appears twice in one frame"):
        run_async(lambda s: store.upsert_matches(s, twice))
    assert _count(matches_table) == 20


def test_results_kept_by_an_import_equal_what_it_stored(database: str) -> None:
    """The results an import keeps for leagues it created are, column for column and in order,
    what reading them back gives; a league stored before, or one whose rows the import updates,
    is not covered (its refresh reads the database)."""
    from filterbets_nb.db.fresh_results import FreshResults
    from filterbets_nb.synthetic import generate_matches

    frame = generate_matches(n_matches=4000, seed=6).drop(columns="match_id")
    codes = sorted(frame["league"].astype(str).unique())
    assert len(codes) >= 4
    old, repriced, *new = codes
    run_async(lambda s: store.upsert_matches(s, frame[frame["league"] == old].iloc[:50]))
    rest = frame[frame["league"] != old]
    fixtures = rest.iloc[::7].copy()  # no result yet: stored, never in the results
    fixtures[["fthg", "ftag", "hthg", "htag"]] = float("nan")
    played = rest.drop(index=fixtures.index)
    update = played[played["league"] == repriced].iloc[:3]
    update = update.assign(avg_home=update["avg_home"] + 0.5)
    later = frame[frame["league"] == old].iloc[50:]
    parts = [(played.iloc[:1500], "a"), (fixtures, "b"), (played.iloc[1500:], "c"), (later, "d")]

    async def check(session: Any) -> None:
        fresh = FreshResults()
        for part in parts:
            await store.upsert_match_frames(session, [part], fresh)
        await store.upsert_match_frames(session, [(update, "e")], fresh)
        assert [c for c in codes if fresh.covers(c)] == new
        read = await store.load_results(session, new)
        assert len(read) == len(played) - (played["league"] == repriced).sum() > 1500
        pd.testing.assert_frame_equal(fresh.results(new), read, check_exact=True)
        pd.testing.assert_frame_equal(
            fresh.results(new[1:2]), await store.load_results(session, new[1:2])
        )
        assert fresh.counts(new) == await store.count_results(session, new)
        with pytest.raises(ValueError, match="covered"):
            fresh.results([old, *new])

    run_async(check)


def test_one_pass_refresh_of_many_leagues_equals_per_league_features(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refreshing leagues together (several batches of several leagues) stores exactly the
    features and team snapshot each league gets computed on its own results; so did the load,
    which computed them from the results it had just written."""
    from filterbets_nb import teamstats
    from filterbets_nb.features import FEATURE_COLUMNS, compute_features, team_snapshot

    async def stored_features(session: Any) -> pd.DataFrame:
        f = match_features_table
        stmt = select(f.c.match_id, *(f.c[c] for c in FEATURE_COLUMNS))
        rows = (await session.execute(stmt)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=["match_id", *FEATURE_COLUMNS])
        return frame.set_index("match_id").sort_index()

    load_demo(n_matches=6000, seed=5)
    loaded = run_async(stored_features), run_async(store.load_team_stats)
    leagues = run_async(store.league_codes)
    assert len(leagues) >= 5
    monkeypatch.setattr(teamstats, "BATCH_MATCHES", 2500)  # batches of two leagues
    passes: list[str] = []
    result = run_async(
        lambda s: teamstats.refresh_leagues(s, leagues, lambda done, last: passes.append(last))
    )
    assert 2 < len(passes) < len(leagues) and result["leagues"] == len(leagues)

    stored = run_async(stored_features)
    per_league = [run_async(lambda s, lg=lg: store.load_results(s, lg)) for lg in leagues]
    expected = pd.concat([compute_features(m) for m in per_league]).sort_index()
    assert len(stored) == result["matches"] == len(expected) > 5000
    pd.testing.assert_frame_equal(stored.astype(float), expected.astype(float))

    snapshot = run_async(store.load_team_stats)
    expected_snapshot = pd.concat([team_snapshot(m) for m in per_league], ignore_index=True)
    assert len(snapshot) == result["teams"] == len(expected_snapshot)
    columns = ["league", "team", "season", "played", "ppg", "form_pts_5", "gf_avg", "ga_avg"]
    pd.testing.assert_frame_equal(
        snapshot[columns].reset_index(drop=True),
        expected_snapshot[columns].reset_index(drop=True),
        check_dtype=False,
    )
    pd.testing.assert_frame_equal(loaded[0], stored)
    pd.testing.assert_frame_equal(loaded[1][columns], snapshot[columns])


def test_every_embedded_sqlite_connection_is_wal_and_does_not_sync_each_commit(
    settings_env: Path,
) -> None:
    """Ours and Celery's result backend's: WAL (readers never block a writer, a killed writer
    leaves nothing to wait on) with ``synchronous=NORMAL`` (a commit does not wait for the
    disk) and a busy timeout."""
    from sqlalchemy import text

    from filterbets_nb.tasks.celery_app import get_app

    async def ours(session: Any) -> tuple[Any, ...]:
        rows = [await session.execute(text(f"PRAGMA {name}")) for name in PRAGMAS]
        return tuple(row.scalar() for row in rows)

    PRAGMAS = ("journal_mode", "synchronous", "busy_timeout")
    assert run_async(ours) == ("wal", 1, 30000)
    backend = get_app().backend
    session = backend.ResultSession()
    try:
        theirs = tuple(session.execute(text(f"PRAGMA {name}")).scalar() for name in PRAGMAS)
    finally:
        session.close()
    assert theirs == ("wal", 1, 30000)
    assert backend.url.startswith("sqlite:///") and str(settings_env) in backend.url


def test_sqlite_task_states_are_read_on_one_engine_per_process(settings_env: Path) -> None:
    """Celery's database backend builds an engine for every read outside a pool process, and
    ``app.backend`` is one per thread; for a SQLite file the app's backend keeps one engine
    (pooling nothing) for every thread of the process, and a forked child makes its own."""
    import os
    import threading

    from filterbets_nb.tasks.celery_app import get_app
    from filterbets_nb.tasks.result_db import SQLiteResultBackend

    app = get_app()
    engines = []

    def read() -> None:
        backend = app.backend  # this thread's
        assert isinstance(backend, SQLiteResultBackend)
        assert backend.get_task_meta("no-such-task")["status"] == "PENDING"
        engines.append(backend.session_manager.get_engine(backend.url))

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    read()
    assert len(engines) == 4 and len({id(e) for e in engines}) == 1
    assert engines[0].pool.__class__.__name__ == "NullPool"
    assert engines[0].url.database == str(settings_env / "celery-results.db")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a manager (and engine) of its own, still reading the same file
        try:
            backend = app.backend
            own = backend.session_manager.get_engine(backend.url)
            same_file = own.url.database == engines[0].url.database
            ok = own is not engines[0] and same_file
            ok = ok and backend.get_task_meta("x")["status"] == "PENDING"
            os.write(writer, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    assert os.read(reader, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(reader)


def test_kept_connections_survive_a_migration_that_changes_a_result_type(
    pg_url: str, settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement a kept connection prepared before another process changed a column's type
    fails once in the driver ("cached statement plan is invalid"); the work runs again instead
    of failing the task, or the notebook's next call (the client keeps its connection too)."""
    from sqlalchemy import text

    from filterbets_nb.db.session import dispose_shared, run_shared
    from filterbets_nb.tasks.base import close_task_engines, task_db
    from tests.conftest import use_empty_database

    use_empty_database(pg_url, monkeypatch)
    close_task_engines()

    async def setup(session: Any) -> None:
        await session.execute(text("create table probe (a integer)"))
        await session.execute(text("insert into probe values (7)"))

    async def read(session: Any) -> Any:
        return (await session.execute(text("select a from probe"))).scalar_one()

    async def widen(session: Any) -> None:
        await session.execute(text("alter table probe alter column a type text"))

    try:
        run_async(setup)
        assert task_db(read) == run_shared(read) == 7  # planned and cached on kept connections
        run_async(widen)  # another connection, as `db upgrade` beside a running worker
        assert task_db(read) == run_shared(read) == "7"
    finally:
        close_task_engines()
        dispose_shared()


def test_a_pool_process_keeps_one_connection_across_tasks_until_it_shuts_down(
    pg_url: str, settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks in one process share one pooled connection, also after a task failed; one the
    server ended meanwhile is replaced, not failed on; closing (a pool process's shutdown)
    ends the connection and the database thread, and the next call connects anew."""
    import threading
    import time

    from sqlalchemy import text

    from filterbets_nb.tasks.base import RetryingTask, close_task_engines, task_db
    from filterbets_nb.tasks.celery_app import celery_app
    from tests.conftest import use_empty_database

    use_empty_database(pg_url, monkeypatch)
    close_task_engines()  # whatever an earlier test of this process left

    async def backend_pid(session: Any) -> int:
        return int((await session.execute(text("select pg_backend_pid()"))).scalar_one())

    @celery_app.task(base=RetryingTask, name="tests.two_database_calls", shared=False)
    def two_calls(fail: bool = False) -> list[int]:
        pids = [task_db(backend_pid), task_db(backend_pid)]
        if fail:
            raise ValueError(f"failing after {pids}")
        return pids

    async def connected(session: Any, pid: int) -> int:
        stmt = text("select count(*) from pg_stat_activity where pid = :pid")
        return int((await session.execute(stmt, {"pid": pid})).scalar_one())

    def closed(pid: int) -> bool:
        deadline = time.monotonic() + 10  # the server ends the backend a moment after
        while run_async(lambda s: connected(s, pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return run_async(lambda s: connected(s, pid)) == 0

    def loops() -> int:
        return sum(t.name == "filterbets-db" for t in threading.enumerate())

    before = loops()
    try:
        first = two_calls()
        assert first[0] == first[1]
        with pytest.raises(ValueError, match="failing after"):
            two_calls(fail=True)
        assert two_calls() == first  # the same connection, the failed task's rolled back
        assert loops() == before + 1

        async def terminate(session: Any) -> None:
            await session.execute(text("select pg_terminate_backend(:pid)"), {"pid": first[0]})

        run_async(terminate)
        assert closed(first[0])
        replaced = two_calls()  # the dead connection is noticed as it is taken
        assert replaced[0] == replaced[1] != first[0]
    finally:
        close_task_engines()
    assert closed(replaced[0]) and loops() == before
    assert two_calls()[0] not in (first[0], replaced[0])  # the next call connects anew
    close_task_engines()
