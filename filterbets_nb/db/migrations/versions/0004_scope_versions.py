"""scope versions; drop the job_id index the (job_id, seq) unique constraint already serves

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-03 07:30:00

``scope_versions`` holds one counter per league, raised in the same transaction as every write
to that league's matches or features, so a worker can tell in one index lookup whether the
columns it holds for a scope are still current (reading the matches to find out costs as much
as reading them again); ``features_version`` is the counter's value when the league's features
were last computed, so features older than the matches show without reading either.

``ix_backtest_bets_job_id`` duplicated the leading column of ``uq_backtest_bets_job_id``: every
bet written paid for two indexes where one serves both.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scope_versions",
        sa.Column("league_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("features_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("league_id", name=op.f("pk_scope_versions")),
    )
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_bets_job_id"))


def downgrade() -> None:
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backtest_bets_job_id"), ["job_id"], unique=False)
    op.drop_table("scope_versions")
