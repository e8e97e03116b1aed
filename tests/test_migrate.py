"""The schema check that runs before every client-side database use: cheap when at head."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from filterbets_nb import testing
from filterbets_nb.db import migrate
from filterbets_nb.db.session import dispose_shared, run_shared
from tests.conftest import PG_ADMIN_URL


def test_head_read_from_the_files_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite:///unused.db"))
    assert migrate.head_revision() == script.get_current_head()


@pytest.fixture
def db_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with no schema yet (the session's PostgreSQL one is migrated already)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    request.getfixturevalue("pg_url")  # PostgreSQL answers (or the test fails/skips)
    name = testing.create_database(PG_ADMIN_URL, "fbtest_migrate_")
    yield testing.database_url(PG_ADMIN_URL, name)
    dispose_shared()
    testing.drop_database(PG_ADMIN_URL, name)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_ensure_schema_upgrades_a_missing_or_older_schema_and_reads_one_at_head(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = migrate.head_revision()
    upgrades: list[str] = []
    real_upgrade = migrate.upgrade

    def counted(url: str | None = None, revision: str = "head") -> None:
        upgrades.append(revision)
        real_upgrade(url, revision)

    monkeypatch.setattr(migrate, "upgrade", counted)
    monkeypatch.setattr(migrate, "_upgraded", set())
    try:
        assert migrate.current_revision(db_url) is None  # no schema yet
        real_upgrade(db_url, "0001")
        assert migrate.current_revision(db_url) == "0001"
        migrate.ensure_schema(db_url)  # an older schema is brought to head
        assert migrate.current_revision(db_url) == head
        assert upgrades == ["head"]
        monkeypatch.setattr(migrate, "_upgraded", set())
        migrate.ensure_schema(db_url)  # at head: read, not upgraded
        assert upgrades == ["head"]
        tables = run_shared(_table_count, db_url)
        assert tables > 5
    finally:
        dispose_shared()


async def _table_count(session: object) -> int:
    from sqlalchemy import inspect

    def count(conn: object) -> int:
        return len(inspect(conn).get_table_names())

    connection = await session.connection()  # type: ignore[attr-defined]
    return int(await connection.run_sync(count))


def test_a_schema_at_head_is_checked_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shell-head.db'}"
    migrate.upgrade(url)
    code = (
        "import sys; from filterbets_nb.db.migrate import ensure_schema;"
        f" ensure_schema({url!r}); print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"
