"""Flood history for the wave's spread and split contacts: `message_meta.short_text` keeps the
folded text of a message of at most two characters (a contact spelled out one character per
message is read joined), and an index on (text_hash, sent_at) counts the groups a text was
sent to.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_meta") as batch:
        batch.add_column(sa.Column("short_text", sa.String(8), nullable=False, server_default=""))
    op.create_index("ix_message_meta_hash_sent", "message_meta", ["text_hash", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_message_meta_hash_sent", table_name="message_meta")
    with op.batch_alter_table("message_meta") as batch:
        batch.drop_column("short_text")
