"""Inbox → moderation → log + outbox: the work done after WeCom has had its 200.

Pending inbox events are handled in batches, one transaction per batch: the moderation log
rows, the outbox rows and the events' `done` marks are committed together, so a crash repeats
the batch from the start and the UNIQUE keys (inbox event of a log row, idempotency key of an
action) make the repeat harmless. When an event's handling raises, the batch is redone one event
per transaction; the failing event is retried on later passes and marked `failed` after
`MAX_ATTEMPTS`, with the error kept on the row.

Group messages are judged by `moderation.judge_batch`, the one judging pipeline: this module
gathers their facts (groups, members with their messages and standing strikes, who is exempt,
the groups' recent messages and where each text went lately: read for the whole batch by
`_prefetch`), queues the batch's messages, judges them together, and records each judgement in
order (log row, strike, outbox rows). An event that is not such a message (a command, a recall,
a member change) is carried out after the messages before it are judged and recorded, so it
sees them, and the messages after it see what it did.

Chat-archive records (source "archive", stored by `app.archive` or `app.archive_import`) are
group messages like the smart bot's, seen whether or not anyone mentions the bot: they are
mapped to an `IncomingMessage` (time from the record's msgtime) and moderated the same way. A
revoke marks the recalled message's log row; 1:1 chats (unless ARCHIVE_INCLUDE_DIRECT), robots'
messages and company switches are not moderated (`archive_skip_reason`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.alerts import alert_problem, alert_recipients, group_label
from app.commands import (
    CommandContext,
    CommandRegistry,
    Invocation,
    Reply,
    blank_bot_mentions,
    parse_command,
)
from app.cross_channel import CopyRegister, FirstCopy
from app.db import DB_UNAVAILABLE
from app.group_actions import queue_warning
from app.lexicon_runtime import LexiconHolder
from app.log_format import event_context
from app.models import Group, GroupMember, InboxEvent, ModerationLog
from app.policy_file import effective_policy
from app.repositories import activity as activity_repo
from app.repositories import archive as archive_repo
from app.repositories import groups as groups_repo
from app.repositories import inbox as inbox_repo
from app.repositories import outbox as outbox_repo
from app.repositories import strikes as strikes_repo
from app.repositories import welcomes as welcomes_repo
from app.texts import Texts
from app.welcome import note_join
from bot.archive import ArchiveMessage, SenderKind, parse_archive_message
from bot.client import APP_MESSAGE_MAX_BYTES, truncate_utf8
from bot.events import (
    AibotText,
    AppTextMessage,
    CallbackEvent,
    ExternalChatChange,
    MsgAuditNotify,
)
from bot.parsing import parse_aibot_message, parse_app_message
from moderation import (
    Action,
    Decision,
    GroupMode,
    GroupPolicy,
    MessageMeta,
    SensitiveWordMatcher,
    Signal,
    Step,
    Violation,
    fold,
    mask_word,
    strictest,
)
from moderation.flood import (
    MAX_WINDOW_SECONDS,
    FloodThresholds,
    folded_fingerprint,
    history_window,
)
from moderation.matcher import Confidence, Finding
from moderation.pipeline import (
    BatchFacts,
    BatchMessage,
    GroupFacts,
    Judgement,
    MemberFacts,
    judge_batch,
)

__all__ = [
    "ARCHIVE_KIND",
    "InboxProcessor",
    "IncomingMessage",
    "ModerationContext",
    "archive_chat_id",
    "archive_skip_reason",
    "describe",
    "is_recall",
    "masked_evidence",
    "parse_stored",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BATCH_SIZE = 50  # events handled per transaction
EVIDENCE_CHARS = 200  # longest excerpt of a message quoted in an alert
ARCHIVE_KIND = "archive_message"  # inbox kind of a chat-archive record
MESSAGE_KINDS = frozenset({"aibot_text", "app_text", ARCHIVE_KIND})
# Why archive records are not moderated (`archive_skip_reason`), as counted in summaries.
ARCHIVE_SKIPS = {
    "switch": "company switch(es) (no message)",
    "direct": "1:1 chat message(s) (ARCHIVE_INCLUDE_DIRECT is off)",
    "bot": "robot message(s)",
}
# Archive message types judged as another type by the detectors.
_ARCHIVE_TYPE_ALIASES = {"external_redpacket": "redpacket"}
PRUNE_EVERY = timedelta(minutes=10)  # how often old message metadata is deleted


def parse_stored(source: str, plaintext: str) -> CallbackEvent:
    """Re-parse a stored plaintext (the same parser that accepted it)."""
    return parse_aibot_message(plaintext) if source == "aibot" else parse_app_message(plaintext)


def masked_evidence(text: str, findings: tuple[Finding, ...] | list[Finding]) -> str:
    """The message with every matched span masked, cut to EVIDENCE_CHARS characters."""
    chars = list(text)
    for finding in findings:
        masked = mask_word(finding.matched)
        for offset, char in enumerate(masked):
            if finding.start + offset < len(chars):
                chars[finding.start + offset] = char
    excerpt = "".join(chars).replace("\n", " ")
    return excerpt if len(excerpt) <= EVIDENCE_CHARS else excerpt[:EVIDENCE_CHARS] + "…"


def archive_skip_reason(message: ArchiveMessage, *, include_direct: bool) -> str:
    """Why an archive record is not moderated (a key of ARCHIVE_SKIPS), "" when it is.

    Robots (ids starting wb: webhook robots, the smart bot) are the company's own; the
    service's warnings, posted by them, name the rule and must not be judged again.
    """
    if message.action == "switch":
        return "switch"
    if not message.is_group and not include_direct:
        return "direct"
    if message.sender_kind is SenderKind.BOT:
        return "bot"
    return ""


def archive_chat_id(message: ArchiveMessage) -> str:
    """The group's roomid; for a 1:1 chat, `direct:` and its two members, sorted."""
    if message.roomid:
        return message.roomid
    people = sorted({message.sender, *message.tolist} - {""})
    return ("direct:" + ":".join(people))[:128]


def is_recall(message: ArchiveMessage) -> bool:
    """A revoke record: the sender recalled an earlier message (named by `recalled_msgid`)."""
    return message.msg_type == "revoke" or message.action == "recall"


