"""Scope snapshots on disk: one Arrow IPC file per column, shared by every worker process.

:mod:`.match_cache` keeps each process's columns in its own memory, so a fresh worker, the
second process of a prefork pool or a sweep's second worker read the same million rows from the
database again. Here the columns a process read are also written under the data dir, one
uncompressed Arrow IPC file per column, and any process of any worker using that data dir maps
them instead of reading the database: reading a mapped column costs a page-cache copy at most
(1M rows x 16 columns in 0.07 s: see README, "The data path at scale"), and the pages are shared
between processes. Arrow rather than Parquet because the files are read whole and often, and
Arrow's layout is numpy's, so a float column is mapped as is with no decoding.

Layout: ``<root>/<scope>/<version>/<column>.arrow``, ``scope`` a digest of the database URL,
leagues and seasons, ``version`` the scope's
:func:`~filterbets_nb.db.match_columns.scope_version` (which changes with every write to its
matches or features); other versions of a scope are deleted by the next process that reads the
database for it. ``match_id.arrow`` is written first and only once per version: a column whose
rows are not those (matches written between the version read and the load) is not written, so
every file of one version lists the same matches in the same order. Files are written under a
temporary name and linked into place, so a reader never sees half a file. The scope's counts
(:class:`~filterbets_nb.db.match_columns.ScopeState`) are kept beside them as ``state.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from filterbets_nb.db.match_columns import ScopeState

logger = logging.getLogger(__name__)

_ID = "match_id"
_SUFFIX = ".arrow"
_STATE = "state.json"


def _write(path: Path, array: pa.Array) -> bool:
    """Write ``array`` as a one-column Arrow IPC file at ``path``; False if one is there."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        with pa.OSFile(str(tmp), "wb") as sink:
            _write_ipc(sink, array)
        try:
            os.link(tmp, path)  # fails if another process wrote it first
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _write_ipc(sink: pa.NativeFile, array: pa.Array) -> None:
    """``array`` as a one-column Arrow IPC file into ``sink`` (what :func:`_open` reads)."""
    with pa.ipc.new_file(sink, pa.schema([("v", array.type)])) as writer:
        writer.write_batch(pa.record_batch([array], names=["v"]))


def _read(path: Path) -> pa.Array:
    # Not closed here: the arrays keep the mapping alive, and reading them needs it.
    return _open(pa.memory_map(str(path)))


def _open(source: pa.NativeFile | pa.Buffer) -> pa.Array:
    """The one column of the Arrow IPC file in ``source``, not copied where the type allows."""
    column = pa.ipc.open_file(source).read_all().column(0)
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def column_bytes(values: pd.Series) -> bytes:
    """A column as the bytes of the one-column Arrow IPC file :func:`column_from_bytes` reads
    (what :class:`SnapshotFiles` writes), for stores other than files."""
    sink = pa.BufferOutputStream()
    _write_ipc(sink, _to_arrow(values))
    return bytes(sink.getvalue())


def column_from_bytes(data: bytes) -> object:
    """A column from :func:`column_bytes`: numpy (read-only, sharing ``data``) or a
    categorical, as :meth:`SnapshotFiles.read` gives it."""
    return _to_pandas(_open(pa.py_buffer(data)))


def _to_arrow(values: pd.Series) -> pa.Array:
    """A column as Arrow, NaN kept as NaN (Arrow's ``from_pandas`` would make them nulls)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.array
        assert isinstance(cat, pd.Categorical)
        return pa.DictionaryArray.from_arrays(
            pa.array(cat.codes.astype(np.int32)),
            pa.array([str(c) for c in cat.categories], type=pa.string()),
        )
    return pa.array(values.to_numpy())


def _to_pandas(array: pa.Array) -> object:
    """An array read back: numpy (mapped, read-only, where the type allows) or a categorical."""
    if isinstance(array, pa.DictionaryArray):
        return pd.Categorical.from_codes(
            array.indices.to_numpy(zero_copy_only=False),
            pd.Index(array.dictionary.to_pylist(), dtype=object),
        )
    return array.to_numpy(zero_copy_only=False)


def state_to_json(state: ScopeState) -> str:
    """A scope's counts as the JSON :func:`state_from_json` reads."""
    return json.dumps(dataclasses.asdict(state))


