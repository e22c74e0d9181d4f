"""Inbox → moderation → log + outbox: the work done after WeCom has had its 200.

Pending inbox events are handled in batches, one transaction per batch: the moderation log
rows, the outbox rows and the events' `done` marks are committed together, so a crash repeats
the batch from the start and the UNIQUE keys (inbox event of a log row, idempotency key of an
action) make the repeat harmless. When an event's handling raises, the batch is redone one event
per transaction; the failing event is retried on later passes and marked `failed` after
`MAX_ATTEMPTS`, with the error kept on the row.

Group messages are judged by `moderation.judge_batch`, the one judging pipeline: this module
has their facts gathered (groups, members with their messages and standing strikes, who is
exempt, the groups' recent messages and where each text went lately: `app.judging.facts`, read
for the whole batch by its `prefetch`), queues the batch's messages, judges them together, and
records each judgement in order (log row, strike, outbox rows: `app.judging.record`). An event
that is not such a message (a command, a recall, a member change) is carried out after the
messages before it are judged and recorded, so it sees them, and the messages after it see what
it did.

Chat-archive records (source "archive", stored by `app.ingest.archive` or
`app.ingest.archive_import`) are group messages like the smart bot's, seen whether or not
anyone mentions the bot: they are mapped to an `IncomingMessage` (time from the record's
msgtime) and moderated the same way. A revoke marks the recalled message's log row; 1:1
chats (unless ARCHIVE_INCLUDE_DIRECT), robots' messages and company switches are not
moderated (`archive_skip_reason`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.registry import (
    CommandContext,
    Invocation,
    Reply,
    parse_command,
)
from app.db import DB_UNAVAILABLE
from app.groups.capabilities import aibot_markdown
from app.groups.policy_file import effective_policy
from app.groups.welcome import note_join
from app.health.rollup import RollupTally
from app.judging.context import ModerationContext
from app.judging.cross_channel import CopyRegister, FirstCopy
from app.judging.events import (
    ARCHIVE_KIND,
    IncomingMessage,
    archive_chat_id,
    archive_skip_reason,
    is_recall,
    parse_stored,
)
from app.judging.facts import FactsReader
from app.judging.record import Flagged, Recorder
from app.log_format import event_context
from app.models import Group
from app.repositories import activity as activity_repo
from app.repositories import archive as archive_repo
from app.repositories import groups as groups_repo
from app.repositories import health as health_repo
from app.repositories import inbox as inbox_repo
from app.repositories import outbox as outbox_repo
from app.repositories import strikes as strikes_repo
from app.repositories import welcomes as welcomes_repo
from app.repositories.inbox import ClaimedEvent
from app.screening.record import strikes_from_elsewhere
from app.screening.requests import request_screening
from bot.archive import ArchiveMessage, parse_archive_message
from bot.client import APP_MESSAGE_MAX_BYTES, truncate_utf8
from bot.events import (
    AibotText,
    AppTextMessage,
    CallbackEvent,
    ExternalChatChange,
    MsgAuditNotify,
)
from moderation import GroupMode, GroupPolicy, fold
from moderation.flood import MAX_WINDOW_SECONDS, folded_fingerprint
from moderation.pipeline import BatchMessage, Judgement, judge_each

__all__ = ["MAX_ATTEMPTS", "MAX_BATCH", "SQLITE_MAX_BATCH", "InboxProcessor"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Events handled per transaction at most. A batch runs about 20 statements whether it holds
# 10 events or 500, so a backlog is worked off in large batches; without one a batch is what
# has arrived since the last. On SQLite a callback being stored waits for the batch's
# transaction (the one write lock): batches are kept smaller there.
MAX_BATCH = 500
SQLITE_MAX_BATCH = 200
# Within a batch, judging hands the event loop back at least this often (the callbacks this
# replica answers run in between).
PACE_SECONDS = 0.005
MESSAGE_KINDS = frozenset({"aibot_text", "app_text", ARCHIVE_KIND})
# Archive message types judged as another type by the detectors.
_ARCHIVE_TYPE_ALIASES = {"external_redpacket": "redpacket"}
PRUNE_EVERY = timedelta(minutes=10)  # how often old message metadata is deleted


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
        archive_enabled: bool = True,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._sessions = sessions
        self._max_batch = max_batch  # events per transaction at most
        self._pace_until = 0.0  # `_pace`
        # Copies of a message through both channels (`app.judging.cross_channel`) exist only
        # with the chat archive: without it, a batch with no archive record (left from when it
        # was on) neither reads nor writes `message_copies`.
        self.archive_enabled = archive_enabled
        self._copies_on = archive_enabled
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
        self._facts = self._new_facts()
        self._recorder = Recorder(context, clock=clock)
        # The open transaction's community-health counts (`app.health.rollup`).
        self._tally = RollupTally(context.rollups)
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
        """Delete message metadata older than any flood window can look back, and health
        rollups older than HEALTH_RETENTION_DAYS; returns how many rows went. Runs after inbox
        passes, at most every PRUNE_EVERY."""
        now = now or self._clock()
        self._pruned_at = now
        rollups = self._context.rollups
        async with self._sessions() as session, session.begin():
            pruned = await activity_repo.prune(
                session, before=now - timedelta(seconds=MAX_WINDOW_SECONDS)
            )
            days = await health_repo.prune(
                session, before_day=rollups.day(now) - rollups.retention_days + 1
            )
        if pruned:
            log.info("pruned metadata of %d message(s) older than a day", pruned)
        if days:
            log.info(
                "pruned %d health rollup row(s) older than %d days", days, rollups.retention_days
            )
        return pruned + days

    async def process_pending(self, *, limit: int = 500) -> int:
        """Handle up to `limit` pending events, oldest first; each event at most once per pass."""
        if self._pruned_at is None or self._clock() - self._pruned_at >= PRUNE_EVERY:
            await self.prune_activity()
        handled = 0
        after_id = 0
        while handled < limit:
            if self._give_way is not None:
                await self._give_way()
            ids = await self._process_batch(after_id, min(self._max_batch, limit - handled))
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
                    await self._facts.prefetch(session)
                    for row in rows:
                        enqueued = await self._handle_and_mark(session, row) or enqueued
                        await self._pace()
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

    async def _pace(self) -> None:
        """Hand the event loop back if judging has had it for PACE_SECONDS: judging a message
        takes a fraction of a millisecond and most need no query, so between two the callbacks
        this replica answers get their turn."""
        now = time.perf_counter()
        if now >= self._pace_until:
            await asyncio.sleep(0)
            self._pace_until = time.perf_counter() + PACE_SECONDS

    def _start_batch(self, rows: Sequence[ClaimedEvent]) -> None:
        """Forget what the previous transaction cached; scan the new batch's texts."""
        self._batch = _BatchState()
        self._facts = self._new_facts()
        self._tally = RollupTally(self._context.rollups)
        self._decided = []
        self._copies_on = self.archive_enabled or any(row.kind == ARCHIVE_KIND for row in rows)
        self._scan(rows)

    def _new_facts(self) -> FactsReader:
        """An empty reader of the facts for a new transaction."""
        return FactsReader(
            self._context, clock=self._clock, policy_for=self._policy_for, mode_of=self._mode_of
        )

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
        done, self._batch.done = self._batch.done, []
        await inbox_repo.mark_done(session, done, at=self._clock())
        return judged

    async def _write_messages(self, session: AsyncSession) -> None:
        """Write what this transaction has seen of messages so far: the members' counts, the
        messages' metadata (and their copies, `app.judging.cross_channel`) and the health
        rollups, one statement each."""
        await groups_repo.record_messages(session, self._batch.counts)
        self._batch.counts.clear()
        await activity_repo.add_many(session, self._facts.metadata)
        self._facts.metadata.clear()
        await self.copies.write(session)
        await self._tally.write(session)

    def _scan(self, rows: Sequence[ClaimedEvent]) -> None:
        """Parse the batch's events once; note its group messages to moderate, what each
        member said and its fold (for `FactsReader.prefetch` and `judge_batch`)."""
        self._said = {}
        self._archive_parsed = {}
        self._callback_parsed = {}
        senders = self._facts.senders
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
        self._facts = self._new_facts()
        self._tally = RollupTally(self._context.rollups)
        self._archive_parsed = {}
        self._callback_parsed = {}
        self._decided = []
        async with self._sessions() as session:
            try:
                async with session.begin():
                    row = await inbox_repo.claim_one(session, event_id)
                    self._copies_on = self.archive_enabled or (
                        row is not None and row.kind == ARCHIVE_KIND
                    )
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

    async def _handle_and_mark(self, session: AsyncSession, row: ClaimedEvent) -> bool:
        """Handle the event; it is marked done with the transaction's others (`_finish`)."""
        with event_context(str(row.id)):
            enqueued = await self._handle(session, row)
        self._batch.done.append((row.id, row.kind in MESSAGE_KINDS))
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

    async def _handle(self, session: AsyncSession, row: ClaimedEvent) -> bool:
        """Carry out one event; returns whether outbox rows were added. A group message to
        moderate waits for the next `_judge_pending` (with the batch's next ones); any other
        event is carried out after the messages before it are judged."""
        if row.id in self._said:
            return await self._dispatch(session, row)
        judged = await self._judge_pending(session)
        return await self._dispatch(session, row) or judged

    async def _dispatch(self, session: AsyncSession, row: ClaimedEvent) -> bool:
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
        welcome (`app.groups.welcome`). The member list is fetched from WeCom (a sync) when the
        group is new to the service, was created or renamed or changed owner, or when the event's
        LastMemVer is not the version stored (a callback was lost or came out of order)."""
        if not event.chat_id:
            log.warning("change_external_chat without a ChatId: ignored")
            return
        now = self._clock()
        # when it happened, for the health rollups' day (the delivery can be late)
        at = datetime.fromtimestamp(event.create_time, UTC) if event.create_time > 0 else now
        group = await groups_repo.ensure(session, event.chat_id, now=now, kind="customer")
        self._facts.groups[event.chat_id] = group
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
            self._tally.joined(event.chat_id, changed, at)
            if changed and policy.welcome:
                await welcomes_repo.request_welcome(
                    session,
                    group.id,
                    due=now + timedelta(seconds=policy.welcome_window_seconds),
                )
            # Join screening (app.screening): the newcomers are screened before any welcome.
            request_screening(session, group, changed, policy=policy, at=now, source="join")
        elif event.update_detail == "del_member":
            for user_id in event.members:
                member = members[event.chat_id, user_id]
                if member.left_at is None:
                    member.left_at = now
                    changed.append(user_id)
            self._tally.left(event.chat_id, changed, at, removed=event.quit_scene == 1)
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

    def _callback_event(self, row: ClaimedEvent) -> CallbackEvent:
        """The stored callback, parsed (once per batch: `_scan` and the handler share it)."""
        event = self._callback_parsed.get(row.id)
        if event is None:
            event = self._callback_parsed[row.id] = parse_stored(row.source, row.plaintext or "")
        return event

    def _archive_message(self, row: ClaimedEvent) -> ArchiveMessage:
        """The stored archive record, parsed (once per batch). Raises ValueError or
        `MalformedArchiveRecord` for a record that is not the documented JSON."""
        message = self._archive_parsed.get(row.id)
        if message is None:
            message = parse_archive_message(json.loads(row.plaintext or ""))
            self._archive_parsed[row.id] = message
        return message

    async def _on_archive(self, session: AsyncSession, row: ClaimedEvent) -> bool:
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
        self, session: AsyncSession, row: ClaimedEvent, event: AibotText
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
        self, session: AsyncSession, row: ClaimedEvent, event: AppTextMessage
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
        group = self._facts.groups.get(chat_id)
        if group is None:
            group = await groups_repo.ensure(
                session, chat_id, now=self._clock(), smart_bot=smart_bot
            )
            self._facts.groups[chat_id] = group
        elif smart_bot and not group.smart_bot:
            group.smart_bot = True
        return group

    def _command_context(
        self,
        session: AsyncSession,
        row: ClaimedEvent,
        *,
        sender: str,
        group: Group | None,
        message_id: str,
    ) -> CommandContext:
        """What a command runs with (`app.chat.registry`): this transaction, the clock's now, the
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
        self._facts.strikes.clear()
        if context.lexicon_changed:
            self._lexicon_changed = True
        return reply

    def _reply_aibot(
        self,
        session: AsyncSession,
        row: ClaimedEvent,
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
            payload=aibot_markdown(event.response_url, reply),
            now=self._clock(),
            moderation_log_id=moderation_log_id,
        )
        return True

    def _reply_app(
        self, session: AsyncSession, row: ClaimedEvent, user_id: str, reply: str
    ) -> bool:
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
        self, session: AsyncSession, row: ClaimedEvent, message: IncomingMessage, *, smart_bot: bool
    ) -> bool:
        """Gather the facts one group message is judged with, and queue it for
        `_judge_pending`; returns whether actions were queued meanwhile (messages queued
        before it are judged first when a fact must be read with them in the history). In
        `off` mode nothing happens at all. A copy of a message the other channel delivered
        and the service acted on already is not judged again (`app.judging.cross_channel`)."""
        batch, facts = self._batch, self._facts
        first = None
        if self._copies_on:
            batch_messages = ((chat, user, at) for chat, user, at, _bot, _f in facts.senders)
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
        if who not in facts.members:
            facts.members.update(
                await groups_repo.ensure_member_counts(session, {who: message.sent_at})
            )
        standing_key = (message.chat_id, message.sender, mode is GroupMode.SHADOW)
        if standing_key not in facts.strikes:
            facts.strikes[standing_key] = await strikes_repo.standing_count(
                session,
                message.chat_id,
                message.sender,
                since=self._clock() - timedelta(days=policy.strike_window_days),
                shadow=mode is GroupMode.SHADOW,
            )
            facts.strikes[standing_key] += await strikes_from_elsewhere(
                session, message.chat_id, message.sender, policy=policy, now=self._clock()
            )  # a member's record across groups (app.screening.record)
        judged = False
        if not self._facts.history_covers(message.chat_id, message.sender, folded, policy):
            judged = await self._judge_pending(session)
            await self._facts.read_history(session, message, folded, policy)
        text_hash = folded_fingerprint(folded)
        if not self._facts.spread_covers(text_hash, message.sent_at, policy):
            judged = await self._judge_pending(session) or judged
            await self._facts.read_spread(session, text_hash, message.sent_at, policy)
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

    async def _judge_pending(self, session: AsyncSession) -> bool:
        """Judge the queued group messages with one `judge_batch`, then, in their order,
        record each (the batch's state, the log row, the strike) and queue its actions;
        returns whether any will be sent. In shadow mode the decision is logged (strikes too,
        kept apart) and nothing is queued."""
        batch = self._batch
        pending, batch.pending = batch.pending, []
        if not pending:
            return False
        judgements = judge_each(
            [item.judged for item in pending if item.judged is not None],
            self._facts.batch_facts(pending),
        )
        queued = False
        flagged: list[Flagged] = []
        for item in pending:
            if item.copy_of is not None:
                # the first copy's log row and warning must be written for the later copy
                queued = await self._recorder.record_many(session, flagged) or queued
                flagged = []
                with event_context(str(item.row.id)):
                    queued = (
                        await self.copies.complete(session, item.copy_of, item.message) or queued
                    )
            else:
                with event_context(str(item.row.id)):
                    self._record(item, next(judgements), flagged)
                await self._pace()
        return await self._recorder.record_many(session, flagged) or queued

    def _record(self, item: _Pending, judgement: Judgement, flagged: list[Flagged]) -> None:
        """Apply one judgement to the batch's state (counts, history, metadata, strikes,
        rollups); a flagged one joins `flagged`, written by `Recorder.record_many`."""
        batch, facts, message, group = self._batch, self._facts, item.message, item.group
        decision, meta = judgement.decision, judgement.meta
        assert decision is not None and meta is not None and group is not None  # noqa: S101
        who = (message.chat_id, message.sender)
        member_id, first_seen_at, earlier = facts.members[who]
        facts.members[who] = (member_id, first_seen_at, earlier + 1)
        added, last = batch.counts.get(member_id, (0, message.sent_at))
        batch.counts[member_id] = (added + 1, max(last, message.sent_at))
        facts.history.setdefault(message.chat_id, []).append(meta)
        if meta.text_hash:
            facts.copies.setdefault(meta.text_hash, []).append((message.chat_id, message.sent_at))
        facts.metadata.append(
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
        facts.strikes[(*who, shadow)] = decision.strikes
        if not group.sandbox:  # the sandbox's are no statistic (`app.repositories.sandbox`)
            self._decided.append((decision.verdict, item.mode.value))
        self._tally.message(
            chat_id=message.chat_id,
            sender=message.sender,
            at=message.sent_at,
            source=message.source,
            decision=decision,
            staff=bool(facts.exempt(group, message.sender)),
            sandbox=group.sandbox,
        )
        if decision.flagged:
            flagged.append(Flagged(item.row, message, decision, item.mode, group))

    def _policy_for(self, group: Group | None) -> GroupPolicy:
        """The service's policy with the group's overrides (`effective_policy`)."""
        return effective_policy(group, self._context.policy)


@dataclass
class _Pending:
    """A group message waiting for `_judge_pending`, with what its judgement is recorded
    with; or a later copy of a message acted on already (`copy_of`), completed in its turn."""

    row: ClaimedEvent
    message: IncomingMessage
    group: Group | None = None
    mode: GroupMode = GroupMode.ENFORCE  # as this processor applies it (`_mode_of`)
    judged: BatchMessage | None = None  # what `judge_batch` reads; None for a copy
    copy_of: FirstCopy | None = None


@dataclass
class _BatchState:
    """What one transaction queues and counts besides its facts (`FactsReader`). Dropped when
    the transaction ends."""

    pending: list[_Pending] = field(default_factory=list)  # queued for `_judge_pending`
    # what `_write_messages` writes: member id → (messages counted, the last one's time)
    counts: dict[int, tuple[int, datetime]] = field(default_factory=dict)
    # the events handled, for `_finish` to mark done: (id, whether its plaintext is dropped)
    done: list[tuple[int, bool]] = field(default_factory=list)
