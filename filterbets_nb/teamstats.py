"""Recomputing one league's pre-match features and team snapshot in the database.

Shared by the stats refresh task, the CSV import and the demo, so there is one way to do it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db import store
from filterbets_nb.features import compute_features, team_snapshot


async def refresh_league(session: AsyncSession, league: str) -> dict[str, Any]:
    """Replace ``match_features`` and ``team_stats`` of ``league`` from its stored matches."""
    matches = await store.load_results(session, league)
    features = compute_features(matches)
    n_features = await store.replace_features(session, league, features)
    n_teams = await store.replace_team_stats(session, league, team_snapshot(matches))
    return {"league": league, "matches": n_features, "teams": n_teams}
