"""The console's sandbox (`app.sandbox.live`): `groups.sandbox` marks a group the sandbox made
(its members, messages, log rows, strikes and actions are the sandbox's through its chat id),
and `sandbox_posts` holds what was said in a sandbox group (the members' messages and joins
the sandbox sent) and what the outbox delivered for it instead of calling WeCom: the page
reads it as the chat and the moderators' app messages.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(
            sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index(
        "ix_groups_sandbox",
        "groups",
        ["chat_id"],
        postgresql_where=sa.text("sandbox"),
        sqlite_where=sa.text("sandbox"),
    )
    op.create_table(
        "sandbox_posts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("outbox_action_id", BigId, nullable=True),
        sa.Column("moderation_log_id", BigId, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("where", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False, server_default=""),
        sa.Column("message_id", sa.String(200), nullable=False, server_default=""),
        sa.Column("to_users", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_sandbox_posts_chat_id", "sandbox_posts", ["chat_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_sandbox_posts_chat_id", table_name="sandbox_posts")
    op.drop_table("sandbox_posts")
    op.drop_index("ix_groups_sandbox", table_name="groups")
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("sandbox")
