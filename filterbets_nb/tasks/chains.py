"""The backtest chain, built from task names: a client (the CLI, a notebook) sends it without
importing the task modules, which bring pandas, pyarrow and the engine with them.

The names are those the tasks register under (``backtest_tasks``); the app's ``task_routes``
send them to the backtest queue, as for a chain built from the task objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from celery import Signature, chain

from filterbets_nb.tasks.celery_app import get_app

#: The chain's links, in order: fetch the matches, evaluate the filter, save the results.
LINKS: Final = tuple(
    f"filterbets_nb.tasks.backtest_tasks.{name}"
    for name in ("fetch_matches", "evaluate_filter", "save_results")
)


def backtest_chain(
    job_id: str, task_ids: Sequence[str], *, soft_time_limit: float | None = None
) -> Signature:
    """The job's chain with its task ids fixed up front, so a client can follow every link
    before it runs, and a re-sent chain (see :mod:`.recovery`) keeps the ids clients know."""
    app = get_app()
    fetch, evaluate, save = LINKS
    limits = {} if soft_time_limit is None else {"soft_time_limit": soft_time_limit}
    return chain(
        app.signature(fetch, args=(job_id,)).set(task_id=task_ids[0]),
        app.signature(evaluate).set(task_id=task_ids[1], **limits),
        app.signature(save).set(task_id=task_ids[2]),
    )
