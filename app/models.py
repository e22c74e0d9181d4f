"""Tables: the callback inbox, the moderation log, the outbox of actions to carry out, the
lexicon (words, allow-list phrases, its version, and the word files imported), and the chat
archive's cursor, lease and unreadable records; the audit trail of moderators' changes; and the
community-health rollups (`app.health`).

The schema itself is created by the Alembic migrations in `migrations/`; these classes must match
them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ArchiveCursor",
    "ArchiveLease",
    "ArchiveRecordFailure",
    "AuditEntry",
    "Base",
    "ContactProfile",
    "Group",
    "GroupKind",
    "GroupMember",
    "HealthDay",
    "HealthGroup",
    "HealthMemberDay",
    "HealthRefresh",
    "HealthSnapshot",
    "InboxEvent",
    "JoinScreening",
    "LexiconAllow",
    "LexiconImport",
    "LexiconState",
    "LexiconWord",
    "MemberReport",
    "MessageCopy",
    "MessageMeta",
    "ModerationLog",
    "ModerationLogRule",
    "OutboxAction",
    "Strike",
    "UtcDateTime",
]


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
    verdict: Mapped[str] = mapped_column(String(16))  # remove | warn | alert | exempt | log
    reason: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(16), default="enforce", server_default="enforce")
    step: Mapped[str | None] = mapped_column(String(16))  # the ladder step; None: no offence
    strikes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # after this
    actions: Mapped[list[Any] | None] = mapped_column(JSON)  # decided (also in shadow mode)
    # When the sender recalled the message (a chat-archive revoke); None: not recalled.
    recalled_at: Mapped[datetime | None]
    # A moderator's review: confirmed | overturned; None: not reviewed (at most one review).
    review: Mapped[str | None] = mapped_column(String(16))
    reviewed_by: Mapped[str | None] = mapped_column(String(128))
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # (created_at, id) for the keyset pages; verdict and mode so that the console's
        # overview counts a window's decisions from the index alone (everyone's, one group's).
        Index("ix_moderation_logs_created", "created_at", "id", "verdict", "mode"),
        Index("ix_moderation_logs_chat_created", "chat_id", "created_at", "verdict", "mode"),
        Index("ix_moderation_logs_user_created", "user_id", "created_at"),
        Index("ix_moderation_logs_message_id", "message_id"),
    )


# The console's review queue: decisions a moderator should look at that no one has reviewed
# yet. Two partial indexes as small as the queue: newest first for everyone, and by group.
REVIEW_QUEUE_VERDICTS = ("remove", "warn", "alert")
_queued = ModerationLog.verdict.in_(REVIEW_QUEUE_VERDICTS) & ModerationLog.review.is_(None)
Index(
    "ix_moderation_logs_queue_created",
    ModerationLog.created_at,
    ModerationLog.id,
    postgresql_where=_queued,
    sqlite_where=_queued,
)
Index(
    "ix_moderation_logs_queue_chat",
    ModerationLog.chat_id,
    ModerationLog.created_at,
    ModerationLog.id,
    postgresql_where=_queued,
    sqlite_where=_queued,
)


class ModerationLogRule(Base):
    """One rule a moderation-log row's findings name (`reports.finding_rule`: `word.gambling`,
    `flood.rate` …), once per row however many findings name it. Written in the log row's
    transaction (`repositories.moderation_log.add`), so the log filtered by rule reads an index
    instead of every row's findings."""

    __tablename__ = "moderation_log_rules"

    moderation_log_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("moderation_logs.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime]  # the log row's own, copied so that the index keeps its order

    __table_args__ = (
        # A rule's rows in the log's keyset order: read backwards for the pages (newest
        # first), forwards for the CSV export (oldest first).
        Index("ix_moderation_log_rules_rule_created", "rule", "created_at", "moderation_log_id"),
    )


class GroupKind(StrEnum):
    """What kind of group chat a group is, as WeCom lets the service act in it
    (`app.groups.capabilities` says what each allows). Stored as these strings."""

    CUSTOMER = "customer"  # 客户群: a customer (external) group
    INTERNAL = "internal"  # an internal group (webhook robot, smart bot)
    APP_CREATED = "app_created"  # created by this app (appchat)
    UNKNOWN = "unknown"  # seen only through the smart bot so far


class Group(Base):
    """A group chat the service has seen, what it can do there, and its own settings."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    owner: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[GroupKind] = mapped_column(
        # the migrations' VARCHAR(16) holding the values: no CHECK, no database enum type
        Enum(
            GroupKind,
            native_enum=False,
            create_constraint=False,
            length=16,
            values_callable=lambda kinds: [kind.value for kind in kinds],
            validate_strings=True,
        ),
        default=GroupKind.UNKNOWN,
    )
    smart_bot: Mapped[bool] = mapped_column(Boolean, default=False)  # the smart bot is in it
    webhook_key: Mapped[str | None] = mapped_column(Text)  # encrypted (app.secret_box)
    rules_text: Mapped[str] = mapped_column(Text, default="")
    welcome_template: Mapped[str] = mapped_column(Text, default="")
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # GroupPolicy overrides
    moderators: Mapped[list[Any]] = mapped_column(JSON, default=list)  # user ids
    member_version: Mapped[str] = mapped_column(String(64), default="")
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # When the members who joined and are not yet welcomed get their (merged) welcome.
    welcome_due_at: Mapped[datetime | None]
    # When the member list is to be fetched from WeCom (first sight, or a lost callback).
    sync_due_at: Mapped[datetime | None]
    # A customer group's welcome template in the corp's library, and the sha256 of its text.
    welcome_template_id: Mapped[str] = mapped_column(String(128), default="", server_default="")
    welcome_template_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")
    owner_told_at: Mapped[datetime | None]  # when the owner was told to attach the template
    # When the member list was last taken from WeCom; None: never, so the next sync is the
    # baseline (whoever it lists was there already and is not welcomed).
    members_synced_at: Mapped[datetime | None]
    # Made by the console's sandbox (`app.sandbox.live`): never counted in statistics, health,
    # digests or exports, its actions delivered to `sandbox_posts`, never to WeCom.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_groups_welcome_due", "welcome_due_at"),
        Index("ix_groups_sync_due", "sync_due_at"),
        Index(
            "ix_groups_sandbox",
            "chat_id",
            postgresql_where=text("sandbox"),
            sqlite_where=text("sandbox"),
        ),
    )


class GroupMember(Base):
    """A member of a group as far as the service has seen them (messages, joins)."""

    __tablename__ = "group_members"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    first_seen_at: Mapped[datetime]
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    messages: Mapped[int] = mapped_column(Integer, default=0)  # messages seen from them
    last_message_at: Mapped[datetime | None]
    name: Mapped[str] = mapped_column(String(256), default="", server_default="")  # as WeCom has it
    welcomed_at: Mapped[datetime | None]  # None with joined_at set: a welcome is due

    __table_args__ = (
        UniqueConstraint("chat_id", "user_id", name="uq_group_members_chat_user"),
        Index("ix_group_members_user_joined", "user_id", "joined_at"),
    )


class MessageMeta(Base):
    """What the flood windows need of a group message: never its text (only a hash of the
    folded text). Pruned once older than any window."""

    __tablename__ = "message_meta"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(128))
    sent_at: Mapped[datetime]
    msg_type: Mapped[str] = mapped_column(String(16))
    length: Mapped[int] = mapped_column(Integer)  # characters of the original text
    text_hash: Mapped[str] = mapped_column(String(32))  # moderation.flood.text_fingerprint
    # The folded text of a message of at most two folded characters (moderation.flood.
    # short_text), "" otherwise: a contact spelled out over one-character messages.
    short_text: Mapped[str] = mapped_column(String(8), default="", server_default="")

    __table_args__ = (
        # The flood rules read a member's own messages and copies of one text (activity.py),
        # and the wave rule how many groups got a text.
        Index("ix_message_meta_chat_sender_sent", "chat_id", "sender", "sent_at"),
        Index("ix_message_meta_chat_hash_sent", "chat_id", "text_hash", "sent_at"),
        Index("ix_message_meta_hash_sent", "text_hash", "sent_at"),
        Index("ix_message_meta_sent", "sent_at"),
    )


class MessageCopy(Base):
    """A group message as one channel delivered it (the smart bot, the chat archive), so that
    the same message arriving through the other channel, with another id, is recognised and
    acted on once (`app.judging.cross_channel`). Never the text: a hash of its folded words. Pruned
    after a day."""

    __tablename__ = "message_copies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(128))
    text_hash: Mapped[str] = mapped_column(String(32))  # app.judging.cross_channel.copy_fingerprint
    sent_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # aibot | archive
    inbox_event_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # the one acted on
    # The other channel's copy once it arrived (its inbox event); None: not seen yet.
    twin_event_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_message_copies_chat_sender_sent", "chat_id", "sender", "sent_at"),
        Index("ix_message_copies_sent", "sent_at"),
    )


class Strike(Base):
    """One offence of a member in a group; it stands until it decays or is pardoned."""

    __tablename__ = "strikes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    moderation_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderation_logs.id", ondelete="SET NULL"), unique=True
    )
    rule: Mapped[str] = mapped_column(String(64))  # the strictest rule of the offence
    shadow: Mapped[bool] = mapped_column(Boolean)  # counted only while the group is in shadow
    pardoned_at: Mapped[datetime | None]
    pardoned_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index("ix_strikes_chat_user_created", "chat_id", "user_id", "created_at"),)


# The standing strikes by time with their group and rule: the console's overview counts a
# window's offences by rule from this index alone.
_standing = Strike.pardoned_at.is_(None)
Index(
    "ix_strikes_standing_created",
    Strike.created_at,
    Strike.chat_id,
    Strike.rule,
    postgresql_where=_standing,
    sqlite_where=_standing,
)


class MemberReport(Base):
    """A member's `/report` of another member (or of the group, target ""); enough reports on
    the same member alert the moderators."""

    __tablename__ = "member_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    reporter: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(128))  # "" when no member was named
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    alerted_at: Mapped[datetime | None]  # when this report's wave alerted the moderators

    __table_args__ = (
        Index("ix_member_reports_chat_target_created", "chat_id", "target", "created_at"),
    )


class OutboxAction(Base):
    """One outbound call to make (a warning, an alert, a reply), stored before it is made."""

    __tablename__ = "outbox_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    moderation_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderation_logs.id", ondelete="CASCADE"), index=True
    )
    # aibot_reply | app_message | appchat_send | appchat_remove | webhook_send
    kind: Mapped[str] = mapped_column(String(32))
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


class SandboxPost(Base):
    """What happened in a sandbox group as its page shows it: what the sandbox sent (a
    member's message, `where` member; a join, join) and what the outbox delivered instead of
    calling WeCom (a text shown in the group, group; an app message to moderators,
    moderators; a removal, removal; anything else, other)."""

    __tablename__ = "sandbox_posts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    outbox_action_id: Mapped[int | None] = mapped_column(BigId)
    moderation_log_id: Mapped[int | None] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(32))  # the outbox action's kind
    # member | join (what the sandbox sent) | group | moderators | removal | other (delivered)
    where: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(128), default="", server_default="")  # member
    # a member's message's id (its log row's message_id), "" for anything else
    message_id: Mapped[str] = mapped_column(String(200), default="", server_default="")
    to_users: Mapped[list[Any]] = mapped_column(JSON, default=list)  # an app message's userids
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_sandbox_posts_chat_id", "chat_id", "id"),)


class LexiconWord(Base):
    """One sensitive word. A word is identified by its folded form and its scope."""

    __tablename__ = "lexicon_words"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    word: Mapped[str] = mapped_column(String(256))  # as given
    folded: Mapped[str] = mapped_column(String(256))  # moderation.fold(word)
    # moderation.Category: a built-in value (politics … custom) or a list's own label (涉毒)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))  # block | review | log
    mode: Mapped[str] = mapped_column(String(16))  # fuzzy | folded | exact
    scope: Mapped[str] = mapped_column(String(128), default="")  # "" = every group; a chat id
    added_by: Mapped[str] = mapped_column(String(128), default="")
    added_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(1024))  # file:<path> | api | cli | command

    __table_args__ = (UniqueConstraint("folded", "scope", name="uq_lexicon_words_folded_scope"),)


class LexiconAllow(Base):
    """One allow-list phrase: lexicon hits inside it do not count."""

    __tablename__ = "lexicon_allow"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phrase: Mapped[str] = mapped_column(String(256))  # as given
    folded: Mapped[str] = mapped_column(String(256))
    scope: Mapped[str] = mapped_column(String(128), default="")
    added_by: Mapped[str] = mapped_column(String(128), default="")
    added_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(1024))
    # The moderation log row whose overturn added the phrase; None: added by hand or from a file.
    source_log_id: Mapped[int | None] = mapped_column(
        BigId,
        ForeignKey(
            "moderation_logs.id", ondelete="SET NULL", name="fk_lexicon_allow_source_log_id"
        ),
    )

    __table_args__ = (UniqueConstraint("folded", "scope", name="uq_lexicon_allow_folded_scope"),)


class LexiconState(Base):
    """The single row (id 1) whose `version` every lexicon change bumps in its transaction;
    replicas poll it to know when to rebuild their matcher."""

    __tablename__ = "lexicon_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)  # 0 = never changed
    updated_at: Mapped[datetime]


class LexiconImport(Base):
    """One import of a word or allow-list file: what content (sha256) came from where."""

    __tablename__ = "lexicon_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # words | allow
    origin: Mapped[str] = mapped_column(String(1024))  # file:<path>
    sha256: Mapped[str] = mapped_column(String(64))  # hex digest of the file's bytes
    imported_at: Mapped[datetime]
    imported_by: Mapped[str] = mapped_column(String(128), default="")
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_lexicon_imports_kind_origin", "kind", "origin", "id"),)


class ArchiveCursor(Base):
    """How far the chat archive has been read, per corp: every record up to `seq` is in the
    inbox or in `archive_record_failures`. Advanced in the transaction that stores a batch."""

    __tablename__ = "archive_cursors"

    corp_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)  # the last seq stored; 0: nothing read yet
    updated_at: Mapped[datetime]


class ArchiveLease(Base):
    """Which replica pulls the chat archive of a corp, until when. Taken and renewed with a
    conditional UPDATE (free, expired, or already ours); another replica takes it over once
    `expires_at` has passed."""

    __tablename__ = "archive_leases"

    corp_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))  # host:pid:random of the replica
    acquired_at: Mapped[datetime]  # when this holder took it
    expires_at: Mapped[datetime]


class ArchiveRecordFailure(Base):
    """An archive record that could not be read (no key for its version, undecryptable,
    malformed); the cursor moved past it. Never holds a key or any of the message."""

    __tablename__ = "archive_record_failures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    msgid: Mapped[str] = mapped_column(String(200), default="")
    publickey_ver: Mapped[int] = mapped_column(Integer, default=0)  # 0: the record had none
    error: Mapped[str] = mapped_column(String(64))  # bot.errors class, e.g. ArchiveKeyMissing
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("corp_id", "seq", name="uq_archive_record_failures_corp_seq"),
    )


class AuditEntry(Base):
    """One change a moderator made (a group's settings, a pardon, a review, the lexicon), who
    made it and through which channel. Written in the transaction of the change
    (`app.audit.record`); never holds a secret (a webhook key is noted as set or cleared)."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    # Who: "admin-token", "admin-token:mod-alice" (REST, with the `by` given), a userid (chat),
    # "cli:<--by>".
    actor: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(8))  # rest | chat | cli | console
    action: Mapped[str] = mapped_column(String(64))  # e.g. group.update, member.pardon
    target: Mapped[str] = mapped_column(String(300))  # e.g. group:<chat_id>, log:42
    details: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_audit_entries_at", "at", "id"),
        Index("ix_audit_entries_target", "target", "id"),
    )


class JoinScreening(Base):
    """One newcomer to screen (`app.screening`): due while `due_at` is set (a claimed one holds
    a lease there), done when `done_at` is."""

    __tablename__ = "join_screenings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # join | sync | manual
    requested_by: Mapped[str] = mapped_column(String(128), default="", server_default="")
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime | None]  # None: done (or given up)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16), default="", server_default="")
    moderation_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderation_logs.id", ondelete="SET NULL")
    )
    note: Mapped[str] = mapped_column(Text, default="", server_default="")  # why, in one line

    __table_args__ = (
        Index("ix_join_screenings_due", "due_at"),
        Index("ix_join_screenings_chat_user", "chat_id", "user_id"),
    )


