"""matches without a result: fixtures

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03 07:40:00

Rows of a football-data file without full-time goals are fixtures not played yet.  They are
stored (with their prices, for a fixture scanner) but never bet on and never feed the pre-match
features: every reader of played matches filters on ``fthg IS NOT NULL``.

The integrator chains this after the other 0002: set ``down_revision`` to "0002" then.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.alter_column("fthg", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("ftag", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM matches WHERE fthg IS NULL OR ftag IS NULL")
    with op.batch_alter_table("matches") as batch:
        batch.alter_column("fthg", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("ftag", existing_type=sa.Integer(), nullable=False)
