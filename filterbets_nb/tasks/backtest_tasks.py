"""The backtest chain: ``fetch_matches.s(job_id) | evaluate_filter.s() | save_results.s()``.

Links pass small JSON dicts (the job id and counts), never match data: every link reads what it
needs from the database, so links may run on different machines. The job row in
``backtest_jobs`` holds the filter, the scope and the state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from celery.exceptions import Ignore, SoftTimeLimitExceeded
from sqlalchemy.ext.asyncio import AsyncSession

from filterbets_nb.config import clip, get_settings
from filterbets_nb.db import match_columns, store
from filterbets_nb.db.models import utcnow
from filterbets_nb.engine import needed_columns, run_backtest
from filterbets_nb.filters import Filter
from filterbets_nb.stats import compute_stats, to_jsonable
from filterbets_nb.tasks import db_snapshots
from filterbets_nb.tasks.base import RETRY_POLICY, JobTask, task_db
from filterbets_nb.tasks.celery_app import celery_app
from filterbets_nb.tasks.match_cache import MatchSnapshots
from filterbets_nb.tasks.progress import ProgressRecorder, progress_meta
from filterbets_nb.tasks.scope import scope_args
from filterbets_nb.tasks.snapshot_files import SnapshotFiles
from filterbets_nb.teamstats import refresh_leagues

logger = logging.getLogger(__name__)

CHAIN_OPTIONS: dict[str, Any] = {
    **RETRY_POLICY,
    "base": JobTask,
    "bind": True,
    # A worker that dies mid-task must not lose it: acknowledge only after the task ran, and
    # give the message back when the process is lost.
    "acks_late": True,
    "reject_on_worker_lost": True,
}


_snapshots: MatchSnapshots | None = None


def _match_snapshots() -> MatchSnapshots:
    """This process's snapshots of loaded matches (see :mod:`.match_cache`), made on first use."""
    global _snapshots
    if _snapshots is None:
        _snapshots = MatchSnapshots(get_settings().match_cache_mb * 2**20)
    return _snapshots


def _snapshot_files() -> SnapshotFiles:
    """The data dir's snapshot files, shared by all worker processes (:mod:`.snapshot_files`)."""
    settings = get_settings()
    return SnapshotFiles(settings.data_dir / "snapshots", settings.snapshot_files_mb * 2**20)


def _scope_key(leagues: Sequence[str] | None, seasons: Sequence[str] | None) -> tuple[Any, ...]:
    return (get_settings().database, tuple(sorted(leagues or ())), tuple(sorted(seasons or ())))


async def cached_scope_state(
    session: AsyncSession, leagues: Sequence[str] | None, seasons: Sequence[str] | None
) -> match_columns.ScopeState:
    """The scope's counts and the leagues whose features are stale, counted again only when
    its version moved since this process, the data dir's snapshot files or (on PostgreSQL) the
    database's column snapshot hold them (a chain's or a sweep's first link would otherwise
    read every match of the scope twice, to count them and to look for missing features,
    before any work can start)."""
    version = await match_columns.scope_version(session, leagues, seasons)
    key = _scope_key(leagues, seasons)
    state = _match_snapshots().state(key, version)
    if state is None:
        state = _snapshot_files().read_state(key, version)
        use_db = get_settings().db_snapshots
        db_scope = db_snapshots.scope_digest(leagues, seasons)
        if state is None and use_db:
            state = await db_snapshots.read_state(session, db_scope, version)
            if state is not None:
                _snapshot_files().write_state(key, state)
        if state is None:
            state = await match_columns.scope_state(session, leagues, seasons)
            _snapshot_files().write_state(key, state)
            if use_db:
                await db_snapshots.write_state(session, db_scope, state)
        _match_snapshots().keep_state(key, state)
    return state


