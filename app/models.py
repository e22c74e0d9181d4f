"""Tables: the callback inbox, the moderation log and the outbox of actions to carry out.

The schema itself is created by the Alembic migrations in `migrations/`; these classes must match
them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "InboxEvent", "ModerationLog", "OutboxAction", "UtcDateTime"]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite autoincrements only INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class InboxEvent(Base):
    """One accepted callback delivery, stored before WeCom gets its 200."""

    __tablename__ = "inbox_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # app | aibot
    kind: Mapped[str] = mapped_column(String(64))  # e.g. aibot_text, change_external_chat
    chat_id: Mapped[str] = mapped_column(String(128), default="")
    sender: Mapped[str] = mapped_column(String(128), default="")
    # The decrypted callback. Cleared once a message has been processed: message text is kept
    # only in the moderation log, and only for flagged messages.
    plaintext: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_inbox_events_status_id", "status", "id"),)


class ModerationLog(Base):
    """One flagged message: what was found, what was decided."""

    __tablename__ = "moderation_logs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    inbox_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_events.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128), default="")  # "" for a 1:1 chat
    user_id: Mapped[str] = mapped_column(String(128), default="")
    message_id: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    findings: Mapped[list[Any]] = mapped_column(JSON)
    verdict: Mapped[str] = mapped_column(String(16))  # warn | alert | log
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_moderation_logs_created", "created_at", "id"),
        Index("ix_moderation_logs_chat_created", "chat_id", "created_at"),
        Index("ix_moderation_logs_user_created", "user_id", "created_at"),
    )


class OutboxAction(Base):
    """One outbound call to make (a warning, an alert, a reply), stored before it is made."""

    __tablename__ = "outbox_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    moderation_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderation_logs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))  # aibot_reply | app_message
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending → sending → sent; or → dead after the last attempt or a permanent error.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]  # while sending: another worker may retake it after
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbox_actions_status_due", "status", "next_attempt_at"),)
