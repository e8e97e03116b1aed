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


#: Where claims on Redis indexes live: in index 0, so emptying a claimed index (tests and
#: benchmarks flush theirs between steps) never makes it look free to another run.
CLAIM_PREFIX = "filterbets:claimed-index:"


def claim_redis_index(server: str, owner: str, ttl: int = 86400) -> str:
    """An empty Redis index (1-15) of ``server`` for one test or benchmark run alone.

    The claim is a ``SET NX`` key in index 0 that expires after ``ttl`` seconds in case the run
    is killed; an index that holds data is never claimed, whoever put it there.
    """
    import redis

    registry = redis.Redis.from_url(f"{server}/0", socket_timeout=3)
    try:
        for index in range(15, 0, -1):
            candidate = redis.Redis.from_url(f"{server}/{index}", socket_timeout=3)
            try:
                if candidate.dbsize() == 0 and registry.set(
                    f"{CLAIM_PREFIX}{index}", owner, nx=True, ex=ttl
                ):
                    return f"{server}/{index}"
            finally:
                candidate.close()
    finally:
        registry.close()
    raise RuntimeError(f"no free Redis index on {server} (1-15 all hold data or are claimed)")


def release_redis_index(url: str, owner: str) -> None:
    """Empty a claimed index and give it back (only if ``owner`` still holds the claim)."""
    import redis

    flush_redis(url)
    server, index = url.rsplit("/", 1)
    registry = redis.Redis.from_url(f"{server}/0", socket_timeout=3)
    try:
        key = f"{CLAIM_PREFIX}{index}"
        if registry.get(key) == owner.encode():
            registry.delete(key)
    finally:
        registry.close()


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
