"""The worker-side snapshots of loaded matches: versions, added columns, budget, eviction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from filterbets_nb.tasks.match_cache import MatchSnapshots


def frame(rows: int, column: str = "x", ids: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {"match_id": np.arange(ids, ids + rows), column: np.arange(rows, dtype="float64")}
    )


def size(f: pd.DataFrame) -> int:
    return int(f.memory_usage(index=True, deep=True).sum())


def test_a_snapshot_is_returned_at_its_version_and_dropped_at_another() -> None:
    snapshots = MatchSnapshots(max_bytes=10**6)
    f = frame(10)
    assert snapshots.get("a", "v1") is None
    assert snapshots.add("a", "v1", f) is f
    assert snapshots.get("a", "v1") is f
    assert snapshots.get("a", "v2") is None  # the data changed: gone for good
    assert snapshots.get("a", "v1") is None and len(snapshots) == 0
    assert (snapshots.hits, snapshots.misses) == (1, 3)


def test_new_columns_join_the_held_ones_of_the_same_matches() -> None:
    snapshots = MatchSnapshots(max_bytes=10**6)
    snapshots.add("a", "v1", frame(10, "x"))
    both = snapshots.add("a", "v1", frame(10, "y"))
    assert list(both.columns) == ["match_id", "x", "y"]
    assert snapshots.get("a", "v1") is both
    # Other matches (or another version) replace the snapshot instead.
    other = snapshots.add("a", "v1", frame(10, "z", ids=100))
    assert list(other.columns) == ["match_id", "z"]
    newer = snapshots.add("a", "v2", frame(10, "y"))
    assert list(newer.columns) == ["match_id", "y"]


def test_least_recently_used_goes_first_when_over_budget() -> None:
    a, b, c = frame(100), frame(100), frame(100)
    snapshots = MatchSnapshots(max_bytes=2 * size(a))
    snapshots.add("a", "v", a)
    snapshots.add("b", "v", b)
    snapshots.get("a", "v")  # a is now the most recent
    snapshots.add("c", "v", c)
    assert snapshots.get("b", "v") is None
    assert snapshots.get("a", "v") is a and snapshots.get("c", "v") is c
    assert snapshots.nbytes <= snapshots.max_bytes


def test_a_snapshot_larger_than_the_budget_is_used_but_not_kept() -> None:
    small = frame(10)
    snapshots = MatchSnapshots(max_bytes=size(small) + 1)
    snapshots.add("small", "v", small)
    big = frame(1000)
    assert snapshots.add("big", "v", big) is big
    assert snapshots.get("big", "v") is None
    assert snapshots.get("small", "v") is small  # nothing evicted for one that could not fit


def test_zero_budget_keeps_nothing() -> None:
    snapshots = MatchSnapshots(max_bytes=0)
    snapshots.add("a", "v", frame(1))
    assert len(snapshots) == 0
