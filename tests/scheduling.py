"""How scripts/test splits the suite between pytest-xdist workers: the units of work.

Each unit goes whole, in collection order, to one worker process (xdist's scope scheduling).
A unit is:

- all the notebooks together: a notebook's cells run in order in one kernel, and the notebooks
  share one data dir (``FILTERBETS_DATA_DIR`` of scripts/test) and its shared worker, and their
  stored outputs are those of one run after another;
- else one test file, so its module- and class-scoped fixtures (a worker per module,
  ``TestOnOneWorker``) are set up once;
- except that a file's ``[embedded]`` and ``[services]`` tests are two units: they come from a
  module-scoped fixture parametrized by mode, whose two instances share nothing, and splitting
  them keeps the largest file (tests/test_tasks.py) from deciding the suite's wall time.

Why not xdist's ``--dist loadgroup`` with an ``xdist_group`` mark per file: xdist 3.8 groups by
appending ``@group`` to ``item._nodeid``, which pytest 9.2 no longer reads (a node's id is
``item._id``), so every test became a unit of its own and the notebooks' cells ran in separate
kernels on both workers.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

NOTEBOOKS = "notebooks/"
MODES = frozenset({"embedded", "services"})


def unit_of(nodeid: str) -> str:
    """The unit of work ``nodeid`` belongs to (see the module docstring)."""
    if nodeid.startswith(NOTEBOOKS):
        return NOTEBOOKS
    path = nodeid.split("::", 1)[0]
    if nodeid.endswith("]") and "[" in nodeid:
        ids = nodeid[nodeid.rindex("[") + 1 : -1].split("-")
        modes = [part for part in ids if part in MODES]
        if len(modes) == 1:
            return f"{path}[{modes[0]}]"
    return path


class UnitScheduling(LoadScopeScheduling):
    """xdist's scope scheduling over :func:`unit_of`'s units (largest unit, by count of
    tests, first: xdist's ``--loadscope-reorder`` default)."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)
