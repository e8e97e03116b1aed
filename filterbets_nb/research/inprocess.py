"""Sweeps and walk-forward over a frame in this process, with no workers and no database.

The same evaluation (:mod:`.evaluate`) and the same result objects as the task-system versions in
:mod:`.runs`; used for quick looks at a frame already in memory, the honesty demonstration
(hundreds of sweeps), and as the benchmark's reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from filterbets_nb.engine import run_backtest
from filterbets_nb.filters import Filter
from filterbets_nb.research.evaluate import evaluate_points
from filterbets_nb.research.grid import MakeFilter, expand_grid
from filterbets_nb.research.result import SweepResult
from filterbets_nb.research.walkforward import WalkForwardResult, make_folds, walk_forward_result

__all__ = ["sweep_in_process", "walk_forward_in_process"]


def sweep_in_process(
    matches: pd.DataFrame, make_filter: MakeFilter, **grid: Sequence[Any]
) -> SweepResult:
    """``fb.sweep`` over ``matches`` (with feature columns) in this process."""
    points = expand_grid(make_filter, grid)
    frame = matches.sort_values(["kickoff", "match_id"], kind="stable", ignore_index=True)
    rows = evaluate_points(frame, points)
    return SweepResult(rows, list(grid), bets_fn=lambda flt: run_backtest(frame, flt).bets())


def walk_forward_in_process(
    matches: pd.DataFrame,
    make_filter: MakeFilter,
    grid: Mapping[str, Sequence[Any]],
    *,
    train: int = 2,
    test: int = 1,
    metric: str = "roi",
    min_bets: int = 30,
) -> WalkForwardResult:
    """``fb.walk_forward`` over ``matches`` in this process."""
    folds = make_folds(list(matches["season"].astype(str).unique()), train, test)
    result = sweep_in_process(matches, make_filter, **grid)

    def oos_bets(filter_dict: dict[str, Any], seasons: Sequence[str]) -> pd.DataFrame:
        part = matches[matches["season"].isin(list(seasons))].reset_index(drop=True)
        return run_backtest(part, Filter.from_dict(filter_dict)).bets()

    return walk_forward_result(result.rows, list(grid), folds, metric, min_bets, oos_bets)
