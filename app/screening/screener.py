"""`JoinScreener`: the worker pass that screens newcomers, and a screening by hand.

Each pass claims the screenings due (a conditional UPDATE of the due time to a lease, so one
replica takes each), then per group:

1. reads the group, its effective policy and mode (mode `off`, or `join_screening` off for a
   join, skips); the members' names come from one `groupchat/get` (need_name=1) of a customer
   group, which also says who is a member of the company (type 1: not screened); else from
   the names the service holds. A failed call is retried with backoff (RETRY_BASE doubling,
   MAX_ATTEMPTS), after which the newcomers are screened with the names held;
2. looks up each external newcomer (`app.screening.contacts`: cached, at most one
   `externalcontact/get` per newcomer) and the company's groups each joined within the
   policy's `hop_window_hours`;
3. judges each (`moderation.screening.screen_newcomer`) and records, in one transaction: a
   moderation log row (source `join`, findings, verdict, mode) per newcomer with something to
   alert, and unless the group is in shadow mode a removal (`appchat_remove`, where the policy
   says `remove` and WeCom allows it: the member is then marked welcomed, so no welcome names
   them) and one alert per group and pass to the moderators and the owner (and whoever asked
   for a screening by hand), with the evidence and what to do by hand. Whoever asked by chat
   command is told when nothing was found.

The pass runs before the welcomes of the same worker loop (`app.main`), so a newcomer removed
by screening is not named in a welcome due at the same time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.groups.alerts import alert_problem, alert_recipients, group_label
from app.groups.capabilities import GroupCapabilities
from app.groups.policy_file import effective_policy
from app.judging.context import ModerationContext
from app.models import Group, GroupKind, ModerationLog
from app.repositories import groups as groups_repo
from app.repositories import moderation_log as log_repo
from app.repositories import outbox as outbox_repo
from app.repositories import screenings as screenings_repo
from app.repositories import strikes as strikes_repo
from app.repositories import welcomes as welcomes_repo
from app.screening.contacts import Contact, ContactDirectory, is_external
from app.texts import Texts
from app.texts.findings import describe, masked_evidence
from bot.client import APP_MESSAGE_MAX_BYTES, GroupInfo, WeComClient, truncate_utf8
from bot.errors import ConfigurationError, WeComApiError
from moderation import Action, Decision, GroupMode, GroupPolicy, Signal, Violation, is_offence
from moderation import JoinScreening as Policy
from moderation.screening import ContactKind, Newcomer, name_text, screen_newcomer

__all__ = ["MANUAL_SOURCES", "JoinScreener", "ScreeningOutcome"]

log = logging.getLogger(__name__)

BATCH = 100  # screenings claimed per pass
LEASE = timedelta(minutes=5)  # a claimed screening is retaken by another replica after this
RETRY_BASE = 30.0  # seconds before retrying after a failed groupchat/get; doubles each time
MAX_ATTEMPTS = 5  # failed groupchat/get calls before newcomers are screened with names held
COMPANY_MEMBER = 1  # groupchat/get member type: a member of the corp
MANUAL_SOURCES = frozenset({"command", "api"})  # screenings asked for by hand
# Why a newcomer is not screened (each has the text screen.skip.<key>).
SKIPS = {
    "group_unknown": "the group is not known to the service",
    "mode_off": "the group's mode is off",
    "policy_off": "join_screening is off in the group",
    "exempt": "a moderator, the owner or staff",
    "company_member": "a member of the company",
}


@dataclass(frozen=True)
class ScreeningOutcome:
    """What one screening came to: `clean`, `flagged`, `skipped` or `retry` (WeCom failed;
    due again later)."""

    screening_id: int
    chat_id: str
    user_id: str
    outcome: str
    note: str = ""
    log_id: int | None = None
    decision: Decision | None = None


@dataclass
class _Item:
    """A claimed screening, with what was found."""

    row_id: int
    user_id: str
    source: str
    requested_by: str
    attempts: int
    newcomer: Newcomer | None = None
    decision: Decision | None = None
    skipped: str = ""  # why not screened: a key of SKIPS
    notes: list[str] = field(default_factory=list)


class JoinScreener:
    """Screens newcomers (see the module docstring); `run` is one worker pass."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: WeComClient,
        context: ModerationContext,
        contacts: ContactDirectory,
        *,
        clock: Callable[[], datetime],
        own_corps: Sequence[str] = (),
        partner_corps: Sequence[str] = (),
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._context = context
        self.contacts = contacts
        self._clock = clock
        self._own_corps = tuple(own_corps)
        self._partner_corps = tuple(partner_corps)
        self._on_enqueued = on_enqueued

    async def run(self) -> int:
        """Claim and screen the screenings due; returns how many were claimed."""
        now = self._clock()
        async with self._sessions() as session:
            due = await screenings_repo.due(session, now=now, limit=BATCH)
        if not due:
            return 0
        claimed = []
        async with self._sessions() as session, session.begin():
            for row_id, seen in due:
                if await screenings_repo.claim(session, row_id, seen=seen, until=now + LEASE):
                    claimed.append(row_id)
        if claimed:
            await self.screen(claimed)
        return len(claimed)

    async def screen_by_hand(
        self, group: Group, user_id: str, *, source: str, requested_by: str
    ) -> ScreeningOutcome:
        """Screen a member now, whatever the group's `join_screening` (REST); the result is
        recorded and carried out like a join's."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            (row,) = screenings_repo.request(
                session,
                group.chat_id,
                [user_id],
                source=source,
                at=now,
                requested_by=requested_by,
            )
            row.due_at = now + LEASE  # claimed: the worker leaves it alone
            await session.flush()
            row_id = row.id
        (outcome,) = await self.screen([row_id])
        return outcome

    async def screen(self, ids: Sequence[int]) -> list[ScreeningOutcome]:
        """Screen claimed screenings, group by group."""
        async with self._sessions() as session:
            rows = await screenings_repo.rows(session, ids)
            by_chat: dict[str, list[_Item]] = {}
            for row in rows:
                by_chat.setdefault(row.chat_id, []).append(
                    _Item(row.id, row.user_id, row.source, row.requested_by, row.attempts)
                )
        outcomes: list[ScreeningOutcome] = []
        for chat_id, items in by_chat.items():
            outcomes += await self._screen_group(chat_id, items)
        return outcomes

    # -- one group ---------------------------------------------------------------------

    async def _screen_group(self, chat_id: str, items: list[_Item]) -> list[ScreeningOutcome]:
        now = self._clock()
        async with self._sessions() as session:
            group = await groups_repo.get(session, chat_id)
            held = await welcomes_repo.members_by_user(session, chat_id)
            names = {user_id: member.name for user_id, member in held.items()}
        if group is None:
            for item in items:
                item.skipped = "group_unknown"
            return await self._record(chat_id, None, GroupMode.OFF, items, now)
        policy = effective_policy(group, self._context.policy)
        mode = policy.mode
        for item in items:
            if mode is GroupMode.OFF:
                item.skipped = "mode_off"
            elif policy.join_screening is Policy.OFF and item.source not in MANUAL_SOURCES:
                item.skipped = "policy_off"
        live = [item for item in items if not item.skipped]
        info: GroupInfo | None = None
        if live and group.kind == GroupKind.CUSTOMER and self._client.can_send_app_messages:
            try:
                info = await self._client.get_customer_group(chat_id)
            except ConfigurationError as exc:
                log.error("customer group %s: names not fetched for screening: %s", chat_id, exc)
            except WeComApiError as exc:
                if any(item.attempts + 1 < MAX_ATTEMPTS for item in live):
                    skipped = [item for item in items if item.skipped]
                    retried = await self._retry(chat_id, live, now, exc)
                    return retried + await self._record(
                        chat_id, group, mode, skipped, now, policy=policy
                    )
                log.warning(
                    "customer group %s: names not fetched after %d tries; screening with the "
                    "names held: %s",
                    chat_id,
                    MAX_ATTEMPTS,
                    exc,
                )
        if info is not None:
            names.update(info.member_names)
        exempt = {
            *self._context.moderators,
            *self._context.staff,
            *(group.moderators or ()),
            group.owner,
        } - {""}
        for item in live:
            kind = info.member_types.get(item.user_id) if info is not None else None
            if item.user_id in exempt:
                item.skipped = "exempt"
            elif kind == COMPANY_MEMBER or (kind is None and not is_external(item.user_id)):
                item.skipped = "company_member"
        live = [item for item in live if not item.skipped]
        contacts = await self.contacts.lookup([item.user_id for item in live])
        removal_possible = GroupCapabilities.of(group).removal().channel is not None
        since = now - timedelta(hours=policy.hop_window_hours)
        strikes_since = now - timedelta(days=policy.strike_window_days)
        async with self._sessions() as session:
            for item in live:
                elsewhere = await strikes_repo.standing_elsewhere(
                    session, item.user_id, except_chat=chat_id, since=strikes_since
                )
                joined = await screenings_repo.joined_groups(session, item.user_id, since=since)
                if chat_id not in joined:
                    joined.append(chat_id)
                contact = contacts.get(item.user_id, Contact(ContactKind.UNCHECKED))
                if contact.note:
                    item.notes.append(f"contact not checked: {contact.note}")
                item.newcomer = Newcomer(
                    chat_id=chat_id,
                    user_id=item.user_id,
                    name=names.get(item.user_id, ""),
                    contact=contact.kind,
                    contact_name=contact.name,
                    corp_name=contact.corp_name,
                    joined_groups=tuple(joined),
                    strikes_elsewhere=tuple(elsewhere.items()),
                )
                item.decision = screen_newcomer(
                    item.newcomer,
                    self._context.matcher,
                    policy,
                    own_corps=self._own_corps,
                    partner_corps=self._partner_corps,
                    removal_possible=removal_possible,
                )
        return await self._record(chat_id, group, mode, items, now, policy=policy)

    async def _retry(
        self,
        chat_id: str,
        items: list[_Item],
        now: datetime,
        exc: WeComApiError,
    ) -> list[ScreeningOutcome]:
        """Make the screenings due again after a backoff (RETRY_BASE doubling per attempt)."""
        outcomes = []
        async with self._sessions() as session, session.begin():
            rows = {
                row.id: row
                for row in await screenings_repo.rows(session, [i.row_id for i in items])
            }
            for item in items:
                row = rows[item.row_id]
                row.attempts += 1
                delay = RETRY_BASE * 2 ** (row.attempts - 1)
                row.due_at = now + timedelta(seconds=delay)
                outcomes.append(
                    ScreeningOutcome(item.row_id, chat_id, item.user_id, "retry", note=str(exc))
                )
        log.warning(
            "customer group %s: names not fetched for %d screening(s), retrying: %s",
            chat_id,
            len(items),
            exc,
        )
        return outcomes

    # -- recording ---------------------------------------------------------------------

    async def _record(
        self,
        chat_id: str,
        group: Group | None,
        mode: GroupMode,
        items: list[_Item],
        now: datetime,
        *,
        policy: GroupPolicy | None = None,
    ) -> list[ScreeningOutcome]:
        shadow = mode is GroupMode.SHADOW
        outcomes: list[ScreeningOutcome] = []
        flagged: list[tuple[_Item, ModerationLog]] = []
        queued = False
        async with self._sessions() as session, session.begin():
            rows = {
                row.id: row
                for row in await screenings_repo.rows(session, [item.row_id for item in items])
            }
            for item in items:
                row = rows[item.row_id]
                entry = None
                decision = item.decision
                if item.skipped or decision is None:
                    row.outcome, note = "skipped", SKIPS.get(item.skipped, "not screened")
                elif not decision.actions:
                    row.outcome, note = "clean", decision.reason
                else:
                    row.outcome, note = "flagged", decision.reason
                    assert item.newcomer is not None and group is not None  # noqa: S101
                    entry = await self._log(session, item, item.newcomer, decision, mode, now)
                    row.moderation_log_id = entry.id
                    flagged.append((item, entry))
                    if not shadow and Action.REMOVE_MEMBER in decision.actions:
                        queued = True
                        await self._remove(session, group, item, entry, now)
                if item.notes:
                    note = f"{note}; {'; '.join(item.notes)}"
                row.note = note[:2000]
                row.due_at = None
                row.done_at = now
                outcomes.append(
                    ScreeningOutcome(
                        item.row_id,
                        chat_id,
                        item.user_id,
                        row.outcome,
                        note=row.note,
                        log_id=entry.id if entry is not None else None,
                        decision=decision,
                    )
                )
                log.info(
                    "%sjoin screening of %s in %s (%s): %s — %s",
                    "[shadow] " if shadow and entry is not None else "",
                    item.user_id,
                    chat_id,
                    item.source,
                    row.outcome,
                    row.note,
                )
            if group is not None and not shadow:
                if flagged:
                    labels = await self._labels(session, flagged)
                    queued = self._alert(session, group, flagged, policy, labels, now) or queued
                queued = self._tell_requesters(session, group, items, now) or queued
        if queued:
            self._on_enqueued()
        return outcomes

    async def _log(
        self,
        session: AsyncSession,
        item: _Item,
        newcomer: Newcomer,
        decision: Decision,
        mode: GroupMode,
        now: datetime,
    ) -> ModerationLog:
        entry = ModerationLog(
            inbox_event_id=None,
            created_at=now,
            source="join",
            chat_id=newcomer.chat_id[:128],
            user_id=newcomer.user_id[:128],
            message_id=f"join:{item.row_id}",
            text=name_text(newcomer),
            findings=[violation.as_dict() for violation in decision.violations],
            verdict=decision.verdict,
            reason=decision.reason,
            mode=mode.value,
            step=None,
            strikes=0,
            actions=[action.value for action in decision.actions],
        )
        await log_repo.add(session, entry)
        return entry

    async def _remove(
        self,
        session: AsyncSession,
        group: Group,
        item: _Item,
        entry: ModerationLog,
        now: datetime,
    ) -> None:
        """Queue the removal; the member is marked welcomed so that no welcome names them."""
        outbox_repo.enqueue(
            session,
            idempotency_key=f"screen:{item.row_id}:remove",
            kind="appchat_remove",
            payload={"chat_id": group.chat_id, "user_ids": [item.user_id]},
            now=now,
            moderation_log_id=entry.id,
        )
        member = await groups_repo.get_member(session, group.chat_id, item.user_id)
        if member is not None and member.welcomed_at is None:
            member.welcomed_at = now

    def _alert(
        self,
        session: AsyncSession,
        group: Group,
        flagged: list[tuple[_Item, ModerationLog]],
        policy: GroupPolicy | None,
        labels: dict[str, str],
        now: datetime,
    ) -> bool:
        """One alert for the group's flagged newcomers of this pass."""
        texts = self._context.texts
        requesters = [
            item.requested_by
            for item, _entry in flagged
            if item.source == "command" and item.requested_by
        ]
        recipients = sorted({*alert_recipients(self._context.moderators, group), *requesters})
        remove = policy is not None and policy.join_screening is Policy.REMOVE
        blocks = [self._member_block(texts, item, entry, remove, labels) for item, entry in flagged]
        chat = group_label(group)

        def render(shown: list[str], more: int) -> str:
            members = "\n".join(shown)
            if more:
                members += "\n" + texts.render("screen.alert_more", count=more)
            return texts.render("screen.alert", count=len(flagged), chat=chat, members=members)

        shown: list[str] = []
        for block in blocks:
            candidate = render([*shown, block], len(blocks) - len(shown) - 1)
            if shown and len(candidate.encode("utf-8")) > APP_MESSAGE_MAX_BYTES:
                break
            shown.append(block)
        alert = truncate_utf8(render(shown, len(blocks) - len(shown)), APP_MESSAGE_MAX_BYTES)
        note = alert_problem(self._context.app_messages_enabled, recipients)
        first = flagged[0][1]
        if note is not None:
            log.warning("join screening alert for log #%d not sent: %s", first.id, note)
        outbox_repo.enqueue(
            session,
            idempotency_key=f"screen:{flagged[0][0].row_id}:alert",
            kind="app_message",
            payload={"to_users": recipients, "msgtype": "markdown", "content": {"content": alert}},
            now=now,
            moderation_log_id=first.id,
            status="pending" if note is None else "skipped",
            note=note,
        )
        return note is None

    async def _labels(
        self, session: AsyncSession, flagged: list[tuple[_Item, ModerationLog]]
    ) -> dict[str, str]:
        """How the alert names the groups its findings list: name（chat id）."""
        chats: list[str] = []
        for item, _entry in flagged:
            if item.newcomer is not None:
                chats += item.newcomer.joined_groups
                chats += [chat for chat, _count in item.newcomer.strikes_elsewhere]
        names = await screenings_repo.group_names(session, chats)
        return {chat: f"{name}（{chat}）" if name else chat for chat, name in names.items()}

    def _member_block(
        self,
        texts: Texts,
        item: _Item,
        entry: ModerationLog,
        remove: bool,
        labels: dict[str, str],
    ) -> str:
        decision, newcomer = item.decision, item.newcomer
        assert decision is not None and newcomer is not None  # noqa: S101
        findings = "；".join(
            self._finding(texts, violation, labels) for violation in decision.violations
        )
        if Action.REMOVE_MEMBER in decision.actions:
            action = texts["screen.action.remove"]
        elif remove and any(is_offence(violation) for violation in decision.violations):
            action = texts["screen.action.remove_unavailable"]
        elif remove:
            action = texts["screen.action.review"]
        else:
            action = texts["screen.action.alert"]
        name = masked_evidence(entry.text, list(decision.findings)) if entry.text else ""
        return texts.render(
            "screen.alert_member",
            member=newcomer.user_id,
            name=name or texts["screen.name_unknown"],
            findings=findings,
            action=action,
            log_id=entry.id,
        )

    def _finding(self, texts: Texts, violation: Violation, labels: dict[str, str]) -> str:
        if isinstance(violation, Signal) and violation.rule.startswith("screen."):
            rule = texts.templates.get(f"rule.{violation.rule}", violation.rule)
            facts = violation.facts
            if violation.rule == "screen.other_corp":
                detail = texts.render("screen.detail.other_corp", corp=facts.get("corp_name", ""))
            elif violation.rule == "screen.hopping":
                detail = texts.render(
                    "screen.detail.hopping",
                    hours=f"{facts.get('window_hours', 0):g}",
                    count=len(facts.get("groups", ())),
                    groups="、".join(labels.get(c, c) for c in facts.get("groups", ())),
                )
            elif violation.rule == "screen.record":
                record = facts.get("groups", {})
                detail = texts.render(
                    "screen.detail.record",
                    count=len(record),
                    strikes=facts.get("strikes", 0),
                    groups="、".join(f"{labels.get(c, c)} {n} 次" for c, n in record.items()),
                )
            else:
                detail = texts["screen.detail.name_only"]
            return texts.render("screen.finding", rule=rule, detail=detail)
        rule, detail = describe(texts, violation)
        return texts.render("screen.finding", rule=rule, detail=detail)

    def _tell_requesters(
        self, session: AsyncSession, group: Group, items: list[_Item], now: datetime
    ) -> bool:
        """Whoever asked by chat command for a screening that found nothing is told so (a
        flagged one reaches them with the alert)."""
        if not self._context.app_messages_enabled:
            return False
        queued = False
        for item in items:
            if item.source != "command" or not item.requested_by:
                continue
            if item.decision is not None and item.decision.actions:
                continue
            text = self._context.texts.render(
                "screen.manual_clean", member=item.user_id, group=group_label(group)
            )
            if item.skipped:
                text = self._context.texts.render(
                    "screen.manual_skipped",
                    member=item.user_id,
                    group=group_label(group),
                    why=self._context.texts[f"screen.skip.{item.skipped}"],
                )
            outbox_repo.enqueue(
                session,
                idempotency_key=f"screen:{item.row_id}:requester",
                kind="app_message",
                payload={
                    "to_users": [item.requested_by],
                    "msgtype": "text",
                    "content": {"content": truncate_utf8(text, APP_MESSAGE_MAX_BYTES)},
                },
                now=now,
            )
            queued = True
        return queued
