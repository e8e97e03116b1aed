"""The worker-side cache of loaded matches: budget, eviction order, and oversized frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from filterbets_nb.tasks.match_cache import MatchCache


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows, dtype="float64")})


def size(f: pd.DataFrame) -> int:
    return int(f.memory_usage(index=True, deep=True).sum())


def test_get_returns_what_was_put_and_counts_hits() -> None:
    cache = MatchCache(max_bytes=10**6)
    f = frame(10)
    assert cache.get("a") is None
    assert cache.put("a", f)
    assert cache.get("a") is f
    assert (cache.hits, cache.misses) == (1, 1)


def test_least_recently_used_goes_first_when_over_budget() -> None:
    a, b, c = frame(100), frame(100), frame(100)
    cache = MatchCache(max_bytes=2 * size(a))
    cache.put("a", a)
    cache.put("b", b)
    cache.get("a")  # a is now the most recent
    cache.put("c", c)
    assert cache.get("b") is None
    assert cache.get("a") is a and cache.get("c") is c
    assert cache.nbytes <= cache.max_bytes


def test_a_frame_larger_than_the_budget_is_not_kept() -> None:
    small = frame(10)
    cache = MatchCache(max_bytes=size(small) + 1)
    cache.put("small", small)
    assert not cache.put("big", frame(1000))
    assert cache.get("big") is None
    assert cache.get("small") is small  # nothing evicted for a frame that could not fit


def test_zero_budget_keeps_nothing() -> None:
    cache = MatchCache(max_bytes=0)
    assert not cache.put("a", frame(1))
    assert len(cache) == 0


def test_putting_a_key_again_replaces_it() -> None:
    cache = MatchCache(max_bytes=10**6)
    old, new = frame(10), frame(20)
    cache.put("a", old)
    cache.put("a", new)
    assert cache.get("a") is new and len(cache) == 1
