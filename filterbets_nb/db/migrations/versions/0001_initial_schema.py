"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 00:43:36.806804
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "backtest_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("task_ids", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("n_bets", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_jobs")),
    )
    with op.batch_alter_table("backtest_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backtest_jobs_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_backtest_jobs_status"), ["status"], unique=False)

    op.create_table(
        "leagues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leagues")),
        sa.UniqueConstraint("code", name=op.f("uq_leagues_code")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("league_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["league_id"],
            ["leagues.id"],
            name=op.f("fk_teams_league_id_leagues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("league_id", "name", name=op.f("uq_teams_league_id")),
    )
    op.create_table(
        "matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("league_id", sa.Integer(), nullable=False),
        sa.Column("season", sa.String(length=16), nullable=False),
        sa.Column("match_date", sa.Date(), nullable=False),
        sa.Column("kickoff", sa.DateTime(), nullable=False),
        sa.Column("home_team_id", sa.Integer(), nullable=False),
        sa.Column("away_team_id", sa.Integer(), nullable=False),
        sa.Column("fthg", sa.Integer(), nullable=False),
        sa.Column("ftag", sa.Integer(), nullable=False),
        sa.Column("hthg", sa.Integer(), nullable=True),
        sa.Column("htag", sa.Integer(), nullable=True),
        sa.Column("b365_home", sa.Float(), nullable=True),
        sa.Column("b365_draw", sa.Float(), nullable=True),
        sa.Column("b365_away", sa.Float(), nullable=True),
        sa.Column("b365_over25", sa.Float(), nullable=True),
        sa.Column("b365_under25", sa.Float(), nullable=True),
        sa.Column("b365_btts_yes", sa.Float(), nullable=True),
        sa.Column("b365_btts_no", sa.Float(), nullable=True),
        sa.Column("pinnacle_home", sa.Float(), nullable=True),
        sa.Column("pinnacle_draw", sa.Float(), nullable=True),
        sa.Column("pinnacle_away", sa.Float(), nullable=True),
        sa.Column("pinnacle_over25", sa.Float(), nullable=True),
        sa.Column("pinnacle_under25", sa.Float(), nullable=True),
        sa.Column("pinnacle_btts_yes", sa.Float(), nullable=True),
        sa.Column("pinnacle_btts_no", sa.Float(), nullable=True),
        sa.Column("avg_home", sa.Float(), nullable=True),
        sa.Column("avg_draw", sa.Float(), nullable=True),
        sa.Column("avg_away", sa.Float(), nullable=True),
        sa.Column("avg_over25", sa.Float(), nullable=True),
        sa.Column("avg_under25", sa.Float(), nullable=True),
        sa.Column("avg_btts_yes", sa.Float(), nullable=True),
        sa.Column("avg_btts_no", sa.Float(), nullable=True),
        sa.Column("max_home", sa.Float(), nullable=True),
        sa.Column("max_draw", sa.Float(), nullable=True),
        sa.Column("max_away", sa.Float(), nullable=True),
        sa.Column("max_over25", sa.Float(), nullable=True),
        sa.Column("max_under25", sa.Float(), nullable=True),
        sa.Column("max_btts_yes", sa.Float(), nullable=True),
        sa.Column("max_btts_no", sa.Float(), nullable=True),
        sa.Column("b365_close_home", sa.Float(), nullable=True),
        sa.Column("b365_close_draw", sa.Float(), nullable=True),
        sa.Column("b365_close_away", sa.Float(), nullable=True),
        sa.Column("b365_close_over25", sa.Float(), nullable=True),
        sa.Column("b365_close_under25", sa.Float(), nullable=True),
        sa.Column("b365_close_btts_yes", sa.Float(), nullable=True),
        sa.Column("b365_close_btts_no", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_home", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_draw", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_away", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_over25", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_under25", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_btts_yes", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_btts_no", sa.Float(), nullable=True),
        sa.Column("avg_close_home", sa.Float(), nullable=True),
        sa.Column("avg_close_draw", sa.Float(), nullable=True),
        sa.Column("avg_close_away", sa.Float(), nullable=True),
        sa.Column("avg_close_over25", sa.Float(), nullable=True),
        sa.Column("avg_close_under25", sa.Float(), nullable=True),
        sa.Column("avg_close_btts_yes", sa.Float(), nullable=True),
        sa.Column("avg_close_btts_no", sa.Float(), nullable=True),
        sa.Column("max_close_home", sa.Float(), nullable=True),
        sa.Column("max_close_draw", sa.Float(), nullable=True),
        sa.Column("max_close_away", sa.Float(), nullable=True),
        sa.Column("max_close_over25", sa.Float(), nullable=True),
        sa.Column("max_close_under25", sa.Float(), nullable=True),
        sa.Column("max_close_btts_yes", sa.Float(), nullable=True),
        sa.Column("max_close_btts_no", sa.Float(), nullable=True),
        sa.Column("odds_extra", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["away_team_id"], ["teams.id"], name=op.f("fk_matches_away_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["home_team_id"], ["teams.id"], name=op.f("fk_matches_home_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["league_id"],
            ["leagues.id"],
            name=op.f("fk_matches_league_id_leagues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
        sa.UniqueConstraint(
            "league_id",
            "match_date",
            "home_team_id",
            "away_team_id",
            name=op.f("uq_matches_league_id"),
        ),
    )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_matches_league_season_kickoff", ["league_id", "season", "kickoff"], unique=False
        )

    op.create_table(
        "team_stats",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("league_id", sa.Integer(), nullable=False),
        sa.Column("season", sa.String(length=16), nullable=False),
        sa.Column("played", sa.Integer(), nullable=False),
        sa.Column("ppg", sa.Float(), nullable=True),
        sa.Column("form_pts_5", sa.Float(), nullable=True),
        sa.Column("form_pts_10", sa.Float(), nullable=True),
        sa.Column("gf_avg", sa.Float(), nullable=True),
        sa.Column("ga_avg", sa.Float(), nullable=True),
        sa.Column("last_match", sa.DateTime(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["league_id"],
            ["leagues.id"],
            name=op.f("fk_team_stats_league_id_leagues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_stats_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_team_stats")),
    )
    op.create_table(
        "backtest_bets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("kickoff", sa.DateTime(), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("odds", sa.Float(), nullable=False),
        sa.Column("closing_odds", sa.Float(), nullable=True),
        sa.Column("stake", sa.Float(), nullable=False),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.Column("profit", sa.Float(), nullable=False),
        sa.Column("cum_profit", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["backtest_jobs.id"],
            name=op.f("fk_backtest_bets_job_id_backtest_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["matches.id"],
            name=op.f("fk_backtest_bets_match_id_matches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_bets")),
        sa.UniqueConstraint("job_id", "seq", name=op.f("uq_backtest_bets_job_id")),
    )
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backtest_bets_job_id"), ["job_id"], unique=False)

    op.create_table(
        "match_features",
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("home_played", sa.Float(), nullable=True),
        sa.Column("home_ppg", sa.Float(), nullable=True),
        sa.Column("home_form_pts_5", sa.Float(), nullable=True),
        sa.Column("home_form_pts_10", sa.Float(), nullable=True),
        sa.Column("home_form_w_5", sa.Float(), nullable=True),
        sa.Column("home_form_d_5", sa.Float(), nullable=True),
        sa.Column("home_form_l_5", sa.Float(), nullable=True),
        sa.Column("home_form_w_10", sa.Float(), nullable=True),
        sa.Column("home_form_d_10", sa.Float(), nullable=True),
        sa.Column("home_form_l_10", sa.Float(), nullable=True),
        sa.Column("home_gf_avg", sa.Float(), nullable=True),
        sa.Column("home_ga_avg", sa.Float(), nullable=True),
        sa.Column("home_gf_avg_home", sa.Float(), nullable=True),
        sa.Column("home_ga_avg_home", sa.Float(), nullable=True),
        sa.Column("home_gf_avg_away", sa.Float(), nullable=True),
        sa.Column("home_ga_avg_away", sa.Float(), nullable=True),
        sa.Column("home_clean_sheet_pct", sa.Float(), nullable=True),
        sa.Column("home_failed_to_score_pct", sa.Float(), nullable=True),
        sa.Column("away_played", sa.Float(), nullable=True),
        sa.Column("away_ppg", sa.Float(), nullable=True),
        sa.Column("away_form_pts_5", sa.Float(), nullable=True),
        sa.Column("away_form_pts_10", sa.Float(), nullable=True),
        sa.Column("away_form_w_5", sa.Float(), nullable=True),
        sa.Column("away_form_d_5", sa.Float(), nullable=True),
        sa.Column("away_form_l_5", sa.Float(), nullable=True),
        sa.Column("away_form_w_10", sa.Float(), nullable=True),
        sa.Column("away_form_d_10", sa.Float(), nullable=True),
        sa.Column("away_form_l_10", sa.Float(), nullable=True),
        sa.Column("away_gf_avg", sa.Float(), nullable=True),
        sa.Column("away_ga_avg", sa.Float(), nullable=True),
        sa.Column("away_gf_avg_home", sa.Float(), nullable=True),
        sa.Column("away_ga_avg_home", sa.Float(), nullable=True),
        sa.Column("away_gf_avg_away", sa.Float(), nullable=True),
        sa.Column("away_ga_avg_away", sa.Float(), nullable=True),
        sa.Column("away_clean_sheet_pct", sa.Float(), nullable=True),
        sa.Column("away_failed_to_score_pct", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["matches.id"],
            name=op.f("fk_match_features_match_id_matches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("match_id", name=op.f("pk_match_features")),
    )


def downgrade() -> None:

    op.drop_table("match_features")
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_bets_job_id"))

    op.drop_table("backtest_bets")
    op.drop_table("team_stats")
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index("ix_matches_league_season_kickoff")

    op.drop_table("matches")
    op.drop_table("teams")
    op.drop_table("leagues")
    with op.batch_alter_table("backtest_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_backtest_jobs_created_at"))

    op.drop_table("backtest_jobs")
