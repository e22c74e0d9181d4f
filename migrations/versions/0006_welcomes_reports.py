"""Welcomes, member names, customer-group member sync, and members' reports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("welcome_due_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("sync_due_at", UtcDateTime(), nullable=True))
        batch.add_column(
            sa.Column("welcome_template_id", sa.String(128), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("welcome_template_hash", sa.String(64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("owner_told_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("members_synced_at", UtcDateTime(), nullable=True))
    op.create_index("ix_groups_welcome_due", "groups", ["welcome_due_at"])
    op.create_index("ix_groups_sync_due", "groups", ["sync_due_at"])
    with op.batch_alter_table("group_members") as batch:
        batch.add_column(sa.Column("name", sa.String(256), nullable=False, server_default=""))
        batch.add_column(sa.Column("welcomed_at", UtcDateTime(), nullable=True))
    op.create_table(
        "member_reports",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("reporter", sa.String(128), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("alerted_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_member_reports_chat_target_created",
        "member_reports",
        ["chat_id", "target", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_member_reports_chat_target_created", table_name="member_reports")
    op.drop_table("member_reports")
    with op.batch_alter_table("group_members") as batch:
        batch.drop_column("welcomed_at")
        batch.drop_column("name")
    op.drop_index("ix_groups_sync_due", table_name="groups")
    op.drop_index("ix_groups_welcome_due", table_name="groups")
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("members_synced_at")
        batch.drop_column("owner_told_at")
        batch.drop_column("welcome_template_hash")
        batch.drop_column("welcome_template_id")
        batch.drop_column("sync_due_at")
        batch.drop_column("welcome_due_at")
