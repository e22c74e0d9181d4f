"""沙盒 / 模拟群: the console's sandbox page (`app.sandbox.live` does the work).

Admins only (a sandbox group is nobody's group). The page lists the sandbox groups (one of
each kind with the ready-made members, made on first visit, and one per scenario played),
shows the chosen group as WeCom would (the members' messages, the bot's warnings and
welcomes, the moderators' alerts as app-message cards) with links to each message's log row,
the member's strikes and the review queue of sandbox rows, and takes a message typed as a
member, a scenario to play, or a reset. Forms post and redirect back; the chat refreshes
itself every second (htmx) while the pipeline works.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from app import audit
from app.console.access import Access, ConsoleRole, require_access
from app.console.session import Forbidden, NotFound, check_csrf, render, secure_headers
from app.console.texts import ui_texts
from app.groups.capabilities import unbold
from app.groups.welcome import NICKNAME, template_text
from app.lexicon import changes as lexicon_changes
from app.lexicon import service as lexicon
from app.models import Group, GroupKind, ModerationLog, SandboxPost
from app.repositories import sandbox as sandbox_repo
from app.repositories import welcomes as welcomes_repo
from app.sandbox.live import GROUP_KINDS, LiveSandbox
from app.sandbox.scenarios import SCENARIOS, by_name

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False)

Person = Annotated[Access, Depends(require_access)]
MAX_TEXT = 2000  # characters a typed message may have


@dataclass
class Line:
    """One thing in the chat: a member's message (`who`), a join, or the bot's post."""

    at: datetime
    kind: str  # message | join | bot | removal
    text: str
    who: str = ""
    log: ModerationLog | None = None


@dataclass
class ChatView:
    group: Group
    lines: list[Line] = field(default_factory=list)
    alerts: list[SandboxPost] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)  # (user id, role or "")
    roles: dict[str, str] = field(default_factory=dict)  # user id → role, where known

    @staticmethod
    def plain(markdown: str) -> str:
        """An app message's markdown as its card shows it here."""
        return unbold(markdown)


def _sandbox(request: Request, person: Access) -> LiveSandbox:
    sandbox: LiveSandbox | None = request.app.state.runtime.sandbox
    if sandbox is None:
        raise NotFound("sandbox off")
    if person.role is not ConsoleRole.ADMIN:
        raise Forbidden("sandbox: admins only")
    return sandbox


async def _chat(request: Request, chat_id: str) -> ChatView:
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        groups = {g.chat_id: g for g in await sandbox_repo.groups(db)}
        if chat_id not in groups:
            raise NotFound(chat_id)
        logs = await sandbox_repo.log_rows(db, chat_id)
        posts = await sandbox_repo.posts(db, chat_id)
        members = await welcomes_repo.members_by_user(db, chat_id)
    by_message = {row.message_id: row for row in logs if row.message_id}
    view = ChatView(groups[chat_id])
    welcomed = {user for user, member in members.items() if member.welcomed_at is not None}
    template = ""
    if view.group.kind == GroupKind.CUSTOMER and view.group.welcome_template_id:
        template = template_text(request.app.state.runtime.context.texts, view.group)
    for post in posts:
        if post.where == "moderators":
            view.alerts.append(post)
            continue
        kind = {"member": "message", "group": "bot"}.get(post.where, post.where)
        text = post.text if kind == "message" else unbold(post.text)
        line = Line(post.created_at, kind, text, who=post.sender)
        line.log = by_message.get(post.message_id) if post.message_id else None
        view.lines.append(line)
        joined = post.text.split("、") if kind == "join" else []
        if template and joined and set(joined) <= welcomed:
            # WeCom sends the template the owner attached: no API call shows it
            names = post.text
            view.lines.append(Line(post.created_at, "wecom", template.replace(NICKNAME, names)))
    view.roles = LiveSandbox.members_of(chat_id)
    view.members = list(view.roles.items())
    return view


def _group_names(texts: Mapping[str, str]) -> dict[str, str]:
    return {kind: texts[f"sandbox.group.{kind}"] for kind in GROUP_KINDS}


