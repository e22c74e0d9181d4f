"""What WeCom lets the service do in a group, decided in one place: the channel for a warning,
a welcome and a removal (`GroupCapabilities`), and the outbox payload of a post into a group.

The facts (wecom-platform.md §3):

| group kind | post into the group | remove a member | welcome |
|---|---|---|---|
| app-created (appchat) | `appchat/send` | `appchat/update` | post it |
| internal with a webhook robot | `webhook/send` (20 a minute per robot) | no | post it |
| internal with the smart bot | only a reply to an @-mention | no | no join event |
| customer (客户群) | no free posting | no API (the owner, in the client) | WeCom's template |

A group may have several of these at once (an app-created group can get a webhook robot; a
customer group's row can carry a robot key an operator set). Every post into a group goes the
same way, warnings and welcomes alike:

1. **A reply to the message** (a warning only): when the message came through the smart bot
   with a `response_url`, the warning answers it there. It is where the message was seen, it
   spends no group's posting budget, and the URL serves once within an hour, for that message.
2. **`appchat/send`** in a group this app created. It is the app's own channel with WeCom's
   widest budget (200 messages a minute per member and group, 10,000 a day: the limits in
   `app.outbox.dispatcher.CHANNEL_LIMITS`), the same identity that removes members there, and nobody
   else's traffic counts against it.
3. **The webhook robot**, when the group has a key. A robot takes 20 posts a minute over
   *everything* posted through it (other tools may share the key) and WeCom pauses it for
   minutes past that (45009/130101), so it is the channel of groups that have no better one:
   spent on a burst of warnings in an app-created group, it would hold back that group's
   welcomes and any other tool's posts. What the robot does better is notify the people named
   (`mentioned_list`); through `appchat/send` the warned member and the newcomers are named in
   the text, not notified.
4. **Nowhere**: a warning is stored skipped with `NO_CHANNEL` (a copy of the message that
   comes through the smart bot later may still bring a `response_url`,
   `app.judging.cross_channel`); a customer group's welcome is WeCom's 入群欢迎语 template
   (`app.groups.welcome`); any other welcome is logged as impossible.

Removal is `appchat/update` in a group this app created, and impossible elsewhere: the reason
says what a human must do instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.models import Group, GroupKind

__all__ = [
    "NO_CHANNEL",
    "Channel",
    "GroupCapabilities",
    "Route",
    "WarningPost",
    "aibot_markdown",
    "group_post",
    "unbold",
    "warning_post",
]

NO_CHANNEL = "no channel to post a warning in this group"  # a skipped warning's note

# Where a warning is posted: (group, response_url, markdown text, member to mention) →
# (outbox kind, payload, why it cannot be posted or None). `warning_post` is the one.
WarningPost = Callable[[Group, str, str, str], tuple[str, dict[str, Any], str | None]]


class Channel(StrEnum):
    """How the service acts in a group: the outbox kinds the dispatcher carries out."""

    AIBOT_REPLY = "aibot_reply"  # a reply through a smart-bot message's response_url
    APPCHAT_SEND = "appchat_send"
    WEBHOOK_SEND = "webhook_send"
    APPCHAT_REMOVE = "appchat_remove"


@dataclass(frozen=True, slots=True)
class Route:
    """Where an action goes: a channel, or None and the reason it cannot be carried out
    (English, for logs and notes)."""

    channel: Channel | None
    cannot: str = ""


_NO_POST = {
    GroupKind.CUSTOMER: "a customer group: WeCom allows no posting without a webhook robot",
    GroupKind.INTERNAL: "an internal group without a webhook robot key",
    GroupKind.UNKNOWN: "a group of unknown kind without a webhook robot key",
}
_NO_REMOVAL = {
    GroupKind.CUSTOMER: (
        "a customer group: WeCom has no API to remove a member; only the group's owner can, "
        "in the client"
    ),
    GroupKind.INTERNAL: "an internal group: only groups this app created allow a removal",
    GroupKind.UNKNOWN: "a group of unknown kind: only groups this app created allow a removal",
}


@dataclass(frozen=True, slots=True)
class GroupCapabilities:
    """What a group allows (see the module docstring for the order of the channels)."""

    kind: GroupKind
    webhook: bool = False  # a webhook robot key is set
    smart_bot: bool = False  # the smart bot has been seen in it

    @classmethod
    def of(cls, group: Group) -> GroupCapabilities:
        return cls(GroupKind(group.kind), bool(group.webhook_key), bool(group.smart_bot))

    @property
    def app_created(self) -> bool:
        return self.kind is GroupKind.APP_CREATED

    @property
    def customer(self) -> bool:
        return self.kind is GroupKind.CUSTOMER

    def post(self) -> Route:
        """Where the service can post into the group on its own (not as a reply)."""
        if self.app_created:
            return Route(Channel.APPCHAT_SEND)
        if self.webhook:
            return Route(Channel.WEBHOOK_SEND)
        return Route(None, _NO_POST[self.kind])

    def warning(self, *, response_url: str = "") -> Route:
        """Where a warning goes: a reply to the message when it brought a response_url, else
        the group's post channel."""
        if response_url:
            return Route(Channel.AIBOT_REPLY)
        return self.post()

    def welcome(self) -> Route:
        """Where a welcome is posted; when nowhere, `welcome_template` says whether WeCom
        greets joiners with the group's template instead."""
        route = self.post()
        if route.channel is None and self.customer:
            return Route(None, "a customer group: WeCom greets joiners with its welcome template")
        if route.channel is None:
            return Route(None, f"{route.cannot} (give the group a webhook robot key)")
        return route

    @property
    def welcome_template(self) -> bool:
        """WeCom greets this group's joiners with a template from the corp's library (a
        customer group the service cannot post into)."""
        return self.customer and self.welcome().channel is None

    def removal(self) -> Route:
        """How a member is removed: `appchat/update` in a group this app created."""
        if self.app_created:
            return Route(Channel.APPCHAT_REMOVE)
        return Route(None, _NO_REMOVAL[self.kind])