async def matches_with(
    session: AsyncSession,
    columns: Sequence[str],
    job_scope: dict[str, Any],
    *,
    progress: Callable[[int], object] | None = None,
) -> pd.DataFrame:
    """The scope's matches with ``columns`` (for a filter: :func:`needed_columns`), read from
    the matches only where neither this process's snapshot of the scope, the data dir's
    snapshot files nor (on PostgreSQL) the database's column snapshot hold them at the current
    version.

    The returned frame may hold more columns than asked for (those earlier jobs read).
    Data written between the version read and the load is simply newer: the next job reads a
    newer version and drops this snapshot.
    """
    leagues, seasons = scope_args(job_scope)
    version = await match_columns.scope_version(session, leagues, seasons)
    key = _scope_key(leagues, seasons)
    snapshots = _match_snapshots()
    held = snapshots.get(key, version)
    needed = [c for c in dict.fromkeys(columns) if c in match_columns.LOADABLE]
    missing = [c for c in needed if held is None or c not in held.columns]
    if held is not None and not missing:
        logger.info("%d matches from this process's cache (snapshot)", len(held))
        return held
    files = _snapshot_files()
    db_scope = db_snapshots.scope_digest(leagues, seasons)
    use_db = get_settings().db_snapshots

    async def from_files(columns: list[str]) -> pd.DataFrame | None:
        return files.read(key, version, columns)

    async def from_db(columns: list[str]) -> pd.DataFrame | None:
        return await db_snapshots.read(session, db_scope, version, columns) if use_db else None

    sources = (
        ("mapped", "the snapshot files", from_files),
        ("fetched", "the database's column snapshot", from_db),
    )
    for how, origin, source in sources:
        started = time.perf_counter()
        stored = await source(["kickoff", *missing])
        if stored is not None and len(stored.columns) > 1:
            held = snapshots.add(key, version, stored)
            missing = [c for c in needed if c not in held.columns]
            logger.info(
                "%d matches: %s %d columns from %s in %.2f s",
                len(held),
                how,
                len(stored.columns),
                origin,
                time.perf_counter() - started,
            )
            if source is from_db:
                files.write(key, version, stored)  # for this machine's next processes
            if not missing:
                return held
    state = await cached_scope_state(session, leagues, seasons)
    for attempt in range(2):
        started = time.perf_counter()
        fresh = await match_columns.load_columns(
            session,
            missing,
            leagues,
            seasons,
            state,
            page_size=get_settings().fetch_page_size,
            progress=progress,
        )
        logger.info(
            "%d matches: read %d columns %s in %.2f s",
            len(fresh),
            len(missing),
            missing,
            time.perf_counter() - started,
        )
        matches = snapshots.add(key, state.version, fresh)
        files.write(key, state.version, fresh)
        if use_db:
            await db_snapshots.write(session, db_scope, state.version, fresh)
        if attempt or set(needed) <= set(matches.columns):
            break
        # Matches were added while the columns were read: the held ones no longer line up.
        missing = needed
    return matches


