"""`judge`: what a group does about one message, from its findings and the member's standing.

Proportion, not a kick on the first hit:

- An **offence** is a lexicon hit of effective tier `block`, or a behaviour signal (flooding,
  promotion) of tier `review` or `block`. Each offence is a strike for the member in the
  group; strikes decay after `GroupPolicy.strike_window_days` (default 30) and a pardon clears
  them (the caller counts the strikes that still stand and passes them in).
- The **ladder** says what the n-th standing offence brings (default: 1st a warning that names
  the rule, 2nd a final warning and a moderator alert, 3rd removal). Past its end the last
  step repeats. Removal happens only where WeCom allows it (groups this app created); anywhere
  else the moderators get an alert saying what a human must do, never a silent no-op.
- **Severity skips steps**: any `block`-tier finding alerts the moderators at once, whatever
  the step. A lexicon word of tier `review` (or a low-confidence hit of a `block` word) is for
  a human to judge: the moderators are alerted, the member is not warned and gets no strike.
  `log`-tier findings are only recorded.
- A promotion signal made only of weak signals (a newcomer's plain link, a link message, a
  contact cue with no contact: `PromoResult.weak`) is for a human to judge the same way: the
  moderators are alerted, the member is not warned and gets no strike.
- **Exempt** members (moderators, the group's owner, configured staff) get no action and no
  strike; their flagged messages are still recorded, marked exempt.

Each group has a `GroupMode`: `enforce`, `shadow` (decide and record exactly the same, send
nothing: the caller does that part) or `off` (the caller does not moderate the group), and its
own detector thresholds (`FloodThresholds`, `PromoSettings`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from moderation.decision import Action, Decision, Violation, strictest
from moderation.flood import FloodThresholds
from moderation.lexicon import Severity
from moderation.matcher import Finding
from moderation.promo import PromoResult, PromoSettings
from moderation.signal import Signal

__all__ = [
    "DEFAULT_LADDER",
    "GroupMode",
    "GroupPolicy",
    "JoinScreening",
    "Standing",
    "Step",
    "decide",
    "is_offence",
    "judge",
    "promotion_signal",
]


class GroupMode(StrEnum):
    ENFORCE = "enforce"  # decide, record and carry out
    SHADOW = "shadow"  # decide and record what would happen; send nothing
    OFF = "off"  # not moderated


class JoinScreening(StrEnum):
    """What a group does about a newcomer whose screening finds something
    (`moderation.screening`)."""

    OFF = "off"  # newcomers are not screened
    ALERT = "alert"  # the moderators and the owner are alerted, one alert per join batch
    REMOVE = "remove"  # removed where WeCom allows it (app-created groups), else alert


class Step(StrEnum):
    """A rung of the ladder."""

    WARNING = "warning"  # a warning in the group that names the rule
    FINAL_WARNING = "final_warning"  # a last warning, and the moderators are alerted
    REMOVAL = "removal"  # removed where WeCom allows it, else a human is asked to


DEFAULT_LADDER = (Step.WARNING, Step.FINAL_WARNING, Step.REMOVAL)
T = TypeVar("T")
MAX_LADDER = 10  # rungs, at most
MAX_DAYS = 3650  # for the day counts of a policy, at most
MAX_WELCOME_WINDOW = 3600  # seconds joins may wait to be merged into one welcome, at most
MAX_REPORT_THRESHOLD = 100
MAX_HOP_GROUPS = 1000  # groups a hop count may ask for, at most
MAX_HOP_WINDOW_HOURS = 24 * 30
MAX_PARTNERS = 200  # partner companies a policy may list, at most


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """A group's moderation settings; every field has a default (the service-wide policy)."""

    mode: GroupMode = GroupMode.ENFORCE
    ladder: tuple[Step, ...] = DEFAULT_LADDER
    strike_window_days: float = 30.0  # strikes older than this no longer count
    newcomer_days: float = 1.0  # a member first seen less than this long ago is a newcomer
    newcomer_messages: int = 3  # ... and so is one with fewer earlier messages than this
    welcome: bool = True  # welcome members who join, with the group's rules
    welcome_window_seconds: float = 60.0  # joins within this long go into one welcome
    report_threshold: int = 3  # members reporting the same member before moderators are alerted
    # Newcomer screening (`moderation.screening`): what a finding on a join brings.
    join_screening: JoinScreening = JoinScreening.ALERT
    partner_corps: tuple[str, ...] = ()  # companies whose WeCom users are welcome (corp_name)
    hop_min_groups: int = 3  # joins of this many of the corp's groups ... (0: not checked)
    hop_window_hours: float = 24.0  # ... within this long flag the member as group-hopping
    # A member's standing strikes in the company's other groups count here at this weight
    # (rounded down; 0: not at all, 1: in full).
    cross_group_strike_weight: float = 0.0
    flood: FloodThresholds = field(default_factory=FloodThresholds)
    promo: PromoSettings = field(default_factory=PromoSettings)

    def __post_init__(self) -> None:
        try:  # plain strings are accepted for the enums ("shadow", ("warning", "removal"))
            object.__setattr__(self, "mode", GroupMode(self.mode))
        except ValueError:
            raise ValueError(
                f"policy mode: {self.mode!r} is not one of enforce, shadow, off"
            ) from None
        if isinstance(self.ladder, str) or not isinstance(self.ladder, Sequence):
            raise ValueError("policy ladder: expected a list of steps")
        if not self.ladder or len(self.ladder) > MAX_LADDER:
            raise ValueError(f"policy ladder: give 1 to {MAX_LADDER} steps")
        try:
            object.__setattr__(self, "ladder", tuple(Step(step) for step in self.ladder))
        except ValueError:
            raise ValueError(
                f"policy ladder: {list(self.ladder)!r} has a step that is not one of "
                "warning, final_warning, removal"
            ) from None
        for name, limit in (
            ("strike_window_days", MAX_DAYS),
            ("newcomer_days", MAX_DAYS),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"policy {name}: {value!r} is not a number")
            if not math.isfinite(value) or value < 0 or value > limit:
                raise ValueError(f"policy {name}: {value!r} must be between 0 and {limit}")
        if self.strike_window_days == 0:
            raise ValueError("policy strike_window_days: must be more than 0")
        if not isinstance(self.welcome, bool):
            raise ValueError(f"policy welcome: {self.welcome!r} is not true or false")
        window = self.welcome_window_seconds
        if isinstance(window, bool) or not isinstance(window, int | float):
            raise ValueError(f"policy welcome_window_seconds: {window!r} is not a number")
        if not math.isfinite(window) or window < 0 or window > MAX_WELCOME_WINDOW:
            raise ValueError(
                f"policy welcome_window_seconds: {window!r} must be between 0 and "
                f"{MAX_WELCOME_WINDOW}"
            )
        threshold = self.report_threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int)
            or not 1 <= threshold <= MAX_REPORT_THRESHOLD
        ):
            raise ValueError(
                f"policy report_threshold: {threshold!r} is not a whole number from 1 to "
                f"{MAX_REPORT_THRESHOLD}"
            )
        self._check_screening()
        messages = self.newcomer_messages
        if isinstance(messages, bool) or not isinstance(messages, int) or messages < 0:
            raise ValueError(f"policy newcomer_messages: {messages!r} is not a whole number >= 0")

    def _check_screening(self) -> None:
        try:
            object.__setattr__(self, "join_screening", JoinScreening(self.join_screening))
        except ValueError:
            raise ValueError(
                f"policy join_screening: {self.join_screening!r} is not one of off, alert, remove"
            ) from None
        partners = self.partner_corps
        if isinstance(partners, str) or not isinstance(partners, Sequence):
            raise ValueError("policy partner_corps: expected a list of company names")
        if len(partners) > MAX_PARTNERS or not all(
            isinstance(name, str) and 0 < len(name.strip()) <= 256 for name in partners
        ):
            raise ValueError(
                f"policy partner_corps: give at most {MAX_PARTNERS} company names of 1 to 256 "
                "characters"
            )
        object.__setattr__(self, "partner_corps", tuple(name.strip() for name in partners))
        groups = self.hop_min_groups
        if (
            isinstance(groups, bool)
            or not isinstance(groups, int)
            or not 0 <= groups <= MAX_HOP_GROUPS
        ):
            raise ValueError(
                f"policy hop_min_groups: {groups!r} is not a whole number from 0 to "
                f"{MAX_HOP_GROUPS}"
            )
        weight = self.cross_group_strike_weight
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"policy cross_group_strike_weight: {weight!r} is not a number")
        if not math.isfinite(weight) or not 0 <= weight <= 1:
            raise ValueError(
                f"policy cross_group_strike_weight: {weight!r} must be between 0 and 1"
            )
        hours = self.hop_window_hours
        if isinstance(hours, bool) or not isinstance(hours, int | float):
            raise ValueError(f"policy hop_window_hours: {hours!r} is not a number")
        if not math.isfinite(hours) or not 0 < hours <= MAX_HOP_WINDOW_HOURS:
            raise ValueError(
                f"policy hop_window_hours: {hours!r} must be more than 0 and at most "
                f"{MAX_HOP_WINDOW_HOURS}"
            )

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], base: GroupPolicy | None = None
    ) -> GroupPolicy:
        """`base` (default: the defaults) with the keys of `mapping` changed, as stored in JSON
        for a group: {"mode": "shadow", "ladder": ["warning", "removal"], "flood": {...},
        "promo": {...}, ...}. Unknown keys and bad values raise ValueError naming them."""
        if not isinstance(mapping, Mapping):
            raise ValueError("policy: expected an object of settings")
        base = base or cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in mapping if key not in known)
        if unknown:
            names = ", ".join(sorted(known))
            raise ValueError(f"policy: unknown setting(s) {', '.join(unknown)}; known: {names}")
        changes: dict[str, Any] = {}
        for key, value in mapping.items():
            if key == "flood":
                merged = {**base.flood.as_dict(), **_object(key, value)}
                changes[key] = _nested(key, FloodThresholds.from_mapping, merged)
            elif key == "promo":
                merged = {**base.promo.as_dict(), **_object(key, value)}
                changes[key] = _nested(key, PromoSettings.from_mapping, merged)
            else:
                changes[key] = value
        values = {f.name: getattr(base, f.name) for f in fields(cls)}
        values.update(changes)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "ladder": [step.value for step in self.ladder],
            "strike_window_days": self.strike_window_days,
            "newcomer_days": self.newcomer_days,
            "newcomer_messages": self.newcomer_messages,
            "welcome": self.welcome,
            "welcome_window_seconds": self.welcome_window_seconds,
            "report_threshold": self.report_threshold,
            "join_screening": self.join_screening.value,
            "partner_corps": list(self.partner_corps),
            "hop_min_groups": self.hop_min_groups,
            "hop_window_hours": self.hop_window_hours,
            "cross_group_strike_weight": self.cross_group_strike_weight,
            "flood": self.flood.as_dict(),
            "promo": self.promo.as_dict(),
        }