class ContactProfile(Base):
    """What `externalcontact/get` said of an external contact, kept `SCREENING_CONTACT_TTL_HOURS`
    so that WeCom is asked at most once per contact in that time, whatever the replica."""

    __tablename__ = "contact_profiles"

    external_userid: Mapped[str] = mapped_column(String(128), primary_key=True)
    fetched_at: Mapped[datetime]
    known: Mapped[bool] = mapped_column(Boolean)  # False: not an external contact (84061)
    # externalcontact/get's type: 1 a WeChat user, 2 a WeCom user; 0 not known
    contact_type: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    name: Mapped[str] = mapped_column(String(256), default="", server_default="")
    corp_name: Mapped[str] = mapped_column(String(256), default="", server_default="")


class HealthDay(Base):
    """What one group did on one day (the service's HEALTH_TIMEZONE), counted as its messages
    were judged and its members came and went (`app.health.rollup`): counts only, never a
    text. Pruned after HEALTH_RETENTION_DAYS."""

    __tablename__ = "health_days"

    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # days since 1970-01-01, local
    member_messages: Mapped[int] = mapped_column(Integer, default=0)  # members (not exempt)
    staff_messages: Mapped[int] = mapped_column(Integer, default=0)  # moderators, owner, staff
    archive_messages: Mapped[int] = mapped_column(Integer, default=0)  # of both, via the archive
    joins: Mapped[int] = mapped_column(Integer, default=0)
    departures: Mapped[int] = mapped_column(Integer, default=0)  # left by themselves (QuitScene 0)
    removals: Mapped[int] = mapped_column(Integer, default=0)  # removed (QuitScene 1)
    offences_word: Mapped[int] = mapped_column(Integer, default=0)  # strictest: a lexicon word
    offences_flood: Mapped[int] = mapped_column(Integer, default=0)  # strictest: a flood rule
    offences_promo: Mapped[int] = mapped_column(Integer, default=0)  # strictest: promotion
    noisy: Mapped[int] = mapped_column(Integer, default=0)  # an offence or a flood signal
    promo_staff: Mapped[int] = mapped_column(Integer, default=0)  # promotional, by staff
    promo_members: Mapped[int] = mapped_column(Integer, default=0)  # promotional, by members

    __table_args__ = (Index("ix_health_days_day", "day"),)


