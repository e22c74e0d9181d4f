"""Word lists as people have them, and allow-list entries that remember their decision:
`lexicon_words.category` widens from 16 to 32 characters (a list's own labels, 涉毒, 暴恐,
涉枪涉爆违法信息, are kept as categories of their own), and `lexicon_allow.source_log_id`
names the moderation log row whose overturn added the phrase (NULL: added by hand or from a
file; set to NULL if that row goes).

Downgrading gives every word whose category is not a built-in one the category `custom`
(the version before reads only the built-in ones) before narrowing the column.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BUILT_IN_CATEGORIES = ("politics", "porn", "gambling", "fraud", "abuse", "ads", "custom")
SOURCE_FK = "fk_lexicon_allow_source_log_id"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("lexicon_words") as batch:
        batch.alter_column(
            "category",
            existing_type=sa.String(16),
            type_=sa.String(32),
            existing_nullable=False,
        )
    with op.batch_alter_table("lexicon_allow") as batch:
        batch.add_column(sa.Column("source_log_id", BigId, nullable=True))
        batch.create_foreign_key(
            SOURCE_FK, "moderation_logs", ["source_log_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("lexicon_allow") as batch:
        batch.drop_constraint(SOURCE_FK, type_="foreignkey")
        batch.drop_column("source_log_id")
    words = sa.table("lexicon_words", sa.column("category", sa.String(32)))
    op.execute(
        words.update().where(words.c.category.not_in(BUILT_IN_CATEGORIES)).values(category="custom")
    )
    with op.batch_alter_table("lexicon_words") as batch:
        batch.alter_column(
            "category",
            existing_type=sa.String(32),
            type_=sa.String(16),
            existing_nullable=False,
        )