def _nested(key: str, parse: Callable[[Mapping[str, Any]], T], mapping: Mapping[str, Any]) -> T:
    try:
        return parse(mapping)
    except ValueError as exc:
        raise ValueError(f"policy {key}: {exc}") from None


def _object(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"policy {key}: expected an object of settings")
    return value


@dataclass(frozen=True, slots=True)
class Standing:
    """The sender's standing in the group when the message is judged."""

    strikes: int = 0  # standing offences before this message (within the window, unpardoned)
    exempt: str = ""  # why the sender is exempt ("moderator", "owner", "staff"); "" if not
    removal_possible: bool = False  # WeCom lets this app remove members here (app-created)

    def __post_init__(self) -> None:
        if isinstance(self.strikes, bool) or not isinstance(self.strikes, int) or self.strikes < 0:
            raise ValueError(f"standing strikes: {self.strikes!r} is not a count (0 or more)")


def is_offence(violation: Violation) -> bool:
    """Whether a finding counts as an offence (a strike): see the module docstring."""
    if isinstance(violation, Signal):
        return not violation.for_review and violation.severity.rank >= Severity.REVIEW.rank
    return violation.effective_severity is Severity.BLOCK


def _alerts_at_once(violation: Violation) -> bool:
    if violation.effective_severity is Severity.BLOCK:
        return True
    if isinstance(violation, Signal) and violation.for_review:
        return True
    return isinstance(violation, Finding) and violation.effective_severity is Severity.REVIEW


