"""The daily refresh: fetch the followed leagues' current season, import it, refresh the stats.

``refresh_all_team_stats_task`` (beat, 02:00 UTC) is one workflow: it downloads the current
season of every followed league (:func:`followed_leagues`), imports what changed (which also
recomputes those leagues' features), publishes its progress as task meta all along, then fans
out one ``refresh_league_stats_task`` per stored league the import did not already refresh, and
returns what changed per league.  The fetch fails softly: offline, or on any fetch/import
error, it logs why and the stats are still refreshed from what is stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import group
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.config import get_settings
from filterbets_nb.db import store
from filterbets_nb.tasks.base import RETRY_POLICY, task_db
from filterbets_nb.tasks.celery_app import celery_app
from filterbets_nb.tasks.progress import describe_error, progress_meta
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


async def followed_leagues(session: AsyncSession, today: dt.date | None = None) -> list[str]:
    """``FILTERBETS_FOLLOW_LEAGUES`` (comma separated), else every stored league with a match
    in the current season ("2025-26", or "2025" for a calendar-year extra league)."""
    from filterbets_nb.fetch import current_season

    explicit = [c.strip() for c in get_settings().follow_leagues.split(",") if c.strip()]
    if explicit:
        return explicit
    today = today or dt.datetime.now(dt.UTC).date()
    return await store.leagues_with_seasons(session, [current_season(today), str(today.year)])


#: Share of the daily refresh each step takes, in order (the fetch's steps, then the fan-out),
#: so that one bar moves across the whole workflow at an even pace.
REFRESH_WEIGHTS: dict[str, float] = {
    "download": 25.0,
    "import": 10.0,
    "store": 15.0,
    "features": 10.0,
    "stats": 40.0,
}


def refresh_meta(stage: str, current: int, total: int, description: str) -> dict[str, Any]:
    """The refresh's progress meta: the step's own count plus ``overall``, the workflow's
    percent by :data:`REFRESH_WEIGHTS`."""
    steps = list(REFRESH_WEIGHTS)
    share = 1.0 if total <= 0 else min(current, total) / total
    before = sum(REFRESH_WEIGHTS[s] for s in steps[: steps.index(stage)])
    overall = round(before + REFRESH_WEIGHTS[stage] * share, 2)
    return progress_meta(
        current,
        total,
        stage=stage,
        description=description,
        overall=overall,
        stage_index=steps.index(stage) + 1,
        stages=len(steps),
    )


def _fetch_current(task: Any, leagues: list[str]) -> tuple[dict[str, dict[str, int]], str]:
    """Fetch and import the current season of ``leagues``: per league what changed, and why
    the fetch was incomplete ("" when it was not).  Never raises: the refresh goes on."""
    from filterbets_nb.fetch import fetch

    def publish(status: dict[str, Any]) -> None:
        p = status.get("progress") or {}
        stage = str(p.get("stage") or "download")
        if stage not in REFRESH_WEIGHTS:
            return
        meta = refresh_meta(
            stage, int(p.get("current", 0)), int(p.get("total", 0)), str(p.get("description", ""))
        )
        task.update_state(state="PROGRESS", meta=meta)

    try:
        report = fetch(leagues, None, progress=False, on_status=publish)
    except Exception as exc:  # soft: the stats refresh below must still run
        logger.warning("refresh: fetching %s failed, refreshing what is stored: %s", leagues, exc)
        return {}, describe_error(exc)
    changes: dict[str, dict[str, int]] = {}
    for file in report.imported.files if report.imported is not None else []:
        for league in file.league.split(", "):
            entry = changes.setdefault(league, {"added": 0, "updated": 0})
            entry["added"] += file.added
            entry["updated"] += file.updated
    problems = [f"{f.league} {f.season or ''}: {f.error}" for f in report.files if f.error]
    if report.offline:
        logger.warning("refresh: %s", report.offline_reason)
    return changes, "; ".join(problems)


@celery_app.task(
    name="filterbets_nb.tasks.stats_tasks.refresh_all_team_stats_task", bind=True, **RETRY_POLICY
)
def refresh_all_team_stats_task(self: Any) -> dict[str, Any]:
    """Fetch + import the followed leagues, then fan out one stats refresh per other league.

    Returns ``leagues`` (every stored league), ``followed``, ``changes`` (per league, matches
    added/updated by the import), ``fetch_problems`` and the ``group_id`` of the fan-out.
    """
    followed = task_db(followed_leagues)
    changes, problems = _fetch_current(self, followed) if followed else ({}, "")
    leagues = task_db(store.league_codes)
    # The import already recomputed the features of the leagues it changed.
    pending = [code for code in leagues if code not in changes]
    self.update_state(
        state="PROGRESS",
        meta=refresh_meta("stats", 0, len(pending), f"refreshing {len(pending)} leagues"),
    )
    result = group(refresh_league_stats_task.s(code) for code in pending).apply_async()
    result.save()
    logger.info("refresh: followed %s, changes %s, problems %r", followed, changes, problems)
    return {
        "status": "dispatched",
        "leagues": leagues,
        "followed": followed,
        "changes": changes,
        "fetch_problems": problems,
        "group_id": result.id,
        # Where the fan-out starts on the workflow's bar: readers follow the group from here.
        "group_from": refresh_meta("stats", 0, 1, "")["overall"],
    }
