"""How a finding or signal is described in the configured language, for warnings, alerts,
chat replies and the web console (`describe`, `how_found`, `how_routes`), and a message quoted
with its matched spans masked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.texts import Texts
from moderation import Violation, mask_word
from moderation.matcher import Confidence, Finding

EVIDENCE_CHARS = 200  # longest excerpt of a message quoted in an alert


def masked_evidence(text: str, findings: tuple[Finding, ...] | list[Finding]) -> str:
    """The message with every matched span masked, cut to EVIDENCE_CHARS characters."""
    chars = list(text)
    for finding in findings:
        masked = mask_word(finding.matched)
        for offset, char in enumerate(masked):
            if finding.start + offset < len(chars):
                chars[finding.start + offset] = char
    excerpt = "".join(chars).replace("\n", " ")
    return excerpt if len(excerpt) <= EVIDENCE_CHARS else excerpt[:EVIDENCE_CHARS] + "…"


def describe(texts: Texts, violation: Violation) -> tuple[str, str]:
    """The rule's name and what fired, in the configured language, for warnings and alerts."""
    if isinstance(violation, Finding):
        return texts.category(violation.category.value), texts.render(
            "detail.word", word=mask_word(violation.word), how=how_found(texts, violation)
        )
    rule = texts.templates.get(f"rule.{violation.rule}", violation.rule)
    return rule, signal_detail(texts, violation.facts, mask_word(violation.evidence))


def signal_detail(texts: Texts, facts: Mapping[str, Any], evidence: str) -> str:
    """What fired for a flood or promotion signal, from its facts (counts against a limit) or
    its evidence, in the configured language."""
    if {"count", "limit", "window_seconds"} <= facts.keys():
        return texts.render(
            "detail.count",
            seconds=f"{float(facts['window_seconds']):g}",
            count=facts["count"],
            limit=facts["limit"],
        )
    if evidence:
        return texts.render("detail.signal", what=evidence)
    return texts["detail.none"]


def describe_stored(
    texts: Texts, finding: Mapping[str, Any], *, mask: bool = True
) -> tuple[str, str]:
    """`describe` for a finding or signal as the moderation log stores it (its JSON form):
    the rule's name and what fired, in the configured language (the word masked unless
    `mask` is False: the console shows the moderators the message itself)."""
    how = stored_how(texts, finding)
    if how is None:
        rule = str(finding.get("rule") or finding.get("detector"))
        facts = finding.get("facts")
        evidence = str(finding.get("evidence") or "")
        detail = signal_detail(
            texts,
            facts if isinstance(facts, dict) else {},
            mask_word(evidence) if mask else evidence,
        )
        return texts.templates.get(f"rule.{rule}", rule), detail
    word = str(finding.get("word") or "")
    category = str(finding.get("category") or "custom")
    return texts.category(category), texts.render(
        "detail.word", word=mask_word(word) if mask else word, how=how
    )


def stored_how(texts: Texts, finding: Mapping[str, Any]) -> str | None:
    """`how_found` for a lexicon finding as the moderation log stores it (None for a signal)."""
    if str(finding.get("detector") or "lexicon") != "lexicon":
        return None
    routes = finding.get("routes")
    if not isinstance(routes, list):
        routes = [finding["route"]] if finding.get("route") else []
    return how_routes(
        texts,
        [str(route) for route in routes],
        warning=str(finding.get("warning") or ""),
        low_confidence=finding.get("confidence") == "low",
    )


def how_found(texts: Texts, finding: Finding) -> str:
    """How a hit was found, in the configured language: 谐音/形近字、字间插入符号 …"""
    return how_routes(
        texts,
        (route.value for route in finding.routes),
        warning=finding.warning,
        low_confidence=finding.confidence is Confidence.LOW,
    )


def how_routes(
    texts: Texts, routes: Iterable[str], *, warning: str = "", low_confidence: bool = False
) -> str:
    """`how_found` for what a stored finding keeps (`routes`, `warning` and `confidence` of its
    JSON form); a route name with no text (a route of a later version) is shown as itself."""
    how = "、".join(texts.templates.get(f"route.{route}", route) for route in routes)
    if warning:
        how += texts.render("confidence.warning", cue=warning)
    if low_confidence:
        how += texts["confidence.low"]
    return how