def aibot_markdown(response_url: str, content: str) -> dict[str, Any]:
    """The payload of a smart-bot reply (markdown) through `response_url`."""
    return {
        "response_url": response_url,
        "body": {"msgtype": "markdown", "markdown": {"content": content}},
    }


def group_post(
    channel: Channel, chat_id: str, text: str, mentioned: list[str] | None = None
) -> dict[str, Any]:
    """The payload of a text posted into a group through `appchat_send` or `webhook_send`;
    a webhook post notifies the `mentioned` userids. The payload names the group, never the
    robot's key (the dispatcher reads it)."""
    if channel is Channel.WEBHOOK_SEND:
        return {
            "chat_id": chat_id,
            "msgtype": "text",
            "content": text,
            "mentioned_list": list(mentioned or ()),
        }
    if channel is Channel.APPCHAT_SEND:
        return {"chat_id": chat_id, "msgtype": "text", "content": {"content": text}}
    raise ValueError(f"{channel} is not a post into a group")


_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def unbold(markdown: str) -> str:
    """A markdown text as plain text: a pair of `**` around text is bold and goes; any other
    star is text (a masked word's: 代**票 stays 代**票, not 代票)."""
    return _BOLD.sub(r"\1", markdown)


def warning_post(
    group: Group, response_url: str, text: str, sender: str = ""
) -> tuple[str, dict[str, Any], str | None]:
    """Where a warning (markdown `text`) is posted in this group: (outbox kind, payload,
    note). A note says why it cannot be, and the row is then stored as skipped. Posted into
    the group it is a text (markdown cannot notify a mention in a text's way) mentioning the
    sender."""
    route = GroupCapabilities.of(group).warning(response_url=response_url)
    if route.channel is Channel.AIBOT_REPLY:
        return route.channel.value, aibot_markdown(response_url, text), None
    if route.channel is None:
        # Kept: a copy of the message from the smart bot may bring a response_url.
        return Channel.AIBOT_REPLY.value, aibot_markdown("", text), NO_CHANNEL
    text = unbold(text)  # a text post: markdown's bold would show its stars
    mentioned = [sender] if sender else []
    return route.channel.value, group_post(route.channel, group.chat_id, text, mentioned), None
