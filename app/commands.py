"""The slash-command registry: one place that knows each command's name, help and who may run it.

Commands reach the service from the app's 1:1 chat and from @-mentions of the smart bot; both
paths parse with `parse_command` and run through `CommandRegistry.run`, and `/help` is built
from the registry itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.texts import Texts

__all__ = ["CommandContext", "CommandRegistry", "CommandSpec", "Invocation", "parse_command"]


@dataclass(frozen=True, slots=True)
class Invocation:
    """A parsed command: `/name args…`."""

    name: str
    args: str


@dataclass(frozen=True, slots=True)
class CommandContext:
    sender: str
    chat_id: str  # "" when sent in a 1:1 chat
    is_moderator: bool
    texts: Texts


Handler = Callable[[Invocation, CommandContext], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    moderators_only: bool
    handler: Handler


def _strip_mentions(text: str) -> str:
    """Drop leading @-mentions (the smart bot's own name comes first in a group mention)."""
    words = text.strip().split(maxsplit=1)
    while words and words[0].startswith("@"):
        text = words[1] if len(words) > 1 else ""
        words = text.strip().split(maxsplit=1)
    return text.strip()


def parse_command(text: str) -> Invocation | None:
    """`/name args` (after any leading @-mentions), or None when the text is not a command."""
    body = _strip_mentions(text)
    if not body.startswith("/") or len(body) < 2:
        return None
    name, _, args = body[1:].partition(" ")
    return Invocation(name=name.strip().lower(), args=args.strip())


@dataclass
class CommandRegistry:
    _commands: dict[str, CommandSpec] = field(default_factory=dict)

    def command(
        self, name: str, *, usage: str = "", moderators_only: bool = False
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self._commands:
                raise ValueError(f"command /{name} registered twice")
            self._commands[name] = CommandSpec(
                name=name,
                usage=usage or f"/{name}",
                moderators_only=moderators_only,
                handler=handler,
            )
            return handler

        return register

    def visible_to(self, is_moderator: bool) -> list[CommandSpec]:
        return [
            spec for spec in self._commands.values() if is_moderator or not spec.moderators_only
        ]

    async def run(self, invocation: Invocation, context: CommandContext) -> str:
        spec = self._commands.get(invocation.name)
        if spec is None:
            return context.texts.render("command.unknown", name=invocation.name)
        if spec.moderators_only and not context.is_moderator:
            return context.texts.render("command.refused", name=invocation.name)
        return await spec.handler(invocation, context)


def build_registry() -> CommandRegistry:
    """The commands this version offers."""
    registry = CommandRegistry()

    @registry.command("help")
    async def help_command(_invocation: Invocation, context: CommandContext) -> str:
        lines = [context.texts["command.help_header"]]
        for spec in registry.visible_to(context.is_moderator):
            lines.append(
                context.texts.render(
                    "command.help_line",
                    usage=spec.usage,
                    help=context.texts[f"help./{spec.name}"],
                )
            )
        return "\n".join(lines)

    return registry
