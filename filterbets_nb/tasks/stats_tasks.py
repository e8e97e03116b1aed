"""The team-stats refresh: one subtask per league, fanned out by the daily beat entry."""

from __future__ import annotations

import logging
from typing import Any

from celery import group
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db import store
from filterbets_nb.tasks.base import RETRY_POLICY, task_db
from filterbets_nb.tasks.celery_app import celery_app
from filterbets_nb.tasks.progress import progress_meta
from filterbets_nb.teamstats import refresh_league

logger = logging.getLogger(__name__)


@celery_app.task(
    name="filterbets_nb.tasks.stats_tasks.refresh_league_stats_task", bind=True, **RETRY_POLICY
)
def refresh_league_stats_task(self: Any, league: str) -> dict[str, Any]:
    """Recompute one league's ``match_features`` and ``team_stats`` in one transaction."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await refresh_league(session, league)

    result = task_db(work)
    logger.info("refreshed %s: %s matches, %s teams", league, result["matches"], result["teams"])
    return {"status": "success", **result}


@celery_app.task(
    name="filterbets_nb.tasks.stats_tasks.refresh_all_team_stats_task", bind=True, **RETRY_POLICY
)
def refresh_all_team_stats_task(self: Any) -> dict[str, Any]:
    """Fan out one refresh per stored league; returns the group id to follow them by."""
    leagues = task_db(store.league_codes)
    self.update_state(
        state="PROGRESS",
        meta=progress_meta(0, len(leagues), description=f"refreshing {len(leagues)} leagues"),
    )
    result = group(refresh_league_stats_task.s(code) for code in leagues).apply_async()
    result.save()
    return {"status": "dispatched", "leagues": leagues, "group_id": result.id}