@dataclass(frozen=True)
class IncomingMessage:
    """One group message to moderate, whichever way it arrived (smart bot, chat archive)."""

    source: str  # aibot | archive
    message_id: str
    chat_id: str
    sender: str
    msg_type: str  # text, link, weapp, card, redpacket, image, ...
    text: str  # what there is to read in it (a link's title and URL, a card's company, ...)
    sent_at: datetime
    response_url: str = ""  # the smart bot's one-time reply URL, if any


@dataclass(frozen=True)
class ModerationContext:
    """What the processor needs besides the database: lexicon, texts, commands, people and
    the default policy."""

    lexicon: LexiconHolder
    texts: Texts
    commands: CommandRegistry
    moderators: tuple[str, ...]
    app_messages_enabled: bool
    staff: frozenset[str] = frozenset()
    policy: GroupPolicy = field(default_factory=GroupPolicy)
    bot_names: tuple[str, ...] = ()  # the smart bot's display names (SMART_BOT_NAMES)

    @property
    def matcher(self) -> SensitiveWordMatcher:
        """The matcher served now (read per message: a reload swaps it between messages)."""
        return self.lexicon.matcher

    def is_moderator(self, user_id: str) -> bool:
        return user_id in self.moderators

    def said(self, text: str, *, smart_bot: bool) -> str:
        """What a member said in a group message: `text` without the smart bot's own
        @-mentions (as spaces), which no text rule reads (`blank_bot_mentions`)."""
        return blank_bot_mentions(text, leading=smart_bot, names=self.bot_names)


