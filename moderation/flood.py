"""`detect_flood`: flooding (刷屏) judged from the metadata of a group's recent messages.

Several replicas share one history, so the history is what the database keeps per message
(`MessageMeta`: time, sender, group, type, length and a fingerprint of the folded text), never
the text itself. The caller loads the group's messages of the last `history_window(thresholds)`
seconds and passes them in with the current message and its folded text; the function reads no
clock and keeps no state. `FloodTracker` keeps that history in memory, bounded, for callers
without a database (replay, benchmarks).

The rules, each yielding at most one `Signal` per message (defaults in `FloodThresholds`):

    flood.rate           more than N messages from one member within T seconds
    flood.repeat         the same folded text from one member N times within T seconds
    flood.wave           the same folded text from N distinct members within T seconds
                         (copy-paste waves), for texts long enough not to be a chorus of 收到,
                         and only when the text is promotional or the same text went to
                         another group of the corp within the window: waves of 生日快乐,
                         收到, +1 and 接龙 lines are group life
    flood.short_burst    N very short text messages in a row from one member within T seconds
    flood.repeated_char  one character making most of a long message (哈哈哈…, 啊啊啊…)
    flood.too_long       a message longer than N characters

Severities: each rule alone is `review` (an admin looks) and becomes `block` when it is far
past its threshold, because a member sending twice the allowed rate, or the same text twice as
often as allowed, is flooding on purpose, not chatting fast:

    rate, too_long       block above twice the limit
    repeat, short_burst  block at twice the count
    wave                 block when the text is `wave_block_chars` long or longer: a pasted
                         ad from several accounts is the classic attack, while a shorter text
                         many members say at once is usually a greeting (祝大家新年快乐万事如意)
    repeated_char        `log` below 3× the minimum length (a long laugh is still a laugh),
                         `review` from 3×, `block` from 10× (a wall of one character)

Texts are compared by fingerprint (`text_fingerprint`): folded, with each run of digits
counted as one digit when the text has six or more other characters (so the same ad with
another trailing number, …名额仅剩5个 and …名额仅剩4个, is one text; 第1条 and 第2条 are
two). The caller removes the bot's own @-mention before any of this.

Rules are judged the same whether a message is the current one or in the history, so rules
that look at history use only what the history holds: `length` is the length of the original
text, and "short" means at most `short_max_chars` characters of it. For the short messages
that rule is about, the original and folded lengths differ only by punctuation and emoji, and
counting those makes bursts of ？ or 👍 short, as they should be.

Time: a history entry is in a rule's window when `now - window <= entry.at <= now`, where
`now` is the message's own time unless given. Entries after `now` are ignored: a message is
judged against what came before it, even when it is judged late and the history query returns
newer rows.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from moderation.fold import fold
from moderation.lexicon import Severity
from moderation.signal import Signal

__all__ = [
    "ALBUM_TYPES",
    "FLOOD_RULES",
    "MAX_WINDOW_SECONDS",
    "FloodThresholds",
    "FloodTracker",
    "MessageMeta",
    "detect_flood",
    "folded_fingerprint",
    "history_window",
    "joined_short_texts",
    "short_text",
    "text_fingerprint",
]

FLOOD_RULES = (
    "flood.rate",
    "flood.repeat",
    "flood.wave",
    "flood.short_burst",
    "flood.repeated_char",
    "flood.too_long",
)
# Message types the rate rule does not count: a phone sends a picked album of up to nine
# photos and videos as that many messages within a second or two, and sharing one is not
# flooding.
ALBUM_TYPES = frozenset({"image", "video"})
MAX_WINDOW_SECONDS = 86_400.0  # one day; a longer window is not flooding and is costly to load
SHORT_TEXT_CHARS = 2  # folded characters of a message kept whole in the history
# A contact spelled out over short messages (加 / 我 / V / 1 / 3 …) is read joined from this
# many messages in a row, each sent within `SPLIT_GAP_SECONDS` of the one before.
SPLIT_MIN_MESSAGES = 3
SPLIT_GAP_SECONDS = 60.0
_DIGIT_RUNS = re.compile("[0-9]+")
# Characters besides digits a text needs for its numbers not to count: a short numbered line
# (第1条, 第2条) is what its number says; an ad is longer than that.
_LETTERS_FOR_SHAPE = 6
_EVIDENCE_CHARS = 60  # the repeated text quoted in a signal, in folded characters
_LISTED_MEMBERS = 20  # the members of a wave named in its facts, earliest first


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """What the shared history keeps of one message: no text, only what the rules need."""

    at: float  # seconds since the epoch
    sender: str  # the member's user id (userid, or external wm… id)
    chat_id: str  # the group
    msg_type: str  # "text", "image", "video", "link", "emotion", …
    length: int  # characters of the original text; 0 when there is none
    text_hash: str  # `text_fingerprint` of the text; "" when it folds to nothing
    # The folded text itself when it is at most `SHORT_TEXT_CHARS` characters ("" otherwise):
    # a contact spelled out one character per message (加 / 我 / V / 1 …) is read joined.
    short_text: str = ""


def text_fingerprint(text: str) -> str:
    """A stable 32-hex-digit fingerprint of the folded text; "" when it folds to nothing.

    Texts that fold equal ("加我微信 领福利!!", "加我微信，领福利", "加我微信領福利") share a
    fingerprint, so a repeat is found whatever spaces, punctuation or script it is dressed in.
    Pure emoji or punctuation folds to nothing and gets "", which never counts as the same text:
    a row of 👍 from many members is agreement, not a wave. A text with six or more characters
    besides its digits counts each run of digits as one digit: near-copies of an ad that
    differ in a number share the fingerprint.
    """
    return folded_fingerprint(fold(text))


# A batch asks for the fingerprint of a message's text about five times (the prefetch's reads,
# the flood history, the judgement's metadata); the texts of a chat repeat, too.
@functools.lru_cache(maxsize=4096)
def folded_fingerprint(folded: str) -> str:
    """`text_fingerprint` of a text whose `fold` is `folded` (for callers that have it)."""
    if not folded:
        return ""
    shape = _DIGIT_RUNS.sub("0", folded)
    if len(shape) - shape.count("0") >= _LETTERS_FOR_SHAPE:
        folded = shape
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=16).hexdigest()


def short_text(folded: str) -> str:
    """The folded text kept in the history: itself when short enough, else ""."""
    return folded if len(folded) <= SHORT_TEXT_CHARS else ""


@dataclass(frozen=True, slots=True)
class FloodThresholds:
    """The limits of the flood rules for one group; 0 in a rule's count turns the rule off.

    Stored per group as JSON (`as_dict`, `from_mapping`); every field left out keeps its
    default. Counts are whole numbers, windows are seconds.
    """

    # Seven or more messages in ten seconds is faster than anyone types a conversation, even
    # in bursts of short lines. 0 (either) = off.
    rate_max_messages: int = 6  # more than this many messages from one member fires
    rate_window_seconds: float = 10.0
    # Three copies of one text within a minute is a paste, not a reminder: someone repeating a
    # question or 在吗 waits longer than that between tries. 0 (either) = off.
    repeat_min_copies: int = 3  # this many copies (the current one included) fires
    repeat_window_seconds: float = 60.0
    # Three members posting one text within two minutes is a wave when the text is long;
    # chorus replies (收到谢谢老师, 好的收到, 祝王老师生日快乐) are under 10 folded characters.
    # 0 in members or window = off.
    wave_min_members: int = 3  # this many distinct members (the current sender included) fires
    wave_window_seconds: float = 120.0
    wave_min_chars: int = 10  # folded characters the text needs to count; 0 = any length
    wave_block_chars: int = 20  # a wave of a text this long blocks; 0 = waves only review
    # Five one- or two-character lines in a row within half a minute (1, 1, 1, …) fills the
    # screen without saying anything. 0 (any) = off.
    short_max_chars: int = 2  # characters of the original text that make a message short
    short_burst_min_messages: int = 5  # this many short messages in a row fires
    short_burst_window_seconds: float = 30.0
    # One character making 70 % of ten or more folded characters: under ten, 哈哈哈哈哈 is
    # ordinary laughter, and from ten it is recorded only (see the module docstring for when it
    # is acted on). 0 (either) = off.
    repeated_char_min_chars: int = 10  # folded characters the message needs
    repeated_char_min_ratio: float = 0.7  # share of the most frequent character, 0 to 1
    # WeCom notices and pasted articles stay under 1500 characters; longer fills several
    # screens. 0 = off.
    too_long_max_chars: int = 1500  # more characters of the original text than this fires

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            whole = spec.type == "int"
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
                kind = "a whole number" if whole else "a number"
                raise ValueError(f"flood threshold {spec.name} must be {kind}, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"flood threshold {spec.name} must be 0 or more, not {value!r}")
            if not whole:
                object.__setattr__(self, spec.name, float(value))
            if spec.name.endswith("_window_seconds") and value > MAX_WINDOW_SECONDS:
                raise ValueError(
                    f"flood threshold {spec.name} must be at most {MAX_WINDOW_SECONDS:g} s, "
                    f"not {value!r}"
                )
        for name in ("repeat_min_copies", "wave_min_members", "short_burst_min_messages"):
            if getattr(self, name) == 1:
                raise ValueError(
                    f"flood threshold {name} must be 0 (off) or at least 2, not 1 "
                    "(1 would fire on every message)"
                )
        if self.repeated_char_min_ratio > 1:
            raise ValueError(
                "flood threshold repeated_char_min_ratio is a share from 0 to 1, "
                f"not {self.repeated_char_min_ratio!r}"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> FloodThresholds:
        """The defaults with a group's overrides (a JSON object) applied.

        Raises ValueError naming the key for an unknown key or a value of the wrong type, below
        0 or out of range.
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"flood thresholds must be an object, not {type(mapping).__name__}")
        known = [spec.name for spec in fields(cls)]
        unknown = sorted(str(key) for key in mapping if key not in known)
        if unknown:
            raise ValueError(
                f"unknown flood threshold(s): {', '.join(unknown)}; known: {', '.join(known)}"
            )
        return replace(cls(), **mapping)

    def as_dict(self) -> dict[str, int | float]:
        """Every threshold by name, for storing as JSON."""
        return {spec.name: getattr(self, spec.name) for spec in fields(self)}


