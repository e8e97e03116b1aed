"""Asian handicap and Betfair exchange columns; settlement outcome and fair close on bets

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 07:00:00.000000

The new ``matches`` columns are listed literally (not read from :mod:`filterbets_nb.schema`), so
this migration keeps meaning what it meant when the schema module moves on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MATCH_COLUMNS: Final[tuple[str, ...]] = (
    "b365_ah_home",
    "b365_ah_away",
    "pinnacle_ah_home",
    "pinnacle_ah_away",
    "avg_ah_home",
    "avg_ah_away",
    "max_ah_home",
    "max_ah_away",
    "b365_close_ah_home",
    "b365_close_ah_away",
    "pinnacle_close_ah_home",
    "pinnacle_close_ah_away",
    "avg_close_ah_home",
    "avg_close_ah_away",
    "max_close_ah_home",
    "max_close_ah_away",
    "betfair_ex_home",
    "betfair_ex_draw",
    "betfair_ex_away",
    "betfair_ex_over25",
    "betfair_ex_under25",
    "betfair_ex_btts_yes",
    "betfair_ex_btts_no",
    "betfair_ex_ah_home",
    "betfair_ex_ah_away",
    "betfair_ex_close_home",
    "betfair_ex_close_draw",
    "betfair_ex_close_away",
    "betfair_ex_close_over25",
    "betfair_ex_close_under25",
    "betfair_ex_close_btts_yes",
    "betfair_ex_close_btts_no",
    "betfair_ex_close_ah_home",
    "betfair_ex_close_ah_away",
    "ah_home_line",
    "ah_home_line_close",
)
BET_COLUMNS: Final = (
    ("line", sa.Float()),
    ("outcome", sa.String(length=16)),
    ("p_fair_close", sa.Float()),
    ("clv", sa.Float()),
)


def upgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        for name in MATCH_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        for name, type_ in BET_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        for name, _ in reversed(BET_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("matches", schema=None) as batch_op:
        for name in reversed(MATCH_COLUMNS):
            batch_op.drop_column(name)
