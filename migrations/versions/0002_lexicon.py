"""Lexicon in the database: words, allow-list phrases, the version replicas poll, file imports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lexicon_words",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("word", sa.String(256), nullable=False),
        sa.Column("folded", sa.String(256), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.UniqueConstraint("folded", "scope", name="uq_lexicon_words_folded_scope"),
    )

    op.create_table(
        "lexicon_allow",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("phrase", sa.String(256), nullable=False),
        sa.Column("folded", sa.String(256), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.UniqueConstraint("folded", "scope", name="uq_lexicon_allow_folded_scope"),
    )

    state = op.create_table(
        "lexicon_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0, "updated_at": datetime.now(UTC)}])

    op.create_table(
        "lexicon_imports",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("imported_at", UtcDateTime(), nullable=False),
        sa.Column("imported_by", sa.String(128), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
    )
    op.create_index("ix_lexicon_imports_kind_origin", "lexicon_imports", ["kind", "origin", "id"])


def downgrade() -> None:
    op.drop_table("lexicon_imports")
    op.drop_table("lexicon_state")
    op.drop_table("lexicon_allow")
    op.drop_table("lexicon_words")
