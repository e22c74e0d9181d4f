"""Learning from corrections: the allow-list phrase an overturned decision proposes, and
adding it in one step with the decision it came from.

For each lexicon hit of a moderation log row the proposal is the segmented words around the
hit (`moderation.segment.phrase_around`: 路口|交通 → 路口交通, 打赌|博士 → 打赌博士, a word read
as itself joined by its shorter neighbour: 去赌博), the smallest stretch of whole words that
holds the hit and at least one neighbouring character, so allowing it does not allow the word
itself. A phrase may be allowed in the row's group (scope "group", the chat id) or in every
group (scope "global"); a row from a 1:1 chat has only "global".

`allow_from_log` adds one: a proposal by its index, or a phrase of the moderator's own that
occurs in the row's text and holds one of its hits with something around it. Only an
overturned row may teach the allow list (a confirmed one was right). Adding a phrase that is
there already changes nothing and says so; the entry keeps the decision it first came from.

`review` records a moderator's confirm or overturn of a row, once per row (a conditional
UPDATE decides between two racing reviewers); an overturn pardons the strike the row gave, so
the member's standing drops at once. The REST API and the web console both review through it,
and it writes the audit entry under the actor and channel they give.

Errors (nothing is changed):

    CorrectionError
     ├── LogNotFound      no moderation log row with that id (404)
     ├── AlreadyReviewed  the row has a review already (409)
     ├── NotOverturned    the row is not overturned (409)
     └── BadChoice        no such proposal, a phrase that would not have prevented the hit,
                          a scope the row cannot have (422)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.errors import WecomModError
from app.groups.policy_file import effective_policy
from app.lexicon import service as lexicon
from app.models import LexiconAllow, ModerationLog
from app.repositories import groups as groups_repo
from app.repositories import moderation_log as log_repo
from app.repositories import strikes as strikes_repo
from moderation import AllowEntry, GroupPolicy, fold
from moderation.segment import phrase_around

__all__ = [
    "SCOPES",
    "AlreadyReviewed",
    "BadChoice",
    "CorrectionError",
    "Hit",
    "LogNotFound",
    "NotOverturned",
    "ReviewOutcome",
    "Scope",
    "Suggestion",
    "allow_from_log",
    "describe_existing",
    "lexicon_hits",
    "review",
    "scopes_of",
    "suggestions",
]

Scope = Literal["group", "global"]
SCOPES: tuple[Scope, ...] = ("group", "global")


class CorrectionError(WecomModError):
    """Root of this module's errors; the message is one line for a human."""


class LogNotFound(CorrectionError):
    """No moderation log row has that id."""


class AlreadyReviewed(CorrectionError):
    """The moderation log row was reviewed before."""


class NotOverturned(CorrectionError):
    """The moderation log row has not been overturned."""


class BadChoice(CorrectionError):
    """The proposal, phrase or scope asked for cannot be added from this row."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A lexicon hit of a stored finding: the word and where it matched in the row's text."""

    word: str
    matched: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An allow-list phrase proposed for one hit (the first hit, when several give it)."""

    index: int  # its place in the row's proposals, as POST …/allow names it
    hit: Hit
    phrase: str
    start: int  # the phrase's span in the row's text
    end: int


def lexicon_hits(row: ModerationLog) -> list[Hit]:
    """The lexicon hits among the row's findings whose span lies in its text."""
    hits = []
    for finding in row.findings or ():
        if not isinstance(finding, dict) or finding.get("detector", "lexicon") != "lexicon":
            continue
        try:
            start, end = int(finding.get("start", -1)), int(finding.get("end", -1))
        except (TypeError, ValueError):
            continue
        if 0 <= start < end <= len(row.text):
            word, matched = finding.get("word", ""), finding.get("matched", "")
            hits.append(Hit(str(word), str(matched or row.text[start:end]), start, end))
    return hits


def suggestions(row: ModerationLog) -> list[Suggestion]:
    """The allow-list phrases the row proposes, one per distinct phrase, in hit order."""
    found: list[Suggestion] = []
    for hit in lexicon_hits(row):
        span = phrase_around(row.text, hit.start, hit.end)
        if span is None:
            continue
        phrase = row.text[span[0] : span[1]]
        try:
            lexicon.allow_entry(phrase)
        except lexicon.InvalidEntry:
            continue
        if any(item.phrase == phrase for item in found):
            continue
        found.append(Suggestion(len(found), hit, phrase, span[0], span[1]))
    return found


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """What a review did: the row (reviewed), the strikes it pardoned, the member's standing
    strikes in the group afterwards (None for a 1:1 chat) and, for an overturn, the proposals."""

    row: ModerationLog
    pardoned: int
    standing: int | None
    suggestions: list[Suggestion]


