"""filterbets-nb: research football betting filters in Jupyter.

>>> import filterbets_nb as fb
>>> fb.connect()                                   # embedded default, or your Redis/PostgreSQL
>>> flt = (fb.F.home_odds.between(1.5, 2.2) & (fb.F.home_form_pts_5 >= 10)).bet("home")
>>> run = fb.backtest(flt, leagues=["E0"])          # a Celery chain; returns at once
>>> run.wait().summary()                           # pandas Series of named metrics
"""

from filterbets_nb.client import (
    BacktestCancelled,
    BacktestFailed,
    BacktestRun,
    backtest,
    compare,
    connect,
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
from filterbets_nb.filters import F, Filter, FilterError
from filterbets_nb.loading import import_csv, load_demo
from filterbets_nb.research.runs import load_sweep, scan, simulate, sweep, walk_forward

__all__ = [
    "BacktestCancelled",
    "BacktestFailed",
    "BacktestRun",
    "F",
    "Filter",
    "FilterError",
    "Settings",
    "backtest",
    "compare",
    "connect",
    "get_settings",
    "import_csv",
    "jobs",
    "load_demo",
    "load_results",
    "load_sweep",
    "matches",
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
