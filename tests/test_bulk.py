"""SQLite bulk writes store what SQLAlchemy's types would: NULL, 0/1, timestamp text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncConnection

from filterbets_nb.db import bulk
from filterbets_nb.db.session import engine_scope, run_coro


def _stored(
    path: Path, table: str, write: Callable[[AsyncConnection], Awaitable[None]], query: str
) -> list[tuple[Any, ...]]:
    """Create ``table`` (its SQL) in a fresh SQLite file, ``write`` to it, return ``query``'s
    rows."""

    async def work() -> list[tuple[Any, ...]]:
        url = f"sqlite+aiosqlite:///{path}"
        async with engine_scope(url) as engine, engine.begin() as connection:
            await connection.exec_driver_sql(table)
            await write(connection)
            result = await connection.exec_driver_sql(query)
            return [tuple(row) for row in result.all()]

    return run_coro(work)


def test_sqlite_rows_store_nan_as_null_booleans_as_integers_and_stamps_as_text(
    tmp_path: Path,
) -> None:
    stamps = pd.to_datetime(
        ["2024-01-06 15:00:00", "2024-01-06 15:00:00", None, "2024-01-07 16:30:00.000123"],
        format="ISO8601",
    )
    frame = pd.DataFrame(
        {
            "price": [1.85, np.nan, 2.0, np.nan],
            "won": [True, False, True, False],
            "n": np.array([1, 2, 3, 2**40], dtype=np.int64),
            "at": stamps,
            "label": ["a", None, "c", "d"],
        }
    )

    async def write(connection: AsyncConnection) -> None:
        await bulk.insert_rows(connection, "t", frame)

    stored = _stored(
        tmp_path / "b.db",
        "CREATE TABLE t (price FLOAT, won BOOLEAN, n INTEGER, at DATETIME, label VARCHAR)",
        write,
        "SELECT price, typeof(price), won, typeof(won), n, at, label FROM t",
    )
    assert stored == [
        (1.85, "real", 1, "integer", 1, "2024-01-06 15:00:00.000000", "a"),
        (None, "null", 0, "integer", 2, "2024-01-06 15:00:00.000000", None),
        (2.0, "real", 1, "integer", 3, None, "c"),
        (None, "null", 0, "integer", 2**40, "2024-01-07 16:30:00.000123", "d"),
    ]


def test_rows_are_updated_by_key_whatever_the_column_order(tmp_path: Path) -> None:
    """The driver gets each row's floats last; the statements name the columns accordingly."""
    before = pd.DataFrame(
        {"a": [1.5, 2.5, 3.5], "id": [1, 2, 3], "b": [10.0, 20.0, 30.0], "tag": ["x", "y", "z"]}
    )
    after = pd.DataFrame({"b": [np.nan, 99.0], "tag": ["Y", "Z"], "id": [2, 3], "a": [0.5, 7.0]})

    async def write(connection: AsyncConnection) -> None:
        await bulk.insert_rows(connection, "t", before)
        await bulk.update_rows(connection, "t", after, "id")
        await bulk.insert_rows(connection, "t", pd.DataFrame({"id": [4], "tag": ["only"]}))

    stored = _stored(
        tmp_path / "u.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a FLOAT, b FLOAT, tag VARCHAR)",
        write,
        "SELECT id, a, b, tag FROM t ORDER BY id",
    )
    assert stored == [
        (1, 1.5, 10.0, "x"),
        (2, 0.5, None, "Y"),
        (3, 7.0, 99.0, "Z"),
        (4, None, None, "only"),
    ]
