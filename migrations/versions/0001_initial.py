"""Initial schema: callback inbox, moderation log, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbox_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("plaintext", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("processed_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("dedupe_key", name="uq_inbox_events_dedupe_key"),
    )
    op.create_index("ix_inbox_events_status_id", "inbox_events", ["status", "id"])

    op.create_table(
        "moderation_logs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "inbox_event_id",
            BigId,
            sa.ForeignKey("inbox_events.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.UniqueConstraint("inbox_event_id", name="uq_moderation_logs_inbox_event_id"),
    )
    op.create_index("ix_moderation_logs_created", "moderation_logs", ["created_at", "id"])
    op.create_index("ix_moderation_logs_chat_created", "moderation_logs", ["chat_id", "created_at"])
    op.create_index("ix_moderation_logs_user_created", "moderation_logs", ["user_id", "created_at"])

    op.create_table(
        "outbox_actions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column(
            "moderation_log_id",
            BigId,
            sa.ForeignKey("moderation_logs.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_actions_idempotency_key"),
    )
    op.create_index("ix_outbox_actions_moderation_log_id", "outbox_actions", ["moderation_log_id"])
    op.create_index("ix_outbox_actions_status_due", "outbox_actions", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox_actions")
    op.drop_table("moderation_logs")
    op.drop_table("inbox_events")
