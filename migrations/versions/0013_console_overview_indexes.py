"""The web console's overview counts a week of decisions and standing offences by reading
indexes alone: the moderation log's two time indexes carry the verdict and the mode, and a
partial index holds the standing (unpardoned) strikes by time with their rule and group. The
review queue (decisions not reviewed yet) has two partial indexes as small as the queue, by
time and by group, for its page and its size (counted up to 1001), however far back the
oldest unreviewed decision lies.

The log's indexes are rebuilt with the extra columns under their own names, so a log row still
costs the same number of index writes; the keyset pages read them as before.

An index alone answers only for rows on pages the visibility map marks all-visible, which
VACUUM does; PostgreSQL's autovacuum visits an insert-only table after 20 % more rows by
default (at a million log rows, the last 200,000 would be read from the table, most of a
week). On PostgreSQL the log and the strikes are therefore vacuumed after every
VACUUM_INSERTS rows plus 1 % of the table (only the new pages are visited).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

STANDING = sa.text("pardoned_at IS NULL")
REVIEW_QUEUE = sa.text("verdict IN ('remove', 'warn', 'alert') AND review IS NULL")
QUEUE_INDEXES = {
    "ix_moderation_logs_queue_created": ["created_at", "id"],
    "ix_moderation_logs_queue_chat": ["chat_id", "created_at", "id"],
}
VACUUM_INSERTS = 10_000
TABLES = ("moderation_logs", "strikes")


def _log_indexes(created: list[str], chat_created: list[str]) -> None:
    op.drop_index("ix_moderation_logs_created", table_name="moderation_logs")
    op.create_index("ix_moderation_logs_created", "moderation_logs", created)
    op.drop_index("ix_moderation_logs_chat_created", table_name="moderation_logs")
    op.create_index("ix_moderation_logs_chat_created", "moderation_logs", chat_created)


def upgrade() -> None:
    _log_indexes(
        ["created_at", "id", "verdict", "mode"], ["chat_id", "created_at", "verdict", "mode"]
    )
    for name, columns in QUEUE_INDEXES.items():
        op.create_index(
            name,
            "moderation_logs",
            columns,
            postgresql_where=REVIEW_QUEUE,
            sqlite_where=REVIEW_QUEUE,
        )
    op.create_index(
        "ix_strikes_standing_created",
        "strikes",
        ["created_at", "chat_id", "rule"],
        postgresql_where=STANDING,
        sqlite_where=STANDING,
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(
                f"ALTER TABLE {table} SET (autovacuum_vacuum_insert_threshold = "
                f"{VACUUM_INSERTS}, autovacuum_vacuum_insert_scale_factor = 0.01)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(
                f"ALTER TABLE {table} RESET (autovacuum_vacuum_insert_threshold, "
                "autovacuum_vacuum_insert_scale_factor)"
            )
    op.drop_index("ix_strikes_standing_created", table_name="strikes")
    for name in QUEUE_INDEXES:
        op.drop_index(name, table_name="moderation_logs")
    _log_indexes(["created_at", "id"], ["chat_id", "created_at"])
