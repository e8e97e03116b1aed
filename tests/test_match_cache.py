"""The worker-side snapshots of loaded matches: versions, added columns, budget, eviction; and
the snapshot files shared by worker processes: round trip, no mixing, damage, budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from filterbets_nb.db.match_columns import ScopeState
from filterbets_nb.tasks.match_cache import MatchSnapshots
from filterbets_nb.tasks.snapshot_files import SnapshotFiles


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


def columns_frame(ids: int = 0) -> pd.DataFrame:
    n = 50
    return pd.DataFrame(
        {
            "match_id": np.arange(ids, ids + n, dtype=np.int64),
            "kickoff": np.datetime64("2021-08-01T15:00:00", "us")
            + np.arange(n).astype("timedelta64[h]"),
            "league": pd.Categorical.from_codes(
                np.arange(n) % 2, pd.Index(["E0", "SP1"], dtype=object)
            ),
            "avg_home": np.where(np.arange(n) % 7 == 0, np.nan, 1.5 + np.arange(n) / 100),
        }
    )


def test_snapshot_files_round_trip_nan_categoricals_and_timestamps(tmp_path: Path) -> None:
    files = SnapshotFiles(tmp_path, max_bytes=10**8)
    assert files.read("scope", "v1", ["avg_home"]) is None
    frame = columns_frame()
    files.write("scope", "v1", frame)
    back = files.read("scope", "v1", list(frame.columns))
    assert back is not None
    pd.testing.assert_frame_equal(back, frame)
    # Only what is asked for (and stored) comes back.
    some = files.read("scope", "v1", ["avg_home", "home_form_pts_5"])
    assert some is not None and list(some.columns) == ["match_id", "avg_home"]


def test_snapshot_files_of_other_matches_or_versions_are_not_mixed(tmp_path: Path) -> None:
    files = SnapshotFiles(tmp_path, max_bytes=10**8)
    files.write("scope", "v1", columns_frame()[["match_id", "avg_home"]])
    # Other matches at the same version (written while it was read) are not added to it.
    files.write("scope", "v1", columns_frame(ids=1000)[["match_id", "league"]])
    back = files.read("scope", "v1", ["avg_home", "league"])
    assert back is not None and list(back.columns) == ["match_id", "avg_home"]
    # A newer version replaces the older one on disk.
    files.write("scope", "v2", columns_frame())
    assert files.read("scope", "v1", ["avg_home"]) is None
    assert len([p for p in tmp_path.iterdir() for _ in p.iterdir()]) == 1


def test_a_damaged_snapshot_file_counts_as_absent(tmp_path: Path) -> None:
    files = SnapshotFiles(tmp_path, max_bytes=10**8)
    files.write("scope", "v1", columns_frame())
    (damaged,) = tmp_path.rglob("avg_home.arrow")
    damaged.write_bytes(b"not arrow")
    assert files.read("scope", "v1", ["avg_home"]) is None
    assert not list(tmp_path.rglob("*.arrow"))  # dropped, to be written again


def test_snapshot_files_stay_within_their_budget(tmp_path: Path) -> None:
    one = SnapshotFiles(tmp_path, max_bytes=10**8)
    one.write("a", "v", columns_frame())
    size = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file())
    small = SnapshotFiles(tmp_path, max_bytes=size + 1)
    small.write("b", "v", columns_frame())
    assert small.read("a", "v", ["avg_home"]) is None  # least recently used, deleted
    assert small.read("b", "v", ["avg_home"]) is not None
    assert SnapshotFiles(tmp_path, max_bytes=0).read("b", "v", ["avg_home"]) is None


def test_scope_counts_are_kept_beside_the_columns(tmp_path: Path) -> None:
    files = SnapshotFiles(tmp_path, max_bytes=10**8)
    state = ScopeState(
        matches=50,
        leagues={3: "E0", 7: "SP1"},
        seasons=("2020-21", "2021-22"),
        missing_features=("SP1",),
        version="v1",
    )
    assert files.read_state("scope", "v1") is None
    files.write_state("scope", state)
    assert files.read_state("scope", "v1") == state
    assert files.read_state("scope", "v2") is None
    files.write("scope", "v2", columns_frame())  # a newer reading drops the older counts
    assert files.read_state("scope", "v1") is None
