"""Callback bodies and decrypted plaintexts → typed events, with the inbox key of each.

The outer envelope is parsed only after the body passed the size check (done by the caller
with `check_body_size`), and XML is parsed with DTDs and entities refused. Every failure raises
one `CallbackError` subclass; nothing here raises anything else.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring

from bot.errors import MalformedMessage, MalformedRequest, PayloadTooLarge
from bot.events import (
    AibotEvent,
    AibotText,
    AppTextMessage,
    CallbackEvent,
    ExternalChatChange,
    MsgAuditNotify,
    Source,
    UnknownEvent,
)
from bot.identifiers import MAX_ID_LENGTH, identifier_problem

__all__ = [
    "MAX_ID_LENGTH",
    "check_body_size",
    "inbox_key",
    "parse_aibot_envelope",
    "parse_aibot_message",
    "parse_app_envelope",
    "parse_app_message",
]


def check_body_size(size: int, limit: int) -> None:
    """Refuse a body of `size` bytes (declared or read so far) over `limit`."""
    if size > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes")


def _parse_xml(text: str | bytes, error: type[MalformedRequest | MalformedMessage]) -> Element:
    try:
        root: Element = _defused_fromstring(text, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise error("body is not well-formed XML without DTD") from exc
    return root


def _xml_fields(root: Element) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() for child in root}


def parse_app_envelope(body: bytes) -> str:
    """The `Encrypt` value of a self-built app POST body `<xml><Encrypt/>…</xml>`."""
    root = _parse_xml(body, MalformedRequest)
    node = root.find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise MalformedRequest("envelope has no Encrypt element")
    return (node.text or "").strip()


def _parse_json_object(
    text: str | bytes, error: type[MalformedRequest | MalformedMessage]
) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error("body is not JSON") from exc
    if not isinstance(value, dict):
        raise error("body is not a JSON object")
    if not _plainly_storable(text) and not _storable(value):
        raise error("body holds a NUL character or a lone surrogate")
    return value


def _plainly_storable(text: str | bytes) -> bool:
    """Whether the JSON text cannot give a string `_storable` refuses, seen without walking
    it: a text with no \\u escape (strict JSON refuses a raw NUL in a string) and no lone
    surrogate of its own."""
    return isinstance(text, str) and "\\u" not in text and _is_utf8(text)


def _storable(value: Any) -> bool:
    """No string in the parsed JSON holds NUL (PostgreSQL refuses it) or a lone surrogate
    (not UTF-8); JSON escapes such as \\u0000 and \\ud800 produce both."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or (not item.isascii() and not _is_utf8(item)):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_aibot_envelope(body: bytes) -> str:
    """The `encrypt` value of a smart-bot POST body `{"encrypt": "…"}`."""
    envelope = _parse_json_object(body, MalformedRequest)
    encrypted = envelope.get("encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise MalformedRequest('envelope has no "encrypt" string')
    return encrypted


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _checked_id(value: str, name: str) -> str:
    """A required id (a message id): present and storable."""
    if not value:
        raise MalformedMessage(f"{name} missing")
    return _checked_ref(value, name)


def _checked_ref(value: str, name: str) -> str:
    """An id that may be empty (a chat id, a userid) but must fit its column (`bot.identifiers`):
    refused with a 400 rather than accepted and lost when it is stored."""
    problem = identifier_problem(value)
    if problem is not None:
        raise MalformedMessage(f"{name} {problem}")
    return value


def parse_app_message(plaintext: str) -> CallbackEvent:
    """Decode the decrypted XML of a self-built app callback."""
    root = _parse_xml(plaintext, MalformedMessage)
    fields = _xml_fields(root)
    msg_type = fields.get("MsgType", "")
    create_time = _int_or_none(fields.get("CreateTime")) or 0
    if msg_type == "text":
        return AppTextMessage(
            msg_id=_checked_id(fields.get("MsgId", ""), "MsgId"),
            from_user=_checked_ref(fields.get("FromUserName", ""), "FromUserName"),
            corp_id=fields.get("ToUserName", ""),
            agent_id=fields.get("AgentID", ""),
            create_time=create_time,
            content=fields.get("Content", ""),
        )
    if msg_type == "event":
        event = fields.get("Event", "")
        if event == "change_external_chat":
            change_list = root.find("MemChangeList")
            members: tuple[str, ...] = ()
            if change_list is not None:
                members = tuple(
                    _checked_ref((item.text or "").strip(), "MemChangeList/Item")
                    for item in change_list.findall("Item")
                    if (item.text or "").strip()
                )
            return ExternalChatChange(
                chat_id=_checked_ref(fields.get("ChatId", ""), "ChatId"),
                change_type=fields.get("ChangeType", ""),
                update_detail=fields.get("UpdateDetail", ""),
                join_scene=_int_or_none(fields.get("JoinScene")),
                quit_scene=_int_or_none(fields.get("QuitScene")),
                mem_change_cnt=_int_or_none(fields.get("MemChangeCnt")),
                members=members,
                last_mem_ver=fields.get("LastMemVer", ""),
                cur_mem_ver=fields.get("CurMemVer", ""),
                create_time=create_time,
            )
        if event == "msgaudit_notify":
            return MsgAuditNotify(agent_id=fields.get("AgentID", ""), create_time=create_time)
        return UnknownEvent(source="app", what=f"event:{event or '?'}", raw=dict(fields))
    return UnknownEvent(source="app", what=f"msgtype:{msg_type or '?'}", raw=dict(fields))


def _str_field(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _sub_object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def parse_aibot_message(plaintext: str) -> CallbackEvent:
    """Decode the decrypted JSON of a smart-bot callback."""
    obj = _parse_json_object(plaintext, MalformedMessage)
    msg_type = _str_field(obj, "msgtype")
    sender = _str_field(_sub_object(obj, "from"), "userid")
    common = {
        "aibot_id": _str_field(obj, "aibotid"),
        "chat_id": _checked_ref(_str_field(obj, "chatid"), "chatid"),
        "chat_type": _str_field(obj, "chattype") or "single",
        "from_user": _checked_ref(sender, "from.userid"),
    }
    if msg_type == "text":
        return AibotText(
            msg_id=_checked_id(_str_field(obj, "msgid"), "msgid"),
            response_url=_str_field(obj, "response_url"),
            content=_str_field(_sub_object(obj, "text"), "content"),
            **common,
        )
    if msg_type == "event":
        return AibotEvent(
            msg_id=_checked_ref(_str_field(obj, "msgid"), "msgid"),
            event_type=_str_field(_sub_object(obj, "event"), "eventtype"),
            **common,
        )
    return UnknownEvent(source="aibot", what=f"msgtype:{msg_type or '?'}", raw=obj)


def inbox_key(source: Source, event: CallbackEvent, plaintext: str) -> str:
    """The unique key under which a delivery is stored, so that a retry is recognised.

    Messages are keyed by their message id; events (which all come from `sys`, so sender +
    CreateTime is not unique) by a hash of the decrypted plaintext.
    """
    if isinstance(event, AppTextMessage | AibotText):
        return f"{source}:msg:{event.msg_id}"
    if isinstance(event, AibotEvent) and event.msg_id:
        return f"{source}:msg:{event.msg_id}"
    digest = hashlib.sha256(plaintext.encode("utf-8")).hexdigest()
    return f"{source}:sha256:{digest}"
