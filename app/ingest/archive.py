"""The chat-archive poller: pulls the corp's archive into the inbox, one replica at a time.

A pass (`ArchivePoller.poll`, run by the archive worker every ARCHIVE_POLL_SECONDS and at once
on `msgaudit_notify`):

1. Take or renew the corp's lease (`archive_leases`); a replica without it does nothing.
2. Read the cursor, `GetChatData(cursor, ARCHIVE_BATCH)` in a worker thread (the SDK blocks).
3. Open every record in a thread (RSA for the random key, DecryptData, `parse_archive_message`).
4. In ONE transaction: renew the lease (the fence: a replica that lost it cannot commit),
   store each message as an inbox event keyed `archive:<msgid>`, record each unreadable record
   in `archive_record_failures`, and move the cursor to the batch's last seq.

So a crash repeats at most one batch, and the inbox's UNIQUE key drops what was already stored.
Records that are not moderated (`app.judging.processing.archive_skip_reason`: 1:1 chats unless
ARCHIVE_INCLUDE_DIRECT, robots, company switches) are not stored at all; the cursor moves past
them. A full batch is followed by the next one in the same pass, up to `max_batches`.

Failures: an unreadable record (no key for its version, undecryptable, malformed) is logged with
seq, msgid and reason and kept in the table, never fatal for the batch. A retryable SDK error
(10001–10003, a garbled answer) backs off from ARCHIVE_POLL_SECONDS up to 5 minutes; a
configuration error (library missing, keys unusable, IP not allowed, wrong secret) is logged as
one clear line and retried every 5 minutes. Nothing logged ever holds the archive secret, a key
or a message.

`KeyDirectory` reads ARCHIVE_KEYS_DIR again whenever its `.pem` files change, so a key version
added in the admin console is used without a restart.

`GroupDirectory` is the poller's follow-up: the rooms it stores messages for are looked up, off
the pulling and moderating path, with `msgaudit/groupchat/get` (internal groups) or
`externalcontact/groupchat/get` (customer groups), and kept in `groups` (kind, name, owner).
The archive record does not say which kind a group is; a room where an external contact
(wm…/wo…) speaks or is among the recipients is tried as a customer group first, any other as
an internal one first, and the other API is tried when the first refuses. A lookup that fails
leaves the kind "unknown" and is tried again an hour later.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import WecomModError
from app.judging.events import ARCHIVE_KIND, archive_skip_reason
from app.models import GroupKind
from app.repositories import archive as repo
from app.repositories import groups as groups_repo
from app.repositories import inbox as inbox_repo
from app.repositories import notifications
from bot.archive import (
    ArchiveKeys,
    ArchiveMessage,
    ChatKind,
    RecordError,
    decrypt_record,
    parse_archive_message,
)
from bot.client import GroupInfo, WeComClient
from bot.errors import (
    ApiErrcodeError,
    ArchiveError,
    ArchiveKeysInvalid,
    ArchiveRecordError,
    RateLimited,
    TokenExpired,
    WeComApiError,
)
from bot.finance_sdk import EncryptedRecord, FinanceSdk

__all__ = [
    "ArchivePoller",
    "ArchiveSource",
    "GroupDirectory",
    "KeyDirectory",
    "LeaseLost",
    "PollerConfig",
    "dedupe_key",
    "finance_sdk_opener",
    "new_holder_id",
    "store_message",
]

log = logging.getLogger(__name__)

SOURCE = "archive"  # inbox source of archive records
MAX_BACKOFF_SECONDS = 300.0  # longest wait after retryable SDK errors in a row
CONFIGURATION_RETRY_SECONDS = 300.0  # wait after a configuration error
_MAX_KEY_LENGTH = 200  # inbox_events.dedupe_key


class ArchiveSource(Protocol):
    """What the poller needs of the SDK: `FinanceSdk` after `init`, or a fake in tests."""

    def get_chat_data(
        self, seq: int, limit: int = ..., *, proxy: str = "", passwd: str = "", timeout: int = 10
    ) -> list[EncryptedRecord]: ...

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


# Opens an initialised source. Blocking (it loads the library): called in a worker thread.
SourceOpener = Callable[[], ArchiveSource]


def finance_sdk_opener(path: Path | None, corp_id: str, secret: str) -> SourceOpener:
    """The real SDK: load the library (`path`, or pyweworkfinance's build) and `Init` it."""

    def open_sdk() -> ArchiveSource:
        sdk = FinanceSdk(path)
        try:
            sdk.init(corp_id, secret)
        except BaseException:
            sdk.close()
            raise
        return sdk

    return open_sdk


def new_holder_id() -> str:
    """This replica's name in the lease: host, process and a random part."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dedupe_key(msgid: str) -> str:
    """The inbox key of an archive message: its msgid (hashed if it would not fit)."""
    key = f"{SOURCE}:{msgid}"
    if len(key) <= _MAX_KEY_LENGTH:
        return key
    return f"{SOURCE}:sha256:{hashlib.sha256(msgid.encode('utf-8')).hexdigest()}"


async def store_message(
    session: AsyncSession, message: ArchiveMessage, plaintext: Any, *, now: datetime
) -> int | None:
    """Store one decrypted record as an inbox event; None when its msgid is already there."""
    row = inbox_repo.pending_row(
        dedupe_key=dedupe_key(message.msgid),
        source=SOURCE,
        kind=ARCHIVE_KIND,
        chat_id=message.roomid,
        sender=message.sender,
        plaintext=json.dumps(plaintext, ensure_ascii=False, separators=(",", ":")),
        now=now,
    )
    return await inbox_repo.store_once(session, row)


class LeaseLost(WecomModError):
    """Another replica took the archive lease while this one was pulling a batch."""


class KeyDirectory:
    """The private keys in ARCHIVE_KEYS_DIR, read again when its `.pem` files change.

    A change that cannot be read is logged and the keys read before stay in use.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._keys: ArchiveKeys | None = None

    def _current_signature(self) -> tuple[tuple[str, int, int], ...]:
        try:
            entries = [
                (entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                for entry in os.scandir(self._path)
                if entry.name.lower().endswith(".pem")
            ]
        except OSError:
            return ()
        return tuple(sorted(entries))

    def keys(self) -> ArchiveKeys:
        """The keys; raises `ArchiveKeysInvalid` when none could ever be read."""
        signature = self._current_signature()
        if self._keys is not None and signature == self._signature:
            return self._keys
        try:
            keys = ArchiveKeys.from_directory(self._path)
        except ArchiveKeysInvalid as exc:
            if self._keys is None:
                raise
            if signature != self._signature:
                log.error(
                    "ARCHIVE_KEYS_DIR changed but cannot be read (%s); still using versions %s",
                    exc,
                    ", ".join(map(str, self._keys.versions)),
                )
                self._signature = signature
            return self._keys
        if self._keys is not None and keys.versions != self._keys.versions:
            log.info("archive keys reloaded: versions %s", ", ".join(map(str, keys.versions)))
        self._keys, self._signature = keys, signature
        return keys


@dataclass(frozen=True, slots=True)
class PollerConfig:
    corp_id: str
    batch: int = 1000  # records per GetChatData call, 1..1000
    lease_seconds: float = 60.0
    poll_seconds: float = 15.0  # the timer; the first backoff step
    include_direct: bool = False  # store 1:1 chats too
    timeout: int = 10  # seconds GetChatData may wait on the network
    max_batches: int = 50  # batches in one pass when the archive has a backlog


@dataclass(frozen=True, slots=True)
class _Opened:
    """One record of a batch, opened: a message with its plaintext, or why it is unreadable."""

    record: EncryptedRecord
    message: ArchiveMessage | None = None
    plaintext: Any = None
    error: ArchiveRecordError | None = None


def _open_batch(
    source: ArchiveSource, keys: ArchiveKeys, records: Sequence[EncryptedRecord]
) -> list[_Opened]:
    """Decrypt and parse a batch (CPU-bound: run in a thread); failures stay per record."""
    opened = []
    for record in records:
        result = decrypt_record(source, keys, record)
        if isinstance(result, RecordError):
            opened.append(_Opened(record, error=result.error))
            continue
        plaintext = dict(result.plaintext)
        try:
            message = parse_archive_message(plaintext)
        except ArchiveRecordError as exc:
            opened.append(_Opened(record, error=exc))
            continue
        opened.append(_Opened(record, message=message, plaintext=plaintext))
    return opened


@dataclass(slots=True)
class BatchResult:
    records: int = 0  # records GetChatData returned
    stored: int = 0  # new inbox events
    duplicates: int = 0  # already in the inbox
    skipped: int = 0  # not moderated, not stored (1:1, robots, switches)
    failed: int = 0  # unreadable, recorded


class ArchivePoller:
    """Pulls one corp's archive into the inbox (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: PollerConfig,
        *,
        open_source: SourceOpener,
        keys: Callable[[], ArchiveKeys],
        clock: Callable[[], datetime],
        holder: str | None = None,
        on_stored: Callable[[], None] = lambda: None,
        on_rooms: Callable[[dict[str, ChatKind]], None] = lambda rooms: None,
    ) -> None:
        self._sessions = sessions
        self.config = config
        self._open_source = open_source
        self._keys = keys
        self._clock = clock
        self.holder = holder or new_holder_id()
        self._on_stored = on_stored
        self._on_rooms = on_rooms
        self._source: ArchiveSource | None = None
        self._not_before: datetime | None = None
        self._transient_failures = 0
        self._holding = False
        self.last: BatchResult | None = None  # the last batch stored (for tests and logs)
        self.totals = BatchResult()  # every batch this replica stored, added up (`app.metrics`)
        # Start of the last pass that pulled the archive to its end; None: none yet.
        self.caught_up_at: datetime | None = None

    @property
    def holding(self) -> bool:
        """Whether this replica held the lease at its last pass."""
        return self._holding

    async def poll(self) -> int:
        """One pass; returns the number of new inbox events. Archive errors are handled here
        (logged, backed off); database errors propagate to the worker, which retries."""
        now = self._clock()
        if self._not_before is not None and now < self._not_before:
            return 0
        if not await self._take_lease(now):
            return 0
        stored = 0
        try:
            keys = self._keys()
            source = await self._ensure_source()
            for _ in range(self.config.max_batches):
                result = await self._pull_batch(source, keys)
                stored += result.stored
                if result.records < self.config.batch:
                    self.caught_up_at = now
                    break
        except LeaseLost:
            self._holding = False
            log.warning("chat archive: the lease passed to another replica during a batch")
            return stored
        except ArchiveError as exc:
            self._failed(exc)
            return stored
        self._transient_failures = 0
        self._not_before = None
        return stored

    async def close(self) -> None:
        """Release the lease (another replica takes over at once) and close the SDK."""
        if self._holding:
            try:
                async with self._sessions() as session, session.begin():
                    await repo.release_lease(
                        session, self.config.corp_id, self.holder, now=self._clock()
                    )
            except Exception as exc:  # shutting down: the lease then simply expires
                log.warning("chat archive: could not release the lease: %s", exc)
            self._holding = False
        await self._close_source()

    async def _take_lease(self, now: datetime) -> bool:
        async with self._sessions() as session, session.begin():
            held = await repo.take_lease(
                session,
                self.config.corp_id,
                self.holder,
                now=now,
                seconds=self.config.lease_seconds,
            )
        if held != self._holding:
            if held:
                log.info("chat archive: this replica (%s) pulls the archive now", self.holder)
            else:
                log.info("chat archive: another replica holds the lease; not pulling")
                await self._close_source()
        self._holding = held
        return held

    async def _ensure_source(self) -> ArchiveSource:
        if self._source is None:
            self._source = await asyncio.to_thread(self._open_source)
        return self._source

    async def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            await asyncio.to_thread(source.close)

    def _failed(self, exc: ArchiveError) -> None:
        now = self._clock()
        if exc.retryable:
            self._transient_failures += 1
            delay = min(
                self.config.poll_seconds * 2 ** (self._transient_failures - 1),
                MAX_BACKOFF_SECONDS,
            )
            log.warning(
                "chat archive: %s (%d failure(s) in a row); retrying in %.0f s",
                exc,
                self._transient_failures,
                delay,
            )
        else:
            delay = CONFIGURATION_RETRY_SECONDS
            log.error(
                "chat archive: configuration error, nothing is pulled until it is fixed "
                "(retrying in %.0f s): %s: %s",
                delay,
                type(exc).__name__,
                exc,
            )
            # Built again next time: a new library or secret needs a new handle anyway.
            source, self._source = self._source, None
            if source is not None:
                source.close()
        self._not_before = now + timedelta(seconds=delay)

    async def _pull_batch(self, source: ArchiveSource, keys: ArchiveKeys) -> BatchResult:
        config = self.config
        async with self._sessions() as session:
            after = await repo.cursor(session, config.corp_id)
        records = await asyncio.to_thread(
            source.get_chat_data, after, config.batch, timeout=config.timeout
        )
        result = BatchResult(records=len(records))
        if not records:
            return result
        opened = await asyncio.to_thread(_open_batch, source, keys, records)
        rooms: dict[str, ChatKind] = {}
        now = self._clock()
        async with self._sessions() as session, session.begin():
            if not await repo.renew_lease(
                session, config.corp_id, self.holder, now=now, seconds=config.lease_seconds
            ):
                raise LeaseLost
            if await repo.cursor(session, config.corp_id) != after:
                raise LeaseLost  # another replica stored this batch in the meantime
            for item in opened:
                if item.error is not None:
                    result.failed += 1
                    await self._record_failure(session, item.record, item.error, now)
                    continue
                message = item.message
                assert message is not None  # noqa: S101 - _Opened holds one or the other
                if archive_skip_reason(message, include_direct=config.include_direct):
                    result.skipped += 1
                    continue
                if await store_message(session, message, item.plaintext, now=now) is None:
                    result.duplicates += 1
                else:
                    result.stored += 1
                if message.roomid:
                    rooms.setdefault(message.roomid, message.chat_kind)
                    if message.chat_kind is ChatKind.EXTERNAL_GROUP:
                        rooms[message.roomid] = ChatKind.EXTERNAL_GROUP
            last_seq = max(record.seq for record in records)
            await repo.advance_cursor(session, config.corp_id, last_seq, now=now)
            if result.stored:  # every replica's inbox worker wakes on commit (PostgreSQL)
                await notifications.notify(session, notifications.INBOX_CHANNEL)
        self.last = result
        for name in ("records", "stored", "duplicates", "skipped", "failed"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(result, name))
        log.info(
            "chat archive: seq %d → %d: %d record(s), %d stored, %d already stored, "
            "%d not moderated, %d unreadable",
            after,
            last_seq,
            result.records,
            result.stored,
            result.duplicates,
            result.skipped,
            result.failed,
        )
        if result.stored:
            self._on_stored()
        if rooms:
            self._on_rooms(rooms)
        return result

    async def _record_failure(
        self,
        session: AsyncSession,
        record: EncryptedRecord,
        error: ArchiveRecordError,
        now: datetime,
    ) -> None:
        log.warning(
            "chat archive: record seq %d msgid %s (publickey_ver %d) skipped: %s: %s",
            record.seq,
            record.msgid or "-",
            record.publickey_ver,
            type(error).__name__,
            error.reason,
        )
        await repo.record_failure(
            session,
            corp_id=self.config.corp_id,
            seq=record.seq,
            msgid=record.msgid,
            publickey_ver=record.publickey_ver,
            error=type(error).__name__,
            reason=error.reason,
            now=now,
        )


class GroupDirectory:
    """Group info for the rooms the poller finds (see the module docstring)."""

    RETRY_SECONDS = 3600.0  # a room whose lookup failed is tried again after this
    MAX_REMEMBERED = 100_000  # rooms remembered as done; forgotten all at once beyond

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: WeComClient,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._pending: dict[str, ChatKind] = {}
        self._done: set[str] = set()
        self._failed_at: dict[str, datetime] = {}

    def note(self, rooms: dict[str, ChatKind]) -> None:
        """Rooms seen in a stored batch; those not looked up yet are queued."""
        now = self._clock()
        for room, hint in rooms.items():
            if room in self._done:
                continue
            failed_at = self._failed_at.get(room)
            if failed_at is not None and now - failed_at < timedelta(seconds=self.RETRY_SECONDS):
                continue
            if self._pending.get(room) is not ChatKind.EXTERNAL_GROUP:
                self._pending[room] = hint

    async def resolve_pending(self) -> int:
        """Look up every queued room; returns how many groups were filled in."""
        filled = 0
        while self._pending:
            room = next(iter(self._pending))
            hint = self._pending.pop(room)
            if await self._resolve(room, hint):
                filled += 1
        return filled

    async def _resolve(self, room: str, hint: ChatKind) -> bool:
        async with self._sessions() as session:
            group = await groups_repo.get(session, room)
        if group is not None and group.kind != GroupKind.UNKNOWN:
            self._remember(room)
            return False
        try:
            info = await self._lookup(room, hint)
        except WeComApiError as exc:
            self._failed_at[room] = self._clock()
            log.warning(
                "group %s: no group info from WeCom (kind stays unknown, tried again in an "
                "hour): %s",
                room,
                exc,
            )
            return False
        now = self._clock()
        async with self._sessions() as session, session.begin():
            group = await groups_repo.ensure(session, room, now=now, kind=info.kind)
            group.name = info.name[:256]
            group.owner = info.owner[:128]
            if info.member_version:
                group.member_version = info.member_version[:64]
            group.updated_at = now
        self._remember(room)
        log.info("group %s is a %s group %r owned by %s", room, info.kind, info.name, info.owner)
        return True

    async def _lookup(self, room: str, hint: ChatKind) -> GroupInfo:
        lookups = [self._client.get_internal_archive_group, self._client.get_customer_group]
        if hint is ChatKind.EXTERNAL_GROUP:
            lookups.reverse()
        try:
            return await lookups[0](room)
        except ApiErrcodeError as first:
            # A busy, rate or token refusal says nothing about the group's kind; any other
            # errcode (e.g. 701008 "not an internal group") sends the question to the other API.
            if isinstance(first, RateLimited | TokenExpired) or first.errcode == -1:
                raise
            try:
                return await lookups[1](room)
            except ApiErrcodeError as second:
                raise second from first

    def _remember(self, room: str) -> None:
        if len(self._done) >= self.MAX_REMEMBERED:
            self._done.clear()
        self._done.add(room)
        self._failed_at.pop(room, None)
