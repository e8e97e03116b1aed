"""A worker process's memory of the matches it loaded last, for the next job over the same data.

A filter sweep sends many backtests over one scope (same leagues, same seasons). Reading those
matches from the database is most of a job's work, and on a small machine it competes with the
database server for the same cores, so every job re-reading them makes adding workers pay off
poorly. Each worker process therefore keeps the frames it loaded, least recently used first out,
up to ``Settings.match_cache_mb``.

A frame is only reused while the data it came from is unchanged: the key holds the database,
the scope and :func:`filterbets_nb.db.store.matches_version` (row counts and the latest write
times of the scope's matches and features), read in the same session as the load. Frames are
handed out as they are stored; the engine only reads its input, and the cache never lends a
frame to two jobs at once within one process because a prefork process runs one task at a time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import pandas as pd


class MatchCache:
    """Frames by key, least recently used evicted first, within ``max_bytes`` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._frames: OrderedDict[Hashable, tuple[pd.DataFrame, int]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return sum(size for _, size in self._frames.values())

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: Hashable) -> pd.DataFrame | None:
        entry = self._frames.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._frames.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: Hashable, frame: pd.DataFrame) -> bool:
        """Keep ``frame`` under ``key`` unless it alone exceeds the budget; returns whether kept."""
        size = int(frame.memory_usage(index=True, deep=True).sum())
        self._frames.pop(key, None)
        if size > self.max_bytes:
            return False
        while self._frames and self.nbytes + size > self.max_bytes:
            self._frames.popitem(last=False)
        self._frames[key] = (frame, size)
        return True

    def clear(self) -> None:
        self._frames.clear()
