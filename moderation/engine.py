"""`evaluate`: one message's facts in, a `Decision` out. Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass

from moderation.decision import Decision
from moderation.matcher import SensitiveWordMatcher
from moderation.policy import decide

__all__ = ["MessageFacts", "evaluate"]


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What is known about one message when it is judged."""

    text: str
    sender: str
    chat_id: str  # "" for a 1:1 chat


def evaluate(facts: MessageFacts, matcher: SensitiveWordMatcher) -> Decision:
    return decide(matcher.find(facts.text, facts.chat_id))
