"""One message, one judgement: the same group message through the smart bot and the chat archive.

A message that @-mentions the smart bot reaches the service twice when the chat archive is on:
as a smart-bot callback (with its `msgid`) and as an archive record (with another `msgid`). The
inbox keys differ, so each copy would be judged: two strikes, maybe two warnings, for one
message. `CopyRegister` recognises the second copy and acts on the message once, whichever
copy arrives first.

Two copies are the same message when they come through different channels (`aibot`,
`archive`), in the same chat, from the same sender, with the same folded text (@-mentions left
out: `copy_fingerprint`), sent within `WINDOW` of each other (the smart bot's copy is dated when
its callback arrived, the archive's by WeCom's `msgtime`; a callback retried by WeCom can come
a minute late). Each copy is paired with at most one copy of the other channel, the nearest in
time, so a member who really writes the same text twice gets both judged.

The first copy is judged as any message and leaves a `message_copies` row (in the transaction of
its judgement). The later copy is not judged, counted or added to the flood history; it may only
add what the first lacked: a smart-bot copy brings a `response_url`, so a warning the archive's
copy decided but could not post (recorded `skipped`, "no channel") is posted through it.

Replicas: on PostgreSQL the transaction that looks for a copy first takes an advisory lock per
(chat, sender) of its batch, in one sorted statement, so two replicas judging the two copies at
once take turns and the second sees the first's row; SQLite has one writer at a time (the inbox
claim takes the write lock first). Rows older than a day are pruned.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.groups.capabilities import NO_CHANNEL
from app.repositories import message_copies as copies_repo
from app.repositories import moderation_log as log_repo
from app.repositories import outbox as outbox_repo
from moderation import fold
from moderation.flood import folded_fingerprint

__all__ = [
    "CHANNELS",
    "WINDOW",
    "CopyRegister",
    "FirstCopy",
    "IncomingCopy",
    "copy_fingerprint",
]

log = logging.getLogger(__name__)

CHANNELS = frozenset({"aibot", "archive"})  # sources whose copies of a message are compared
WINDOW = timedelta(seconds=60)  # two copies sent further apart are different messages
KEEP = timedelta(days=1)  # how long copies are kept
PRUNE_EVERY = timedelta(minutes=10)
# `@name` followed by a space (WeCom puts U+2005 after a mention) or the end of the text.
_MENTION = re.compile(r"@[^\s@]+(?=[\s\u2005]|$)")


class IncomingCopy(Protocol):
    """What this module reads of a message (`app.judging.processing.IncomingMessage`)."""

    @property
    def source(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def chat_id(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def msg_type(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def sent_at(self) -> datetime: ...
    @property
    def response_url(self) -> str: ...


def copy_fingerprint(text: str) -> str:
    """The folded text with every @-mention left out, hashed ("" when nothing is left): the
    smart bot's copy starts with the bot's mention, the archive's may not."""
    return folded_fingerprint(fold(_MENTION.sub(" ", text)))


def _apart(copy: _Copy, message: IncomingCopy) -> timedelta:
    return abs(copy.sent_at - message.sent_at)


