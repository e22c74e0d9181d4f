"""What WeCom would show for a message the bot sends: the text of a message body (text,
markdown, stream, textcard) and, for an outbox action of a sandbox group, where it would
appear. Shared by the player (`wecom-mod demo`, which reads the calls the fake WeCom got) and
the outbox's sandbox delivery (`app.outbox.dispatcher`), which reads the stored payloads."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["sandbox_view", "shown_text"]


def shown_text(msgtype: str, content: Any) -> str:
    """The text a member sees of a body of `msgtype` whose own part is `content`."""
    if isinstance(content, str):
        return content
    if not isinstance(content, dict):
        return ""
    if msgtype == "textcard":
        return f"{content.get('title', '')}\n{content.get('description', '')}"
    return str(content.get("content") or "")


def sandbox_view(kind: str, payload: dict[str, Any]) -> tuple[str, str, list[str]]:
    """(where, text, to whom) of an outbox action: `group` (posted in the chat: a smart-bot
    reply, an appchat or webhook post), `moderators` (an app message to `to`), `removal`
    (members taken out of an app-created group), `other`."""
    if kind == "aibot_reply":
        body = payload.get("body") or {}
        msgtype = str(body.get("msgtype", ""))
        return "group", shown_text(msgtype, body.get(msgtype)), []
    if kind in ("appchat_send", "webhook_send"):
        return "group", shown_text(str(payload.get("msgtype", "")), payload.get("content")), []
    if kind == "app_message":
        to = [str(user) for user in payload.get("to_users") or ()]
        text = shown_text(str(payload.get("msgtype", "")), payload.get("content"))
        return "moderators", text, to
    if kind == "appchat_remove":
        return "removal", "、".join(str(u) for u in payload.get("user_ids") or ()), []
    return "other", json.dumps(payload, ensure_ascii=False), []
