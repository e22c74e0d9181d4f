"""Recording one judgement: its moderation log row, its strike, its outbox rows (the warning,
the removal, the moderators' alert) and the texts they carry.

Called by `app.judging.processing` in the judged messages' order, inside the batch's
transaction, so the rows are committed with the inbox events' `done` marks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.groups.actions import queue_warning
from app.groups.alerts import alert_problem, alert_recipients, group_label
from app.groups.policy_file import effective_policy
from app.judging.context import ModerationContext
from app.judging.events import IncomingMessage
from app.models import Group, InboxEvent, ModerationLog
from app.repositories import moderation_log as log_repo
from app.repositories import outbox as outbox_repo
from app.repositories import strikes as strikes_repo
from app.screening.record import record_line
from app.texts.findings import describe, how_found, masked_evidence
from moderation import (
    Action,
    Decision,
    GroupMode,
    Signal,
    Step,
    Violation,
    mask_word,
    strictest,
)
from moderation.matcher import Finding

__all__ = ["Recorder"]

# The processor's logger: a flagged message is logged where operators have always found it.
log = logging.getLogger("app.judging.processing")


class Recorder:
    """Writes what one flagged judgement leaves behind (`record`)."""

    def __init__(self, context: ModerationContext, *, clock: Callable[[], datetime]) -> None:
        self._context = context
        self._clock = clock

    async def record(
        self,
        session: AsyncSession,
        row: InboxEvent,
        message: IncomingMessage,
        decision: Decision,
        mode: GroupMode,
        group: Group,
    ) -> bool:
        """The log row, the strike and (unless in shadow mode) the actions of a flagged
        decision; returns whether any action will be sent."""
        shadow = mode is GroupMode.SHADOW
        entry = await self._log(session, row, message, decision, mode)
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
        record = ""  # the member's record in other groups (app.screening.record)
        if Action.ALERT_MODERATORS in decision.actions:
            policy = effective_policy(group, self._context.policy)
            record = await record_line(
                session,
                self._context.texts,
                entry.chat_id,
                entry.user_id,
                policy=policy,
                now=self._clock(),
            )
        return self._enqueue_actions(
            session, entry, decision, group, message.response_url, record=record
        )

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
        await log_repo.add(session, entry)
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
        *,
        record: str = "",
    ) -> bool:
        """Queue the decision's actions; returns whether any will be sent. `record`: a line
        on the member's record in other groups, added to the alert."""
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
            alert += record
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


def _rule_of(violation: Violation) -> str:
    return violation.rule if isinstance(violation, Signal) else f"word.{violation.category.value}"
