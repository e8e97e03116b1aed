"""research runs and their rows (sweeps, walk-forward)

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-03 07:10:00

The integrator chains this after the other revisions of the same round (down_revision).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "research_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("grid", sa.JSON(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("task_ids", sa.JSON(), nullable=False),
        sa.Column("chunks", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_runs")),
    )
    with op.batch_alter_table("research_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_research_runs_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_research_runs_status"), ["status"], unique=False)

    op.create_table(
        "research_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("seasons", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["research_runs.id"],
            name=op.f("fk_research_rows_run_id_research_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_rows")),
        sa.UniqueConstraint("run_id", "idx", name=op.f("uq_research_rows_run_id")),
    )
    with op.batch_alter_table("research_rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_research_rows_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("research_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_research_rows_run_id"))
    op.drop_table("research_rows")
    with op.batch_alter_table("research_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_research_runs_status"))
        batch_op.drop_index(batch_op.f("ix_research_runs_created_at"))
    op.drop_table("research_runs")
