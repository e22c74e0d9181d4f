"""The same group message through two channels: `message_copies` keeps, for each group message
acted on, who sent what (a hash of its folded text) where and when, and through which channel,
so that its copy from the other channel (the smart bot's and the chat archive's ids differ) is
recognised and not judged a second time (`app.judging.cross_channel`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_copies",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("text_hash", sa.String(32), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("inbox_event_id", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("twin_event_id", sa.BigInteger(), nullable=True),
    )
    op.create_index(
        "ix_message_copies_chat_sender_sent", "message_copies", ["chat_id", "sender", "sent_at"]
    )
    op.create_index("ix_message_copies_sent", "message_copies", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_message_copies_sent", table_name="message_copies")
    op.drop_index("ix_message_copies_chat_sender_sent", table_name="message_copies")
    op.drop_table("message_copies")
