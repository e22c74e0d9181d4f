"""WeCom's server API as the sandbox plays it: an `httpx.MockTransport` that answers in the
process and records what the bot asked WeCom to do, so nothing leaves the machine.

It answers `gettoken` with a token, `externalcontact/groupchat/get` from the members it was
told are in each customer group (`members`), a welcome-template add with a template id, and
everything else with success.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["LIVE_REPLY_URL", "SANDBOX_API_BASE", "SANDBOX_REPLY_URL", "SandboxWeCom"]

SANDBOX_API_BASE = "https://wecom.sandbox.invalid"  # never resolved: every call stays in-process
SANDBOX_REPLY_URL = f"{SANDBOX_API_BASE}/cgi-bin/aibot/response"  # the smart bot's response_url
# ... in the console's sandbox (`app.sandbox.live`), naming the group (`?chatid=`): the outbox
# delivers a reply to it into the sandbox's table (`app.outbox.dispatcher`), never calling it
LIVE_REPLY_URL = "https://console-sandbox.invalid/aibot/response"

GROUPCHAT_GET = "/cgi-bin/externalcontact/groupchat/get"
CONTACT_GET = "/cgi-bin/externalcontact/get"
TEMPLATE_ADD = "/cgi-bin/externalcontact/group_welcome_template/add"


@dataclass
class SandboxWeCom:
    requests: list[httpx.Request] = field(default_factory=list)
    # chat id → (owner, member user ids, member version) for groupchat/get
    groups: dict[str, tuple[str, list[str], str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # chat id → the group's name
    keep_requests: bool = True  # record every request (the demo reads them; the console not)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.keep_requests:
            self.requests.append(request)
        path = request.url.path
        if path == "/cgi-bin/gettoken":
            return httpx.Response(
                200,
                json={"errcode": 0, "errmsg": "ok", "access_token": "SANDBOX", "expires_in": 7200},
            )
        if path == GROUPCHAT_GET:
            chat_id = json.loads(request.content or b"{}").get("chat_id", "")
            if chat_id not in self.groups:
                return httpx.Response(200, json={"errcode": 40050, "errmsg": "chat not exist"})
            owner, members, version = self.groups[chat_id]
            body: dict[str, Any] = {
                "chat_id": chat_id,
                "name": self.names.get(chat_id, "沙盒客户群"),
                "owner": owner,
                "create_time": 1700000000,
                "member_list": [
                    {"userid": user, "type": 2, "join_time": 1700000001, "name": user}
                    for user in members
                ],
                "member_version": version,
            }
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "group_chat": body})
        if path == CONTACT_GET:
            user = request.url.params.get("external_userid", "")
            contact = {"external_userid": user, "name": user, "type": 1}
            return httpx.Response(
                200, json={"errcode": 0, "errmsg": "ok", "external_contact": contact}
            )
        if path == TEMPLATE_ADD:
            return httpx.Response(
                200, json={"errcode": 0, "errmsg": "ok", "template_id": "msgSANDBOXTEMPLATE"}
            )
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