def _lock_key(chat_id: str, sender: str) -> int:
    """A signed 64-bit advisory-lock key for (chat, sender)."""
    digest = hashlib.blake2b(f"{chat_id}\x00{sender}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _Copy:
    """A copy as this module matches it: in `message_copies` already (`stored`), or added by
    the open transaction and written by `CopyRegister.write`."""

    stored: bool
    chat_id: str
    sender: str
    text_hash: str
    sent_at: datetime
    source: str
    inbox_event_id: int
    twin_event_id: int | None = None
    twinned: bool = False  # paired by the open transaction: written by `write`


FirstCopy = _Copy  # what `CopyRegister.first_copy` finds, for `CopyRegister.complete`


@dataclass
class _Open:
    """What the open transaction knows: the copies of its (chat, sender) pairs in its time
    range (read once), with the ones it added."""

    session: AsyncSession
    pairs: set[tuple[str, str]]
    since: datetime
    until: datetime
    copies: list[_Copy]


class CopyRegister:
    """The processor's register of message copies (see the module docstring). What a
    transaction adds is written by `write`, which the processor calls with the rest of what
    the transaction writes about messages."""

    def __init__(self, *, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._open: _Open | None = None
        self._pruned_at: datetime | None = None

    async def first_copy(
        self,
        session: AsyncSession,
        event_id: int,
        message: IncomingCopy,
        batch: Iterable[tuple[str, str, datetime]] = (),
    ) -> _Copy | None:
        """The copy of `message` another channel delivered and the service acted on already,
        now paired with this one; None when `message` is the first (it is then registered as
        such, in this transaction). `batch`: (chat, sender, sent at) of every group message
        of the transaction, so that they are locked and read together."""
        fingerprint = copy_fingerprint(message.text)
        if message.source not in CHANNELS or not message.chat_id or not fingerprint:
            return None
        state = self._covering(session, message)
        if state is None:
            state = await self._state(
                session, [*batch, (message.chat_id, message.sender, message.sent_at)]
            )
        best: _Copy | None = None
        for copy in state.copies:
            if (
                copy.chat_id == message.chat_id
                and copy.sender == message.sender
                and copy.text_hash == fingerprint
                and copy.source != message.source
                and copy.twin_event_id is None
                and _apart(copy, message) <= WINDOW
                and (best is None or _apart(copy, message) < _apart(best, message))
            ):
                best = copy
        if best is not None:
            best.twin_event_id = event_id
            best.twinned = True
            return best
        state.copies.append(
            _Copy(
                stored=False,
                chat_id=message.chat_id,
                sender=message.sender,
                text_hash=fingerprint,
                sent_at=message.sent_at,
                source=message.source,
                inbox_event_id=event_id,
            )
        )
        return None

    async def write(self, session: AsyncSession) -> None:
        """Write the copies the open transaction added and the pairs it made (one statement
        each)."""
        state = self._open
        if state is None or state.session is not session:
            return
        added = [copy for copy in state.copies if not copy.stored]
        paired = [copy for copy in state.copies if copy.stored and copy.twinned]
        rows = [
            {
                "chat_id": copy.chat_id,
                "sender": copy.sender,
                "text_hash": copy.text_hash,
                "sent_at": copy.sent_at,
                "source": copy.source,
                "inbox_event_id": copy.inbox_event_id,
                "twin_event_id": copy.twin_event_id,
            }
            for copy in added
        ]
        await copies_repo.add_many(session, rows)
        await copies_repo.set_twins(
            session, [(copy.inbox_event_id, copy.twin_event_id) for copy in paired]
        )
        for copy in state.copies:
            copy.stored, copy.twinned = True, False

    async def complete(self, session: AsyncSession, first: _Copy, message: IncomingCopy) -> bool:
        """The later copy `message` adds what the first lacked: a `response_url` for a warning
        that was decided and could not be posted. Returns whether an action was queued."""
        queued = False
        warning = None
        log_id = await log_repo.id_for_event(session, first.inbox_event_id)
        if message.response_url and log_id is not None:
            warning = await outbox_repo.skipped(session, f"log:{log_id}:warn", note=NO_CHANNEL)
        if warning is not None and warning.payload.get("body"):
            warning.kind = "aibot_reply"
            warning.payload = {**warning.payload, "response_url": message.response_url}
            warning.status = "pending"
            warning.last_error = None
            warning.next_attempt_at = self._clock()
            queued = True
        log.info(
            "%s message %s is the %s message of inbox event %d again (chat %s, sender %s): "
            "acted on once%s",
            message.source,
            message.message_id,
            first.source,
            first.inbox_event_id,
            message.chat_id,
            message.sender,
            "; its warning goes out through this copy's response_url" if queued else "",
        )
        return queued

    async def prune(self, session: AsyncSession) -> int:
        """Delete copies older than KEEP, at most every PRUNE_EVERY; returns how many."""
        now = self._clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        return await copies_repo.prune(session, before=now - KEEP)

    def _covering(self, session: AsyncSession, message: IncomingCopy) -> _Open | None:
        """The open transaction's copies when they were read for `message`'s pair and time
        already (every message of a batch after its first), else None."""
        state = self._open
        if (
            state is not None
            and state.session is session
            and (message.chat_id, message.sender) in state.pairs
            and state.since <= message.sent_at - WINDOW
            and message.sent_at + WINDOW <= state.until
        ):
            return state
        return None

    async def _state(self, session: AsyncSession, batch: list[tuple[str, str, datetime]]) -> _Open:
        """The open transaction's copies: read (after locking the pairs on PostgreSQL) the
        first time the transaction asks, or again when it asks about a pair or time outside
        what was read."""
        state = self._open
        pairs = {(chat, sender) for chat, sender, _at in batch if chat}
        since = min(at for _c, _s, at in batch) - WINDOW
        until = max(at for _c, _s, at in batch) + WINDOW
        if (
            state is not None
            and state.session is session
            and pairs <= state.pairs
            and state.since <= since
            and until <= state.until
        ):
            return state
        known: list[_Copy] = []
        if state is not None and state.session is session:
            pairs |= state.pairs
            since, until = min(since, state.since), max(until, state.until)
            known = state.copies
        else:
            await self.prune(session)
        await copies_repo.lock_pairs(session, [_lock_key(chat, sender) for chat, sender in pairs])
        stored = await copies_repo.in_window(session, pairs, since=since, until=until)
        # What this transaction holds already wins over what it wrote (the same rows).
        copies = list(known)
        held = {copy.inbox_event_id for copy in known}
        read = (_Copy(True, *row) for row in stored)
        copies += [copy for copy in read if copy.inbox_event_id not in held]
        self._open = _Open(session, pairs, since, until, copies)
        return self._open
