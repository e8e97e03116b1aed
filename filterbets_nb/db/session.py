"""Async engines and sessions, and a safe way to run database coroutines from sync code.

The spec's ``get_async_session()`` creates a new ``AsyncEngine`` for every session and never
disposes it: each call leaks a connection pool, and a pooled engine reused across
``asyncio.run()`` calls fails ("Future attached to a different loop", then asyncpg's "another
operation is in progress"). Here an engine lives on one event loop and is disposed before that
loop stops, so no connection outlives its owner and nothing is bound to a dead loop:

- :func:`run_async`: one engine for one call, on a loop of its own (imports, scripts).
- :class:`LoopEngines`: one event loop in a helper thread owning one pooled engine per database
  URL. The client side (notebook, CLI) keeps one for the life of the process
  (:func:`run_shared`), so a bar polling every 0.2 s reuses a connection instead of opening
  one per poll. A worker's pool process keeps one too, for every task it runs
  (``tasks.base.task_db``), and closes it as the process shuts down: a chain's links and a
  sweep's chunks take a pooled connection instead of each opening its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from filterbets_nb.config import get_settings
from filterbets_nb.db import sqlite_connection

T = TypeVar("T")

#: Links of ``__cause__``/``__context__`` looked at (a cycle or a long chain cannot stall us).
_MAX_CHAIN = 32


def error_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, each once, outermost first."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < _MAX_CHAIN:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapped DBAPI error
        if isinstance(orig, BaseException):
            todo.append(orig)
    return seen


def stale_statement(exc: BaseException) -> bool:
    """Whether ``exc`` is asyncpg's "cached statement plan is invalid": a pooled connection
    kept a statement PostgreSQL planned before a migration changed what it returns (``db
    upgrade`` run by another process). The driver fails it once and SQLAlchemy then forgets
    its cached statements, so the same work succeeds when run again."""
    return any(type(link).__name__ == "InvalidCachedStatementError" for link in error_chain(exc))


def make_engine(url: str | None = None) -> AsyncEngine:
    """A new engine for ``url`` (default: the configured database). The caller disposes it."""
    url = url or get_settings().database
    if url.startswith("sqlite"):
        get_settings().ensure_dirs()
        # A connection per use (opening one is a file open): an idle pooled connection would
        # be open when a worker forks a pool process (see fork_guard).
        return create_async_engine(
            url, connect_args=dict(sqlite_connection.CONNECT_ARGS), poolclass=NullPool
        )
    return create_async_engine(url, pool_pre_ping=True)


@asynccontextmanager
async def engine_scope(url: str | None = None) -> AsyncIterator[AsyncEngine]:
    """An engine that is disposed when the block ends, whatever happens inside it."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def session_scope(url: str | None = None) -> AsyncIterator[AsyncSession]:
    """A session on its own engine; commits on success, rolls back on error, always disposes."""
    async with engine_scope(url) as engine, AsyncSession(engine, expire_on_commit=False) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def run_async(
    fn: Callable[[AsyncSession], Awaitable[T]], url: str | None = None, *, isolate: bool = False
) -> T:
    """Run ``fn(session)`` to completion from sync code (a Celery task, the CLI, a notebook).

    Inside a running event loop (a Jupyter kernel) ``asyncio.run`` is not allowed, so the
    coroutine then runs on a fresh loop in a helper thread. ``isolate=True`` always uses the
    helper thread: Celery raises its soft time limit asynchronously in the main thread, and
    there it must interrupt a wait, not a half-done transaction inside the event loop.
    """

    async def main() -> T:
        async with session_scope(url) as session:
            return await fn(session)

    return run_coro(main, isolate=isolate)


def run_coro(factory: Callable[[], Awaitable[T]], *, isolate: bool = False) -> T:
    """``asyncio.run(factory())``, in a helper thread when a loop already runs here (or asked).

    If the caller is interrupted while it waits, leaving the ``with`` block still waits for the
    helper thread, so the coroutine commits or rolls back and disposes its engine first.
    """

    async def wrapper() -> T:
        return await factory()

    if not isolate:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(wrapper())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wrapper()).result()


class LoopEngines:
    """One event loop in a daemon thread owning one pooled engine per database URL.

    Every coroutine sent here runs on that loop, so the pool's connections are only ever used
    on the loop they were made on, whatever thread or event loop the caller runs in. Nothing
    starts until the first call. A forked child starts afresh (it must not use its parent's
    connections). :meth:`close` disposes the engines and stops the loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._engines: dict[str, AsyncEngine] = {}

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._engines = {}
                self._pid = os.getpid()
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="filterbets-db", daemon=True
                )
                self._thread.start()
            return self._loop

    def on_loop_thread(self) -> bool:
        """Whether the caller runs on this loop's thread (where waiting for it would hang)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def engine(self, url: str) -> AsyncEngine:
        """Called on the loop thread only, so the dict needs no lock of its own."""
        if url not in self._engines:
            self._engines[url] = make_engine(url)
        return self._engines[url]

    def run(self, factory: Callable[[], Awaitable[T]]) -> T:
        """``factory()`` on the loop. If the caller is interrupted while it waits (a task's soft
        time limit), the coroutine still commits or rolls back before the interrupt goes on."""

        async def wrapper() -> T:
            return await factory()

        future = asyncio.run_coroutine_threadsafe(wrapper(), self.loop())
        try:
            return future.result()
        except BaseException:
            concurrent.futures.wait([future])
            raise

    def session(self, fn: Callable[[AsyncSession], Awaitable[T]], url: str | None = None) -> T:
        """``fn(session)`` on the pooled engine for ``url`` (default: the configured database);
        commits on success, rolls back on error, and runs once more after a
        :func:`stale_statement` (a pooled connection outlives migrations run elsewhere)."""
        target = url or get_settings().database

        async def main() -> T:
            engine = self.engine(target)
            async with AsyncSession(engine, expire_on_commit=False) as session:
                try:
                    value = await fn(session)
                    await session.commit()
                    return value
                except BaseException:
                    await session.rollback()
                    raise

        try:
            return self.run(main)
        except Exception as exc:  # its transaction was rolled back: nothing half done
            if not stale_statement(exc):
                raise
            return self.run(main)

    def dispose(self) -> None:
        """Close every pooled connection (tests, and settings that changed for good)."""
        if self._loop is None or self._pid != os.getpid():
            return
        engines, self._engines = list(self._engines.values()), {}

        async def close() -> None:
            for engine in engines:
                await engine.dispose()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result()

    def close(self) -> None:
        """Dispose the engines, stop the loop and its thread; a later call starts anew."""
        if self._loop is None or self._pid != os.getpid():
            return
        try:
            self.dispose()
        finally:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join()
            loop.close()


_shared = LoopEngines()


def run_shared(fn: Callable[[AsyncSession], Awaitable[T]], url: str | None = None) -> T:
    """Like :func:`run_async`, on the process's one pooled engine for ``url`` (client side).

    The URL is read from the current settings on every call, so ``get_settings.cache_clear()``
    with new settings switches databases (the old engine stays pooled until
    :func:`dispose_shared`).
    """
    return _shared.session(fn, url)


def dispose_shared() -> None:
    """Close the connections :func:`run_shared` pooled in this process."""
    _shared.dispose()
