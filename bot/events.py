"""Typed events decoded from WeCom callbacks.

Every decrypted callback becomes exactly one of these; whatever is not understood becomes an
`UnknownEvent` that keeps its raw fields, so a new WeCom event type is logged, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AibotEvent",
    "AibotText",
    "AppTextMessage",
    "CallbackEvent",
    "ExternalChatChange",
    "MsgAuditNotify",
    "Source",
    "UnknownEvent",
]

Source = Literal["app", "aibot"]


@dataclass(frozen=True, slots=True)
class AppTextMessage:
    """A text a member wrote to the self-built app in its 1:1 chat."""

    msg_id: str
    from_user: str
    corp_id: str
    agent_id: str
    create_time: int  # unix seconds
    content: str
    kind: str = field(default="app_text", init=False)


@dataclass(frozen=True, slots=True)
class ExternalChatChange:
    """`change_external_chat`: a customer group was created, changed or dismissed."""

    chat_id: str
    change_type: str  # create | update | dismiss
    update_detail: str  # add_member | del_member | change_owner | change_name | change_notice | ""
    join_scene: int | None  # 0 invited, 3 QR code; None when absent
    quit_scene: int | None  # 0 left, 1 removed; None when absent
    mem_change_cnt: int | None
    members: tuple[str, ...]  # user ids from MemChangeList, one or many
    last_mem_ver: str
    cur_mem_ver: str
    create_time: int  # unix seconds
    kind: str = field(default="change_external_chat", init=False)


@dataclass(frozen=True, slots=True)
class MsgAuditNotify:
    """`msgaudit_notify`: the chat archive has new data to pull."""

    agent_id: str
    create_time: int  # unix seconds
    kind: str = field(default="msgaudit_notify", init=False)


@dataclass(frozen=True, slots=True)
class AibotText:
    """A text sent to the smart bot: an @-mention in a group, or a 1:1 message."""

    msg_id: str
    aibot_id: str
    chat_id: str  # "" for a 1:1 chat
    chat_type: str  # group | single
    from_user: str
    response_url: str  # usable once within 1 h; "" when absent
    content: str  # as sent, including the @-mention prefix
    kind: str = field(default="aibot_text", init=False)


@dataclass(frozen=True, slots=True)
class AibotEvent:
    """A smart-bot event (`enter_chat`, `template_card_event`, `feedback_event`, ...)."""

    msg_id: str
    aibot_id: str
    chat_id: str
    chat_type: str
    from_user: str
    event_type: str
    kind: str = field(default="aibot_event", init=False)


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """Anything this version does not understand; `what` names it (e.g. `event:change_contact`)."""

    source: Source
    what: str
    raw: dict[str, Any]
    kind: str = field(default="unknown", init=False)


CallbackEvent = (
    AppTextMessage | ExternalChatChange | MsgAuditNotify | AibotText | AibotEvent | UnknownEvent
)