class HealthMemberDay(Base):
    """One member's day in one group: messages, joins, departures, offences (for the
    concentration, newcomer and churn figures of `app.health.metrics`). Pruned with
    `HealthDay`."""

    __tablename__ = "health_member_days"

    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # as HealthDay.day
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    staff: Mapped[bool] = mapped_column(Boolean, default=False)  # exempt when last counted
    messages: Mapped[int] = mapped_column(Integer, default=0)
    joins: Mapped[int] = mapped_column(Integer, default=0)
    departures: Mapped[int] = mapped_column(Integer, default=0)  # QuitScene 0
    removals: Mapped[int] = mapped_column(Integer, default=0)  # QuitScene 1
    offences: Mapped[int] = mapped_column(Integer, default=0)  # judged offences (strikes)

    __table_args__ = (
        Index("ix_health_member_days_day", "day"),  # pruning
        # The health list's statements (app.repositories.health) read only these rows: the
        # members' messages (covering, for the concentration figures), joins, departures and
        # removals, offences.
        Index(
            "ix_health_member_days_spoke",
            "day",
            postgresql_include=["chat_id", "user_id", "messages"],
            postgresql_where=text("messages > 0 AND NOT staff"),
            sqlite_where=text("messages > 0 AND NOT staff"),
        ),
        Index(
            "ix_health_member_days_joins",
            "day",
            postgresql_where=text("joins > 0"),
            sqlite_where=text("joins > 0"),
        ),
        Index(
            "ix_health_member_days_left",
            "chat_id",
            "user_id",
            "day",
            postgresql_where=text("departures > 0 OR removals > 0"),
            sqlite_where=text("departures > 0 OR removals > 0"),
        ),
        Index(
            "ix_health_member_days_offences",
            "chat_id",
            "user_id",
            "day",
            postgresql_where=text("offences > 0"),
            sqlite_where=text("offences > 0"),
        ),
    )


