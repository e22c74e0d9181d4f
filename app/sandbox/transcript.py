"""A played scenario as lines of text, in the configured language (the `demo.*` texts of
`app.texts`, overridable through MESSAGES_PATH like every text the bot posts)."""

from __future__ import annotations

from app.sandbox.player import Played, Posted
from app.sandbox.scenarios import Scenario
from app.texts import Texts

__all__ = ["header", "listing", "transcript"]


def header(texts: Texts) -> str:
    return texts["demo.header"]


def listing(texts: Texts, scenarios: tuple[Scenario, ...]) -> list[str]:
    return [
        texts.render(
            "demo.list",
            name=s.name,
            kind=texts.templates.get(f"demo.kind.{s.kind}", s.kind),
            title=s.title,
        )
        for s in scenarios
    ]


def _indented(text: str, prefix: str = "      ") -> list[str]:
    return [prefix + line for line in text.splitlines() or [""]]


def _posted(texts: Texts, posted: Posted) -> list[str]:
    to = "、".join(posted.to)
    if posted.where == "group":
        first, *rest = posted.text.splitlines() or [""]
        via = texts.templates.get(f"demo.via.{posted.via}", posted.via)
        line = texts.render("demo.group_post", via=via, text=first)
        return [line, *_indented("\n".join(rest))] if rest else [line]
    if posted.where == "moderators":
        return [texts.render("demo.alert", to=to), *_indented(posted.text)]
    if posted.where == "owner":
        return [texts.render("demo.owner", to=to), *_indented(posted.text)]
    if posted.where == "template":
        return [texts["demo.template"], *_indented(posted.text)]
    if posted.where == "wecom":
        first, *rest = posted.text.splitlines() or [""]
        return [texts.render("demo.wecom_welcome", text=first), *_indented("\n".join(rest))]
    if posted.where == "removal":
        return [texts.render("demo.removal", text=posted.text)]
    return [texts.render("demo.other", text=posted.text)]


def transcript(texts: Texts, played: Played) -> list[str]:
    """One line per event (time offset, member and role, text), then its decision and why,
    what the bot posted in the group and the alerts, and whether it is what was expected."""
    scenario = played.scenario

    def role(user: str) -> str:
        return texts.templates.get(f"demo.role.{scenario.role(user)}", scenario.role(user))

    def outcome(name: str) -> str:
        return texts.templates.get(f"demo.outcome.{name}", name)

    members = "、".join(
        texts.render("demo.member", name=scenario.display(user), role=role(user))
        for user in scenario.members
    )
    lines = [
        texts.render("demo.scenario", name=scenario.name, title=scenario.title),
        texts.render(
            "demo.group",
            kind=texts.templates.get(f"demo.kind.{scenario.kind}", scenario.kind),
            members=members,
        ),
    ]
    if played.setup:
        lines.append(texts["demo.setup"])
        for posted in played.setup:
            lines.extend(_posted(texts, posted))
    for step in played.steps:
        offset = f"+{step.step.t:g}s"
        if step.step.join:
            names = "、".join(scenario.display(user) for user in step.step.join)
            lines.append(texts.render("demo.join", offset=offset, members=names))
        else:
            lines.append(
                texts.render(
                    "demo.message",
                    offset=offset,
                    member=scenario.display(step.step.sender),
                    role=role(step.step.sender),
                    text=step.step.text,
                )
            )
            if step.verdict:
                verdict = texts.templates.get(f"demo.verdict.{step.verdict}", step.verdict)
                lines.append(texts.render("demo.decision", verdict=verdict))
                lines.extend(texts.render("demo.why", rule=r, detail=d) for r, d in step.why)
        for posted in step.posted:
            lines.extend(_posted(texts, posted))
        if step.outcome == step.step.expect:
            lines.append(texts.render("demo.expected", expected=outcome(step.step.expect)))
        else:
            lines.append(
                texts.render(
                    "demo.unexpected",
                    expected=outcome(step.step.expect),
                    actual=outcome(step.outcome),
                )
            )
    if played.later:
        lines.append(texts["demo.later"])
        for posted in played.later:
            lines.extend(_posted(texts, posted))
    return lines
