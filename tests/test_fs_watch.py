"""Waking on file changes (fs_watch) and holding SQLite's log open (wal_hold); the embedded
transport that waits on its broker folder is tested beside its other test in test_status."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest

from filterbets_nb.db import wal_hold
from filterbets_nb.fs_watch import IN_CLOSE_WRITE, IN_MODIFY, IN_MOVED_TO, FolderWatch
from tests.conftest import NEVER, later

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


@linux
def test_a_watch_wakes_on_a_matching_file_and_not_on_others(tmp_path: Path) -> None:
    watch = FolderWatch(tmp_path, IN_MOVED_TO | IN_CLOSE_WRITE, suffixes=(".msg",))
    try:
        assert watch.active
        (tmp_path / "x.log").write_text("noise")
        assert watch.wait(0.05) is False  # a change to another file does not count
        partial = tmp_path / ".a.msg.partial"
        partial.write_text("{}")
        timer = later(lambda: os.replace(partial, tmp_path / "a.msg"))
        assert watch.wait(NEVER) is True
        timer.join()
        (tmp_path / "b.msg").write_text("{}")  # before the wait: kept until it is read
        assert watch.wait(NEVER) is True
    finally:
        watch.close()
    assert not watch.active


def test_without_a_folder_a_watch_just_sleeps(tmp_path: Path) -> None:
    watch = FolderWatch(None)
    assert not watch.active
    assert watch.wait(0.01) is False


@linux
def test_a_watch_sees_a_sqlite_commit_through_the_log(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    watch = FolderWatch(tmp_path, IN_MODIFY, suffixes=("r.db-wal",))
    try:
        timer = later(lambda: (conn.execute("INSERT INTO t VALUES (1)"), conn.commit()))
        assert watch.wait(NEVER) is True
        timer.join()
    finally:
        watch.close()
        conn.close()


def _wal_after_a_close(path: Path) -> bool:
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    return Path(f"{path}-wal").exists()


def test_a_held_connection_keeps_the_log_through_other_closes(tmp_path: Path) -> None:
    """SQLite checkpoints and deletes the log when its last connection closes; a pool process
    holding one open turns every other close into a plain close."""
    path = tmp_path / "f.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert not _wal_after_a_close(path)  # last close: checkpointed and removed
    try:
        held = wal_hold.hold([f"sqlite+aiosqlite:///{path}", "db+sqlite:///" + str(path)])
        assert held == [path]  # one connection per file, whatever the URL's dialect
        assert _wal_after_a_close(path)
        assert wal_hold.hold(["postgresql+asyncpg://u@h/db", "sqlite+aiosqlite://"]) == []
    finally:
        wal_hold.release()
    assert not _wal_after_a_close(path)