def state_from_json(text: str, version: str) -> ScopeState | None:
    """The counts :func:`state_to_json` wrote, if they are of ``version`` and well formed."""
    try:
        data = json.loads(text)
        state = ScopeState(
            matches=int(data["matches"]),
            leagues={int(k): str(v) for k, v in data["leagues"].items()},
            seasons=tuple(data["seasons"]),
            missing_features=tuple(data["missing_features"]),
            version=str(data["version"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return state if state.version == version else None


class SnapshotFiles:
    """Columns of scope snapshots as files under ``root``, at most ``max_bytes`` in all
    (least recently used scopes deleted first); ``max_bytes`` 0 turns them off."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _dir(self, scope: Hashable, version: str) -> Path:
        digest = hashlib.sha256(repr(scope).encode()).hexdigest()[:24]
        return self.root / digest / version[:32]

    def _current(self, scope: Hashable, version: str) -> Path:
        """The version's directory (not created), other versions of the scope deleted: called
        by a writer, which has just read the database (a reader may hold an older version)."""
        here = self._dir(scope, version)
        if here.parent.is_dir():
            for other in here.parent.iterdir():
                if other.name != here.name:
                    shutil.rmtree(other, ignore_errors=True)
        return here

    def read(self, scope: Hashable, version: str, columns: Sequence[str]) -> pd.DataFrame | None:
        """``match_id`` and those of ``columns`` stored for ``scope`` at ``version``, or None
        when nothing is stored for that version. Files that cannot be read (a disk error, a
        damaged file) count as absent, and the version's files are dropped: they are a cache."""
        if not self.max_bytes:
            return None
        try:
            return self._read_columns(scope, version, columns)
        except (OSError, pa.ArrowException) as exc:
            logger.warning("snapshot files of a scope unreadable, read again: %s", exc)
            shutil.rmtree(self._dir(scope, version), ignore_errors=True)
            return None

    def _read_columns(
        self, scope: Hashable, version: str, columns: Sequence[str]
    ) -> pd.DataFrame | None:
        here = self._dir(scope, version)
        try:
            ids = _read(here / f"{_ID}{_SUFFIX}")
        except (FileNotFoundError, NotADirectoryError):
            return None
        data: dict[str, object] = {_ID: _to_pandas(ids)}
        for name in dict.fromkeys(columns):
            if name == _ID:
                continue
            try:
                array = _read(here / f"{name}{_SUFFIX}")
            except FileNotFoundError:
                continue
            if len(array) == len(ids):
                data[name] = _to_pandas(array)
        with contextlib.suppress(OSError):
            os.utime(here.parent)
        return pd.DataFrame(data, copy=False)

    def write(self, scope: Hashable, version: str, frame: pd.DataFrame) -> None:
        """Store the columns of ``frame`` (read at ``version``, with ``match_id``) that are not
        stored yet, if its matches are the ones stored for that version (or none are). A
        failure (a full disk) is logged and leaves the job alone: the files are a cache."""
        if not self.max_bytes or _ID not in frame.columns:
            return
        try:
            self._write_columns(scope, version, frame)
        except (OSError, pa.ArrowException) as exc:
            logger.warning("snapshot files of a scope not written: %s", exc)

    def _write_columns(self, scope: Hashable, version: str, frame: pd.DataFrame) -> None:
        here = self._current(scope, version)
        here.mkdir(parents=True, exist_ok=True)
        ids = frame[_ID].to_numpy()
        if not _write(here / f"{_ID}{_SUFFIX}", pa.array(ids)):
            stored = _to_pandas(_read(here / f"{_ID}{_SUFFIX}"))
            if not np.array_equal(np.asarray(stored), ids):
                return
        for name in frame.columns:
            path = here / f"{name}{_SUFFIX}"
            if name != _ID and not path.exists():
                _write(path, _to_arrow(frame[name]))
        self._trim(keep=here.parent)

    def read_state(self, scope: Hashable, version: str) -> ScopeState | None:
        """The scope's counts stored at ``version`` (a fresh process skips counting them)."""
        if not self.max_bytes:
            return None
        try:
            text = (self._dir(scope, version) / _STATE).read_text()
        except OSError:
            return None
        return state_from_json(text, version)

    def write_state(self, scope: Hashable, state: ScopeState) -> None:
        """Store ``state`` beside its version's columns; a failure is only logged."""
        if not self.max_bytes:
            return
        try:
            here = self._current(scope, state.version)
            here.mkdir(parents=True, exist_ok=True)
            tmp = here / f".{_STATE}.{uuid.uuid4().hex}"
            tmp.write_text(state_to_json(state))
            os.replace(tmp, here / _STATE)
        except OSError as exc:
            logger.warning("snapshot state of a scope not written: %s", exc)

    def _trim(self, keep: Path) -> None:
        """Delete least recently used scopes (other than ``keep``) while over the budget."""
        scopes = [p for p in self.root.iterdir() if p.is_dir()]
        sizes = {p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) for p in scopes}
        total = sum(sizes.values())
        for scope in sorted(scopes, key=lambda p: p.stat().st_mtime):
            if total <= self.max_bytes:
                break
            if scope != keep:
                shutil.rmtree(scope, ignore_errors=True)
                total -= sizes[scope]
