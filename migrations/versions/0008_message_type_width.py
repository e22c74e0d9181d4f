"""An archive record's msgtype is as long as WeCom makes it: `message_meta.msg_type` holds up to
64 characters (`bot.identifiers.MAX_MSG_TYPE_LENGTH`) instead of 16, so that a record of a type
such as `meeting_voice_call` (18) is judged instead of failing its insert on PostgreSQL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_meta") as batch:
        batch.alter_column(
            "msg_type", existing_type=sa.String(16), type_=sa.String(64), existing_nullable=False
        )


def downgrade() -> None:
    # Metadata is pruned after a day; a longer type name is cut to fit the narrower column.
    op.execute("UPDATE message_meta SET msg_type = substr(msg_type, 1, 16)")
    with op.batch_alter_table("message_meta") as batch:
        batch.alter_column(
            "msg_type", existing_type=sa.String(64), type_=sa.String(16), existing_nullable=False
        )
