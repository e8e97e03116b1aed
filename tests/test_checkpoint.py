"""A load's log is copied into the database file after the load, in a thread, not by its commit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from filterbets_nb.db.checkpoint import checkpoint_after, skip_autocheckpoint
from filterbets_nb.db.session import engine_scope, run_coro


def _load(url: str, *, skip: bool) -> None:
    """Write about 2,000 pages (the autocheckpoint threshold is 1,000) in one transaction."""
    from sqlalchemy.ext.asyncio import AsyncSession

    async def work() -> None:
        async with engine_scope(url) as engine, AsyncSession(engine) as session:
            if skip:
                await skip_autocheckpoint(session)
            connection = await session.connection()
            await connection.exec_driver_sql(
                "INSERT INTO t (x) SELECT randomblob(4000) FROM"
                " (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                " SELECT i FROM n)"
            )
            await session.commit()

    run_coro(work)


@pytest.mark.parametrize("skip", [True, False])
def test_the_log_is_copied_after_the_load_not_by_its_commit(tmp_path: Path, skip: bool) -> None:
    path = tmp_path / "c.db"
    url = f"sqlite+aiosqlite:///{path}"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x BLOB)")
    setup.close()
    empty = path.stat().st_size
    with checkpoint_after(url) as thread:
        _load(url, skip=skip)
        after_commit = path.stat().st_size
    assert thread is not None
    thread.join(timeout=60)
    assert not thread.is_alive()
    if skip:
        assert after_commit == empty  # the pages are only in the log
    else:
        assert after_commit > 2000 * 4000  # the commit copied them itself
    assert path.stat().st_size > 2000 * 4000
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (2000,)
        busy, frames, copied = check.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    check.close()
    assert busy == 0 and frames == copied


def test_after_an_error_nothing_is_left_running(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
    setup.close()
    with pytest.raises(RuntimeError), checkpoint_after(f"sqlite+aiosqlite:///{path}") as thread:
        raise RuntimeError("the load failed")
    assert thread is not None and thread.ident is None  # never started


def test_not_a_sqlite_file_no_thread() -> None:
    with checkpoint_after("postgresql+asyncpg://u@127.0.0.1/db") as thread:
        assert thread is None