class InboxProcessor:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        context: ModerationContext,
        *,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
        force_shadow: bool = False,
        archive_include_direct: bool = False,
        on_archive_notify: Callable[[], None] | None = None,
        on_lexicon_changed: Callable[[], None] = lambda: None,
        give_way: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        # Awaited before each batch: the callbacks being answered go first (`Foreground`).
        self._give_way = give_way
        # A chat command changed the lexicon: called after the batch's transaction, so this
        # replica reloads at once rather than at the next poll.
        self._on_lexicon_changed = on_lexicon_changed
        self._lexicon_changed = False
        self._context = context
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._force_shadow = force_shadow  # every enforcing group acts as if in shadow mode
        self._pruned_at: datetime | None = None
        self._archive_include_direct = archive_include_direct  # moderate 1:1 archive chats
        # Wakes the archive poller (msgaudit_notify); None when ARCHIVE_ENABLED is off.
        self._on_archive_notify = on_archive_notify
        # The batch's group messages to moderate, by inbox event id: (what the member said,
        # its fold), worked out once for the prefetch and the judging.
        self._said: dict[int, tuple[str, str]] = {}
        self._batch = _BatchState()
        # Archive records of the batch, parsed once for the scan and the handling.
        self._archive_parsed: dict[int, ArchiveMessage] = {}
        self._callback_parsed: dict[int, CallbackEvent] = {}
        self._unknown_types_logged: set[str] = set()
        # (verdict, mode) → messages judged, counted when their transaction commits (`app.metrics`)
        self.decisions: Counter[tuple[str, str]] = Counter()
        self._decided: list[tuple[str, str]] = []  # judged in the open transaction
        # The same message through the smart bot and the archive is acted on once.
        self.copies = CopyRegister(clock=clock)

    async def prune_activity(self, *, now: datetime | None = None) -> int:
        """Delete message metadata older than any flood window can look back; returns how
        many rows went. Runs after inbox passes, at most every PRUNE_EVERY."""
        now = now or self._clock()
        self._pruned_at = now
        async with self._sessions() as session, session.begin():
            pruned = await activity_repo.prune(
                session, before=now - timedelta(seconds=MAX_WINDOW_SECONDS)
            )
        if pruned:
            log.info("pruned metadata of %d message(s) older than a day", pruned)
        return pruned

    async def process_pending(self, *, limit: int = 500) -> int:
        """Handle up to `limit` pending events, oldest first; each event at most once per pass."""
        if self._pruned_at is None or self._clock() - self._pruned_at >= PRUNE_EVERY:
            await self.prune_activity()
        handled = 0
        after_id = 0
        while handled < limit:
            if self._give_way is not None:
                await self._give_way()
            ids = await self._process_batch(after_id, min(BATCH_SIZE, limit - handled))
            if not ids:
                break
            after_id = ids[-1]
            handled += len(ids)
        return handled

    async def _process_batch(self, after_id: int, size: int) -> list[int]:
        """Handle a batch in one transaction; if any event in it fails, redo the batch one
        event at a time so that the bad event is recorded and the others go through."""
        ids: list[int] = []
        enqueued = False
        async with self._sessions() as session:
            try:
                async with session.begin():
                    rows = await inbox_repo.claim_pending(session, after_id=after_id, limit=size)
                    ids = [row.id for row in rows]
                    self._start_batch(rows)
                    await self._prefetch(session)
                    for row in rows:
                        enqueued = await self._handle_and_mark(session, row) or enqueued
                        # Judging a message takes the event loop for about a millisecond, and
                        # most need no query: between two, let this replica answer callbacks.
                        await asyncio.sleep(0)
                    enqueued = await self._finish(session) or enqueued
                self._count_decided()
            except Exception as exc:
                if not ids or isinstance(exc, DB_UNAVAILABLE):
                    raise  # the database is the problem, not an event: the worker retries
                log.warning(
                    "batch of %d inbox event(s) failed (%s: %s); redoing them one at a time",
                    len(ids),
                    type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "",
                )
                enqueued = False
                for event_id in ids:
                    enqueued = await self._process_single(event_id) or enqueued
        if enqueued:
            self._on_enqueued()
        if self._lexicon_changed:
            self._lexicon_changed = False
            self._on_lexicon_changed()
        return ids

    def _start_batch(self, rows: Sequence[InboxEvent]) -> None:
        """Forget what the previous transaction cached; scan the new batch's texts."""
        self._batch = _BatchState()
        self._decided = []
        self._scan(rows)

    async def _prefetch(self, session: AsyncSession) -> None:
        """Read (and create) the groups and members of the batch's group messages, the
        members' standing strikes and the groups' recent messages (for the flood rules), with
        five statements for the whole batch instead of a few per message. Rows are created in
        key order, so that replicas take their locks in the same order."""
        senders = self._batch.senders
        if not senders:
            return
        now = self._clock()
        groups = await groups_repo.ensure_many(
            session,
            (chat for chat, _user, _at, _bot, _folded in senders),
            now=now,
            smart_bot={chat for chat, _user, _at, bot, _folded in senders if bot},
        )
        self._batch.groups.update(groups)
        first_seen: dict[tuple[str, str], datetime] = {}
        first_message: dict[str, datetime] = {}  # chat → the batch's first message's time
        by_chat: dict[str, set[str]] = {}
        texts: dict[str, set[str]] = {}  # chat → fingerprints its wave rule looks for
        for chat, user, at, _bot, folded in senders:
            if self._mode_of(groups[chat]) is GroupMode.OFF:
                continue
            first_seen[chat, user] = min(at, first_seen.get((chat, user), at))
            first_message.setdefault(chat, at)
            by_chat.setdefault(chat, set()).add(user)
            texts.setdefault(chat, set()).update(
                _wave_fingerprint(folded, self._policy_for(groups[chat]).flood)
            )
        members = await groups_repo.ensure_members(session, first_seen)
        for key, member in members.items():
            self._batch.members[key] = (member, member.first_seen_at, member.messages)
        standing: dict[str, tuple[Sequence[str], datetime, bool]] = {}
        queries: dict[str, activity_repo.HistoryQuery] = {}
        for chat, users in by_chat.items():
            policy = self._policy_for(groups[chat])
            shadow = self._mode_of(groups[chat]) is GroupMode.SHADOW
            since = now - timedelta(days=policy.strike_window_days)
            standing[chat] = (sorted(users), since, shadow)
            window = history_window(policy.flood)
            if window:
                at = first_message[chat]
                queries[chat] = activity_repo.HistoryQuery(
                    since=at - timedelta(seconds=window),
                    until=at,
                    senders=frozenset(users),
                    hashes=frozenset(texts[chat]),
                )
            else:
                self._batch.history[chat] = []
        counts = await strikes_repo.standing_counts_many(session, standing)
        for chat, (listed, _since, shadow) in standing.items():
            for user in listed:
                self._batch.strikes[chat, user, shadow] = counts.get((chat, user), 0)
        stored = await activity_repo.recent_many(session, queries)
        for chat, query in queries.items():
            self._batch.history[chat] = stored.get(chat, [])
            self._batch.history_query[chat] = query
        await self._prefetch_spread(session, groups)

    async def _prefetch_spread(self, session: AsyncSession, groups: Mapping[str, Group]) -> None:
        """Where the batch's texts were sent lately across all groups, for `_other_groups`:
        one statement for the batch."""
        hashes: set[str] = set()
        window = 0.0
        times = []
        for chat, _user, at, _bot, folded in self._batch.senders:
            thresholds = self._policy_for(groups[chat]).flood
            if folded and thresholds.wave_min_members and thresholds.wave_window_seconds:
                hashes.add(folded_fingerprint(folded))
                window = max(window, thresholds.wave_window_seconds)
                times.append(at)
        if not hashes:
            return
        since, until = min(times) - timedelta(seconds=window), max(times)
        found = await activity_repo.groups_with_texts(
            session, sorted(hashes), since=since, until=until
        )
        for text_hash in hashes:
            self._batch.spread[text_hash] = (since, until, found.get(text_hash, []))

    def _history_covers(self, chat: str, sender: str, folded: str, policy: GroupPolicy) -> bool:
        """Whether the batch holds the group's history a message of `sender` folding to
        `folded` needs for the flood rules (what `_prefetch` read covers every message of a
        batch; a transaction of one event reads it per message)."""
        batch = self._batch
        if not history_window(policy.flood):
            batch.history.setdefault(chat, [])
            return True
        query = batch.history_query.get(chat)
        wanted = _wave_fingerprint(folded, policy.flood)
        return query is not None and sender in query.senders and wanted <= query.hashes

    async def _read_history(
        self, session: AsyncSession, message: IncomingMessage, folded: str, policy: GroupPolicy
    ) -> None:
        """Read the group's history for `message`, widening what the batch holds, with the
        batch's messages judged so far (not stored yet)."""
        batch = self._batch
        chat = message.chat_id
        thresholds = policy.flood
        since = message.sent_at - timedelta(seconds=history_window(thresholds))
        query = batch.history_query.get(chat)
        query = activity_repo.HistoryQuery(
            since=since if query is None else min(since, query.since),
            until=message.sent_at if query is None else max(message.sent_at, query.until),
            senders=frozenset({message.sender}) | (query.senders if query else frozenset()),
            hashes=_wave_fingerprint(folded, thresholds) | (query.hashes if query else frozenset()),
        )
        stored = (await activity_repo.recent_many(session, {chat: query})).get(chat, [])
        batch.history[chat] = [
            *stored,
            *(_flood_meta(row) for row in batch.metadata if row["chat_id"] == chat),
        ]
        batch.history_query[chat] = query

    def _spread_covers(self, text_hash: str, sent_at: datetime, policy: GroupPolicy) -> bool:
        """Whether the batch knows where `text_hash` was sent within the wave window before
        `sent_at` (or the wave rule does not ask)."""
        window = policy.flood.wave_window_seconds
        if not text_hash or not policy.flood.wave_min_members or not window:
            return True
        known = self._batch.spread.get(text_hash)
        since = sent_at - timedelta(seconds=window)
        return known is not None and known[0] <= since and sent_at <= known[1]

    async def _read_spread(
        self, session: AsyncSession, text_hash: str, sent_at: datetime, policy: GroupPolicy
    ) -> None:
        since = sent_at - timedelta(seconds=policy.flood.wave_window_seconds)
        found = await activity_repo.groups_with_texts(
            session, [text_hash], since=since, until=sent_at
        )
        self._batch.spread[text_hash] = (since, sent_at, found.get(text_hash, []))

    def _mode_of(self, group: Group) -> GroupMode:
        """The group's mode as this processor applies it (`force_shadow`: enforce → shadow)."""
        mode = self._policy_for(group).mode
        if self._force_shadow and mode is GroupMode.ENFORCE:
            return GroupMode.SHADOW
        return mode

    async def _finish(self, session: AsyncSession) -> bool:
        """The batch's events are handled: judge the messages still queued, write what the
        transaction saw of messages; returns whether actions were queued."""
        judged = await self._judge_pending(session)
        await self._write_messages(session)
        return judged

    async def _write_messages(self, session: AsyncSession) -> None:
        """Write what this transaction has seen of messages so far: the members' counts and
        the messages' metadata (and their copies, `app.cross_channel`), one statement each."""
        await groups_repo.record_messages(session, self._batch.counts)
        self._batch.counts.clear()
        await activity_repo.add_many(session, self._batch.metadata)
        self._batch.metadata.clear()
        await self.copies.write(session)

    def _scan(self, rows: Sequence[InboxEvent]) -> None:
        """Parse the batch's events once; note its group messages to moderate, what each
        member said and its fold (for `_prefetch` and `judge_batch`)."""
        self._said = {}
        self._archive_parsed = {}
        self._callback_parsed = {}
        senders = self._batch.senders
        for row in rows:
            if row.kind == ARCHIVE_KIND:
                try:
                    message = self._archive_message(row)
                except Exception:  # noqa: S112 - handling the event meets the error and records it
                    continue
                if is_recall(message) or archive_skip_reason(
                    message, include_direct=self._archive_include_direct
                ):
                    continue
                said = self._context.said(message.text, smart_bot=False)
                self._said[row.id] = (said, folded := fold(said))
                senders.append(
                    (archive_chat_id(message), message.sender, message.sent_at, False, folded)
                )
                continue
            if row.kind != "aibot_text":
                continue
            try:
                event = self._callback_event(row)
            except Exception:  # noqa: S112 - handling the event meets the error and records it
                continue
            if (
                isinstance(event, AibotText)
                and event.chat_type == "group"
                and parse_command(event.content) is None
            ):
                said = self._context.said(event.content, smart_bot=True)
                self._said[row.id] = (said, folded := fold(said))
                senders.append((event.chat_id, event.from_user, row.received_at, True, folded))

    async def _process_single(self, event_id: int) -> bool:
        self._said = {}
        self._batch = _BatchState()
        self._archive_parsed = {}
        self._callback_parsed = {}
        self._decided = []
        async with self._sessions() as session:
            try:
                async with session.begin():
                    row = await inbox_repo.claim_one(session, event_id)
                    handled = row is not None and await self._handle_and_mark(session, row)
                    handled = await self._finish(session) or handled
                self._count_decided()
                return handled
            except DB_UNAVAILABLE:
                raise
            except Exception as exc:
                await self._record_failure(event_id, exc)
                return False

    def _count_decided(self) -> None:
        """The open transaction committed: its judged messages count."""
        self.decisions.update(self._decided)
        self._decided = []

    async def _handle_and_mark(self, session: AsyncSession, row: InboxEvent) -> bool:
        with event_context(str(row.id)):
            enqueued = await self._handle(session, row)
        row.status = "done"
        row.processed_at = self._clock()
        row.attempts += 1
        if row.kind in MESSAGE_KINDS:
            row.plaintext = None
        return enqueued

    async def _record_failure(self, event_id: int, exc: Exception) -> None:
        with event_context(str(event_id)):
            await self._record_failure_of(event_id, exc)

    async def _record_failure_of(self, event_id: int, exc: Exception) -> None:
        async with self._sessions() as session, session.begin():
            row = await inbox_repo.get(session, event_id)
            if row is None:  # pragma: no cover - rows are never deleted while pending
                return
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                log.error(
                    "inbox event %s (%s) failed %d times, giving up: %s",
                    event_id,
                    row.kind,
                    row.attempts,
                    row.last_error,
                    exc_info=exc,
                )
            else:
                log.warning("inbox event %s failed, will retry: %s", event_id, row.last_error)

    async def _handle(self, session: AsyncSession, row: InboxEvent) -> bool:
        """Carry out one event; returns whether outbox rows were added. A group message to
        moderate waits for the next `_judge_pending` (with the batch's next ones); any other
        event is carried out after the messages before it are judged."""
        if row.id in self._said:
            return await self._dispatch(session, row)
        judged = await self._judge_pending(session)
        return await self._dispatch(session, row) or judged

    async def _dispatch(self, session: AsyncSession, row: InboxEvent) -> bool:
        if row.kind == ARCHIVE_KIND:
            return await self._on_archive(session, row)
        event = self._callback_event(row)
        if isinstance(event, AibotText):
            return await self._on_aibot_text(session, row, event)
        if isinstance(event, AppTextMessage):
            return await self._on_app_text(session, row, event)
        if isinstance(event, ExternalChatChange):
            await self._on_chat_change(session, event)
        elif isinstance(event, MsgAuditNotify):
            if self._on_archive_notify is None:
                log.info("chat archive has new data (msgaudit_notify); ARCHIVE_ENABLED is off")
            else:
                log.debug("chat archive has new data (msgaudit_notify): waking the poller")
                self._on_archive_notify()
        else:
            log.info("%s callback event %s (%s): nothing to do", row.source, row.id, row.kind)
        return False

    # -- customer-group membership ---------------------------------------------------------

    async def _on_chat_change(self, session: AsyncSession, event: ExternalChatChange) -> None:
        """`change_external_chat`: members in and out, welcome due times, member-list syncs.

        Joins within the policy's `welcome_window_seconds` of the first one merge into one
        welcome (`app.welcome`). The member list is fetched from WeCom (a sync) when the group
        is new to the service, was created or renamed or changed owner, or when the event's
        LastMemVer is not the version stored (a callback was lost or came out of order)."""
        if not event.chat_id:
            log.warning("change_external_chat without a ChatId: ignored")
            return
        now = self._clock()
        group = await groups_repo.ensure(session, event.chat_id, now=now, kind="customer")
        self._batch.groups[event.chat_id] = group
        what = f"{event.change_type or '?'} {event.update_detail or '-'}"
        if event.change_type == "dismiss":
            log.info("customer group %s (%s) was dismissed", event.chat_id, group.name or "-")
            return
        policy = self._policy_for(group)
        sync = ""
        if event.change_type == "create":
            sync = "created"
        elif group.members_synced_at is None:
            sync = "first sight"
        elif event.update_detail in ("change_owner", "change_name"):
            sync = event.update_detail
        stored = group.member_version
        if stored and event.last_mem_ver and event.last_mem_ver != stored:
            sync = f"member version {event.last_mem_ver} does not follow {stored}"
            log.info(
                "customer group %s: %s (a callback was lost or came out of order): the member "
                "list is fetched from WeCom",
                event.chat_id,
                sync,
            )
        if event.cur_mem_ver:
            group.member_version = event.cur_mem_ver[:64]
        changed: list[str] = []
        members = {}
        if event.update_detail in ("add_member", "del_member"):
            members = await groups_repo.ensure_members(
                session, {(event.chat_id, user_id): now for user_id in event.members}
            )
        if event.update_detail == "add_member":
            for user_id in event.members:
                member = members[event.chat_id, user_id]
                if note_join(member, at=now, welcome=policy.welcome):
                    changed.append(user_id)
            if changed and policy.welcome:
                await welcomes_repo.request_welcome(
                    session,
                    group.id,
                    due=now + timedelta(seconds=policy.welcome_window_seconds),
                )
        elif event.update_detail == "del_member":
            for user_id in event.members:
                member = members[event.chat_id, user_id]
                if member.left_at is None:
                    member.left_at = now
                    changed.append(user_id)
        if sync:
            await welcomes_repo.request_sync(session, group.id, due=now)
        log.info(
            "customer group %s: %s, %d member(s) changed%s%s",
            event.chat_id,
            what,
            len(changed),
            f" ({', '.join(changed[:20])}{' …' if len(changed) > 20 else ''})" if changed else "",
            f"; member sync requested ({sync})" if sync else "",
        )

    # -- messages ------------------------------------------------------------------------

    def _callback_event(self, row: InboxEvent) -> CallbackEvent:
        """The stored callback, parsed (once per batch: `_scan` and the handler share it)."""
        event = self._callback_parsed.get(row.id)
        if event is None:
            event = self._callback_parsed[row.id] = parse_stored(row.source, row.plaintext or "")
        return event

    def _archive_message(self, row: InboxEvent) -> ArchiveMessage:
        """The stored archive record, parsed (once per batch). Raises ValueError or
        `MalformedArchiveRecord` for a record that is not the documented JSON."""
        message = self._archive_parsed.get(row.id)
        if message is None:
            message = parse_archive_message(json.loads(row.plaintext or ""))
            self._archive_parsed[row.id] = message
        return message

    async def _on_archive(self, session: AsyncSession, row: InboxEvent) -> bool:
        message = self._archive_message(row)
        skip = archive_skip_reason(message, include_direct=self._archive_include_direct)
        if skip:
            log.debug("archive message %s not moderated (%s)", message.msgid, skip)
            return False
        chat_id = archive_chat_id(message)
        if is_recall(message):
            marked = 0
            if message.recalled_msgid:
                marked = await archive_repo.mark_recalled(
                    session, message.recalled_msgid, at=message.sent_at
                )
            log.info(
                "%s recalled message %s in %s%s",
                message.sender or "someone",
                message.recalled_msgid or "(not named)",
                chat_id,
                "; its moderation log row is marked recalled" if marked else "",
            )
            return False
        if not message.known and message.msg_type not in self._unknown_types_logged:
            self._unknown_types_logged.add(message.msg_type)
            log.info(
                "archive msgtype %r is not mapped: such messages count for flooding, with no "
                "text to read (first: %s)",
                message.msg_type,
                message.msgid,
            )
        incoming = IncomingMessage(
            source=row.source,
            message_id=message.msgid,
            chat_id=chat_id,
            sender=message.sender,
            msg_type=_ARCHIVE_TYPE_ALIASES.get(message.msg_type, message.msg_type),
            text=message.text,
            sent_at=message.sent_at,
        )
        return await self._moderate(session, row, incoming, smart_bot=False)

    async def _on_aibot_text(
        self, session: AsyncSession, row: InboxEvent, event: AibotText
    ) -> bool:
        invocation = parse_command(event.content)
        if invocation is not None:
            group = None
            if event.chat_type == "group" and event.chat_id:
                group = await self._group(session, event.chat_id, smart_bot=True)
            context = self._command_context(
                session, row, sender=event.from_user, group=group, message_id=event.msg_id
            )
            reply = await self._run_command(invocation, context)
            replied = self._reply_aibot(
                session, row, event, reply.text, moderation_log_id=reply.moderation_log_id
            )
            return replied or context.enqueued
        if event.chat_type != "group":
            return self._reply_aibot(
                session, row, event, self._context.texts["command.not_command"]
            )
        message = IncomingMessage(
            source=row.source,
            message_id=event.msg_id,
            chat_id=event.chat_id,
            sender=event.from_user,
            msg_type="text",
            text=event.content,
            sent_at=row.received_at,
            response_url=event.response_url,
        )
        return await self._moderate(session, row, message, smart_bot=True)

    async def _on_app_text(
        self, session: AsyncSession, row: InboxEvent, event: AppTextMessage
    ) -> bool:
        invocation = parse_command(event.content)
        if invocation is None:
            return self._reply_app(
                session, row, event.from_user, self._context.texts["command.not_command"]
            )
        context = self._command_context(
            session, row, sender=event.from_user, group=None, message_id=event.msg_id
        )
        reply = await self._run_command(invocation, context)
        replied = self._reply_app(session, row, event.from_user, reply.text)
        return replied or context.enqueued

    async def _group(self, session: AsyncSession, chat_id: str, *, smart_bot: bool) -> Group:
        """The group's row (created on first sight), read once per batch; `smart_bot`: the
        message came through the smart bot, which is therefore in the group."""
        group = self._batch.groups.get(chat_id)
        if group is None:
            group = await groups_repo.ensure(
                session, chat_id, now=self._clock(), smart_bot=smart_bot
            )
            self._batch.groups[chat_id] = group
        elif smart_bot and not group.smart_bot:
            group.smart_bot = True
        return group

    def _command_context(
        self,
        session: AsyncSession,
        row: InboxEvent,
        *,
        sender: str,
        group: Group | None,
        message_id: str,
    ) -> CommandContext:
        """What a command runs with (`app.commands`): this transaction, the clock's now, the
        group chat it came from (None: a 1:1 chat) and the service's state."""
        return CommandContext(
            sender=sender,
            texts=self._context.texts,
            session=session,
            now=self._clock(),
            group=group,
            moderators=self._context.moderators,
            policy_for=self._policy_for,
            matcher=self._context.matcher,
            app_messages_enabled=self._context.app_messages_enabled,
            event_id=row.id,
            message_id=message_id,
        )

    async def _run_command(self, invocation: Invocation, context: CommandContext) -> Reply:
        await self._write_messages(context.session)  # a command may read them
        reply = await self._context.commands.run(invocation, context)
        # A command may have warned or pardoned someone: strike counts read earlier in the
        # batch are stale.
        self._batch.strikes.clear()
        if context.lexicon_changed:
            self._lexicon_changed = True
        return reply

    def _reply_aibot(
        self,
        session: AsyncSession,
        row: InboxEvent,
        event: AibotText,
        reply: str,
        *,
        moderation_log_id: int | None = None,
    ) -> bool:
        """Answer through the message's response_url (`moderation_log_id`: the answer is the
        warning of that log row, a `/warn` in the group)."""
        if not event.response_url:
            log.warning("smart-bot message %s has no response_url; reply not sent", event.msg_id)
            return False
        outbox_repo.enqueue(
            session,
            idempotency_key=f"inbox:{row.id}:reply",
            kind="aibot_reply",
            payload=_aibot_markdown(event.response_url, reply),
            now=self._clock(),
            moderation_log_id=moderation_log_id,
        )
        return True

    def _reply_app(self, session: AsyncSession, row: InboxEvent, user_id: str, reply: str) -> bool:
        if not self._context.app_messages_enabled:
            log.warning(
                "cannot answer %s in the app chat: WECOM_APP_SECRET/WECOM_AGENT_ID not set",
                user_id,
            )
            return False
        outbox_repo.enqueue(
            session,
            idempotency_key=f"inbox:{row.id}:reply",
            kind="app_message",
            payload={
                "to_users": [user_id],
                "msgtype": "text",
                "content": {"content": truncate_utf8(reply, APP_MESSAGE_MAX_BYTES)},
            },
            now=self._clock(),
        )
        return True

    # -- moderation ------------------------------------------------------------------

    async def _moderate(
        self, session: AsyncSession, row: InboxEvent, message: IncomingMessage, *, smart_bot: bool
    ) -> bool:
        """Gather the facts one group message is judged with, and queue it for
        `_judge_pending`; returns whether actions were queued meanwhile (messages queued
        before it are judged first when a fact must be read with them in the history). In
        `off` mode nothing happens at all. A copy of a message the other channel delivered
        and the service acted on already is not judged again (`app.cross_channel`)."""
        batch = self._batch
        batch_messages = ((chat, user, at) for chat, user, at, _bot, _f in batch.senders)
        first = await self.copies.first_copy(session, row.id, message, batch_messages)
        if first is not None:
            batch.pending.append(_Pending(row, message, copy_of=first))
            return False
        group = await self._group(session, message.chat_id, smart_bot=smart_bot)
        mode = self._mode_of(group)
        if mode is GroupMode.OFF:
            return False
        policy = self._policy_for(group)
        said = self._said.pop(row.id, None)
        if said is None:
            text = self._context.said(message.text, smart_bot=smart_bot)
            said = (text, fold(text))
        text, folded = said
        who = (message.chat_id, message.sender)
        if who not in batch.members:
            member = await groups_repo.ensure_member(
                session, message.chat_id, message.sender, now=message.sent_at
            )
            batch.members[who] = (member, member.first_seen_at, member.messages)
        standing_key = (message.chat_id, message.sender, mode is GroupMode.SHADOW)
        if standing_key not in batch.strikes:
            batch.strikes[standing_key] = await strikes_repo.standing_count(
                session,
                message.chat_id,
                message.sender,
                since=self._clock() - timedelta(days=policy.strike_window_days),
                shadow=mode is GroupMode.SHADOW,
            )
        judged = False
        if not self._history_covers(message.chat_id, message.sender, folded, policy):
            judged = await self._judge_pending(session)
            await self._read_history(session, message, folded, policy)
        text_hash = folded_fingerprint(folded)
        if not self._spread_covers(text_hash, message.sent_at, policy):
            judged = await self._judge_pending(session) or judged
            await self._read_spread(session, text_hash, message.sent_at, policy)
        batch.pending.append(
            _Pending(
                row,
                message,
                group=group,
                mode=mode,
                judged=BatchMessage(
                    chat_id=message.chat_id,
                    sender=message.sender,
                    msg_type=message.msg_type,
                    text=text,
                    at=message.sent_at,
                    folded=folded,
                ),
            )
        )
        return judged

    def _batch_facts(self, pending: Sequence[_Pending]) -> BatchFacts:
        """What the batch holds about the pending messages' groups and members."""
        batch = self._batch
        groups: dict[str, GroupFacts] = {}
        members: dict[tuple[str, str], MemberFacts] = {}
        spread: dict[str, list[tuple[str, datetime]]] = {}
        for item in pending:
            judged, group = item.judged, item.group
            if judged is None or group is None:
                continue
            chat = judged.chat_id
            if chat not in groups:
                groups[chat] = GroupFacts(
                    policy=self._policy_for(group),
                    removal_possible=group.kind == "app_created",
                    history=batch.history.get(chat, ()),
                )
            who = (chat, judged.sender)
            if who not in members:
                _member, first_seen, earlier = batch.members[who]
                members[who] = MemberFacts(
                    first_seen=first_seen,
                    messages=earlier,
                    strikes=batch.strikes[(*who, item.mode is GroupMode.SHADOW)],
                    exempt=self._exempt(group, judged.sender),
                )
            text_hash = folded_fingerprint(judged.folded or "")
            known = batch.spread.get(text_hash)
            if known is not None and text_hash not in spread:
                spread[text_hash] = [*known[2], *batch.copies.get(text_hash, ())]
        return BatchFacts(
            matcher=self._context.matcher, groups=groups, members=members, spread=spread
        )

    async def _judge_pending(self, session: AsyncSession) -> bool:
        """Judge the queued group messages with one `judge_batch`, then, in their order,
        record each (the batch's state, the log row, the strike) and queue its actions;
        returns whether any will be sent. In shadow mode the decision is logged (strikes too,
        kept apart) and nothing is queued."""
        batch = self._batch
        pending, batch.pending = batch.pending, []
        if not pending:
            return False
        judgements = iter(
            judge_batch(
                [item.judged for item in pending if item.judged is not None],
                self._batch_facts(pending),
            )
        )
        queued = False
        for item in pending:
            with event_context(str(item.row.id)):
                if item.copy_of is not None:
                    queued = (
                        await self.copies.complete(session, item.copy_of, item.message) or queued
                    )
                else:
                    queued = await self._record(session, item, next(judgements)) or queued
        return queued

    async def _record(self, session: AsyncSession, item: _Pending, judgement: Judgement) -> bool:
        """Apply one judgement: the batch's state, the log row, the strike, the actions."""
        batch, message, group = self._batch, item.message, item.group
        decision, meta = judgement.decision, judgement.meta
        assert decision is not None and meta is not None and group is not None  # noqa: S101
        who = (message.chat_id, message.sender)
        member, first_seen_at, earlier = batch.members[who]
        batch.members[who] = (member, first_seen_at, earlier + 1)
        added, last = batch.counts.get(member.id, (0, message.sent_at))
        batch.counts[member.id] = (added + 1, max(last, message.sent_at))
        batch.history.setdefault(message.chat_id, []).append(meta)
        if meta.text_hash:
            batch.copies.setdefault(meta.text_hash, []).append((message.chat_id, message.sent_at))
        batch.metadata.append(
            activity_repo.row(
                chat_id=message.chat_id,
                sender=message.sender,
                sent_at=message.sent_at,
                msg_type=message.msg_type,
                length=meta.length,
                text_hash=meta.text_hash,
                short_text=meta.short_text,
            )
        )
        shadow = item.mode is GroupMode.SHADOW
        batch.strikes[(*who, shadow)] = decision.strikes
        self._decided.append((decision.verdict, item.mode.value))
        if not decision.flagged:
            return False
        entry = await self._log(session, item.row, message, decision, item.mode)
        if decision.strike:
            strikes_repo.add(
                session,
                chat_id=message.chat_id,
                user_id=message.sender,
                created_at=self._clock(),
                moderation_log_id=entry.id,
                rule=_rule_of(strictest(decision.violations)),
                shadow=shadow,
            )
        if shadow:
            return False
        return self._enqueue_actions(session, entry, decision, group, message.response_url)

    def _policy_for(self, group: Group | None) -> GroupPolicy:
        """The service's policy with the group's overrides (`effective_policy`)."""
        return effective_policy(group, self._context.policy)

    def _exempt(self, group: Group, user_id: str) -> str:
        if self._context.is_moderator(user_id) or user_id in (group.moderators or ()):
            return "moderator"
        if group.owner and user_id == group.owner:
            return "owner"
        if user_id in self._context.staff:
            return "staff"
        return ""

    async def _log(
        self,
        session: AsyncSession,
        row: InboxEvent,
        message: IncomingMessage,
        decision: Decision,
        mode: GroupMode,
    ) -> ModerationLog:
        entry = ModerationLog(
            inbox_event_id=row.id,
            created_at=self._clock(),
            source=row.source,
            chat_id=message.chat_id[:128],
            user_id=message.sender[:128],
            message_id=message.message_id,
            text=message.text,
            findings=[violation.as_dict() for violation in decision.violations],
            verdict=decision.verdict,
            reason=decision.reason,
            mode=mode.value,
            step=decision.step.value if decision.step else None,
            strikes=decision.strikes,
            actions=[action.value for action in decision.actions],
        )
        session.add(entry)
        await session.flush()
        log.info(
            "%sflagged message %s in %s from %s: %s → %s (log #%d)",
            "[shadow] " if mode is GroupMode.SHADOW else "",
            message.message_id,
            message.chat_id or "1:1",
            message.sender,
            decision.reason,
            decision.verdict,
            entry.id,
        )
        return entry

    def _enqueue_actions(
        self,
        session: AsyncSession,
        entry: ModerationLog,
        decision: Decision,
        group: Group,
        response_url: str,
    ) -> bool:
        """Queue the decision's actions; returns whether any will be sent."""
        texts = self._context.texts
        worst = strictest(decision.violations)
        rule, detail = describe(texts, worst)
        word = mask_word(worst.word) if isinstance(worst, Finding) else ""
        how = how_found(texts, worst) if isinstance(worst, Finding) else ""
        now = self._clock()
        queued = False
        warned = False
        if Action.WARN_SENDER in decision.actions:
            key = "warning.final" if decision.step is Step.FINAL_WARNING else "warning"
            warning = texts.render(
                key,
                sender=entry.user_id,
                rule=rule,
                detail=detail,
                word=word,
                severity=texts[f"severity.{worst.effective_severity.value}"],
                how=how,
            )
            warned = queue_warning(
                session, group, entry, warning, now=now, response_url=response_url
            )
            queued = warned or queued
        if Action.REMOVE_MEMBER in decision.actions:
            queued = True
            outbox_repo.enqueue(
                session,
                idempotency_key=f"log:{entry.id}:remove",
                kind="appchat_remove",
                payload={"chat_id": entry.chat_id, "user_ids": [entry.user_id]},
                now=now,
                moderation_log_id=entry.id,
            )
        if Action.ALERT_MODERATORS in decision.actions:
            recipients = alert_recipients(self._context.moderators, group)
            alert = texts.render(
                "alert",
                chat=group_label(group) if entry.chat_id else texts["chat.direct"],
                sender=entry.user_id,
                rule=rule,
                severity=texts[f"severity.{worst.effective_severity.value}"],
                detail=detail,
                word=word,
                how=how,
                evidence=masked_evidence(entry.text, decision.findings),
                strikes=(
                    texts.render("strikes.count", count=decision.strikes)
                    if decision.strike
                    else texts["strikes.none"]
                ),
                action=self._action_text(decision, warned),
                log_id=entry.id,
                undo=(
                    texts.render("undo.pardon", chat=entry.chat_id, sender=entry.user_id)
                    if decision.strike
                    else texts["undo.none"]
                ),
            )
            note = alert_problem(self._context.app_messages_enabled, recipients)
            if note is not None:
                log.warning("moderator alert for log #%d not sent: %s", entry.id, note)
            queued = queued or note is None
            outbox_repo.enqueue(
                session,
                idempotency_key=f"log:{entry.id}:alert",
                kind="app_message",
                payload={
                    "to_users": recipients,
                    "msgtype": "markdown",
                    "content": {"content": alert},
                },
                now=now,
                moderation_log_id=entry.id,
                status="pending" if note is None else "skipped",
                note=note,
            )
        return queued

    def _action_text(self, decision: Decision, warned: bool) -> str:
        texts = self._context.texts
        if Action.REMOVE_MEMBER in decision.actions:
            return texts["action.remove"]
        if decision.step is Step.REMOVAL:
            return texts["action.human_remove"]
        if Action.WARN_SENDER not in decision.actions:
            return texts["action.alert"]
        if not warned:
            return texts["action.warn_unavailable"]
        if decision.step is Step.FINAL_WARNING:
            return texts["action.final_warning"]
        return texts["action.warn"]


