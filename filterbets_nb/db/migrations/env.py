"""Alembic environment: runs migrations on the async engine of the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from filterbets_nb.db.models import Base
from filterbets_nb.db.session import engine_scope, run_coro

target_metadata = Base.metadata


#: Advisory lock key serialising migrations on PostgreSQL (any constant all processes share).
_MIGRATION_LOCK_KEY = 0x66_62_6D_67  # "fbmg"


def _serialise(connection: Connection) -> None:
    """Make concurrent first runs (two imports on a fresh database) take turns: the second
    waits here until the first committed, then finds the schema at head and does nothing.

    PostgreSQL: a transaction-level advisory lock.  SQLite: pysqlite runs DDL outside any
    transaction, so open a write transaction first; it also makes the migration atomic.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _run(connection: Connection) -> None:
    _serialise(connection)
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
