"""Apply the Alembic migrations that ship inside the package (``filterbets-nb db upgrade``).

:func:`ensure_schema` runs before every client-side database use, so its common case (the
schema is already at head) must be cheap: it reads ``alembic_version`` and compares it with the
head revision read from the migration files' ``revision = "..."`` lines, and imports Alembic
(about a quarter of a second) only when there is something to upgrade.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from filterbets_nb.config import get_settings

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncSession

MIGRATIONS = Path(__file__).with_name("migrations")
_upgraded: set[str] = set()
_REVISION = re.compile(
    r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(None|["']([^"']*)["'])""", re.M
)


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's ini interpolation treats % specially; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", (url or get_settings().database).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (default: the configured one) up to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


@cache
def head_revision() -> str:
    """The one revision no migration file names as its ``down_revision``."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for key, _, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if key == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {MIGRATIONS} have {len(heads)} heads: {heads}")
    return heads.pop()


def current_revision(url: str | None = None) -> str | None:
    """The revision stored in the database's ``alembic_version`` (None: no schema yet).

    On an engine of its own, disposed at once, like the upgrade's: a process that only checks
    the schema keeps no connection open.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from filterbets_nb.db.session import run_async

    async def read(session: AsyncSession) -> str | None:
        try:
            return (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except DBAPIError:  # no table yet, or no database: the upgrade then says which
            await session.rollback()
            return None

    return run_async(read, url)


def ensure_schema(url: str | None = None) -> None:
    """Upgrade once per process and URL, and only when the schema is not at head already."""
    url = url or get_settings().database
    if url not in _upgraded:
        if current_revision(url) != head_revision():
            upgrade(url)
        _upgraded.add(url)
