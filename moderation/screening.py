"""`screen_newcomer`: what is found about someone who joins a group, and what the group does.

A newcomer has said nothing yet; what there is to judge is who they are:

- their **name** (the group's display name, and for an external contact the name WeCom's
  contact API gives when it differs), read by the same lexicon and promotion detectors as
  messages, as a newcomer's text (a name carrying 加V, a phone number, an ad phrase);
- **another company's staff**: a WeCom user (contact type 2) whose `corp_name` is neither the
  company's own nor a partner's (`screen.other_corp`);
- **group-hopping**: the member joined `hop_min_groups` or more of the company's groups within
  `hop_window_hours` (`screen.hopping`, with the groups as evidence);
- **a record elsewhere**: standing strikes in other groups of the company (`screen.record`,
  for review: the moderators see it; it never removes by itself);
- a contact the company has no relationship with (WeCom's "not an external contact") is
  screened by name alone, and the decision says so (`screen.name_only`, tier `log`).

What follows is the group's `join_screening`: `alert` alerts the moderators (never a warning,
never a strike: a newcomer has done nothing in the group yet); `remove` removes where WeCom
allows it (`removal_possible`, app-created groups) when a finding is an offence
(`moderation.policy.is_offence`), and anywhere else falls back to an alert that says so.
A finding for a human to judge (a review-tier word, weak promotion) alerts only.

Pure: no I/O, no clock; the caller gathers the facts (`Newcomer`) and carries the decision out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from moderation.decision import Action, Decision, Violation
from moderation.lexicon import Category, Severity
from moderation.matcher import Finding, SensitiveWordMatcher
from moderation.policy import GroupPolicy, JoinScreening, is_offence, promotion_signal
from moderation.promo import detect_promotion
from moderation.signal import Signal

__all__ = [
    "ContactKind",
    "Newcomer",
    "name_text",
    "same_corp",
    "screen_newcomer",
]


class ContactKind(StrEnum):
    """Who a newcomer is to the company, as WeCom tells it."""

    WECHAT = "wechat"  # an external contact using WeChat (externalcontact/get type 1)
    WECOM = "wecom"  # an external contact using WeCom, of the company `corp_name` (type 2)
    NOT_CONTACT = "not_contact"  # no member has them as a contact (errcode 84061): name only
    UNCHECKED = "unchecked"  # not looked up (an internal group's member, no app credentials)


@dataclass(frozen=True, slots=True)
class Newcomer:
    """One member who joined a group, with what is known of them."""

    chat_id: str
    user_id: str
    name: str = ""  # the display name in the group (group nickname, else name); "" unknown
    contact: ContactKind = ContactKind.UNCHECKED
    contact_name: str = ""  # the contact API's name (a WeChat nickname), "" when not known
    corp_name: str = ""  # the company of a WeCom user (type 2)
    # Chat ids of the company's groups the member joined within the hop window, this one too.
    joined_groups: tuple[str, ...] = ()
    # (chat id, standing strikes) in the company's other groups
    strikes_elsewhere: tuple[tuple[str, int], ...] = ()


def name_text(newcomer: Newcomer) -> str:
    """What is read of a newcomer: the group's name for them, and the contact's name when it
    is another (two names, one space between)."""
    names: list[str] = []
    for name in (newcomer.name, newcomer.contact_name):
        name = name.strip()
        if name and name not in names:
            names.append(name)
    return " ".join(names)


def same_corp(corp_name: str, names: Iterable[str]) -> bool:
    """Whether `corp_name` is one of `names` (blanks and letter case ignored)."""
    wanted = "".join(corp_name.split()).casefold()
    return any(wanted == "".join(name.split()).casefold() for name in names if name.strip())


def screen_newcomer(
    newcomer: Newcomer,
    matcher: SensitiveWordMatcher,
    policy: GroupPolicy,
    *,
    own_corps: Sequence[str] = (),
    partner_corps: Sequence[str] = (),
    removal_possible: bool = False,
) -> Decision:
    """The decision about one newcomer (see the module docstring). `own_corps` are the
    company's own names as WeCom writes `corp_name`; `partner_corps` are added to the
    policy's. A decision with no alert-worthy finding has no actions (verdict `log` or
    `none`); the caller need not record it."""
    text = name_text(newcomer)
    findings: list[Finding] = matcher.find(text, newcomer.chat_id) if text else []
    signals: list[Signal] = []
    if text:
        promotion = detect_promotion(
            text,
            settings=policy.promo,
            newcomer=True,
            ad_findings=[finding for finding in findings if finding.category is Category.ADS],
        )
        promo = promotion_signal(promotion)
        if promo is not None:
            signals.append(promo)
    corp = newcomer.corp_name.strip()
    partners = (*policy.partner_corps, *partner_corps)
    if (
        newcomer.contact is ContactKind.WECOM
        and corp
        and not same_corp(corp, own_corps)
        and not same_corp(corp, partners)
    ):
        signals.append(
            Signal(
                detector="screen",
                rule="screen.other_corp",
                severity=Severity.REVIEW,
                score=1.0,
                summary=f"a WeCom user of another company ({corp}), not a partner",
                evidence=corp,
                facts={"corp_name": corp, "partner_corps": sorted(set(partners))},
            )
        )
    groups = tuple(dict.fromkeys(newcomer.joined_groups))
    if policy.hop_min_groups and len(groups) >= policy.hop_min_groups:
        signals.append(
            Signal(
                detector="screen",
                rule="screen.hopping",
                severity=Severity.REVIEW,
                score=len(groups) / policy.hop_min_groups,
                summary=(
                    f"joined {len(groups)} of the company's groups within "
                    f"{policy.hop_window_hours:g} h (limit {policy.hop_min_groups})"
                ),
                evidence="、".join(groups),
                facts={
                    "groups": list(groups),
                    "window_hours": policy.hop_window_hours,
                    "min_groups": policy.hop_min_groups,
                },
            )
        )
    record = [(chat, count) for chat, count in newcomer.strikes_elsewhere if count > 0]
    if record:
        total = sum(count for _chat, count in record)
        signals.append(
            Signal(
                detector="screen",
                rule="screen.record",
                severity=Severity.REVIEW,
                score=float(total),
                summary=(
                    f"{total} standing strike(s) in {len(record)} other group(s) of the company"
                ),
                evidence="、".join(chat for chat, _count in record),
                facts={"groups": dict(record), "strikes": total},
                for_review=True,
            )
        )
    if newcomer.contact is ContactKind.NOT_CONTACT:
        signals.append(
            Signal(
                detector="screen",
                rule="screen.name_only",
                severity=Severity.LOG,
                score=0.0,
                summary=(
                    "not an external contact of the company (WeCom errcode 84061): screened "
                    "by name alone"
                ),
            )
        )
    return _decide(findings, signals, policy, removal_possible=removal_possible)


def _alerts(violation: Violation) -> bool:
    return violation.effective_severity.rank >= Severity.REVIEW.rank


def _decide(
    findings: Sequence[Finding],
    signals: Sequence[Signal],
    policy: GroupPolicy,
    *,
    removal_possible: bool,
) -> Decision:
    violations: tuple[Violation, ...] = (*findings, *signals)
    rules = sorted(
        {
            signal.rule if isinstance(signal, Signal) else f"word.{signal.category.value}"
            for signal in violations
        }
    )
    summary = f"join screening: {', '.join(rules)}" if rules else "join screening: nothing found"
    if not any(_alerts(violation) for violation in violations):
        return Decision(
            findings=tuple(findings), signals=tuple(signals), actions=(), reason=summary
        )
    offence = any(is_offence(violation) for violation in violations)
    if policy.join_screening is JoinScreening.REMOVE and offence:
        if removal_possible:
            return Decision(
                findings=tuple(findings),
                signals=tuple(signals),
                actions=(Action.REMOVE_MEMBER, Action.ALERT_MODERATORS),
                reason=f"{summary} → remove",
                removal_possible=True,
            )
        return Decision(
            findings=tuple(findings),
            signals=tuple(signals),
            actions=(Action.ALERT_MODERATORS,),
            reason=(
                f"{summary} → remove, but WeCom allows no removal here (only groups this app "
                "created): moderators alerted to act by hand"
            ),
        )
    why = "" if offence or policy.join_screening is not JoinScreening.REMOVE else " (for review)"
    return Decision(
        findings=tuple(findings),
        signals=tuple(signals),
        actions=(Action.ALERT_MODERATORS,),
        reason=f"{summary} → alert{why}",
        removal_possible=removal_possible,
    )
