"""Moving whole frames in and out of a table in one statement each, on either database.

The match upsert handles hundreds of thousands of rows; going through SQLAlchemy's parameter
processing costs tens of microseconds per row and per column, more than the database itself.
These helpers hand the driver what it takes natively: on PostgreSQL (asyncpg) CSV text made by
Arrow's C++ writer and sent with ``COPY``; on SQLite the driver's own ``executemany`` of plain
rows, a batch at a time (no compilation, no type processing). Reading goes the
same way: ``COPY (query) TO STDOUT`` parsed by pandas' C reader, or raw rows turned into columns.

Values are written as SQLAlchemy would store them, so rows written here and rows written through
the ORM read back the same: SQLite timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` text and dates as
``YYYY-MM-DD``, JSON as its text. Everything runs on the session's connection, inside its
transaction.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy.ext.asyncio import AsyncConnection

#: Rows per ``executemany`` on SQLite: bounds the tuples alive at once.
_SQLITE_ROWS = 10_000


async def asyncpg_driver(connection: AsyncConnection) -> Any | None:
    """The asyncpg connection under ``connection`` (same transaction); None off PostgreSQL."""
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "asyncpg":
        return None
    return (await connection.get_raw_connection()).driver_connection


def _arrow_column(values: pd.Series) -> pa.Array:
    """One column for Arrow's CSV writer: NaN/None become nulls (empty, unquoted = NULL)."""
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else "O"
    if kind == "M":
        return pa.array(values.to_numpy().astype("datetime64[us]"), mask=values.isna().to_numpy())
    if kind == "f":
        array = values.to_numpy()
        return pa.array(array, mask=np.isnan(array))
    return pa.array(values, from_pandas=True)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while rows go through millions of tuples and lists.

    None of them can form a cycle, yet every few hundred new containers start a collection
    that walks the ones still alive: with it on, collecting took about 30 % of a
    million-match load's main thread. Turned back on afterwards unless it was off already.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _sqlite_column(values: pd.Series, kind: str) -> npt.NDArray[np.object_]:
    """One column of dtype kind ``kind``, not float (:func:`_sqlite_rows` boxes those), as the
    Python values sqlite3 binds (an object array), as SQLAlchemy's SQLite types store them: NULL
    as None, timestamps as text, integers and booleans as exact ``int`` (SQLite stores a
    boolean as 0 or 1; the driver binds a ``bool`` through its slow adapter path, an ``int``
    directly)."""
    if kind == "M":
        # Formatted once per distinct value: kick-offs repeat (a round shares a few), and a
        # stamp column such as ``updated_at`` holds one value.
        codes, uniques = pd.factorize(values.to_numpy().astype("datetime64[us]"))
        text = np.char.replace(np.datetime_as_string(np.asarray(uniques), unit="us"), "T", " ")
        boxed = np.empty(len(text) + 1, dtype=object)  # the last one, None, is code -1 (NaT)
        boxed[:-1] = text
        return boxed[codes]
    if kind == "b":
        return values.to_numpy().astype(np.int64).astype(object)
    if kind in "iu":
        return values.to_numpy().astype(object)
    boxed = values.astype(object).to_numpy(copy=True)
    boxed[pd.isna(boxed)] = None
    return boxed


