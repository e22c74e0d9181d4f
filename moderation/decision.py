"""`Decision`: what to do about one message, as data (stored before it is carried out)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from moderation.lexicon import Severity
from moderation.matcher import Finding

__all__ = ["Action", "Decision", "decide", "mask_word", "strictest"]


class Action(StrEnum):
    WARN_SENDER = "warn_sender"  # a visible warning in the chat, naming the sender and the rule
    ALERT_MODERATORS = "alert_moderators"  # a private message to the moderators with evidence


@dataclass(frozen=True, slots=True)
class Decision:
    findings: tuple[Finding, ...]
    actions: tuple[Action, ...]
    reason: str

    @property
    def flagged(self) -> bool:
        """Whether the message belongs in the moderation log (any finding at all)."""
        return bool(self.findings)

    @property
    def verdict(self) -> str:
        """One word for the log: `warn`, `alert`, `log` (recorded only) or `none`."""
        if Action.WARN_SENDER in self.actions:
            return "warn"
        if Action.ALERT_MODERATORS in self.actions:
            return "alert"
        return "log" if self.findings else "none"


_ACTIONS_BY_SEVERITY: dict[Severity, tuple[Action, ...]] = {
    Severity.BLOCK: (Action.WARN_SENDER, Action.ALERT_MODERATORS),
    Severity.REVIEW: (Action.ALERT_MODERATORS,),
    Severity.LOG: (),
}


def decide(findings: list[Finding] | tuple[Finding, ...]) -> Decision:
    """The decision for a message with these findings: the strictest effective severity sets
    the actions (a low-confidence hit acts as `review` at most: moderators look, nobody is
    warned automatically)."""
    if not findings:
        return Decision(findings=(), actions=(), reason="no findings")
    worst = strictest(findings)
    words = sorted({finding.word for finding in findings})
    reason = (
        f"{len(findings)} lexicon hit(s) on {len(words)} word(s); strictest: "
        f"{worst.category.value}/{worst.effective_severity.value}"
    )
    if worst.effective_severity is not worst.severity:
        reason += f" (a {worst.severity.value} word, low confidence: {worst.route.value})"
    return Decision(
        findings=tuple(findings),
        actions=_ACTIONS_BY_SEVERITY[worst.effective_severity],
        reason=reason,
    )


def strictest(findings: list[Finding] | tuple[Finding, ...]) -> Finding:
    """The finding that sets the decision: highest effective severity, then high confidence,
    then the earliest."""
    return max(
        findings,
        key=lambda f: (f.effective_severity.rank, f.severity.rank, -f.start),
    )


def mask_word(word: str) -> str:
    """Show a word in a warning without repeating it: 赌博 → 赌*, fuck → f**k, 法轮功 → 法*功."""
    if len(word) <= 1:
        return "*"
    if len(word) == 2:
        return word[0] + "*"
    return word[0] + "*" * (len(word) - 2) + word[-1]
