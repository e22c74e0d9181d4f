"""Moderation state shared by every replica: groups, members, message metadata, strikes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False, unique=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("smart_bot", sa.Boolean(), nullable=False),
        sa.Column("webhook_key", sa.Text(), nullable=True),
        sa.Column("rules_text", sa.Text(), nullable=False),
        sa.Column("welcome_template", sa.Text(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("moderators", sa.JSON(), nullable=False),
        sa.Column("member_version", sa.String(64), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("joined_at", UtcDateTime(), nullable=True),
        sa.Column("left_at", UtcDateTime(), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("last_message_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("chat_id", "user_id", name="uq_group_members_chat_user"),
    )
    op.create_table(
        "message_meta",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("msg_type", sa.String(16), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.String(32), nullable=False),
    )
    op.create_index("ix_message_meta_chat_sent", "message_meta", ["chat_id", "sent_at"])
    op.create_index("ix_message_meta_sent", "message_meta", ["sent_at"])
    op.create_table(
        "strikes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column(
            "moderation_log_id",
            BigId,
            sa.ForeignKey("moderation_logs.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("pardoned_at", UtcDateTime(), nullable=True),
        sa.Column("pardoned_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_strikes_chat_user_created", "strikes", ["chat_id", "user_id", "created_at"])
    with op.batch_alter_table("moderation_logs") as batch:
        batch.add_column(sa.Column("mode", sa.String(16), nullable=False, server_default="enforce"))
        batch.add_column(sa.Column("step", sa.String(16), nullable=True))
        batch.add_column(sa.Column("strikes", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("actions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("moderation_logs") as batch:
        batch.drop_column("actions")
        batch.drop_column("strikes")
        batch.drop_column("step")
        batch.drop_column("mode")
    op.drop_table("strikes")
    op.drop_table("message_meta")
    op.drop_table("group_members")
    op.drop_table("groups")
