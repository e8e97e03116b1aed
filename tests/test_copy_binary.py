"""The bulk paths bets are written by read back exactly as the generic ones: the numpy-built
binary COPY (PostgreSQL) as the driver's own encoding, one executemany of tuples (SQLite) as
SQLAlchemy's insert; NULL prices, NULL and non-ASCII texts, timestamps before 2000."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import JSON

from filterbets_nb.config import get_settings
from filterbets_nb.db import copy_binary, store
from filterbets_nb.db.migrate import upgrade
from filterbets_nb.db.models import BacktestBet, BacktestJob
from filterbets_nb.db.session import run_async
from filterbets_nb.loading import load_demo
from tests.conftest import use_empty_database

TYPES = {column.name: column.type for column in BacktestBet.__table__.columns}


def bets_frame(match_ids: np.ndarray) -> pd.DataFrame:
    n = len(match_ids)
    rng = np.random.default_rng(3)
    kickoff = pd.Timestamp("1999-12-31 23:59:59.123456") + pd.to_timedelta(
        rng.integers(0, 10**9, n), unit="s"
    )
    return pd.DataFrame(
        {
            "match_id": match_ids,
            "kickoff": kickoff,
            "market": "ah_home",
            "odds": rng.random(n) + 1.01,
            "closing_odds": np.where(rng.random(n) < 0.3, np.nan, rng.random(n) + 1),
            "stake": 1.0,
            "won": rng.random(n) < 0.5,
            "profit": rng.normal(size=n),
            "cum_profit": rng.normal(size=n).cumsum(),
            "line": np.where(rng.random(n) < 0.5, np.nan, -0.25),
            "outcome": pd.Series(rng.choice(["win", "half_win", "push", "lossé"], n)).where(
                rng.random(n) > 0.2, None
            ),
            "p_fair_close": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
            "clv": rng.normal(size=n),
        }
    )


def test_binary_copy_reads_back_as_the_driver_encoding(
    settings_env: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_empty_database(pg_url, monkeypatch)
    load_demo(n_matches=600, seed=1)
    ids = run_async(lambda s: store.load_matches(s))["match_id"].to_numpy()[:500]
    bets = bets_frame(ids)
    assert copy_binary.encode(bets.assign(job_id="j", seq=1), TYPES) is not None

    def stored(encode: Any) -> pd.DataFrame:
        job_id = str(uuid.uuid4())
        monkeypatch.setattr(copy_binary, "encode", encode)

        async def write(session: Any) -> None:
            session.add(BacktestJob(id=job_id, filter={}, scope={}, status="PENDING"))
            await session.flush()
            await store.replace_bets(session, job_id, bets)

        run_async(write)
        return run_async(lambda s: store.load_bets(s, job_id))

    numpy_built = stored(copy_binary.encode)
    by_driver = stored(lambda frame, types: None)
    assert len(numpy_built) == len(bets)
    pd.testing.assert_frame_equal(numpy_built, by_driver)
    assert numpy_built["outcome"].isna().sum() == bets["outcome"].isna().sum() > 0
    assert (numpy_built["outcome"] == "lossé").any()


def test_a_backtest_without_bets_stores_none_on_postgresql(
    settings_env: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter that selects no match: the bets frame is empty, and storing it is a no-op (it
    failed in the binary encoder: "cannot reshape array of size 0")."""
    use_empty_database(pg_url, monkeypatch)
    empty = bets_frame(np.array([], dtype=np.int64))
    data = copy_binary.encode(empty.assign(job_id="j", seq=1), TYPES)
    # The format's header (signature, flags, extension length) and end marker, no row.
    assert data == b"PGCOPY\n\xff\r\n\x00" + bytes(8) + b"\xff\xff"
    job_id = str(uuid.uuid4())

    async def write(session: Any) -> None:
        session.add(BacktestJob(id=job_id, filter={}, scope={}, status="PENDING"))
        await session.flush()
        await store.replace_bets(session, job_id, empty)

    run_async(write)
    assert run_async(lambda s: store.load_bets(s, job_id)).empty


def test_kinds_it_does_not_encode_are_left_to_the_driver() -> None:
    json_like = pd.DataFrame({"odds_extra": ['{"a": 1}']})
    assert copy_binary.encode(json_like, {"odds_extra": JSON()}) is None
    texts = pd.DataFrame({"market": [f"m{i}" for i in range(2000)]})
    assert copy_binary.encode(texts, TYPES) is None  # too many distinct texts
    floats_as_ints = pd.DataFrame({"seq": [1.0, np.nan]})
    assert copy_binary.encode(floats_as_ints, TYPES) is None


def test_sqlite_executemany_stores_what_sqlalchemy_stores(
    settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the bets go as one executemany of plain tuples: stored text, read back frame
    and all, the same as SQLAlchemy's insert writes."""
    import sqlite3

    upgrade(get_settings().database)
    load_demo(n_matches=600, seed=1)
    ids = run_async(lambda s: store.load_matches(s))["match_id"].to_numpy()[:500]
    bets = bets_frame(ids)
    fallback = store._sqlite_executemany

    def stored(fast: bool) -> tuple[pd.DataFrame, list[Any]]:
        job_id = str(uuid.uuid4())

        async def off(*args: Any) -> bool:
            return False

        monkeypatch.setattr(store, "_sqlite_executemany", fallback if fast else off)

        async def write(session: Any) -> None:
            session.add(BacktestJob(id=job_id, filter={}, scope={}, status="PENDING"))
            await session.flush()
            await store.replace_bets(session, job_id, bets)

        run_async(write)
        with sqlite3.connect(settings_env / "filterbets.db") as conn:
            raw = conn.execute(
                "SELECT kickoff, won, closing_odds, outcome FROM backtest_bets "
                "WHERE job_id = ? ORDER BY seq",
                (job_id,),
            ).fetchall()
        return run_async(lambda s: store.load_bets(s, job_id)), raw

    (fast, fast_raw), (slow, slow_raw) = stored(True), stored(False)
    assert len(fast) == len(bets) and fast_raw == slow_raw
    pd.testing.assert_frame_equal(fast, slow)