@dataclass
class _Pending:
    """A group message waiting for `_judge_pending`, with what its judgement is recorded
    with; or a later copy of a message acted on already (`copy_of`), completed in its turn."""

    row: InboxEvent
    message: IncomingMessage
    group: Group | None = None
    mode: GroupMode = GroupMode.ENFORCE  # as this processor applies it (`_mode_of`)
    judged: BatchMessage | None = None  # what `judge_batch` reads; None for a copy
    copy_of: FirstCopy | None = None


@dataclass
class _BatchState:
    """What one transaction has read and written already, so that a batch of messages from
    a few groups reads each group, member, history and strike count once (the batch's own
    messages are added to them as it goes). Dropped when the transaction ends."""

    groups: dict[str, Group] = field(default_factory=dict)
    # (chat, user) → (row, first seen, messages before the next one)
    members: dict[tuple[str, str], tuple[GroupMember, datetime, int]] = field(default_factory=dict)
    history: dict[str, list[MessageMeta]] = field(default_factory=dict)  # by chat
    # text fingerprint → (since, until, the (chat, sent at) of its copies then): `_other_groups`
    spread: dict[str, tuple[datetime, datetime, list[tuple[str, datetime]]]] = field(
        default_factory=dict
    )
    # text fingerprint → (chat, sent at) of the batch's own messages with it, as judged
    copies: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)
    # by chat: what `history` was read for (the batch's own messages are added as they come)
    history_query: dict[str, activity_repo.HistoryQuery] = field(default_factory=dict)
    strikes: dict[tuple[str, str, bool], int] = field(default_factory=dict)  # standing
    pending: list[_Pending] = field(default_factory=list)  # queued for `_judge_pending`
    # group messages of the batch to moderate: (chat, sender, sent at, through the smart bot,
    # folded text)
    senders: list[tuple[str, str, datetime, bool, str]] = field(default_factory=list)
    # what `_write_messages` writes: member id → (messages counted, the last one's time), and
    # the messages' metadata rows
    counts: dict[int, tuple[int, datetime]] = field(default_factory=dict)
    metadata: list[dict[str, Any]] = field(default_factory=list)


