"""the matches' scope index also holds ``fthg``, so counting a scope reads only the index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 06:20:00

A backtest's first step counts the scope's played matches per league and season
(``WHERE fthg IS NOT NULL GROUP BY league_id, season``). The index on (league, season, kick-off)
ordered the scan but not the test, so every count visited every wide row: 0.7 s for a million
matches on SQLite with the file cached, 4.7 s without. With ``fthg`` as the index's last column
the count is an index-only scan (0.1 s), and every query the old index served is served by its
prefix. Building it for a million matches takes about a second.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_matches_league_season_kickoff", table_name="matches")
    op.create_index(
        "ix_matches_league_season_kickoff_fthg",
        "matches",
        ["league_id", "season", "kickoff", "fthg"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_matches_league_season_kickoff_fthg", table_name="matches")
    op.create_index(
        "ix_matches_league_season_kickoff",
        "matches",
        ["league_id", "season", "kickoff"],
        unique=False,
    )
