"""Recomputing leagues' pre-match features and team snapshots in the database.

Shared by the stats refresh task, the CSV import and the demo, so there is one way to do it.
Features never cross leagues (a team is its name within its league), so many leagues are
refreshed in one pass: one read of their results, one vectorised computation, one bulk write
and one version bump.  A million synthetic matches spread over hundreds of leagues took minutes
when each league paid its own ten statements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.db import store
from filterbets_nb.db.fresh_results import FreshResults
from filterbets_nb.features import compute_features, team_snapshot

#: Played matches refreshed in one pass: bounds the memory of a pass (results, features and
#: the rows written are a few hundred bytes a match) while keeping statements few.
BATCH_MATCHES: Final = 100_000


async def refresh_league(session: AsyncSession, league: str) -> dict[str, Any]:
    """Replace ``match_features`` and ``team_stats`` of ``league`` from its stored matches."""
    result = await refresh_leagues(session, [league])
    return {"league": league, "matches": result["matches"], "teams": result["teams"]}


async def refresh_leagues(
    session: AsyncSession,
    leagues: Sequence[str],
    progress: Callable[[int, str], None] | None = None,
    *,
    fresh: FreshResults | None = None,
) -> dict[str, Any]:
    """:func:`refresh_league` for every league of ``leagues``, a batch of leagues at a time
    (about :data:`BATCH_MATCHES` matches each, a league never split); ``progress`` hears the
    number of leagues done after each batch and the last league of it.

    The results of leagues ``fresh`` covers (an import created them) come from it, not from
    the database; a batch holds only such leagues or only others.
    """
    todo = sorted(set(leagues))
    known = {league for league in todo if fresh is not None and fresh.covers(league)}
    counts = await store.count_results(session, [lg for lg in todo if lg not in known])
    if fresh is not None and known:
        counts |= fresh.counts(sorted(known))
    batches: list[list[str]] = []
    size = 0
    for league in todo:
        mixed = bool(batches) and (league in known) != (batches[-1][0] in known)
        if not batches or mixed or (size and size + counts.get(league, 0) > BATCH_MATCHES):
            batches.append([])
            size = 0
        batches[-1].append(league)
        size += counts.get(league, 0)
    done = n_features = n_teams = 0
    for batch in batches:
        if fresh is not None and batch[0] in known:
            matches = fresh.results(batch)
        else:
            matches = await store.load_results(session, batch)
        n_features += await store.replace_features(session, batch, compute_features(matches))
        n_teams += await store.replace_team_stats(session, batch, team_snapshot(matches))
        done += len(batch)
        if progress is not None:
            progress(done, batch[-1])
    return {"leagues": len(todo), "matches": n_features, "teams": n_teams}
