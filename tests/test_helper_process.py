"""Items made in a helper process: the same items, its errors raised here, no process left."""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from filterbets_nb.helper_process import HelperItems
from filterbets_nb.synthetic import generate_match_blocks


def test_blocks_made_in_a_helper_equal_those_made_here() -> None:
    """Several blocks (more than one chunk of league-seasons), pickled through the pipe."""
    here = list(generate_match_blocks(n_matches=70_000, seed=2))
    with HelperItems(generate_match_blocks, n_matches=70_000, seed=2) as items:
        there = list(items)
    assert len(there) == len(here) > 1
    for got, expected in zip(there, here, strict=True):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


def one_then_wait(signal_file: str, patience: float) -> Iterator[str]:
    """Yield "first", then wait for ``signal_file`` (up to ``patience`` seconds) before the
    second item: a consumer that only gets the first item once the second is made waits."""
    yield "first"
    deadline = time.monotonic() + patience
    while not Path(signal_file).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    yield "second" if Path(signal_file).exists() else "the first item arrived late"


def test_an_item_arrives_before_the_next_is_made(tmp_path: Path) -> None:
    """Each item is sent whole at once: its last bytes are not held back in the helper until
    the next item is written, which made the loader wait for every block to be generated."""
    signal_file = tmp_path / "got-first"
    with HelperItems(one_then_wait, signal_file=str(signal_file), patience=30.0) as items:
        taken = iter(items)
        assert next(taken) == "first"
        signal_file.touch()
        assert next(taken) == "second"


def test_an_error_in_the_helper_is_raised_here() -> None:
    items = HelperItems(generate_match_blocks, n_matches=-1)
    with items, pytest.raises(RuntimeError, match="ValueError: n_matches must be non-negative"):
        list(items)
    assert items._process.returncode == 0


def test_leaving_early_stops_the_helper() -> None:
    """A consumer that fails or stops takes the helper down instead of leaving it blocked."""
    items: HelperItems[int] = HelperItems(itertools.count, start=5)
    taken: Iterator[int] = iter(items)
    assert [next(taken) for _ in range(3)] == [5, 6, 7]
    items.close()
    assert items._process.returncode == -signal.SIGTERM  # stopped, not left to time out
