"""Flood history read by sender and by text: the flood rules look only at a member's own
messages and at copies of the same text, so `message_meta` is indexed for those two reads
instead of for the whole window of a group.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_message_meta_chat_sender_sent", "message_meta", ["chat_id", "sender", "sent_at"]
    )
    op.create_index(
        "ix_message_meta_chat_hash_sent", "message_meta", ["chat_id", "text_hash", "sent_at"]
    )
    op.drop_index("ix_message_meta_chat_sent", table_name="message_meta")


def downgrade() -> None:
    op.create_index("ix_message_meta_chat_sent", "message_meta", ["chat_id", "sent_at"])
    op.drop_index("ix_message_meta_chat_hash_sent", table_name="message_meta")
    op.drop_index("ix_message_meta_chat_sender_sent", table_name="message_meta")
