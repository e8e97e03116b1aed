"""filterbets-nb: research football betting filters in Jupyter.

>>> import filterbets_nb as fb
>>> flt = (fb.F.home_odds.between(1.5, 2.2) & (fb.F.home_form_pts_5 >= 10)).bet("home")
>>> run = fb.backtest(flt, leagues=["E0"])          # a Celery chain; returns at once
>>> run.wait().summary()                           # pandas Series of named metrics

``fb.connect()`` is optional: every submit makes the database ready and, in the embedded
default, starts the data dir's shared worker when none runs.

Names are imported on first use (PEP 562), so ``import filterbets_nb`` and the CLI's ``--help``
do not pay for pandas, SQLAlchemy and Celery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filterbets_nb.client import (
        BacktestCancelled,
        BacktestFailed,
        BacktestRun,
        ScopeError,
        backtest,
        compare,
        connect,
        fields,
        jobs,
        load_results,
        matches,
        refresh_team_stats,
        start_worker,
        task_status,
        team_stats,
        workers,
    )
    from filterbets_nb.config import Settings, get_settings
    from filterbets_nb.engine import run_backtest
    from filterbets_nb.fetch import fetch
    from filterbets_nb.filters import F, Filter, FilterError
    from filterbets_nb.loading import import_csv, load_demo
    from filterbets_nb.monitor import monitor
    from filterbets_nb.research.runs import load_sweep, scan, simulate, sweep, walk_forward

_WHERE = {
    "BacktestCancelled": "client",
    "BacktestFailed": "client",
    "BacktestRun": "client",
    "ScopeError": "client",
    "backtest": "client",
    "compare": "client",
    "connect": "client",
    "monitor": "monitor",
    "fields": "client",
    "jobs": "client",
    "load_results": "client",
    "matches": "client",
    "refresh_team_stats": "client",
    "start_worker": "client",
    "task_status": "client",
    "team_stats": "client",
    "workers": "client",
    "Settings": "config",
    "get_settings": "config",
    "run_backtest": "engine",
    "fetch": "fetch",
    "F": "filters",
    "Filter": "filters",
    "FilterError": "filters",
    "import_csv": "loading",
    "load_demo": "loading",
    "load_sweep": "research.runs",
    "scan": "research.runs",
    "simulate": "research.runs",
    "sweep": "research.runs",
    "walk_forward": "research.runs",
}

__all__ = [
    "BacktestCancelled",
    "BacktestFailed",
    "BacktestRun",
    "F",
    "Filter",
    "FilterError",
    "ScopeError",
    "Settings",
    "backtest",
    "compare",
    "connect",
    "fetch",
    "fields",
    "get_settings",
    "import_csv",
    "jobs",
    "load_demo",
    "load_results",
    "load_sweep",
    "matches",
    "monitor",
    "refresh_team_stats",
    "run_backtest",
    "scan",
    "simulate",
    "start_worker",
    "sweep",
    "task_status",
    "team_stats",
    "walk_forward",
    "workers",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'filterbets_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"filterbets_nb.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