@celery_app.task(name="filterbets_nb.tasks.backtest_tasks.fetch_matches", **CHAIN_OPTIONS)
def fetch_matches(self: Any, job_id: str) -> dict[str, Any]:
    """Validate the job's filter, bring its leagues' features up to date, count its matches."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        job = await store.get_job(session, job_id)
        if job is None:
            raise ValueError(f"unknown backtest job {job_id!r}")
        if job.status in ("REVOKED", "SUCCESS"):
            # Cancelled before it started, or a redelivered copy of a job that already
            # finished: either way the rest of the chain must not run.
            raise Ignore()
        flt = Filter.from_dict(job.filter)  # FilterError (a ValueError): never retried
        leagues, seasons = scope_args(job.scope)
        state = await cached_scope_state(session, leagues, seasons)
        if state.missing_features:
            await refresh_leagues(session, state.missing_features)
        total = state.matches
        if total == 0:
            raise ValueError(
                f"no matches stored for leagues={leagues or 'all'} seasons={seasons or 'all'}"
            )
        meta = progress_meta(total, total, stage="fetch", description=f"{total} matches")
        await store.update_job(
            session, job_id, status="STARTED", started_at=utcnow(), progress=meta, error=None
        )
        return {"status": "fetched", "job_id": job_id, "matches": total, "filter": flt}

    fetched = task_db(work)
    # Logged after the transaction closed (a slow handler must not hold the database), clipped.
    logger.info(
        "job %s: %s over %d matches",
        job_id,
        clip(fetched.pop("filter").describe(), 500),
        fetched["matches"],
    )
    return fetched


@celery_app.task(name="filterbets_nb.tasks.backtest_tasks.evaluate_filter", **CHAIN_OPTIONS)
def evaluate_filter(self: Any, fetched: dict[str, Any]) -> dict[str, Any]:
    """Load the job's matches page by page, run the engine, store its bets; report PROGRESS.

    Progress counts matches (``total`` = matches in scope): loaded, then evaluated, with the
    phase in ``description``; the stage's percent counts loading as its first half.
    """
    job_id = fetched["job_id"]
    settings = get_settings()
    recorder = ProgressRecorder(
        self,
        stage="evaluate",
        description="loading matches",
        min_interval=settings.progress_interval,
    )
    expected = int(fetched.get("matches", 0))
    try:

        async def load(session: AsyncSession) -> tuple[Filter, pd.DataFrame]:
            job = await store.get_job(session, job_id)
            if job is None:
                raise ValueError(f"unknown backtest job {job_id!r}")
            await store.update_job(session, job_id, status="PROGRESS")
            flt = Filter.from_dict(job.filter)
            matches = await matches_with(
                session,
                needed_columns(flt),
                job.scope,
                progress=lambda loaded: recorder.set(
                    loaded, max(expected, loaded), fraction=loaded / max(expected, loaded, 1) / 2
                ),
            )
            return flt, matches

        flt, matches = task_db(load)
        # Loaded: said even when no page was read (a snapshot served it), so a job is seen in
        # PROGRESS as soon as its matches are at hand.
        n = len(matches)
        recorder.set(n, max(expected, n), fraction=0.5, force=True)
        if settings.evaluate_delay:
            time.sleep(settings.evaluate_delay)
        recorder.description = "evaluating filter"
        result = run_backtest(
            matches,
            flt,
            progress=lambda current, total: recorder.set(
                current, total, fraction=0.5 + current / max(2 * total, 1)
            ),
            chunk_size=settings.engine_chunk_size,
        )
    except SoftTimeLimitExceeded:
        partial = recorder.last or {}
        task_db(lambda s: store.update_job(s, job_id, progress=partial))
        raise
    counts: dict[str, Any] = {
        "bets": len(result.bets()),
        "skipped_no_odds": result.skipped_no_odds,
        "skipped_no_edge": result.skipped_no_edge,
        "matches_considered": result.matches_considered,
    }
    # Published only if due: a short job's SUCCESS follows within milliseconds and carries the
    # counts anyway; the job row gets them below either way.
    recorder.set(n, n, **counts)

    async def store_bets(session: AsyncSession) -> None:
        # Delete-then-insert in one transaction: a redelivered task leaves one set of bets.
        await store.replace_bets(session, job_id, result.bets())
        await store.update_job(session, job_id, progress=recorder.last, n_bets=len(result.bets()))

    task_db(store_bets)
    # The engine's summary travels on (a few dozen numbers), so save_results stores it instead
    # of loading the bets back and computing it a second time.
    summary = to_jsonable(result.summary())
    return {"status": "evaluated", "job_id": job_id, **counts, "summary": summary}


@celery_app.task(name="filterbets_nb.tasks.backtest_tasks.save_results", **CHAIN_OPTIONS)
def save_results(self: Any, evaluated: dict[str, Any]) -> dict[str, Any]:
    """Store the summary ``evaluate_filter`` computed and mark the job SUCCESS.

    A message from an older worker carries no summary: then it is computed from the stored
    bets, as before.
    """
    job_id = evaluated["job_id"]
    computed = evaluated.get("summary")

    async def work(session: AsyncSession) -> dict[str, Any]:
        if isinstance(computed, dict):
            jsonable, n_bets = computed, int(evaluated.get("bets") or computed.get("bets") or 0)
        else:
            bets = await store.load_bets(session, job_id, with_matches=False)
            jsonable = to_jsonable(
                compute_stats(
                    bets,
                    skipped_no_odds=int(evaluated.get("skipped_no_odds", 0)),
                    skipped_no_edge=int(evaluated.get("skipped_no_edge", 0)),
                    matches_considered=evaluated.get("matches_considered"),
                )
            )
            n_bets = len(bets)
        meta = progress_meta(1, 1, stage="save", description="done", bets=n_bets)
        await store.update_job(
            session,
            job_id,
            status="SUCCESS",
            summary=jsonable,
            n_bets=n_bets,
            progress=meta,
            finished_at=utcnow(),
            error=None,
        )
        return jsonable

    summary = task_db(work)
    logger.info(
        "job %s saved: %s bets, profit %s", job_id, summary.get("bets"), summary.get("profit")
    )
    return {"status": "success", "job_id": job_id, "summary": summary}