def promotion_signal(result: PromoResult) -> Signal | None:
    """One signal for a promotional message (None when it is not promotional): the rules that
    fired add up to the score, so they act together, with the severity of the total."""
    if not result.promotional or result.severity is None:
        return None
    strongest = max(result.signals, key=lambda signal: signal.score)
    rules = sorted({signal.rule for signal in result.signals})
    who = "a newcomer" if result.newcomer else "an established member"
    return Signal(
        detector="promo",
        rule=strongest.rule,
        severity=result.severity,
        score=result.score / result.threshold if result.threshold else result.score,
        summary=(
            f"promotion score {result.score:.2f} >= {result.threshold:.2f} for {who} "
            f"({', '.join(rules)})"
        ),
        evidence=strongest.evidence,
        start=strongest.start,
        end=strongest.end,
        facts=result.as_dict(),
        for_review=result.weak,
    )


def judge(
    findings: Sequence[Finding],
    signals: Sequence[Signal] = (),
    *,
    policy: GroupPolicy | None = None,
    standing: Standing | None = None,
) -> Decision:
    """The decision for one message (see the module docstring)."""
    policy = policy or _DEFAULT_POLICY
    standing = standing or _NO_STANDING
    violations: tuple[Violation, ...] = (*findings, *signals)
    if not violations:
        return Decision(findings=(), actions=(), reason="no findings", strikes=standing.strikes)
    worst = strictest(violations)
    summary = _summary(findings, signals, worst)
    if standing.exempt:
        return Decision(
            findings=tuple(findings),
            signals=tuple(signals),
            actions=(),
            reason=f"{summary}; sender exempt ({standing.exempt}): no action",
            exempt=standing.exempt,
            strikes=standing.strikes,
            removal_possible=standing.removal_possible,
        )
    alert = any(_alerts_at_once(violation) for violation in violations)
    if not any(is_offence(violation) for violation in violations):
        return Decision(
            findings=tuple(findings),
            signals=tuple(signals),
            actions=(Action.ALERT_MODERATORS,) if alert else (),
            reason=f"{summary}; no offence" + ("; moderators alerted" if alert else ""),
            strikes=standing.strikes,
            removal_possible=standing.removal_possible,
        )
    strikes = standing.strikes + 1
    step = policy.ladder[min(strikes, len(policy.ladder)) - 1]
    actions: list[Action] = []
    if step is Step.WARNING:
        actions.append(Action.WARN_SENDER)
    elif step is Step.FINAL_WARNING:
        actions.append(Action.WARN_SENDER)
        alert = True
    elif standing.removal_possible:
        actions.append(Action.REMOVE_MEMBER)
        alert = True
    else:
        alert = True  # the alert tells a human what to do
    if alert:
        actions.append(Action.ALERT_MODERATORS)
    reason = f"{summary}; offence {strikes} → {step.value}"
    if step is Step.REMOVAL and not standing.removal_possible:
        reason += " (WeCom allows no removal here: a moderator must act)"
    return Decision(
        findings=tuple(findings),
        signals=tuple(signals),
        actions=tuple(actions),
        reason=reason,
        step=step,
        strike=True,
        strikes=strikes,
        removal_possible=standing.removal_possible,
    )


def decide(findings: Sequence[Finding]) -> Decision:
    """`judge` with the default policy and a member with no strikes: what the lexicon alone
    says about a text (the CLI and REST text checks)."""
    return judge(findings)


def _summary(findings: Sequence[Finding], signals: Sequence[Signal], worst: Violation) -> str:
    parts = []
    if findings:
        words = {finding.word for finding in findings}
        parts.append(f"{len(findings)} lexicon hit(s) on {len(words)} word(s)")
    if signals:
        rules = ", ".join(sorted({signal.rule for signal in signals}))
        parts.append(f"{len(signals)} signal(s): {rules}")
    if isinstance(worst, Signal):
        what = f"{worst.rule}/{worst.severity.value}"
    else:
        what = f"{worst.category.value}/{worst.effective_severity.value}"
        if worst.effective_severity is not worst.severity:
            what += f" (a {worst.severity.value} word, low confidence: {worst.route.value})"
    return f"{'; '.join(parts)}; strictest: {what}"


_DEFAULT_POLICY = GroupPolicy()
_NO_STANDING = Standing()
