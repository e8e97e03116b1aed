"""A worker process's columnar snapshot of the matches of each scope it backtested.

A filter sweep sends many backtests over one scope (same leagues, same seasons). Reading those
matches from the database was most of a job's work, and on a small machine it competes with
the database server for the same cores. Each worker process therefore keeps, per scope, the
columns it has read so far; a later job loads only the columns it needs that the snapshot lacks
(a new rule field, another market's price) and adds them. Snapshots are kept least recently
used first out, up to ``Settings.match_cache_mb`` in all.

A snapshot is only used at the version it was read at: the key's version is
:func:`filterbets_nb.db.match_columns.scope_version`, which changes whenever any match or
feature of the scope's leagues is written (an import, a changed price, a feature refresh), and
a snapshot of another version is dropped on sight. The scope's counts
(:class:`~filterbets_nb.db.match_columns.ScopeState`, a full read of the scope) are kept the
same way, so a job over unchanged data reads no match at all. Frames are handed out as stored;
the engine only reads its input, and a prefork process runs one task at a time, so no two jobs
share one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import pandas as pd

from filterbets_nb.db.match_columns import ScopeState

#: Scope states kept (a few hundred bytes each).
_STATES = 64


def _nbytes(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(index=True, deep=True).sum())


class MatchSnapshots:
    """Column frames by scope, each at one version; least recently used evicted first,
    within ``max_bytes`` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._frames: OrderedDict[Hashable, tuple[str, pd.DataFrame, int]] = OrderedDict()
        self._states: OrderedDict[Hashable, ScopeState] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return sum(size for _, _, size in self._frames.values())

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, scope: Hashable, version: str) -> pd.DataFrame | None:
        """The columns held for ``scope`` at ``version``; a snapshot of another version is
        dropped, since the data it was read from has changed."""
        entry = self._frames.get(scope)
        if entry is not None and entry[0] != version:
            del self._frames[scope]
            entry = None
        if entry is None:
            self.misses += 1
            return None
        self._frames.move_to_end(scope)
        self.hits += 1
        return entry[1]

    def add(self, scope: Hashable, version: str, columns: pd.DataFrame) -> pd.DataFrame:
        """Add ``columns`` (read at ``version``, with ``match_id``) to the scope's snapshot and
        return the whole snapshot; kept unless it alone exceeds the budget.

        The new columns join the held ones when both list the same matches in the same order
        (same version, same sort); anything else replaces the snapshot.
        """
        held = self._frames.get(scope)
        frame = columns
        if held is not None and held[0] == version:
            old = held[1]
            if np.array_equal(old["match_id"].to_numpy(), columns["match_id"].to_numpy()):
                new = [c for c in columns.columns if c not in old.columns]
                frame = pd.concat([old, columns[new]], axis=1)
        self._frames.pop(scope, None)
        size = _nbytes(frame)
        if size <= self.max_bytes:
            while self._frames and self.nbytes + size > self.max_bytes:
                self._frames.popitem(last=False)
            self._frames[scope] = (version, frame, size)
        return frame

    def state(self, scope: Hashable, version: str) -> ScopeState | None:
        """The counts kept for ``scope`` if they were read at ``version``."""
        state = self._states.get(scope)
        if state is None or state.version != version:
            return None
        self._states.move_to_end(scope)
        return state

    def keep_state(self, scope: Hashable, state: ScopeState) -> None:
        self._states.pop(scope, None)
        self._states[scope] = state
        while len(self._states) > _STATES:
            self._states.popitem(last=False)

    def clear(self) -> None:
        self._frames.clear()
        self._states.clear()
