"""`judge_batch`: a batch of group messages and the facts about them in, one `Judgement` each out.

The one judging pipeline: the service's inbox worker, the shadow replay of an archive export
(through the worker), the benchmarks (through the worker) and `wecom-mod check` all judge with
it. Per message it runs the lexicon (one `find_many` for the batch, and again over a word
spelled out one character per message: 兼 / 职 / 刷 / 单, `split_words`), the promotion
detector (with the ads words found, and again over a contact spelled out the same way),
the flood rules (over the group's recent messages and where the same text went lately) and
the group's ladder (`judge`), and returns the `Decision` with what the caller keeps of the
message for later flood checks (`MessageMeta`).

Messages of one batch affect each other, in batch order, exactly as if judged one by one:
a message is in the flood history of the later ones (and in the spread of its text across
groups), it counts towards its sender's messages (a member stops being a newcomer after
`newcomer_messages`), and an offence adds to the sender's standing strikes for their next
message. The facts are what was known before the batch's first message; the caller applies
the judgements (stores the log rows, strikes and message metadata) after the call.

Pure: no I/O, no clock (each message carries its time), nothing kept between calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from moderation.decision import Decision
from moderation.flood import (
    FloodThresholds,
    MessageMeta,
    detect_flood,
    folded_fingerprint,
    joined_short_texts,
    short_text,
)
from moderation.fold import fold
from moderation.lexicon import Category
from moderation.matcher import BATCH_SIZE as MATCHER_BATCH
from moderation.matcher import SHORT_WORD, Confidence, Finding, Route, SensitiveWordMatcher
from moderation.policy import GroupMode, GroupPolicy, Standing, judge, promotion_signal
from moderation.promo import detect_promotion

__all__ = [
    "BatchFacts",
    "BatchMessage",
    "GroupFacts",
    "Judgement",
    "MemberFacts",
    "judge_alone",
    "judge_batch",
    "judge_each",
    "split_words",
]


@dataclass(frozen=True, slots=True)
class BatchMessage:
    """One group message to judge."""

    chat_id: str
    sender: str
    msg_type: str  # text, link, weapp, card, redpacket, image, ...
    text: str  # what the member said: the text rules read it (the bot's own mentions blanked)
    at: datetime  # when it was sent (timezone-aware)
    folded: str | None = None  # `fold(text)` when the caller has it already; None: folded here


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """A member of a group as known before the batch."""

    first_seen: datetime  # when the service first saw the member in the group
    messages: int = 0  # the member's messages in the group counted before the batch
    strikes: int = 0  # standing strikes in the group (the ledger of the group's mode)
    exempt: str = ""  # why no action is taken ("moderator", "owner", "staff"); "" if none


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """A group as known before the batch."""

    # The group's policy. Mode `off`: its messages are not judged; `shadow` and `enforce` are
    # judged alike (whether the actions are carried out is the caller's part).
    policy: GroupPolicy
    removal_possible: bool = False  # WeCom lets the service remove members (app-created group)
    # The group's messages before the batch that the flood rules look at (`history_window`
    # back from its first message: at least its senders' own and those with its texts).
    history: Sequence[MessageMeta] = ()


@dataclass(frozen=True, slots=True)
class BatchFacts:
    """What is known when the batch is judged: the lexicon, and every group and member of it."""

    matcher: SensitiveWordMatcher
    groups: Mapping[str, GroupFacts]  # by chat id
    members: Mapping[tuple[str, str], MemberFacts]  # by (chat id, sender)
    # text fingerprint → (chat id, sent at) of messages with it before the batch, in any group,
    # within the wave window of the batch's messages with it: a text going round the groups
    # is a wave however innocent each copy looks.
    spread: Mapping[str, Sequence[tuple[str, datetime]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Judgement:
    """The outcome for one message of the batch."""

    decision: Decision | None  # None: the group is not moderated (mode `off`)
    meta: MessageMeta | None = None  # what the flood history keeps of the message
    newcomer: bool = False  # whether the sender counted as a newcomer for it


_OFF = Judgement(decision=None)


def judge_batch(messages: Sequence[BatchMessage], facts: BatchFacts) -> list[Judgement]:
    """One `Judgement` per message, in order (see the module docstring). Every message's
    group must be in `facts.groups`, and its sender in `facts.members` unless the group is
    off."""
    return list(judge_each(messages, facts))


def judge_each(messages: Sequence[BatchMessage], facts: BatchFacts) -> Iterator[Judgement]:
    """`judge_batch`, one judgement at a time: a caller that shares its thread (an event
    loop) can pause between two. The lexicon is searched as `find_many` searches it, a
    `matcher.BATCH_SIZE` of messages at a time."""
    run = _Run(facts)
    for first in range(0, len(messages), MATCHER_BATCH):
        chunk = messages[first : first + MATCHER_BATCH]
        findings = facts.matcher.find_many(
            [message.text for message in chunk], [message.chat_id for message in chunk]
        )
        for message, found in zip(chunk, findings, strict=True):
            yield run.judge(message, found)


def judge_alone(
    message: BatchMessage,
    matcher: SensitiveWordMatcher,
    *,
    policy: GroupPolicy | None = None,
    newcomer: bool = False,
) -> Judgement:
    """`judge_batch` of one message in a group with no recent messages, from a member with no
    strikes: established (first seen `newcomer_days` ago with `newcomer_messages` messages),
    or one who joined just now with no message yet when `newcomer`. What `wecom-mod check`
    shows."""
    policy = policy or GroupPolicy()
    member = (
        MemberFacts(first_seen=message.at)
        if newcomer
        else MemberFacts(
            first_seen=message.at - timedelta(days=policy.newcomer_days),
            messages=policy.newcomer_messages,
        )
    )
    facts = BatchFacts(
        matcher=matcher,
        groups={message.chat_id: GroupFacts(policy=policy)},
        members={(message.chat_id, message.sender): member},
    )
    (judgement,) = judge_batch([message], facts)
    return judgement


class _Run:
    """What the batch's earlier messages changed: members' counts and strikes, each group's
    history, where each text went."""

    def __init__(self, facts: BatchFacts) -> None:
        self.facts = facts
        self.counted: dict[tuple[str, str], int] = {}  # messages counted, batch included
        self.strikes: dict[tuple[str, str], int] = {}  # standing strikes, batch included
        self.history: dict[str, _History] = {}  # by chat, batch included
        # fingerprint → chat → the times it was sent there (stored copies and the batch's)
        self.spread: dict[str, dict[str, list[datetime]]] = {}

    def judge(self, message: BatchMessage, findings: list[Finding]) -> Judgement:
        group = self.facts.groups[message.chat_id]
        policy = group.policy
        if policy.mode is GroupMode.OFF:
            return _OFF
        who = (message.chat_id, message.sender)
        member = self.facts.members[who]
        earlier = self.counted.get(who, member.messages)
        self.counted[who] = earlier + 1
        newcomer = (
            message.at - member.first_seen < timedelta(days=policy.newcomer_days)
            or earlier < policy.newcomer_messages
        )
        text = message.text
        ads = [finding for finding in findings if finding.category is Category.ADS]
        promotion = detect_promotion(
            text, message.msg_type, settings=policy.promo, newcomer=newcomer, ad_findings=ads
        )
        folded = fold(text) if message.folded is None else message.folded
        meta = MessageMeta(
            at=message.at.timestamp(),
            sender=message.sender,
            chat_id=message.chat_id,
            msg_type=message.msg_type,
            length=len(text.strip()),
            text_hash=folded_fingerprint(folded),
            short_text=short_text(folded) if message.msg_type == "text" else "",
        )
        history = self.history.get(message.chat_id)
        if history is None:
            history = self.history[message.chat_id] = _History(group.history)
        relevant = history.relevant(meta)
        signals = detect_flood(
            meta,
            folded,
            relevant,
            policy.flood,
            # A copy-paste wave is group life (生日快乐, 收到, 接龙) unless it promotes something
            # or the same text goes round other groups too.
            promotional=bool(promotion.signals or ads),
            other_groups=self._other_groups(meta, message.at, policy.flood),
        )
        joined = joined_short_texts(meta, relevant)
        history.append(meta)
        if meta.text_hash:
            self._sent_to(meta.text_hash).setdefault(message.chat_id, []).append(message.at)
        in_joined = self.facts.matcher.find(joined, message.chat_id) if joined else []
        if joined and not promotion.promotional:
            # A contact spelled out over one-character messages (加 / 我 / V / 1 …), read joined.
            split = detect_promotion(
                joined,
                settings=policy.promo,
                newcomer=newcomer,
                ad_findings=[finding for finding in in_joined if finding.category is Category.ADS],
                split=True,
            )
            if split.promotional:
                promotion = split
        # A word spelled out over one-character messages (兼 / 职 / 刷 / 单), read joined; an
        # ads/contact word so spelled is the promotion detector's (a split contact, above).
        words = [finding for finding in in_joined if finding.category is not Category.ADS]
        findings = [*findings, *split_words(words, len(joined) - len(meta.short_text), text)]
        promo_signal = promotion_signal(promotion)
        if promo_signal is not None:
            signals.append(promo_signal)
        decision = judge(
            findings,
            signals,
            policy=policy,
            standing=Standing(
                strikes=self.strikes.get(who, member.strikes),
                exempt=member.exempt,
                removal_possible=group.removal_possible,
            ),
        )
        self.strikes[who] = decision.strikes
        return Judgement(decision=decision, meta=meta, newcomer=newcomer)

    def _other_groups(self, meta: MessageMeta, at: datetime, thresholds: FloodThresholds) -> int:
        """How many other groups got the message's text within the wave window before it."""
        window = thresholds.wave_window_seconds
        if not meta.text_hash or not thresholds.wave_min_members or not window:
            return 0
        since = at - timedelta(seconds=window)
        return sum(
            1
            for chat, times in self._sent_to(meta.text_hash).items()
            if chat != meta.chat_id
            # newest first: a copy within the window is usually among the last
            and any(since <= sent <= at for sent in reversed(times))
        )

    def _sent_to(self, text_hash: str) -> dict[str, list[datetime]]:
        """Where the text with `text_hash` was sent, stored copies and the batch's so far."""
        sent = self.spread.get(text_hash)
        if sent is None:
            sent = self.spread[text_hash] = {}
            for chat, at in self.facts.spread.get(text_hash, ()):
                sent.setdefault(chat, []).append(at)
        return sent


