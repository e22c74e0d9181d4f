"""The slash-command framework: one registry that knows each command's name, usage, help and
who may run it; one parser that yields an `Invocation`; the context a command runs in.

Commands reach the service two ways, and the inbox processor runs both inside its transaction:

- an @-mention of the smart bot in a group (`@审核助手 /warn @lisi 刷屏`): the group is that
  chat, and the reply goes back into it through the message's response_url;
- the app's 1:1 chat (or a 1:1 chat with the smart bot): a command that acts on a group names
  it with its first argument, `#<chat_id>` or `#<exact group name>` when that name is unique
  (`/strikes #wrOgAAAAchat1 @lisi`); the reply is an app message.

Who may run what (`Role`): anyone; the group's moderators (WECOM_ADMIN_USERIDS, the group's
owner and its own moderators); admins (WECOM_ADMIN_USERIDS). Without a group only the admins
rank above anyone, so company-wide changes from the 1:1 chat are theirs alone.

A command is registered once, with its name (`"words add"` for a subcommand), the least role
that may run it and whether it needs a group; its usage and help are texts (`usage./<name>`,
`help./<name>` in `app.texts`), so `/help` and every usage reply come from the registry and the
configured texts.

Bad input never escapes as an exception: a handler raises `CommandError` carrying the reply
(a usage line, an unknown member or group, a refusal) and the registry answers with it.
Database errors do propagate, so the inbox processor redoes the event.

Errors:

    CommandError    the reply to give instead of running the command
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import group_label
from app.capabilities import WarningPost, warning_post
from app.errors import WecomModError
from app.models import Group
from app.repositories import groups as groups_repo
from app.repositories import outbox as outbox_repo
from app.texts import Texts
from moderation import GroupPolicy, SensitiveWordMatcher

__all__ = [
    "Call",
    "CommandContext",
    "CommandError",
    "CommandRegistry",
    "CommandSpec",
    "Invocation",
    "Reply",
    "Role",
    "WarningChannel",
    "blank_bot_mentions",
    "looks_like_userid",
    "parse_command",
    "role_of",
    "split_first",
]

# A WeCom userid: 1–64 letters, digits and _-@. starting with a letter or digit (external
# contacts' ids, wm…/wo…, fit too).
_USERID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_COMMAND = re.compile(r"[/／]([^\s/／]+)(?:\s+(.*))?", re.DOTALL)
_FIRST = re.compile(r"\s*(\S+)\s*(.*)", re.DOTALL)
_AT = ("@", "＠")
_HASH = ("#", "＃")


class CommandError(WecomModError):
    """Raised by a command (or the registry) with the reply to give instead."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class Role(IntEnum):
    """Who someone is for a command, relative to the group it acts on."""

    ANYONE = 0
    MODERATOR = 1  # the group's owner or one of its moderators (or an admin)
    ADMIN = 2  # WECOM_ADMIN_USERIDS


@dataclass(frozen=True, slots=True)
class Invocation:
    """A parsed command: `/name args…` (name lower-cased, args as written, ends trimmed)."""

    name: str
    args: str


@dataclass(frozen=True, slots=True)
class Reply:
    """What a command answers. `moderation_log_id`: the reply is the warning of that log row
    (a `/warn` in the group), so its outbox row is linked to it."""

    text: str
    moderation_log_id: int | None = None


# Where a warning can be posted in a group: (outbox kind, payload, note); a note says why it
# cannot be. `app.capabilities.warning_post` unless a test gives its own.
WarningChannel = WarningPost


@dataclass
class CommandContext:
    """What the inbox processor gives a command: the caller, the transaction, the clock's now,
    the group chat it was sent in, and the service's state. Commands set `enqueued` and
    `lexicon_changed`; the processor reads them after the transaction."""

    sender: str
    texts: Texts
    session: AsyncSession
    now: datetime
    group: Group | None  # the group chat it was sent in; None in a 1:1 chat
    moderators: tuple[str, ...]  # WECOM_ADMIN_USERIDS
    policy_for: Callable[[Group | None], GroupPolicy]  # the policy in force in a group
    matcher: SensitiveWordMatcher
    warning_channel: WarningChannel = warning_post
    app_messages_enabled: bool = False
    event_id: int | None = None  # the inbox event of the command (idempotency keys, log rows)
    message_id: str = ""
    enqueued: bool = False  # outbox rows to send were added
    lexicon_changed: bool = False  # a word or phrase was added or deleted