def history_window(thresholds: FloodThresholds) -> float:
    """The longest window, in seconds, any rule that is on looks back; 0 when none does.

    The caller loads this much of the group's history for `detect_flood`.
    """
    t = thresholds
    windows = [0.0]
    if t.rate_max_messages:
        windows.append(t.rate_window_seconds)
    if t.repeat_min_copies:
        windows.append(t.repeat_window_seconds)
    if t.wave_min_members:
        windows.append(t.wave_window_seconds)
    if t.short_burst_min_messages and t.short_max_chars:
        windows.append(t.short_burst_window_seconds)
    return max(windows)


def detect_flood(
    message: MessageMeta,
    folded_text: str,
    history: Sequence[MessageMeta],
    thresholds: FloodThresholds,
    *,
    now: float | None = None,
    promotional: bool = False,
    other_groups: int = 0,
) -> list[Signal]:
    """The flood rules that fire on `message`, in the order of `FLOOD_RULES`.

    `folded_text` is `fold` of the message's text (the repeated-character rule reads it; the
    history has no text). `history` holds earlier messages of the group in any order, without
    this one; entries of other groups and entries outside every window are ignored. `now` ends
    every window and defaults to `message.at` (see the module docstring). The wave rule fires
    only when the message is `promotional` (the caller's promotion detector or ads words
    found something in it) or when `other_groups` other groups of the corp got the same text
    within the wave window.
    """
    end = message.at if now is None else now
    horizon = history_window(thresholds)
    recent = [
        entry
        for entry in history
        if entry.chat_id == message.chat_id and end - horizon <= entry.at <= end
    ]
    own = [entry for entry in recent if entry.sender == message.sender]
    found = [
        _rate(message, own, end, thresholds),
        _repeat(message, folded_text, own, end, thresholds),
        _wave(message, folded_text, recent, end, thresholds, promotional or other_groups > 0),
        _short_burst(message, own, end, thresholds),
        _repeated_char(folded_text, thresholds),
        _too_long(message, thresholds),
    ]
    return [signal for signal in found if signal is not None]


