"""Alembic environment: the connection is handed in by `app.migrate` (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from app.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `app.migrate` runs migrations
    raise RuntimeError("run migrations with `wecom-mod migrate`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