async def review(
    session: AsyncSession,
    log_id: int,
    *,
    verdict: Literal["confirm", "overturn"],
    by: str,
    actor: str,
    channel: audit.Channel,
    note: str,
    now: datetime,
    default_policy: GroupPolicy,
) -> ReviewOutcome:
    """Confirm or overturn row `log_id` as `by` (overturn pardons its strike), with the audit
    entry under `actor` and `channel`; flushes, never commits. Raises LogNotFound or
    AlreadyReviewed before any change."""
    status = "confirmed" if verdict == "confirm" else "overturned"
    row = await log_repo.get(session, log_id)
    if row is None:
        raise LogNotFound(f"moderation log {log_id} not found")
    recorded = await log_repo.mark_reviewed(
        session, log_id, review=status, by=by, at=now, note=note
    )
    await session.refresh(row)
    if not recorded:
        when = row.reviewed_at.isoformat() if row.reviewed_at else "?"
        raise AlreadyReviewed(
            f"moderation log {log_id} was already reviewed: {row.review} by "
            f"{row.reviewed_by} at {when}"
        )
    pardoned = 0
    proposals: list[Suggestion] = []
    if status == "overturned":
        pardoned = await strikes_repo.pardon_for_log(session, log_id, now=now, by=by)
        proposals = suggestions(row)
    standing: int | None = None
    if row.chat_id and row.user_id:
        group = await groups_repo.get(session, row.chat_id)
        policy = effective_policy(group, default_policy)
        standing = await strikes_repo.standing_count(
            session,
            row.chat_id,
            row.user_id,
            since=now - timedelta(days=policy.strike_window_days),
            shadow=row.mode == "shadow",
        )
    await audit.record(
        session,
        actor=actor,
        channel=channel,
        action=f"log.{verdict}",
        target=f"log:{log_id}",
        details={
            "chat_id": row.chat_id,
            "user_id": row.user_id,
            "note": note,
            "pardoned_strikes": pardoned,
            "suggested_allow": [item.phrase for item in proposals],
        },
        at=now,
    )
    return ReviewOutcome(row, pardoned, standing, proposals)


def scopes_of(row: ModerationLog) -> tuple[Scope, ...]:
    """The scopes a phrase from this row may have: its group and every group, or only every
    group for a 1:1 chat."""
    return SCOPES if row.chat_id else ("global",)


_EITHER = 'give either "suggestion" (an index of the review\'s suggested_allow) or "phrase"'


def _suggested(row: ModerationLog, suggestion: int) -> str:
    proposals = suggestions(row)
    if not proposals:
        raise BadChoice(
            f"moderation log {row.id} proposes no allow-list phrase (no lexicon hit, or each "
            'stands alone between spaces or punctuation); give a "phrase" of your own'
        )
    if not 0 <= suggestion < len(proposals):
        raise BadChoice(
            f"suggestion {suggestion}: moderation log {row.id} proposes {len(proposals)} "
            f"(0 to {len(proposals) - 1})"
        )
    return proposals[suggestion].phrase


def _chosen_phrase(row: ModerationLog, suggestion: int | None, phrase: str | None) -> str:
    if phrase is None:
        if suggestion is None:
            raise BadChoice(_EITHER)
        return _suggested(row, suggestion)
    if suggestion is not None:
        raise BadChoice(_EITHER)
    text = lexicon.allow_entry(phrase).phrase  # raises InvalidEntry
    hits = lexicon_hits(row)
    if not hits:
        raise BadChoice(f"moderation log {row.id} has no lexicon hit for a phrase to allow")
    places = [i for i in range(len(row.text)) if row.text.startswith(text, i)]
    if not places:
        raise BadChoice(f"phrase {text!r} does not occur in the text of moderation log {row.id}")
    holds = [hit for hit in hits for i in places if i <= hit.start and hit.end <= i + len(text)]
    if not holds:
        where = ", ".join(f"{hit.matched} at {hit.start}:{hit.end}" for hit in hits)
        raise BadChoice(
            f"phrase {text!r} holds none of the lexicon hits of moderation log {row.id} "
            f"({where}), so allowing it would not have prevented the decision"
        )
    if all(fold(text) == fold(hit.matched) for hit in holds):
        raise BadChoice(
            f"phrase {text!r} is the hit itself: allowing it would allow the word; take at "
            "least one character around it"
        )
    return text


async def allow_from_log(
    session: AsyncSession,
    row: ModerationLog,
    *,
    suggestion: int | None,
    phrase: str | None,
    scope: Scope,
    added_by: str,
    source: str,
    now: datetime,
    actor: str,
    channel: audit.Channel,
) -> lexicon.WordsResult:
    """Add the chosen phrase to the allow list with `row` as its source decision, and audit
    an addition under `actor` and `channel` (flushes, never commits). Raises NotOverturned,
    BadChoice or lexicon.InvalidEntry before any change."""
    if row.review != "overturned":
        raise NotOverturned(
            f"moderation log {row.id} is not overturned (review: {row.review or 'none'}): "
            f"overturn it first with POST /api/v1/moderation-logs/{row.id}/review"
        )
    if scope not in scopes_of(row):
        raise BadChoice(
            f'scope "{scope}": moderation log {row.id} is from a 1:1 chat; use "global"'
        )
    text = _chosen_phrase(row, suggestion, phrase)
    entry = AllowEntry(phrase=text, scope=row.chat_id if scope == "group" else "")
    result = await lexicon.add_allow(
        session, [entry], added_by=added_by, source=source, now=now, source_log_id=row.id
    )
    change = result.changes[0]
    if change.outcome is lexicon.Outcome.ADDED:
        await audit.record(
            session,
            actor=actor,
            channel=channel,
            action="lexicon.allow.add",
            target=f"log:{row.id}",
            details={
                "id": change.row.id,
                "phrase": text,
                "scope": entry.scope,
                "source_log_id": row.id,
                "suggestion": suggestion,
                "lexicon_version": result.version,
            },
            at=now,
        )
    return result


def describe_existing(row: LexiconAllow) -> str:
    """Where an allow-list entry that was there already came from, for the answer's note."""
    origin = (
        f"from moderation log {row.source_log_id}"
        if row.source_log_id is not None
        else f"added by {row.added_by or 'hand'} ({row.source})"
    )
    return f"already on the allow list ({origin}); nothing changed"