@router.get("/sandbox")
async def sandbox_page(
    request: Request,
    person: Person,
    group: Annotated[str, Query(max_length=128)] = "",
    problem: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    sandbox = _sandbox(request, person)
    runtime = request.app.state.runtime
    texts = ui_texts(runtime.settings.console_language)
    await sandbox.ready_made_groups(request.app, _group_names(texts), runtime.now())
    async with runtime.sessions() as db:
        groups = list(await sandbox_repo.groups(db))
        words = await lexicon.list_words(db, q=None, limit=1, cursor=None)
    chosen = group if any(g.chat_id == group for g in groups) else groups[0].chat_id
    return render(
        request,
        "sandbox.html",
        session=person.session,
        role=person.role,
        page="sandbox",
        groups=groups,
        view=await _chat(request, chosen),
        scenarios=[(s, sandbox.playable(s)) for s in SCENARIOS],
        # with no words only the other rules work: the page offers the example list
        example_words=0 if words.items else _example_count(),
        problem=problem if problem in ("sandbox.text_empty", "sandbox.joins_off") else "",
    )


@functools.cache
def _example_count() -> int:
    """The example list's words (read once: the file ships with the service)."""
    text = lexicon_changes.EXAMPLE_WORDS.read_text(encoding="utf-8")
    return len(lexicon.check_list(lexicon.ListKind.WORDS, text, source="example").entries)


@router.get("/sandbox/chat")
async def sandbox_chat(
    request: Request, person: Person, group: Annotated[str, Query(max_length=128)]
) -> Response:
    _sandbox(request, person)
    return render(
        request,
        "_sandbox_chat.html",
        session=person.session,
        role=person.role,
        view=await _chat(request, group),
    )


def _back(chat_id: str, problem: str = "") -> Response:
    target = f"/console/sandbox?group={chat_id}"
    if problem:
        target += f"&problem={problem}"
    return secure_headers(RedirectResponse(target, status_code=303))


@router.post("/sandbox/say")
async def sandbox_say(
    request: Request,
    person: Person,
    group: Annotated[str, Form(max_length=128)],
    sender: Annotated[str, Form(max_length=128)],
    text: Annotated[str, Form(max_length=MAX_TEXT)] = "",
) -> Response:
    await check_csrf(request, person.session)
    sandbox = _sandbox(request, person)
    view = await _chat(request, group)
    users = [user for user, _role in view.members]
    if sender not in users:
        raise NotFound(sender)
    if not text.strip():
        return _back(group, "sandbox.text_empty")
    runtime = request.app.state.runtime
    others = [user for user in users if user != sender]
    await sandbox.say(
        request.app, view.group, sender, text.strip(), others=others, sent_at=runtime.now()
    )
    return _back(group)


@router.post("/sandbox/join")
async def sandbox_join(
    request: Request, person: Person, group: Annotated[str, Form(max_length=128)]
) -> Response:
    """A new customer joins the customer group (a `change_external_chat` callback)."""
    await check_csrf(request, person.session)
    sandbox = _sandbox(request, person)
    view = await _chat(request, group)
    if view.group.kind != GroupKind.CUSTOMER:
        raise NotFound(group)
    runtime = request.app.state.runtime
    joined = sum(1 for line in view.lines if line.kind == "join")
    user = f"wmSandboxNew{joined + 1}"
    if not await sandbox.join(request.app, view.group, [user], runtime.now()):
        return _back(group, "sandbox.joins_off")
    return _back(group)


@router.post("/sandbox/play")
async def sandbox_play(
    request: Request, person: Person, scenario: Annotated[str, Form(max_length=64)]
) -> Response:
    await check_csrf(request, person.session)
    sandbox = _sandbox(request, person)
    chosen = by_name(scenario)
    if chosen is None:
        raise NotFound(scenario)
    if not sandbox.playable(chosen):
        return _back("", "sandbox.joins_off")
    runtime = request.app.state.runtime
    name = chosen.title.split("：")[0]
    chat_id = await sandbox.play(request.app, chosen, name=name, now=runtime.now())
    return _back(chat_id)


@router.post("/sandbox/example-words")
async def sandbox_example_words(
    request: Request, person: Person, group: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    """Import the example word list into the lexicon (the real one: the sandbox has no lexicon
    of its own), audited as the console's file imports are."""
    await check_csrf(request, person.session)
    _sandbox(request, person)
    runtime = request.app.state.runtime
    async with runtime.sessions() as db, db.begin():
        result = await lexicon_changes.import_example(
            db,
            actor=audit.chat_actor(person.user),
            channel=audit.Channel.CONSOLE,
            now=runtime.now(),
        )
    if result.counts.changed:
        runtime.lexicon_changed()
    return _back(group)


@router.post("/sandbox/reset")
async def sandbox_reset(request: Request, person: Person) -> Response:
    await check_csrf(request, person.session)
    _sandbox(request, person)
    runtime = request.app.state.runtime
    async with runtime.sessions() as db, db.begin():
        removed = await sandbox_repo.reset(db)
        await audit.record(
            db,
            actor=person.user,
            channel=audit.Channel.CONSOLE,
            action="sandbox.reset",
            target="sandbox",
            details={"groups": removed},
            at=runtime.now(),
        )
    return secure_headers(RedirectResponse("/console/sandbox", status_code=303))
