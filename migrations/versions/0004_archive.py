"""Chat archive: the cursor and the lease per corp, records that could not be read, and the
recall mark on moderation log rows (with an index to find a row by its message id).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "archive_cursors",
        sa.Column("corp_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "archive_leases",
        sa.Column("corp_id", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "archive_record_failures",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("corp_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("msgid", sa.String(200), nullable=False),
        sa.Column("publickey_ver", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("corp_id", "seq", name="uq_archive_record_failures_corp_seq"),
    )
    with op.batch_alter_table("moderation_logs") as batch:
        batch.add_column(sa.Column("recalled_at", UtcDateTime(), nullable=True))
    op.create_index("ix_moderation_logs_message_id", "moderation_logs", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_moderation_logs_message_id", table_name="moderation_logs")
    with op.batch_alter_table("moderation_logs") as batch:
        batch.drop_column("recalled_at")
    op.drop_table("archive_record_failures")
    op.drop_table("archive_leases")
    op.drop_table("archive_cursors")