def joined_short_texts(message: MessageMeta, history: Sequence[MessageMeta]) -> str:
    """The short texts of `message`'s sender in a row, `message`'s own last, joined: a contact
    spelled out one character per message (加 / 我 / V / 1 / 3 …), for the promotion detector
    to read as one text. "" unless `message` is short and at least `SPLIT_MIN_MESSAGES` short
    messages (each `SPLIT_GAP_SECONDS` or less after the one before, no other message of the
    member between them) end with it."""
    if not message.short_text:
        return ""
    own = sorted(
        (
            entry
            for entry in history
            if entry.chat_id == message.chat_id
            and entry.sender == message.sender
            and entry.at <= message.at
        ),
        key=lambda entry: entry.at,
        reverse=True,
    )
    parts = [message.short_text]
    later = message.at
    for entry in own:
        if not entry.short_text or later - entry.at > SPLIT_GAP_SECONDS:
            break
        parts.append(entry.short_text)
        later = entry.at
    return "".join(reversed(parts)) if len(parts) >= SPLIT_MIN_MESSAGES else ""


def _within(entries: Sequence[MessageMeta], end: float, window: float) -> Iterator[MessageMeta]:
    return (entry for entry in entries if end - window <= entry.at <= end)


def _signal(
    rule: str,
    severity: Severity,
    score: float,
    summary: str,
    facts: dict[str, Any],
    evidence: str = "",
) -> Signal:
    return Signal(
        detector="flood",
        rule=rule,
        severity=severity,
        score=score,
        summary=summary,
        evidence=evidence,
        facts=facts,
    )


