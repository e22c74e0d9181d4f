"""The facts a batch of group messages is judged with (`moderation.pipeline.BatchFacts`).

`FactsReader` holds what one transaction has read: the groups, the members with their messages
and standing strikes, the groups' recent messages (for the flood rules) and where each text went
lately. `prefetch` reads them for the whole batch with a few statements; a message the prefetch
does not cover (a transaction of one event, a history widened by a wave) is read on its own
(`history_covers`/`read_history`, `spread_covers`/`read_spread`). The batch's own messages are
added as they are judged (`app.judging.processing`), so a later message sees the earlier ones.
The processor makes a new reader for each transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.judging.context import ModerationContext
from app.judging.events import IncomingMessage
from app.models import Group
from app.repositories import activity as activity_repo
from app.repositories import groups as groups_repo
from app.repositories import strikes as strikes_repo
from app.screening.record import strikes_from_elsewhere
from moderation import GroupMode, GroupPolicy, MessageMeta
from moderation.flood import FloodThresholds, folded_fingerprint, history_window
from moderation.pipeline import BatchFacts, BatchMessage, GroupFacts, MemberFacts

__all__ = ["FactsReader", "Queued"]


class Queued(Protocol):
    """A message queued for judging, as `FactsReader.batch_facts` reads it."""

    @property
    def judged(self) -> BatchMessage | None: ...

    @property
    def group(self) -> Group | None: ...

    @property
    def mode(self) -> GroupMode: ...


class FactsReader:
    """What one transaction has read and written already, so that a batch of messages from
    a few groups reads each group, member, history and strike count once (the batch's own
    messages are added to them as it goes). Dropped when the transaction ends."""

    def __init__(
        self,
        context: ModerationContext,
        *,
        clock: Callable[[], datetime],
        policy_for: Callable[[Group | None], GroupPolicy],
        mode_of: Callable[[Group], GroupMode],
    ) -> None:
        self._context = context
        self._clock = clock
        self._policy_for = policy_for
        self._mode_of = mode_of
        self.groups: dict[str, Group] = {}
        # (chat, user) → (member id, first seen, messages before the next one)
        self.members: dict[tuple[str, str], tuple[int, datetime, int]] = {}
        self.history: dict[str, list[MessageMeta]] = {}  # by chat
        # text fingerprint → (since, until, the (chat, sent at) of its copies then): `_other_groups`
        self.spread: dict[str, tuple[datetime, datetime, list[tuple[str, datetime]]]] = {}
        # text fingerprint → (chat, sent at) of the batch's own messages with it, as judged
        self.copies: dict[str, list[tuple[str, datetime]]] = {}
        # by chat: what `history` was read for (the batch's own messages are added as they come)
        self.history_query: dict[str, activity_repo.HistoryQuery] = {}
        self.strikes: dict[tuple[str, str, bool], int] = {}  # standing
        # group messages of the batch to moderate: (chat, sender, sent at, through the smart bot,
        # folded text)
        self.senders: list[tuple[str, str, datetime, bool, str]] = []
        # the batch's messages' metadata rows, until `_write_messages` writes them
        self.metadata: list[dict[str, Any]] = []

    async def prefetch(self, session: AsyncSession) -> None:
        """Read (and create) the groups and members of the batch's group messages, the
        members' standing strikes and the groups' recent messages (for the flood rules), with
        five statements for the whole batch instead of a few per message. Rows are created in
        key order, so that replicas take their locks in the same order."""
        senders = self.senders
        if not senders:
            return
        now = self._clock()
        groups = await groups_repo.ensure_many(
            session,
            (chat for chat, _user, _at, _bot, _folded in senders),
            now=now,
            smart_bot={chat for chat, _user, _at, bot, _folded in senders if bot},
        )
        self.groups.update(groups)
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
        self.members.update(await groups_repo.ensure_member_counts(session, first_seen))
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
                self.history[chat] = []
        counts = await strikes_repo.standing_counts_many(session, standing)
        for chat, (listed, _since, shadow) in standing.items():
            policy = self._policy_for(groups[chat])
            for user in listed:
                self.strikes[chat, user, shadow] = counts.get((chat, user), 0)
                # a member's record across groups (app.screening.record; weight 0: no query)
                self.strikes[chat, user, shadow] += await strikes_from_elsewhere(
                    session, chat, user, policy=policy, now=now
                )
        stored = await activity_repo.recent_many(session, queries)
        for chat, query in queries.items():
            self.history[chat] = stored.get(chat, [])
            self.history_query[chat] = query
        await self._prefetch_spread(session, groups)

    async def _prefetch_spread(self, session: AsyncSession, groups: Mapping[str, Group]) -> None:
        """Where the batch's texts were sent lately across all groups, for `_other_groups`:
        one statement for the self."""
        hashes: set[str] = set()
        window = 0.0
        times = []
        for chat, _user, at, _bot, folded in self.senders:
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
            self.spread[text_hash] = (since, until, found.get(text_hash, []))

    def history_covers(self, chat: str, sender: str, folded: str, policy: GroupPolicy) -> bool:
        """Whether the batch holds the group's history a message of `sender` folding to
        `folded` needs for the flood rules (what `prefetch` read covers every message of a
        batch; a transaction of one event reads it per message)."""
        if not history_window(policy.flood):
            self.history.setdefault(chat, [])
            return True
        query = self.history_query.get(chat)
        wanted = _wave_fingerprint(folded, policy.flood)
        return query is not None and sender in query.senders and wanted <= query.hashes

    async def read_history(
        self, session: AsyncSession, message: IncomingMessage, folded: str, policy: GroupPolicy
    ) -> None:
        """Read the group's history for `message`, widening what the batch holds, with the
        batch's messages judged so far (not stored yet)."""
        chat = message.chat_id
        thresholds = policy.flood
        since = message.sent_at - timedelta(seconds=history_window(thresholds))
        query = self.history_query.get(chat)
        query = activity_repo.HistoryQuery(
            since=since if query is None else min(since, query.since),
            until=message.sent_at if query is None else max(message.sent_at, query.until),
            senders=frozenset({message.sender}) | (query.senders if query else frozenset()),
            hashes=_wave_fingerprint(folded, thresholds) | (query.hashes if query else frozenset()),
        )
        stored = (await activity_repo.recent_many(session, {chat: query})).get(chat, [])
        self.history[chat] = [
            *stored,
            *(_flood_meta(row) for row in self.metadata if row["chat_id"] == chat),
        ]
        self.history_query[chat] = query

    def spread_covers(self, text_hash: str, sent_at: datetime, policy: GroupPolicy) -> bool:
        """Whether the batch knows where `text_hash` was sent within the wave window before
        `sent_at` (or the wave rule does not ask)."""
        window = policy.flood.wave_window_seconds
        if not text_hash or not policy.flood.wave_min_members or not window:
            return True
        known = self.spread.get(text_hash)
        since = sent_at - timedelta(seconds=window)
        return known is not None and known[0] <= since and sent_at <= known[1]

    async def read_spread(
        self, session: AsyncSession, text_hash: str, sent_at: datetime, policy: GroupPolicy
    ) -> None:
        since = sent_at - timedelta(seconds=policy.flood.wave_window_seconds)
        found = await activity_repo.groups_with_texts(
            session, [text_hash], since=since, until=sent_at
        )
        self.spread[text_hash] = (since, sent_at, found.get(text_hash, []))

    def batch_facts(self, pending: Sequence[Queued]) -> BatchFacts:
        """What the batch holds about the pending messages' groups and members."""
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
                    history=self.history.get(chat, ()),
                )
            who = (chat, judged.sender)
            if who not in members:
                _member, first_seen, earlier = self.members[who]
                members[who] = MemberFacts(
                    first_seen=first_seen,
                    messages=earlier,
                    strikes=self.strikes[(*who, item.mode is GroupMode.SHADOW)],
                    exempt=self.exempt(group, judged.sender),
                )
            text_hash = folded_fingerprint(judged.folded or "")
            known = self.spread.get(text_hash)
            if known is not None and text_hash not in spread:
                spread[text_hash] = [*known[2], *self.copies.get(text_hash, ())]
        return BatchFacts(
            matcher=self._context.matcher, groups=groups, members=members, spread=spread
        )

    def exempt(self, group: Group, user_id: str) -> str:
        """Why `user_id` is exempt from action in `group` ("moderator", "owner", "staff"), ""
        when they are not (a member)."""
        if self._context.is_moderator(user_id) or user_id in (group.moderators or ()):
            return "moderator"
        if group.owner and user_id == group.owner:
            return "owner"
        if user_id in self._context.staff:
            return "staff"
        return ""


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