def _sqlite_rows(frame: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    """``frame``'s rows as lists of the values sqlite3 binds (see :func:`_sqlite_column`), and
    the column names in the order the lists hold them: the other columns first, then the
    floats.

    The float columns, most of a match row, become each row's list in one ``tolist`` of a
    row-major block, and the few other values are put in front: boxing the floats into an
    object block first and listing that cost a quarter more. Each row's floats also lie
    together in memory, which halves what the driver spends binding them. NaN stays NaN:
    SQLite stores a NaN bound as a double as NULL, and the driver binds a float nine times
    faster than ``None`` (which goes through its adapter lookup).
    """
    kinds = [c.kind if isinstance(c, np.dtype) else "O" for c in frame.dtypes]
    floats = [j for j, kind in enumerate(kinds) if kind == "f"]
    others = [j for j, kind in enumerate(kinds) if kind != "f"]
    block = np.ascontiguousarray(frame.iloc[:, floats].to_numpy(dtype=np.float64))
    rows: list[list[Any]] = block.tolist() if floats else [[] for _ in range(len(frame))]
    heads = [_sqlite_column(frame.iloc[:, j], kinds[j]) for j in others]
    if heads:
        for row, head in zip(rows, zip(*heads, strict=True), strict=True):
            row[0:0] = head
    return [str(frame.columns[j]) for j in (*others, *floats)], rows


async def _executemany(
    connection: AsyncConnection, frame: pd.DataFrame, statement: Callable[[list[str]], str]
) -> None:
    """SQLite: run ``statement(columns)`` (with ``?N`` for the N-th of ``columns``) for every
    row of ``frame``, a batch at a time, on the connection's open transaction.

    The rows go to the driver's ``executemany`` as they are (SQLAlchemy would want each as a
    tuple, a copy of every row for nothing).
    """
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    with _collector_paused():
        for start in range(0, len(frame), _SQLITE_ROWS):
            columns, rows = _sqlite_rows(frame.iloc[start : start + _SQLITE_ROWS])
            await driver.executemany(statement(columns), rows)


async def insert_rows(connection: AsyncConnection, table: str, frame: pd.DataFrame) -> None:
    """SQLite: insert every row of ``frame`` (columns by name) into ``table``."""

    def statement(columns: list[str]) -> str:
        marks = ", ".join(f"?{n}" for n in range(1, len(columns) + 1))
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    await _executemany(connection, frame, statement)


async def update_rows(
    connection: AsyncConnection, table: str, frame: pd.DataFrame, key: str
) -> None:
    """SQLite: set the other columns of ``frame`` on the row of ``table`` whose ``key`` is the
    frame row's, for every row."""

    def statement(columns: list[str]) -> str:
        assignments = ", ".join(f"{c} = ?{n}" for n, c in enumerate(columns, 1) if c != key)
        return f"UPDATE {table} SET {assignments} WHERE {key} = ?{columns.index(key) + 1}"

    await _executemany(connection, frame, statement)


async def copy_in(
    driver: Any, table: str, frame: pd.DataFrame, *, not_null: Sequence[str] = ()
) -> None:
    """PostgreSQL: append ``frame`` to ``table`` (columns by name) with one CSV ``COPY``.

    ``not_null`` names text columns whose empty strings must stay empty strings (in CSV an
    unquoted empty field is NULL; Arrow quotes every string, and this makes it certain).
    """
    if frame.empty:
        return
    arrays = [_arrow_column(frame[c]) for c in frame.columns]
    table_data = pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])
    buffer = io.BytesIO()
    pa_csv.write_csv(table_data, buffer, pa_csv.WriteOptions(include_header=False))
    buffer.seek(0)
    await driver.copy_to_table(
        table,
        source=buffer,
        columns=list(frame.columns),
        format="csv",
        force_not_null=list(not_null) or None,
    )


async def read_frame(
    connection: AsyncConnection, sql: str, columns: Sequence[str], floats: Sequence[str]
) -> pd.DataFrame:
    """The rows of a plain ``SELECT`` (``columns`` in its order) as a frame.

    ``floats`` become float64 (NULL as NaN); every other column comes back as the driver's text
    or integers (PostgreSQL: as pandas reads its CSV; SQLite: as stored). Temporal columns are
    left to the caller, which knows their format.
    """
    driver = await asyncpg_driver(connection)
    as_float = set(floats)
    if driver is not None:
        buffer = io.BytesIO()

        async def sink(chunk: bytes) -> None:
            buffer.write(chunk)

        await driver.copy_from_query(sql, output=sink, format="csv", header=False)
        buffer.seek(0)
        if not buffer.getbuffer().nbytes:
            return pd.DataFrame(
                {c: pd.Series(dtype=float if c in as_float else object) for c in columns}
            )
        return pd.read_csv(
            buffer,
            header=None,
            names=list(columns),
            dtype={c: "float64" if c in as_float else "str" for c in columns},
            keep_default_na=False,
            na_values={c: [""] for c in columns},
            engine="c",
        )
    with _collector_paused():
        result = await connection.exec_driver_sql(sql)
        rows = result.all()
        values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        del rows
        data: dict[str, Any] = {}
        for name, column in zip(columns, values, strict=True):
            if name in as_float:
                data[name] = np.array(column, dtype=np.float64)
            else:
                data[name] = pd.Series(column, dtype=object)
        return pd.DataFrame(data)
