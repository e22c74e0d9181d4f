"""`Decision`: what to do about one message, as data (stored before it is carried out).

`moderation.policy.judge` makes them; this module holds the shapes both it and the service use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from moderation.matcher import Finding
from moderation.signal import Signal

if TYPE_CHECKING:
    from moderation.policy import Step

__all__ = ["Action", "Decision", "Violation", "mask_word", "strictest"]

# A lexicon word found in the text, or a behaviour rule (flood, promotion) that fired.
Violation = Finding | Signal


class Action(StrEnum):
    WARN_SENDER = "warn_sender"  # a visible warning in the chat, naming the sender and the rule
    ALERT_MODERATORS = "alert_moderators"  # a private message to the moderators with evidence
    REMOVE_MEMBER = "remove_member"  # remove the sender from the group (app-created groups)


@dataclass(frozen=True, slots=True)
class Decision:
    findings: tuple[Finding, ...]
    actions: tuple[Action, ...]
    reason: str
    signals: tuple[Signal, ...] = ()  # the behaviour rules that fired (flood, promotion)
    step: Step | None = None  # the ladder step this offence reached; None when no offence
    strike: bool = False  # whether this message is an offence (a strike for the sender)
    strikes: int = 0  # the sender's standing strikes after this message
    exempt: str = ""  # why the sender is exempt from action ("moderator", ...), "" if not
    removal_possible: bool = False  # whether WeCom lets the service remove the sender here

    @property
    def violations(self) -> tuple[Violation, ...]:
        return (*self.findings, *self.signals)

    @property
    def flagged(self) -> bool:
        """Whether the message belongs in the moderation log (any finding or signal at all)."""
        return bool(self.findings or self.signals)

    @property
    def verdict(self) -> str:
        """One word for the log: `remove`, `warn`, `alert`, `exempt`, `log` (recorded only) or
        `none`."""
        if Action.REMOVE_MEMBER in self.actions:
            return "remove"
        if Action.WARN_SENDER in self.actions:
            return "warn"
        if Action.ALERT_MODERATORS in self.actions:
            return "alert"
        if self.exempt:
            return "exempt"
        return "log" if self.flagged else "none"


def strictest(violations: tuple[Violation, ...] | list[Violation]) -> Violation:
    """The finding that sets the decision: highest effective severity; among equals the higher
    tier (so a low-confidence hit of a `block` word, acting as `review`, ranks above a sure
    `review` word); then a lexicon word before a behaviour signal; then the earliest."""
    return max(
        violations,
        key=lambda v: (
            v.effective_severity.rank,
            v.severity.rank,
            isinstance(v, Finding),
            -v.start,
        ),
    )


def mask_word(word: str) -> str:
    """Show a word in a warning without repeating it: 赌博 → 赌*, fuck → f**k, 法轮功 → 法*功."""
    if len(word) <= 1:
        return "*"
    if len(word) == 2:
        return word[0] + "*"
    return word[0] + "*" * (len(word) - 2) + word[-1]
