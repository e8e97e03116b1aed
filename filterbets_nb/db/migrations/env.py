"""Alembic environment: runs migrations on the async engine of the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from filterbets_nb.db.models import Base
from filterbets_nb.db.session import engine_scope, run_coro

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    async with engine_scope(url) as engine, engine.begin() as connection:
        await connection.run_sync(_run)


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_coro(_online)