Handler = Callable[["Call"], Awaitable["Reply | str"]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str  # "help", or "words add" for a subcommand
    role: Role  # the least role that may run it
    needs_group: bool  # acts on a group: from the 1:1 chat, `#group` must be given
    handler: Handler


def role_of(sender: str, group: Group | None, moderators: tuple[str, ...]) -> Role:
    """Admins everywhere; the group's owner and moderators in that group; else anyone."""
    if sender in moderators:
        return Role.ADMIN
    if group is not None and (
        (group.owner and sender == group.owner) or sender in (group.moderators or ())
    ):
        return Role.MODERATOR
    return Role.ANYONE


def looks_like_userid(token: str) -> bool:
    return _USERID.fullmatch(token) is not None


def split_first(text: str) -> tuple[str, str]:
    """(first word, the rest as written); ("", "") for blank text."""
    match = _FIRST.fullmatch(text)
    if match is None:
        return "", ""
    return match.group(1), match.group(2).strip()


def _strip_mentions(text: str) -> str:
    """Drop leading @-mentions (the smart bot's own name comes first in a group mention)."""
    words = text.strip().split(maxsplit=1)
    while words and words[0].startswith(_AT):
        text = words[1] if len(words) > 1 else ""
        words = text.strip().split(maxsplit=1)
    return text.strip()


def blank_bot_mentions(text: str, *, leading: bool, names: Sequence[str] = ()) -> str:
    """`text` with the smart bot's own @-mentions written as spaces, so that no text rule reads
    them (the same length: a finding's span still points into the text as sent). `leading`:
    the first word when it is an @-mention (a smart-bot callback's content starts with the
    bot's mention); `names`: every @name of the bot's display names (SMART_BOT_NAMES), as in
    the archive's copy of a message that mentions it."""
    chars = list(text)
    if leading:
        start = len(text) - len(text.lstrip())
        if text[start : start + 1] in _AT:
            end = start
            while end < len(text) and not text[end].isspace():
                end += 1
            chars[start:end] = " " * (end - start)
    for name in names:
        for at in _AT:
            mention = at + name
            found = text.find(mention)
            while found >= 0:
                end = found + len(mention)
                if end == len(text) or text[end].isspace():
                    chars[found:end] = " " * len(mention)
                found = text.find(mention, end)
    return "".join(chars)


def parse_command(text: str) -> Invocation | None:
    """`/name args` (after any leading @-mentions; a full-width ／ too), or None when the text
    is not a command. Arguments keep their line breaks (`/rules set` takes several lines)."""
    match = _COMMAND.fullmatch(_strip_mentions(text))
    if match is None:
        return None
    return Invocation(name=match.group(1).lower(), args=(match.group(2) or "").strip())


@dataclass
class Call:
    """One command being run: which, with what arguments, for whom, on which group."""

    spec: CommandSpec
    args: str  # after the name, the subcommand and the `#group` token
    context: CommandContext
    group: Group | None  # the group it acts on; None: none (1:1 chat, no `#group`)
    role: Role

    @property
    def texts(self) -> Texts:
        return self.context.texts

    @property
    def session(self) -> AsyncSession:
        return self.context.session

    @property
    def now(self) -> datetime:
        return self.context.now

    @property
    def sender(self) -> str:
        return self.context.sender

    @property
    def in_group_chat(self) -> bool:
        """Sent in the group itself (the reply is seen there), not in a 1:1 chat."""
        return self.context.group is not None

    @property
    def policy(self) -> GroupPolicy:
        return self.context.policy_for(self.group)

    @property
    def usage(self) -> str:
        return self.texts.render("command.usage", usage=self.texts[f"usage./{self.spec.name}"])

    def fail(self, key: str, **values: Any) -> CommandError:
        """A reply naming the problem (text `key`)."""
        return CommandError(self.texts.render(key, **values))

    def bad_usage(self, key: str | None = None, **values: Any) -> CommandError:
        """A reply with the command's usage, after the problem (text `key`) when given."""
        problem = self.texts.render(key, **values) + "\n" if key else ""
        return CommandError(problem + self.usage)

    def need_group(self) -> Group:
        if self.group is None:  # pragma: no cover - the registry checks needs_group first
            raise self.bad_usage()
        return self.group

    def group_label(self, group: Group | None = None) -> str:
        return group_label(group or self.need_group())

    def enqueue(
        self,
        *,
        key: str,
        kind: str,
        payload: dict[str, Any],
        moderation_log_id: int | None = None,
        note: str | None = None,
    ) -> None:
        """Add an outbox row in the command's transaction (`note`: stored as skipped)."""
        outbox_repo.enqueue(
            self.session,
            idempotency_key=key,
            kind=kind,
            payload=payload,
            now=self.now,
            moderation_log_id=moderation_log_id,
            status="pending" if note is None else "skipped",
            note=note,
        )
        if note is None:
            self.context.enqueued = True

    async def member(self, token: str) -> str:
        """The userid a member token names in the group: `@userid`, a bare userid, or
        `@显示名` (the name WeCom has for them). Raises CommandError when the name is unknown
        or shared by several members; a userid the service has not seen yet is taken as is."""
        group = self.need_group()
        name = token[1:] if token.startswith(_AT) else token
        if not name:
            raise self.bad_usage("command.member_needed")
        if await groups_repo.get_member(self.session, group.chat_id, name) is not None:
            return name
        named = await groups_repo.members_named(self.session, group.chat_id, name)
        if len(named) == 1:
            return named[0].user_id
        if named:
            ids = [member.user_id for member in named]
            raise self.fail(
                "command.member_ambiguous", name=name, candidates="、".join(ids), example=ids[0]
            )
        if looks_like_userid(name):
            return name
        raise self.fail("command.member_unknown", name=name)

    async def known_member(self, token: str) -> str | None:
        """The userid when `token` names a member the service knows in the group (by userid or
        a unique display name), else None; never raises (for optional member arguments)."""
        group = self.need_group()
        name = token[1:] if token.startswith(_AT) else token
        if not name:
            return None
        if await groups_repo.get_member(self.session, group.chat_id, name) is not None:
            return name
        named = await groups_repo.members_named(self.session, group.chat_id, name)
        return named[0].user_id if len(named) == 1 else None

    def is_group_moderator(self, user_id: str) -> bool:
        return role_of(user_id, self.group, self.context.moderators) >= Role.MODERATOR


@dataclass
class CommandRegistry:
    _commands: dict[str, CommandSpec] = field(default_factory=dict)

    def command(
        self, name: str, *, role: Role = Role.ANYONE, needs_group: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register a handler under `name` ("rules", or "rules set" for a subcommand)."""

        def register(handler: Handler) -> Handler:
            if name in self._commands:
                raise ValueError(f"command /{name} registered twice")
            self._commands[name] = CommandSpec(
                name=name, role=role, needs_group=needs_group, handler=handler
            )
            return handler

        return register

    @property
    def specs(self) -> list[CommandSpec]:
        return list(self._commands.values())

    def visible_to(self, role: Role) -> list[CommandSpec]:
        """The commands someone of `role` may run, in the order registered."""
        return [spec for spec in self._commands.values() if spec.role <= role]

    def _forms(self, name: str) -> list[CommandSpec]:
        return [
            spec
            for spec in self._commands.values()
            if spec.name == name or spec.name.startswith(name + " ")
        ]

    def _pick(self, name: str, args: str) -> tuple[CommandSpec | None, str]:
        """The subcommand named by the first argument (`words add …`), else the command."""
        first, rest = split_first(args)
        spec = self._commands.get(f"{name} {first.lower()}") if first else None
        if spec is not None:
            return spec, rest
        return self._commands.get(name), args

    async def run(self, invocation: Invocation, context: CommandContext) -> Reply:
        try:
            return await self._run(invocation, context)
        except CommandError as exc:
            return Reply(exc.reply)

    async def _run(self, invocation: Invocation, context: CommandContext) -> Reply:
        texts = context.texts
        name = invocation.name
        forms = self._forms(name)
        if not forms:
            return Reply(texts.render("command.unknown", name=name))
        group, args = await _target_group(context, invocation.args)
        role = role_of(context.sender, group, context.moderators)
        spec, args = self._pick(name, args)
        if spec is None:  # `/words` with no or an unknown subcommand: list the forms
            shown = [form for form in forms if form.role <= role]
            if not shown:
                return Reply(_refusal(texts, name, group is None and context.group is None))
            lines = "\n".join(texts[f"usage./{form.name}"] for form in shown)
            return Reply(texts.render("command.subcommands", name=name, lines=lines))
        if spec.needs_group and group is None:
            return Reply(
                texts.render("command.needs_group", name=name, usage=texts[f"usage./{spec.name}"])
            )
        if spec.role > role:
            return Reply(_refusal(texts, spec.name, group is None and context.group is None))
        result = await spec.handler(Call(spec, args, context, group, role))
        return result if isinstance(result, Reply) else Reply(result)


def _refusal(texts: Texts, name: str, direct_without_group: bool) -> str:
    reply = texts.render("command.refused", name=name)
    if direct_without_group:
        reply += "\n" + texts["command.group_hint"]
    return reply


async def _target_group(context: CommandContext, args: str) -> tuple[Group | None, str]:
    """The group a command acts on, and the arguments left. In a group chat it is that chat
    (a `#` token naming it is dropped; naming another group is refused); in a 1:1 chat it is
    the group named by a first argument `#<chat_id>` or `#<unique group name>`, else None."""
    first, rest = split_first(args)
    if not first.startswith(_HASH):
        return context.group, args
    wanted = first[1:]
    texts = context.texts
    if context.group is not None:
        if wanted and wanted in (context.group.chat_id, context.group.name):
            return context.group, rest
        raise CommandError(texts["command.group_elsewhere"])
    if wanted:
        group = await groups_repo.get(context.session, wanted)
        if group is not None:
            return group, rest
        named = await groups_repo.named(context.session, wanted)
        if len(named) == 1:
            return named[0], rest
        if named:
            raise CommandError(
                texts.render(
                    "command.group_ambiguous",
                    group=wanted,
                    candidates="、".join(f"#{group.chat_id}" for group in named),
                )
            )
    raise CommandError(texts.render("command.group_unknown", group=wanted))
