"""Community-health rollups (`app.health`): a group's day (`health_days`), a member's day in
a group (`health_member_days`) and what a group's health needs beyond its window
(`health_groups`). Counts only, no text.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_DAY_COUNTS = (
    "member_messages",
    "staff_messages",
    "archive_messages",
    "joins",
    "departures",
    "removals",
    "offences_word",
    "offences_flood",
    "offences_promo",
    "noisy",
    "promo_staff",
    "promo_members",
)
_MEMBER_COUNTS = ("messages", "joins", "departures", "removals", "offences")


def upgrade() -> None:
    op.create_table(
        "health_days",
        sa.Column("chat_id", sa.String(128), primary_key=True),
        sa.Column("day", sa.Integer(), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _DAY_COUNTS),
    )
    op.create_index("ix_health_days_day", "health_days", ["day"])
    op.create_table(
        "health_member_days",
        sa.Column("chat_id", sa.String(128), primary_key=True),
        sa.Column("day", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("staff", sa.Boolean(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _MEMBER_COUNTS),
    )
    op.create_index("ix_health_member_days_day", "health_member_days", ["day"])
    op.create_table(
        "health_groups",
        sa.Column("chat_id", sa.String(128), primary_key=True),
        sa.Column("last_member_day", sa.Integer(), nullable=True),
        sa.Column("last_archive_day", sa.Integer(), nullable=True),
        sa.Column("last_aibot_day", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("health_groups")
    op.drop_index("ix_health_member_days_day", table_name="health_member_days")
    op.drop_table("health_member_days")
    op.drop_index("ix_health_days_day", table_name="health_days")
    op.drop_table("health_days")
