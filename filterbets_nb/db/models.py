"""SQLAlchemy 2 typed models: the tables every part of the package reads and writes.

The wide tables (``matches`` with one column per price source and market, ``match_features`` with
one column per pre-match feature) are declared imperatively from :mod:`filterbets_nb.schema`, so
the column lists live in one place; their fixed columns are still typed with ``Mapped[...]``.
Schema changes go through the Alembic migrations in ``db/migrations``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from filterbets_nb.schema import FEATURE_COLUMNS, ODDS_COLUMNS
from filterbets_nb.status import ENDED_STATES as ENDED_STATES  # defined once, re-exported

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Naive UTC now: every timestamp in the database is naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class League(Base):
    __tablename__ = "leagues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("league_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    league_id: Mapped[int] = mapped_column(ForeignKey("leagues.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))


matches_table = Table(
    "matches",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("league_id", ForeignKey("leagues.id", ondelete="CASCADE"), nullable=False),
    Column("season", String(16), nullable=False),
    Column("match_date", Date, nullable=False),
    Column("kickoff", DateTime, nullable=False),
    Column("home_team_id", ForeignKey("teams.id"), nullable=False),
    Column("away_team_id", ForeignKey("teams.id"), nullable=False),
    # NULL for a fixture not played yet (migration 0003); readers of played matches skip it.
    Column("fthg", Integer, nullable=True),
    Column("ftag", Integer, nullable=True),
    Column("hthg", Integer, nullable=True),
    Column("htag", Integer, nullable=True),
    *(Column(name, Float, nullable=True) for name in ODDS_COLUMNS),
    Column("odds_extra", JSON, nullable=True),
    Column("source", String(255), nullable=False, default=""),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("league_id", "match_date", "home_team_id", "away_team_id"),
    # With ``fthg`` last, counting a scope's played matches reads only the index (migration 0008).
    Index("ix_matches_league_season_kickoff_fthg", "league_id", "season", "kickoff", "fthg"),
)


class Match(Base):
    """One played match with its result and every price the source carried."""

    __table__ = matches_table

    id: Mapped[int]
    league_id: Mapped[int]
    season: Mapped[str]
    match_date: Mapped[dt.date]
    kickoff: Mapped[dt.datetime]
    home_team_id: Mapped[int]
    away_team_id: Mapped[int]
    fthg: Mapped[int | None]
    ftag: Mapped[int | None]
    hthg: Mapped[int | None]
    htag: Mapped[int | None]
    odds_extra: Mapped[dict[str, float] | None]
    source: Mapped[str]
    updated_at: Mapped[dt.datetime]


match_features_table = Table(
    "match_features",
    Base.metadata,
    Column("match_id", ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True),
    *(Column(name, Float, nullable=True) for name in FEATURE_COLUMNS),
    Column("computed_at", DateTime, nullable=False, default=utcnow),
)


class MatchFeatures(Base):
    """Pre-match features of both sides, computed only from matches that kicked off earlier."""

    __table__ = match_features_table

    match_id: Mapped[int]
    computed_at: Mapped[dt.datetime]


class TeamStats(Base):
    """Current snapshot per team, written by the daily refresh."""

    __tablename__ = "team_stats"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    league_id: Mapped[int] = mapped_column(ForeignKey("leagues.id", ondelete="CASCADE"))
    season: Mapped[str] = mapped_column(String(16))
    played: Mapped[int] = mapped_column(Integer)
    ppg: Mapped[float | None] = mapped_column(Float)
    form_pts_5: Mapped[float | None] = mapped_column(Float)
    form_pts_10: Mapped[float | None] = mapped_column(Float)
    gf_avg: Mapped[float | None] = mapped_column(Float)
    ga_avg: Mapped[float | None] = mapped_column(Float)
    last_match: Mapped[dt.datetime | None] = mapped_column(DateTime)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class BacktestJob(Base):
    """A submitted backtest: its filter, scope, Celery task ids, state, error and summary."""

    __tablename__ = "backtest_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    filter: Mapped[dict[str, Any]] = mapped_column(JSON)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="PENDING", index=True)
    task_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    n_bets: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class BacktestBet(Base):
    """One bet of a job; the key (job_id, seq) makes a job hold exactly one set of bets.

    No foreign keys (migration 0006): the task that writes the bets has just read the job and
    the matches, and checking that again cost PostgreSQL two triggers per bet, most of the time
    of writing tens of thousands of them. Bets are only ever read joined to their matches.
    """

    __tablename__ = "backtest_bets"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    match_id: Mapped[int] = mapped_column(Integer)
    kickoff: Mapped[dt.datetime] = mapped_column(DateTime)
    market: Mapped[str] = mapped_column(String(16))
    odds: Mapped[float] = mapped_column(Float)
    closing_odds: Mapped[float | None] = mapped_column(Float, nullable=True)
    stake: Mapped[float] = mapped_column(Float)
    won: Mapped[bool]
    profit: Mapped[float] = mapped_column(Float)
    cum_profit: Mapped[float] = mapped_column(Float)
    # Added by migration 0002: the backed side's handicap (AH bets only), the settlement outcome
    # (win/half_win/push/half_loss/loss) and the fair closing probability with its CLV.
    line: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    p_fair_close: Mapped[float | None] = mapped_column(Float, nullable=True)
    clv: Mapped[float | None] = mapped_column(Float, nullable=True)


#: One counter per league, raised in the same transaction as every write to the league's
#: matches or features (:func:`filterbets_nb.db.match_columns.bump_versions`): what tells a
#: worker cheaply that the columns it holds for a scope are out of date. ``features_version``
#: is the counter's value when the league's features were last written: lower means matches
#: changed since.
scope_versions_table = Table(
    "scope_versions",
    Base.metadata,
    Column("league_id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("features_version", BigInteger, nullable=False),
)


#: Columnar snapshots of scopes in the database itself (:mod:`filterbets_nb.tasks.db_snapshots`),
#: one row per column of a scope at one version: ``payload`` is the column as the bytes of an
#: Arrow IPC file. Read by workers on machines whose data dir holds no snapshot files yet.
column_snapshots_table = Table(
    "column_snapshots",
    Base.metadata,
    #: digest of the scope's leagues and seasons
    Column("scope", String(64), primary_key=True),
    #: :func:`filterbets_nb.db.match_columns.scope_version` the column was read at
    Column("version", String(64), primary_key=True),
    Column("column_name", String(64), primary_key=True),
    Column("rows", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)
