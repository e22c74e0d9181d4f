"""`Signal`: one named result of a behaviour check (flooding, promotion), with its evidence.

The word matcher reports `Finding`s (a lexicon word at a span); the flood and promotion
detectors report `Signal`s: which rule fired, how strongly, and the evidence an operator needs
to judge it (counts, windows, the matched contact detail). Both carry a `detector` name and a
`severity` tier, and both turn into JSON for the moderation log with `as_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moderation.lexicon import Severity

__all__ = ["Signal"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One rule of one detector that fired on a message."""

    detector: str  # "flood" or "promo"
    rule: str  # the rule's stable name, e.g. "flood.rate", "promo.phone"
    severity: Severity  # the tier this signal acts with on its own
    score: float  # how strongly the rule fired; 1.0 = exactly at its threshold, 0 = not at all
    summary: str  # one line for an operator, e.g. "7 messages in 10 s (limit 5)"
    evidence: str = ""  # the part of the message (or the repeated text) that fired, if any
    start: int = -1  # character span of `evidence` in the message text; -1 when not a span
    end: int = -1
    facts: dict[str, Any] = field(default_factory=dict)  # counts, windows, thresholds (JSON)
    # For a human to judge (a newcomer's plain link): the moderators are alerted, the member
    # is not warned and gets no strike, whatever the tier.
    for_review: bool = False

    @property
    def effective_severity(self) -> Severity:
        return self.severity

    def explain(self) -> str:
        line = f"{self.rule} [{self.severity.value}] {self.summary}"
        if self.evidence:
            line += f": {self.evidence!r}"
        return line

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "rule": self.rule,
            "severity": self.severity.value,
            "effective_severity": self.effective_severity.value,
            "score": round(self.score, 3),
            "summary": self.summary,
            "evidence": self.evidence,
            "start": self.start,
            "end": self.end,
            "facts": dict(self.facts),
            "for_review": self.for_review,
            "explanation": self.explain(),
        }
