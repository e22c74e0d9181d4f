"""Recording flagged judgements: their moderation log rows, strikes, outbox rows (the warning,
the removal, the moderators' alert) and the texts they carry, with one statement per table for
all the judgements of a batch (Core rows, not ORM objects: the batch's hot path).

Called by `app.judging.processing` in the judged messages' order, inside the batch's
transaction, so the rows are committed with the inbox events' `done` marks.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.groups.actions import warning_action
from app.groups.alerts import alert_problem, alert_recipients, group_label
from app.groups.policy_file import effective_policy
from app.judging.context import ModerationContext
from app.judging.events import IncomingMessage
from app.log_format import event_context
from app.models import Group
from app.repositories import moderation_log as log_repo
from app.repositories import outbox as outbox_repo
from app.repositories import strikes as strikes_repo
from app.repositories.inbox import ClaimedEvent
from app.screening.record import record_lines
from app.texts.findings import describe, how_found, masked_evidence
from moderation import (
    Action,
    Decision,
    GroupMode,
    GroupPolicy,
    Signal,
    Step,
    Violation,
    mask_word,
    strictest,
)
from moderation.matcher import Finding

__all__ = ["Flagged", "Recorder"]

# The processor's logger: a flagged message is logged where operators have always found it.
log = logging.getLogger("app.judging.processing")


@dataclass(frozen=True, slots=True)
class Flagged:
    """A flagged judgement to record: the inbox row and message it is about, the decision,
    the group's mode as applied and the group."""

    row: ClaimedEvent
    message: IncomingMessage
    decision: Decision
    mode: GroupMode
    group: Group


@dataclass(frozen=True, slots=True)
class _Logged:
    """What the actions read of a log row written by `Recorder.record_many`."""

    id: int
    chat_id: str
    user_id: str
    text: str


class Recorder:
    """Writes what flagged judgements leave behind (`record_many`)."""

    def __init__(self, context: ModerationContext, *, clock: Callable[[], datetime]) -> None:
        self._context = context
        self._clock = clock

    async def record_many(self, session: AsyncSession, flagged: Sequence[Flagged]) -> bool:
        """The log rows, the strikes and (unless in shadow mode) the actions of flagged
        decisions, in their order, with one statement per table; returns whether any action
        will be sent. A moderators' alert names the member's strikes in other groups, the
        ones given earlier in `flagged` included (`record_lines`)."""
        if not flagged:
            return False
        now = self._clock()
        ids = await log_repo.add_many(session, [_log_row(item, now) for item in flagged])
        strikes = []
        alerts: list[tuple[str, str, GroupPolicy, Mapping[str, int]]] = []
        given: dict[str, Counter[str]] = {}  # user id → chat id → strikes given so far
        for item, log_id in zip(flagged, ids, strict=True):
            message, decision = item.message, item.decision
            shadow = item.mode is GroupMode.SHADOW
            with event_context(str(item.row.id)):
                log.info(
                    "%sflagged message %s in %s from %s: %s → %s (log #%d)",
                    "[shadow] " if shadow else "",
                    message.message_id,
                    message.chat_id or "1:1",
                    message.sender,
                    decision.reason,
                    decision.verdict,
                    log_id,
                )
            chat_id, user_id = message.chat_id[:128], message.sender[:128]
            if not shadow and Action.ALERT_MODERATORS in decision.actions:
                policy = effective_policy(item.group, self._context.policy)
                alerts.append((chat_id, user_id, policy, Counter(given.get(message.sender, ()))))
            if decision.strike:
                strikes.append(
                    strikes_repo.row(
                        chat_id=message.chat_id,
                        user_id=message.sender,
                        created_at=now,
                        moderation_log_id=log_id,
                        rule=_rule_of(strictest(decision.violations)),
                        shadow=shadow,
                    )
                )
                if not shadow:
                    given.setdefault(message.sender, Counter())[message.chat_id] += 1
        records = iter(
            await record_lines(session, self._context.texts, alerts, now=now) if alerts else ()
        )
        await strikes_repo.add_many(session, strikes)
        actions: list[dict[str, Any]] = []
        queued = False
        for item, log_id in zip(flagged, ids, strict=True):
            if item.mode is GroupMode.SHADOW:
                continue
            decision, message = item.decision, item.message
            record = next(records) if Action.ALERT_MODERATORS in decision.actions else ""
            entry = _Logged(log_id, message.chat_id[:128], message.sender[:128], message.text)
            with event_context(str(item.row.id)):
                queued = (
                    self._actions(
                        actions,
                        entry,
                        decision,
                        item.group,
                        message.response_url,
                        now=now,
                        record=record,
                    )
                    or queued
                )
        await outbox_repo.add_many(session, actions)
        return queued

    def _actions(
        self,
        actions: list[dict[str, Any]],
        entry: _Logged,
        decision: Decision,
        group: Group,
        response_url: str,
        *,
        now: datetime,
        record: str = "",
    ) -> bool:
        """Add the decision's actions (`outbox_repo.row`) to `actions`; returns whether any
        will be sent. `record`: a line on the member's record in other groups, added to the
        alert."""
        texts = self._context.texts
        worst = strictest(decision.violations)
        rule, detail = describe(texts, worst)
        word = mask_word(worst.word) if isinstance(worst, Finding) else ""
        how = how_found(texts, worst) if isinstance(worst, Finding) else ""
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
            action, warned = warning_action(
                group, entry.id, entry.user_id, warning, now=now, response_url=response_url
            )
            actions.append(action)
            queued = warned or queued
        if Action.REMOVE_MEMBER in decision.actions:
            queued = True
            actions.append(
                outbox_repo.row(
                    idempotency_key=f"log:{entry.id}:remove",
                    kind="appchat_remove",
                    payload={"chat_id": entry.chat_id, "user_ids": [entry.user_id]},
                    now=now,
                    moderation_log_id=entry.id,
                )
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
            actions.append(
                outbox_repo.row(
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


def _log_row(item: Flagged, now: datetime) -> dict[str, Any]:
    """The moderation log row of a flagged judgement (`log_repo.add_many`)."""
    message, decision = item.message, item.decision
    return {
        "inbox_event_id": item.row.id,
        "created_at": now,
        "source": item.row.source,
        "chat_id": message.chat_id[:128],
        "user_id": message.sender[:128],
        "message_id": message.message_id,
        "text": message.text,
        "findings": [violation.as_dict() for violation in decision.violations],
        "verdict": decision.verdict,
        "reason": decision.reason,
        "mode": item.mode.value,
        "step": decision.step.value if decision.step else None,
        "strikes": decision.strikes,
        "actions": [action.value for action in decision.actions],
    }


def _rule_of(violation: Violation) -> str:
    return violation.rule if isinstance(violation, Signal) else f"word.{violation.category.value}"
