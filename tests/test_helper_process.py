"""Items made in a helper process: the same items, its errors raised here, no process left."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator

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