def _wave_fingerprint(folded: str, thresholds: FloodThresholds) -> frozenset[str]:
    """The fingerprint the wave rule looks for in the history for a message folding to
    `folded`: none when the rule is off or the text is too short for it (the other rules read
    only the sender's own messages)."""
    if not (thresholds.wave_min_members and thresholds.wave_window_seconds):
        return frozenset()
    if len(folded) < thresholds.wave_min_chars:
        return frozenset()
    fingerprint = folded_fingerprint(folded)
    return frozenset({fingerprint}) if fingerprint else frozenset()


def _flood_meta(row: dict[str, Any]) -> MessageMeta:
    """An `activity_repo.row` as the flood rules read it."""
    return MessageMeta(
        at=row["sent_at"].timestamp(),
        sender=row["sender"],
        chat_id=row["chat_id"],
        msg_type=row["msg_type"],
        length=row["length"],
        text_hash=row["text_hash"],
    )


def _rule_of(violation: Violation) -> str:
    return violation.rule if isinstance(violation, Signal) else f"word.{violation.category.value}"


def describe(texts: Texts, violation: Violation) -> tuple[str, str]:
    """The rule's name and what fired, in the configured language, for warnings and alerts."""
    if isinstance(violation, Finding):
        return texts.category(violation.category.value), texts.render(
            "detail.word", word=mask_word(violation.word), how=how_found(texts, violation)
        )
    rule = texts.templates.get(f"rule.{violation.rule}", violation.rule)
    facts = violation.facts
    if {"count", "limit", "window_seconds"} <= facts.keys():
        detail = texts.render(
            "detail.count",
            seconds=f"{facts['window_seconds']:g}",
            count=facts["count"],
            limit=facts["limit"],
        )
    elif violation.evidence:
        detail = texts.render("detail.signal", what=mask_word(violation.evidence))
    else:
        detail = texts["detail.none"]
    return rule, detail


def _aibot_markdown(response_url: str, content: str) -> dict[str, Any]:
    return {
        "response_url": response_url,
        "body": {"msgtype": "markdown", "markdown": {"content": content}},
    }


def how_found(texts: Texts, finding: Finding) -> str:
    """How a hit was found, in the configured language: 谐音/形近字、字间插入符号 …"""
    how = "、".join(texts[f"route.{route.value}"] for route in finding.routes)
    if finding.confidence is Confidence.LOW:
        how += texts["confidence.low"]
    return how
