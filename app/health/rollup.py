"""Counting community health as messages are judged and members come and go: `RollupTally`
adds up one transaction's messages, joins and departures by group, day and member, and writes
them with one upsert per table (`app.repositories.health`) in that transaction.

The inbox processor counts a message where it records its judgement (`app.judging.processing`)
and a join or departure where it handles `change_external_chat`, inside the batch's
transaction: a batch repeated after a crash is rolled back with its counts, and a message
delivered again is never judged again (the inbox's UNIQUE dedupe key; a copy through the other
channel is not judged: `app.judging.cross_channel`), so nothing counts twice. No text is kept.

Days are calendar days in HEALTH_TIMEZONE, stored as days since 1970-01-01.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories import health as health_repo
from app.repositories import sandbox as sandbox_repo
from moderation import Decision, Signal, strictest

__all__ = ["RollupConfig", "RollupTally", "day_number", "day_of"]

_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """`day` as days since 1970-01-01 (how the rollups store days)."""
    return (day - _EPOCH).days


def day_of(number: int) -> date:
    return date.fromordinal(_EPOCH.toordinal() + number)


@dataclass(frozen=True)
class RollupConfig:
    """HEALTH_TIMEZONE and HEALTH_RETENTION_DAYS."""

    timezone: str = "Asia/Shanghai"
    retention_days: int = 400

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    def day(self, at: datetime) -> int:
        """The day number of `at` in the configured time zone."""
        return day_number(at.astimezone(self.zone).date())


@dataclass
class RollupTally:
    """One transaction's counts, until `write`."""

    config: RollupConfig
    days: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    # (chat, day, user) → (staff, counts)
    members: dict[tuple[str, int, str], tuple[bool, dict[str, int]]] = field(default_factory=dict)
    # chat → (last member day, last archive day, last smart-bot day)
    groups: dict[str, tuple[int | None, int | None, int | None]] = field(default_factory=dict)
    # chat → whether it is a sandbox group, as the batch read it (`write` asks for the others)
    sandbox: dict[str, bool] = field(default_factory=dict)

    def message(
        self,
        *,
        chat_id: str,
        sender: str,
        at: datetime,
        source: str,
        decision: Decision,
        staff: bool = False,
        sandbox: bool = False,
    ) -> None:
        """A judged group message; `staff`: its sender is exempt from moderation (a moderator,
        the owner, staff), whether or not the message was flagged; `sandbox`: the group is a
        sandbox group, not counted."""
        self.sandbox[chat_id] = sandbox
        if sandbox:
            return
        day = self.config.day(at)
        counts = self._day(chat_id, day)
        counts["staff_messages" if staff else "member_messages"] += 1
        if source == "archive":
            counts["archive_messages"] += 1
        flood = any(signal.detector == "flood" for signal in decision.signals)
        if any(signal.detector == "promo" for signal in decision.signals):
            counts["promo_staff" if staff else "promo_members"] += 1
        if decision.strike:
            worst = strictest(decision.violations)
            detector = worst.detector if isinstance(worst, Signal) else "word"
            if detector in ("word", "flood", "promo"):
                counts[f"offences_{detector}"] += 1
        if decision.strike or flood:
            counts["noisy"] += 1
        member = self._member(chat_id, day, sender, staff=staff)
        member["messages"] += 1
        if decision.strike:
            member["offences"] += 1
        member_day, archive_day, aibot_day = self.groups.get(chat_id, (None, None, None))
        self.groups[chat_id] = (
            _later(member_day, None if staff else day),
            _later(archive_day, day if source == "archive" else None),
            _later(aibot_day, day if source == "aibot" else None),
        )

    def joined(self, chat_id: str, user_ids: Iterable[str], at: datetime) -> None:
        self._members_event(chat_id, user_ids, at, "joins")

    def left(self, chat_id: str, user_ids: Iterable[str], at: datetime, *, removed: bool) -> None:
        """Departures: by the member (QuitScene 0), or removed (`removed`, QuitScene 1)."""
        self._members_event(chat_id, user_ids, at, "removals" if removed else "departures")

    def _members_event(
        self, chat_id: str, user_ids: Iterable[str], at: datetime, what: str
    ) -> None:
        day = self.config.day(at)
        for user_id in user_ids:
            self._day(chat_id, day)[what] += 1
            staff, _counts = self.members.get((chat_id, day, user_id), (False, {}))
            self._member(chat_id, day, user_id, staff=staff)[what] += 1

    def _day(self, chat_id: str, day: int) -> dict[str, int]:
        counts = self.days.get((chat_id, day))
        if counts is None:
            counts = self.days[chat_id, day] = dict.fromkeys(health_repo.DAY_COUNTS, 0)
        return counts

    def _member(self, chat_id: str, day: int, user_id: str, *, staff: bool) -> dict[str, int]:
        key = (chat_id, day, user_id[:128])
        found = self.members.get(key)
        counts = found[1] if found else dict.fromkeys(health_repo.MEMBER_COUNTS, 0)
        self.members[key] = (staff, counts)
        return counts

    async def write(self, session: AsyncSession) -> None:
        """Add the counts to the rollups (one upsert per table) and start again; a sandbox
        group's counts are dropped (`app.repositories.sandbox`): no health figure counts them."""
        chats = {chat for chat, _day in self.days} | {chat for chat, _d, _u in self.members}
        chats |= set(self.groups)
        sandbox = {chat for chat, known in self.sandbox.items() if known}
        sandbox |= await sandbox_repo.among(session, chats - self.sandbox.keys())
        if sandbox:
            self.days = {key: v for key, v in self.days.items() if key[0] not in sandbox}
            self.members = {key: v for key, v in self.members.items() if key[0] not in sandbox}
            self.groups = {key: v for key, v in self.groups.items() if key not in sandbox}
        await health_repo.add_days(session, self.days)
        await health_repo.add_member_days(session, self.members)
        await health_repo.note_groups(session, self.groups)
        self.days, self.members, self.groups, self.sandbox = {}, {}, {}, {}


def _later(stored: int | None, new: int | None) -> int | None:
    if stored is None:
        return new
    return stored if new is None else max(stored, new)
