"""Throwaway PostgreSQL databases and Redis indexes, for the test suite and the benchmarks.

Both need a database of their own on a shared server (never the one an analyst works in) and a
Redis index they may empty; this module is the one place that knows how to make and remove them.
It needs the server's admin URL (plain ``postgresql://``, as asyncpg takes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any


def pg_admin(admin_url: str, sql: str, timeout: float = 10) -> None:
    """Run one statement (CREATE/DROP DATABASE cannot run in a transaction) as the admin."""
    import asyncpg

    async def main() -> None:
        conn = await asyncpg.connect(admin_url, timeout=timeout)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(main())


def database_url(admin_url: str, name: str) -> str:
    """The async SQLAlchemy URL of database ``name`` on the admin URL's server."""
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def create_database(admin_url: str, prefix: str) -> str:
    """A new, empty database named ``prefix`` + a random suffix; returns its name."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    pg_admin(admin_url, f'CREATE DATABASE "{name}"')
    return name


def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name``, closing any connection still open to it."""
    pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh database for the ``with`` block (its async SQLAlchemy URL), dropped after it."""
    name = create_database(admin_url, prefix)
    try:
        yield database_url(admin_url, name)
    finally:
        drop_database(admin_url, name)


def flush_redis(url: str, timeout: float = 5) -> None:
    """Empty the Redis index ``url`` names (and nothing else)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout)
    try:
        client.flushdb()
    finally:
        client.close()


def run_python(
    code: str,
    env: dict[str, str],
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 180,
) -> Any:
    """Run ``code`` in a fresh interpreter with ``env``; its last stdout line is JSON, returned.

    A fresh process is what a notebook, a CLI call or a second machine is: nothing leaks in
    from the caller's imports, settings or event loop.
    """
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])