def _clip(folded_text: str) -> str:
    if len(folded_text) <= _EVIDENCE_CHARS:
        return folded_text
    return folded_text[:_EVIDENCE_CHARS] + "…"


def _rate(
    message: MessageMeta, own: Sequence[MessageMeta], end: float, t: FloodThresholds
) -> Signal | None:
    limit, window = t.rate_max_messages, t.rate_window_seconds
    if not limit or not window or message.msg_type in ALBUM_TYPES:
        return None
    count = 1 + sum(1 for entry in _within(own, end, window) if entry.msg_type not in ALBUM_TYPES)
    if count <= limit:
        return None
    return _signal(
        "flood.rate",
        Severity.BLOCK if count > 2 * limit else Severity.REVIEW,
        count / limit,
        f"{count} messages within {window:g} s (limit {limit})",
        {"count": count, "limit": limit, "window_seconds": window},
    )


def _repeat(
    message: MessageMeta,
    folded_text: str,
    own: Sequence[MessageMeta],
    end: float,
    t: FloodThresholds,
) -> Signal | None:
    limit, window = t.repeat_min_copies, t.repeat_window_seconds
    if not limit or not window or not message.text_hash:
        return None
    count = 1 + sum(
        1 for entry in _within(own, end, window) if entry.text_hash == message.text_hash
    )
    if count < limit:
        return None
    return _signal(
        "flood.repeat",
        Severity.BLOCK if count >= 2 * limit else Severity.REVIEW,
        count / limit,
        f"same text {count} times within {window:g} s (limit {limit})",
        {
            "count": count,
            "limit": limit,
            "window_seconds": window,
            "text_hash": message.text_hash,
        },
        evidence=_clip(folded_text),
    )


def _wave(
    message: MessageMeta,
    folded_text: str,
    recent: Sequence[MessageMeta],
    end: float,
    t: FloodThresholds,
    counts: bool,
) -> Signal | None:
    limit, window = t.wave_min_members, t.wave_window_seconds
    if not counts or not limit or not window or not message.text_hash:
        return None
    if len(folded_text) < t.wave_min_chars:
        return None
    first_post = {message.sender: message.at}
    messages = 1
    for entry in _within(recent, end, window):
        if entry.text_hash == message.text_hash:
            messages += 1
            first_post[entry.sender] = min(first_post.get(entry.sender, entry.at), entry.at)
    members = len(first_post)
    if members < limit:
        return None
    block = bool(t.wave_block_chars) and len(folded_text) >= t.wave_block_chars
    earliest = sorted(first_post, key=lambda sender: (first_post[sender], sender))
    return _signal(
        "flood.wave",
        Severity.BLOCK if block else Severity.REVIEW,
        members / limit,
        f"same text from {members} members within {window:g} s (limit {limit})",
        {
            "member_count": members,
            "members": earliest[:_LISTED_MEMBERS],
            "messages": messages,
            "limit": limit,
            "window_seconds": window,
            "folded_chars": len(folded_text),
            "block_chars": t.wave_block_chars,
            "text_hash": message.text_hash,
        },
        evidence=_clip(folded_text),
    )


def _short_burst(
    message: MessageMeta, own: Sequence[MessageMeta], end: float, t: FloodThresholds
) -> Signal | None:
    limit, window, max_chars = (
        t.short_burst_min_messages,
        t.short_burst_window_seconds,
        t.short_max_chars,
    )

    def short(entry: MessageMeta) -> bool:
        return entry.msg_type == "text" and entry.length <= max_chars

    if not limit or not window or not max_chars or not short(message):
        return None
    run = 1
    for entry in sorted(_within(own, end, window), key=lambda entry: entry.at, reverse=True):
        if not short(entry):
            break
        run += 1
    if run < limit:
        return None
    return _signal(
        "flood.short_burst",
        Severity.BLOCK if run >= 2 * limit else Severity.REVIEW,
        run / limit,
        f"{run} messages of at most {max_chars} characters in a row "
        f"within {window:g} s (limit {limit})",
        {"count": run, "limit": limit, "max_chars": max_chars, "window_seconds": window},
    )