class HealthGroup(Base):
    """What the health figures need of a group beyond the window: its last member message and
    how it is observed (the archive sees every message; the smart bot only @-mentions)."""

    __tablename__ = "health_groups"

    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_member_day: Mapped[int | None] = mapped_column(Integer)  # None: no member message yet
    last_archive_day: Mapped[int | None] = mapped_column(Integer)  # None: never via the archive
    last_aibot_day: Mapped[int | None] = mapped_column(Integer)  # None: never via the smart bot


class HealthSnapshot(Base):
    """A group's health over the default window as last computed for every group at once
    (`app.health.snapshot`): what the health list answers while it is fresh, filtered,
    ordered and paged by these columns (`app.repositories.health.snapshot_page`)."""

    __tablename__ = "health_snapshots"

    window_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    end_day: Mapped[int] = mapped_column(Integer)  # the window's last day (as HealthDay.day)
    computed_at: Mapped[datetime]
    grade: Mapped[str] = mapped_column(String(16))  # a Grade value, or "ungraded"
    grade_rank: Mapped[int] = mapped_column(Integer)  # 0 dead … 3 healthy, 4 ungraded
    # The figures the list sorts by (app.health.metrics.Figures); None: not defined.
    members: Mapped[int | None] = mapped_column(Integer)
    member_messages: Mapped[int | None] = mapped_column(Integer)
    staff_messages: Mapped[int | None] = mapped_column(Integer)
    days_since_member_message: Mapped[int | None] = mapped_column(Integer)
    quiet_days: Mapped[int | None] = mapped_column(Integer)
    speakers: Mapped[int | None] = mapped_column(Integer)
    speaker_ratio: Mapped[float | None] = mapped_column(Float)
    top2_share: Mapped[float | None] = mapped_column(Float)
    bus_factor: Mapped[int | None] = mapped_column(Integer)
    activation: Mapped[float | None] = mapped_column(Float)
    stay: Mapped[float | None] = mapped_column(Float)
    churn: Mapped[float | None] = mapped_column(Float)
    shop: Mapped[float | None] = mapped_column(Float)
    noise: Mapped[float | None] = mapped_column(Float)
    # every figure and the deciding figures (app.health.service.snapshot_row)
    health: Mapped[dict[str, Any]] = mapped_column(JSON)


class HealthRefresh(Base):
    """The single row (id 1) by which one replica at a time recomputes the health snapshots:
    taken with a conditional UPDATE (free or expired, and the last refresh due), like the
    archive's lease."""

    __tablename__ = "health_refresh"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(128), default="")  # host:pid:random; "" free
    expires_at: Mapped[datetime]  # until when the holder may be computing
    refreshed_at: Mapped[datetime | None]  # the last complete refresh; None: never