class _History:
    """A group's history in the batch, by sender and by text fingerprint: every flood rule
    reads only the member's own messages or the copies of the same text (`detect_flood`), so
    a message is judged with those, not with the whole window (a spam wave's window holds
    thousands of messages)."""

    def __init__(self, stored: Sequence[MessageMeta]) -> None:
        self._by_sender: dict[str, list[MessageMeta]] = {}
        self._by_text: dict[str, list[MessageMeta]] = {}
        for meta in stored:
            self.append(meta)

    def append(self, meta: MessageMeta) -> None:
        self._by_sender.setdefault(meta.sender, []).append(meta)
        if meta.text_hash:
            self._by_text.setdefault(meta.text_hash, []).append(meta)

    def relevant(self, meta: MessageMeta) -> list[MessageMeta]:
        """The sender's own messages and the others' copies of the same text, each once."""
        own = self._by_sender.get(meta.sender, [])
        if not meta.text_hash:
            return list(own)
        copies = self._by_text.get(meta.text_hash, ())
        return [*own, *(entry for entry in copies if entry.sender != meta.sender)]


_PLAIN_ROUTES = (Route.EXACT, Route.FOLDED, Route.REPEAT, Route.GAP)


def split_words(found: Sequence[Finding], current: int, text: str) -> list[Finding]:
    """The hits in a member's one-character messages read joined (`found`, spans in the
    joined text) that reach from earlier messages into the current one, which starts at
    `current` of the joined text: each as a hit of the current message `text` (the whole
    message its span, the joined characters its evidence). The messages' boundaries are a gap
    between the word's characters: the route is `gap`, and a word of up to `SHORT_WORD`
    characters is low confidence, as across any gap."""
    return [
        replace(
            finding,
            start=0,
            end=len(text),
            matched=text,
            evidence=finding.evidence or finding.matched,
            route=Route.GAP if finding.route in (Route.EXACT, Route.FOLDED) else finding.route,
            routes=(
                *(r for r in finding.routes if r not in _PLAIN_ROUTES),
                Route.GAP,
                *(r for r in finding.routes if r in (Route.REPEAT, Route.FOLDED)),
            ),
            confidence=Confidence.LOW if len(finding.word) <= SHORT_WORD else finding.confidence,
        )
        for finding in found
        if finding.start < current < finding.end
    ]
