"""Community-health rollups (`app.health`): a group's day (`health_days`), a member's day in
a group (`health_member_days`) and what a group's health needs beyond its window
(`health_groups`), and the health list's snapshots with the lease to refresh them
(`health_snapshots`, `health_refresh`). Counts only, no text.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
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
# The figures the health list sorts its snapshot by.
_SNAPSHOT_COUNTS = (
    "members",
    "member_messages",
    "staff_messages",
    "days_since_member_message",
    "quiet_days",
    "speakers",
    "bus_factor",
)
_SNAPSHOT_SHARES = ("speaker_ratio", "top2_share", "activation", "stay", "churn", "shop", "noise")
# The rows the health list reads (partial indexes): name, columns, which rows, covered columns.
_MEMBER_INDEXES: tuple[tuple[str, list[str], str, list[str]], ...] = (
    (
        "ix_health_member_days_spoke",
        ["day"],
        "messages > 0 AND NOT staff",
        ["chat_id", "user_id", "messages"],
    ),
    ("ix_health_member_days_joins", ["day"], "joins > 0", []),
    (
        "ix_health_member_days_left",
        ["chat_id", "user_id", "day"],
        "departures > 0 OR removals > 0",
        [],
    ),
    ("ix_health_member_days_offences", ["chat_id", "user_id", "day"], "offences > 0", []),
)


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
    for name, columns, where, include in _MEMBER_INDEXES:
        op.create_index(
            name,
            "health_member_days",
            columns,
            postgresql_include=include,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    op.create_table(
        "health_snapshots",
        sa.Column("window_days", sa.Integer(), primary_key=True),
        sa.Column("chat_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("end_day", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grade", sa.String(16), nullable=False),
        sa.Column("grade_rank", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=True) for name in _SNAPSHOT_COUNTS),
        *(sa.Column(name, sa.Float(), nullable=True) for name in _SNAPSHOT_SHARES),
        sa.Column("health", sa.JSON(), nullable=False),
    )
    op.create_table(
        "health_refresh",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "health_groups",
        sa.Column("chat_id", sa.String(128), primary_key=True),
        sa.Column("last_member_day", sa.Integer(), nullable=True),
        sa.Column("last_archive_day", sa.Integer(), nullable=True),
        sa.Column("last_aibot_day", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("health_refresh")
    op.drop_table("health_snapshots")
    op.drop_table("health_groups")
    for name, *_rest in _MEMBER_INDEXES:
        op.drop_index(name, table_name="health_member_days")
    op.drop_index("ix_health_member_days_day", table_name="health_member_days")
    op.drop_table("health_member_days")
    op.drop_index("ix_health_days_day", table_name="health_days")
    op.drop_table("health_days")
