"""The research tables: one row per sweep run, one row per evaluated grid point.

A sweep's grid points (parameters and filter JSON) live in its run row, so any worker can pick
up any chunk of it by index range. Each chunk writes its figures into ``research_rows`` with
delete-then-insert on ``(run_id, idx)`` in one transaction, so a redelivered chunk leaves one
set of rows. Like :mod:`.store`, functions take an open session and leave committing to the
caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from filterbets_nb.db.models import ENDED_STATES, Base, League, matches_table, utcnow


class ResearchRun(Base):
    """A submitted sweep (also the first half of a walk-forward): its grid, scope and state."""

    __tablename__ = "research_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="sweep")
    label: Mapped[str] = mapped_column(String(200), default="")
    grid: Mapped[list[str]] = mapped_column(JSON, default=list)
    points: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="PENDING", index=True)
    task_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    chunks: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    @property
    def n_filters(self) -> int:
        return len(self.points)


class ResearchRow(Base):
    """The figures of one grid point of a run (see :mod:`filterbets_nb.research.evaluate`)."""

    __tablename__ = "research_rows"
    __table_args__ = (UniqueConstraint("run_id", "idx"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("research_runs.id", ondelete="CASCADE"), index=True
    )
    idx: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    filter: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    seasons: Mapped[dict[str, Any]] = mapped_column(JSON)


async def create_run(session: AsyncSession, run: ResearchRun) -> None:
    session.add(run)


async def get_run(session: AsyncSession, run_id: str) -> ResearchRun | None:
    return await session.get(ResearchRun, run_id)


async def get_run_state(session: AsyncSession, run_id: str) -> Any:
    """The run's state columns only (``status``, ``error`` and its times), for a client that
    reads them every poll: not the grid points, which a 500-filter sweep holds by the 100 KB."""
    stmt = select(
        ResearchRun.status,
        ResearchRun.error,
        ResearchRun.created_at,
        ResearchRun.started_at,
        ResearchRun.finished_at,
    ).where(ResearchRun.id == run_id)
    return (await session.execute(stmt)).one_or_none()


async def unfinished_runs(session: AsyncSession, since: dt.datetime) -> list[ResearchRun]:
    """Runs created after ``since`` that have not ended, oldest first (for recovery)."""
    stmt = (
        select(ResearchRun)
        .where(ResearchRun.status.not_in(ENDED_STATES))
        .where(ResearchRun.created_at >= since)
        .order_by(ResearchRun.created_at)
    )
    return list((await session.scalars(stmt)).all())


async def update_run(
    session: AsyncSession, run_id: str, *, unless: Sequence[str] = ("REVOKED",), **values: Any
) -> bool:
    """Set ``values`` unless the run's status is in ``unless`` (by default: never un-cancel)."""
    values.setdefault("updated_at", utcnow())
    stmt = update(ResearchRun).where(ResearchRun.id == run_id)
    if unless:
        stmt = stmt.where(ResearchRun.status.not_in(list(unless)))
    result = await session.execute(stmt.values(**values))
    return bool(getattr(result, "rowcount", 0))


async def replace_rows(session: AsyncSession, run_id: str, rows: Sequence[dict[str, Any]]) -> int:
    """Store ``rows`` (each with ``idx``) for ``run_id``, replacing rows of the same indexes."""
    if not rows:
        return 0
    indexes = [int(r["idx"]) for r in rows]
    await session.execute(
        delete(ResearchRow).where(ResearchRow.run_id == run_id, ResearchRow.idx.in_(indexes))
    )
    columns = ("idx", "params", "filter", "summary", "seasons")
    records = [{"run_id": run_id, **{c: row[c] for c in columns}} for row in rows]
    await session.execute(insert(ResearchRow), records)
    return len(records)


async def load_rows(session: AsyncSession, run_id: str) -> list[dict[str, Any]]:
    """Every stored row of a run, by index, as plain dicts."""
    stmt = select(ResearchRow).where(ResearchRow.run_id == run_id).order_by(ResearchRow.idx)
    return [
        {
            "idx": r.idx,
            "params": r.params,
            "filter": r.filter,
            "summary": r.summary,
            "seasons": r.seasons,
        }
        for r in (await session.scalars(stmt)).all()
    ]


async def count_rows(session: AsyncSession, run_id: str) -> int:
    stmt = select(func.count()).select_from(ResearchRow).where(ResearchRow.run_id == run_id)
    return int((await session.execute(stmt)).scalar_one())


async def scope_seasons(session: AsyncSession, leagues: Sequence[str] | None) -> list[str]:
    """The distinct seasons of the stored matches of ``leagues`` (all leagues when empty)."""
    t = matches_table
    stmt = select(t.c.season).distinct().join(League, League.id == t.c.league_id)
    if leagues:
        stmt = stmt.where(League.code.in_(list(leagues)))
    return sorted(str(s) for s in (await session.scalars(stmt)).all())
