"""The moderation log filtered by rule reads an index: `moderation_log_rules` holds, per log row,
each rule its findings name (`reports.finding_rule`, through `moderation_log.rules_of`, the
same function the service writes them with), with the row's created_at, indexed by (rule,
created_at, log id) for the keyset pages. Before, the filter read every row's findings as JSON.

Existing rows are filled in batches of BATCH log rows read by id (each batch one read and one
multi-row insert, so memory stays flat however large the log); the index is built after the
fill, in one pass. docs/operations.md gives the time per million rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models import UtcDateTime
from app.repositories.moderation_log import rules_of

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BATCH = 10_000

logs = sa.table(
    "moderation_logs",
    sa.column("id", BigId),
    sa.column("created_at", UtcDateTime()),
    sa.column("findings", sa.JSON()),
)
log_rules = sa.table(
    "moderation_log_rules",
    sa.column("moderation_log_id", BigId),
    sa.column("rule", sa.Text()),
    sa.column("created_at", UtcDateTime()),
)


def upgrade() -> None:
    op.create_table(
        "moderation_log_rules",
        sa.Column(
            "moderation_log_id",
            BigId,
            sa.ForeignKey("moderation_logs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("moderation_log_id", "rule"),
    )
    fill()
    op.create_index(
        "ix_moderation_log_rules_rule_created",
        "moderation_log_rules",
        ["rule", "created_at", "moderation_log_id"],
    )


def fill(batch: int = BATCH) -> int:
    """The rules of every existing log row, `batch` rows at a time; returns the rows read."""
    connection = op.get_bind()
    last, read = 0, 0
    while True:
        rows = connection.execute(
            sa.select(logs.c.id, logs.c.created_at, logs.c.findings)
            .where(logs.c.id > last)
            .order_by(logs.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return read
        values = [
            {"moderation_log_id": row_id, "rule": rule, "created_at": created_at}
            for row_id, created_at, findings in rows
            for rule in rules_of(findings)
        ]
        if values:
            connection.execute(sa.insert(log_rules), values)
        last, read = rows[-1][0], read + len(rows)


def downgrade() -> None:
    op.drop_index("ix_moderation_log_rules_rule_created", table_name="moderation_log_rules")
    op.drop_table("moderation_log_rules")
