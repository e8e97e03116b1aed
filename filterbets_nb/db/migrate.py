"""Apply the Alembic migrations that ship inside the package (``filterbets-nb db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from filterbets_nb.config import get_settings

MIGRATIONS = Path(__file__).with_name("migrations")
_upgraded: set[str] = set()


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's ini interpolation treats % specially; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", (url or get_settings().database).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (default: the configured one) up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def ensure_schema(url: str | None = None) -> None:
    """Upgrade once per process and URL: cheap to call before every database use."""
    url = url or get_settings().database
    if url not in _upgraded:
        upgrade(url)
        _upgraded.add(url)
