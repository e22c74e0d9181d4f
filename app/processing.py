"""Inbox → moderation → log + outbox: the work done after WeCom has had its 200.

Pending inbox events are handled in batches, one transaction per batch: the moderation log
rows, the outbox rows and the events' `done` marks are committed together, so a crash repeats
the batch from the start and the UNIQUE keys (inbox event of a log row, idempotency key of an
action) make the repeat harmless. When an event's handling raises, the batch is redone one event
per transaction; the failing event is retried on later passes and marked `failed` after
`MAX_ATTEMPTS`, with the error kept on the row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.commands import CommandContext, CommandRegistry, parse_command
from app.lexicon_runtime import LexiconHolder
from app.models import InboxEvent, ModerationLog
from app.repositories import inbox as inbox_repo
from app.repositories import outbox as outbox_repo
from app.texts import Texts
from bot.events import (
    AibotText,
    AppTextMessage,
    CallbackEvent,
    ExternalChatChange,
    MsgAuditNotify,
)
from bot.parsing import parse_aibot_message, parse_app_message
from moderation import Action, Decision, MessageFacts, SensitiveWordMatcher, evaluate, mask_word
from moderation.decision import strictest
from moderation.matcher import Confidence, Finding

__all__ = ["InboxProcessor", "ModerationContext", "masked_evidence", "parse_stored"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BATCH_SIZE = 50  # events handled per transaction
# Errors that say the database is unreachable: they are not the event's fault, so they do not
# count as a failed attempt.
DB_UNAVAILABLE = (OperationalError, InterfaceError, OSError)
EVIDENCE_CHARS = 200  # longest excerpt of a message quoted in an alert
MESSAGE_KINDS = frozenset({"aibot_text", "app_text"})


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


@dataclass(frozen=True)
class ModerationContext:
    """What the processor needs besides the database: lexicon, texts, commands, recipients."""

    lexicon: LexiconHolder
    texts: Texts
    commands: CommandRegistry
    moderators: tuple[str, ...]
    app_messages_enabled: bool

    @property
    def matcher(self) -> SensitiveWordMatcher:
        """The matcher served now (read per message: a reload swaps it between messages)."""
        return self.lexicon.matcher

    def is_moderator(self, user_id: str) -> bool:
        return user_id in self.moderators


class InboxProcessor:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        context: ModerationContext,
        *,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._context = context
        self._clock = clock
        self._on_enqueued = on_enqueued

    async def process_pending(self, *, limit: int = 500) -> int:
        """Handle up to `limit` pending events, oldest first; each event at most once per pass."""
        handled = 0
        after_id = 0
        while handled < limit:
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
                    for row in rows:
                        enqueued = await self._handle_and_mark(session, row) or enqueued
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
        return ids

    async def _process_single(self, event_id: int) -> bool:
        async with self._sessions() as session:
            try:
                async with session.begin():
                    row = await inbox_repo.claim_one(session, event_id)
                    return row is not None and await self._handle_and_mark(session, row)
            except DB_UNAVAILABLE:
                raise
            except Exception as exc:
                await self._record_failure(event_id, exc)
                return False

    async def _handle_and_mark(self, session: AsyncSession, row: InboxEvent) -> bool:
        enqueued = await self._handle(session, row)
        row.status = "done"
        row.processed_at = self._clock()
        row.attempts += 1
        if row.kind in MESSAGE_KINDS:
            row.plaintext = None
        return enqueued

    async def _record_failure(self, event_id: int, exc: Exception) -> None:
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
        """Carry out one event; returns whether outbox rows were added."""
        event = parse_stored(row.source, row.plaintext or "")
        if isinstance(event, AibotText):
            return await self._on_aibot_text(session, row, event)
        if isinstance(event, AppTextMessage):
            return await self._on_app_text(session, row, event)
        if isinstance(event, ExternalChatChange):
            log.info(
                "customer group %s: %s %s, %d member(s) changed",
                event.chat_id,
                event.change_type,
                event.update_detail or "-",
                len(event.members),
            )
        elif isinstance(event, MsgAuditNotify):
            log.info("chat archive has new data (msgaudit_notify); archive pulling is not set up")
        else:
            log.info("%s callback event %s (%s): nothing to do", row.source, row.id, row.kind)
        return False

    # -- messages ------------------------------------------------------------------------

    async def _on_aibot_text(
        self, session: AsyncSession, row: InboxEvent, event: AibotText
    ) -> bool:
        invocation = parse_command(event.content)
        if invocation is not None:
            reply = await self._context.commands.run(
                invocation, self._command_context(event.from_user, event.chat_id)
            )
            return self._reply_aibot(session, row, event, reply)
        if event.chat_type != "group":
            return self._reply_aibot(
                session, row, event, self._context.texts["command.not_command"]
            )
        decision = evaluate(
            MessageFacts(text=event.content, sender=event.from_user, chat_id=event.chat_id),
            self._context.matcher,
        )
        if not decision.flagged:
            return False
        entry = await self._log(
            session, row, event.from_user, event.chat_id, event.msg_id, event.content, decision
        )
        self._enqueue_actions(session, entry, decision, response_url=event.response_url)
        return True

    async def _on_app_text(
        self, session: AsyncSession, row: InboxEvent, event: AppTextMessage
    ) -> bool:
        invocation = parse_command(event.content)
        if invocation is None:
            reply = self._context.texts["command.not_command"]
        else:
            reply = await self._context.commands.run(
                invocation, self._command_context(event.from_user, "")
            )
        return self._reply_app(session, row, event.from_user, reply)

    def _command_context(self, sender: str, chat_id: str) -> CommandContext:
        return CommandContext(
            sender=sender,
            chat_id=chat_id,
            is_moderator=self._context.is_moderator(sender),
            texts=self._context.texts,
        )

    def _reply_aibot(
        self, session: AsyncSession, row: InboxEvent, event: AibotText, reply: str
    ) -> bool:
        if not event.response_url:
            log.warning("smart-bot message %s has no response_url; reply not sent", event.msg_id)
            return False
        outbox_repo.enqueue(
            session,
            idempotency_key=f"inbox:{row.id}:reply",
            kind="aibot_reply",
            payload=_aibot_markdown(event.response_url, reply),
            now=self._clock(),
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
            payload={"to_users": [user_id], "msgtype": "text", "content": {"content": reply}},
            now=self._clock(),
        )
        return True

    # -- moderation actions ------------------------------------------------------------

    async def _log(
        self,
        session: AsyncSession,
        row: InboxEvent,
        user_id: str,
        chat_id: str,
        message_id: str,
        text: str,
        decision: Decision,
    ) -> ModerationLog:
        entry = ModerationLog(
            inbox_event_id=row.id,
            created_at=self._clock(),
            source=row.source,
            chat_id=chat_id[:128],
            user_id=user_id[:128],
            message_id=message_id,
            text=text,
            findings=[finding.as_dict() for finding in decision.findings],
            verdict=decision.verdict,
            reason=decision.reason,
        )
        session.add(entry)
        await session.flush()
        log.info(
            "flagged message %s in %s from %s: %s → %s (log #%d)",
            message_id,
            chat_id or "1:1",
            user_id,
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
        *,
        response_url: str,
    ) -> None:
        texts = self._context.texts
        worst = strictest(decision.findings)
        rule = texts[f"category.{worst.category.value}"]
        severity = texts[f"severity.{worst.effective_severity.value}"]
        how = how_found(texts, worst)
        now = self._clock()
        warned = False
        if Action.WARN_SENDER in decision.actions:
            warning = texts.render(
                "warning",
                sender=entry.user_id,
                rule=rule,
                word=mask_word(worst.word),
                severity=severity,
                how=how,
            )
            warned = bool(response_url)
            outbox_repo.enqueue(
                session,
                idempotency_key=f"log:{entry.id}:warn",
                kind="aibot_reply",
                payload=_aibot_markdown(response_url, warning),
                now=now,
                moderation_log_id=entry.id,
                status="pending" if warned else "skipped",
                note=None if warned else "no response_url in the callback: nowhere to post it",
            )
        if Action.ALERT_MODERATORS in decision.actions:
            if Action.WARN_SENDER not in decision.actions:
                action_text = texts["action.alert"]
            elif warned:
                action_text = texts["action.warn"]
            else:
                action_text = texts["action.warn_unavailable"]
            alert = texts.render(
                "alert",
                chat=entry.chat_id or texts["chat.direct"],
                sender=entry.user_id,
                rule=rule,
                severity=severity,
                word=mask_word(worst.word),
                how=how,
                evidence=masked_evidence(entry.text, decision.findings),
                action=action_text,
                log_id=entry.id,
            )
            payload = {
                "to_users": list(self._context.moderators),
                "msgtype": "markdown",
                "content": {"content": alert},
            }
            note = None
            if not self._context.app_messages_enabled:
                note = "app messages are off (WECOM_APP_SECRET/WECOM_AGENT_ID not set)"
            elif not self._context.moderators:
                note = "no moderators configured (WECOM_ADMIN_USERIDS is empty)"
            if note is not None:
                log.warning("moderator alert for log #%d not sent: %s", entry.id, note)
            outbox_repo.enqueue(
                session,
                idempotency_key=f"log:{entry.id}:alert",
                kind="app_message",
                payload=payload,
                now=now,
                moderation_log_id=entry.id,
                status="pending" if note is None else "skipped",
                note=note,
            )


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