def _repeated_char(folded_text: str, t: FloodThresholds) -> Signal | None:
    min_chars, min_ratio = t.repeated_char_min_chars, t.repeated_char_min_ratio
    length = len(folded_text)
    if not min_chars or not min_ratio or length < min_chars:
        return None
    char, count = Counter(folded_text).most_common(1)[0]
    ratio = count / length
    if ratio < min_ratio:
        return None
    if length >= 10 * min_chars:
        severity = Severity.BLOCK
    elif length >= 3 * min_chars:
        severity = Severity.REVIEW
    else:
        severity = Severity.LOG
    return _signal(
        "flood.repeated_char",
        severity,
        length / min_chars,
        f"one character is {ratio:.0%} of {length} characters "
        f"(limit {min_ratio:.0%} of {min_chars})",
        {
            "char": char,
            "char_count": count,
            "folded_chars": length,
            "ratio": round(ratio, 3),
            "min_chars": min_chars,
            "min_ratio": min_ratio,
        },
        evidence=char,
    )


def _too_long(message: MessageMeta, t: FloodThresholds) -> Signal | None:
    limit = t.too_long_max_chars
    if not limit or message.length <= limit:
        return None
    return _signal(
        "flood.too_long",
        Severity.BLOCK if message.length > 2 * limit else Severity.REVIEW,
        message.length / limit,
        f"{message.length} characters (limit {limit})",
        {"length": message.length, "limit": limit},
    )


class FloodTracker:
    """The recent history of each group held in memory, for callers without a database.

    `observe` judges a message against what is held, then records it. Memory is bounded three
    ways: at most `max_groups` groups (the least recently active is dropped), at most
    `max_per_group` messages per group (the oldest is dropped), and nothing older than the
    group's `history_window` (dropped as the messages' own times advance; no clock is read).
    """

    def __init__(
        self,
        thresholds: FloodThresholds | None = None,
        *,
        group_thresholds: Mapping[str, FloodThresholds] | None = None,
        max_groups: int = 1000,
        max_per_group: int = 500,
    ) -> None:
        if max_groups < 1 or max_per_group < 1:
            raise ValueError("max_groups and max_per_group must be at least 1")
        self._default = thresholds if thresholds is not None else FloodThresholds()
        self._group_thresholds = dict(group_thresholds or {})
        self._max_groups = max_groups
        self._max_per_group = max_per_group
        self._groups: OrderedDict[str, deque[MessageMeta]] = OrderedDict()  # oldest activity first
        self._latest = -math.inf  # the latest message time seen, in seconds

    def __len__(self) -> int:
        """The number of groups held."""
        return len(self._groups)

    def thresholds_for(self, chat_id: str) -> FloodThresholds:
        return self._group_thresholds.get(chat_id, self._default)

    def held(self, chat_id: str) -> tuple[MessageMeta, ...]:
        """The messages held for a group, in the order they were observed."""
        return tuple(self._groups.get(chat_id, ()))

    def observe(
        self, message: MessageMeta, folded_text: str, *, promotional: bool = False
    ) -> list[Signal]:
        """`detect_flood` on `message` against the group's held history (and the other groups'
        for a wave's spread), then record it."""
        thresholds = self.thresholds_for(message.chat_id)
        held = self._groups.get(message.chat_id)
        if held is None:
            held = self._groups[message.chat_id] = deque(maxlen=self._max_per_group)
        else:
            self._groups.move_to_end(message.chat_id)
        oldest = message.at - history_window(thresholds)
        while held and held[0].at < oldest:
            held.popleft()
        horizon = message.at - thresholds.wave_window_seconds
        other_groups = sum(
            1
            for chat_id, entries in self._groups.items()
            if chat_id != message.chat_id
            and any(
                entry.text_hash == message.text_hash and horizon <= entry.at <= message.at
                for entry in entries
            )
        )
        signals = detect_flood(
            message,
            folded_text,
            held,
            thresholds,
            promotional=promotional,
            other_groups=other_groups if message.text_hash else 0,
        )
        held.append(message)
        self._latest = max(self._latest, message.at)
        self._evict()
        return signals

    def _evict(self) -> None:
        while len(self._groups) > self._max_groups:
            self._groups.popitem(last=False)
        # Groups are in order of activity, so the idle ones are at the front.
        while self._groups:
            chat_id, held = next(iter(self._groups.items()))
            horizon = history_window(self.thresholds_for(chat_id))
            if held and held[-1].at >= self._latest - horizon:
                break
            del self._groups[chat_id]
