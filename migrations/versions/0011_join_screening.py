"""Join screening: the screenings due and done (`join_screenings`), the external-contact
cache (`contact_profiles`), and an index to count the groups a member joined lately.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "join_screenings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("done_at", UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False, server_default=""),
        sa.Column(
            "moderation_log_id",
            BigId,
            sa.ForeignKey("moderation_logs.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_join_screenings_due", "join_screenings", ["due_at"])
    op.create_index("ix_join_screenings_chat_user", "join_screenings", ["chat_id", "user_id"])
    op.create_table(
        "contact_profiles",
        sa.Column("external_userid", sa.String(128), primary_key=True),
        sa.Column("fetched_at", UtcDateTime(), nullable=False),
        sa.Column("known", sa.Boolean(), nullable=False),
        sa.Column("contact_type", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("name", sa.String(256), nullable=False, server_default=""),
        sa.Column("corp_name", sa.String(256), nullable=False, server_default=""),
    )
    op.create_index("ix_group_members_user_joined", "group_members", ["user_id", "joined_at"])


def downgrade() -> None:
    op.drop_index("ix_group_members_user_joined", table_name="group_members")
    op.drop_table("contact_profiles")
    op.drop_index("ix_join_screenings_chat_user", table_name="join_screenings")
    op.drop_index("ix_join_screenings_due", table_name="join_screenings")
    op.drop_table("join_screenings")
