"""How the sandbox reaches the service as WeCom would, shared by the player (`wecom-mod
demo`) and the console's sandbox (`app.sandbox.live`):

- a message in an `internal` group is a signed, encrypted smart-bot callback that @-mentions
  the bot (the smart bot sees only those); its answers go to the callback's `response_url`,
  the sandbox's (`SANDBOX_REPLY_URL`, never resolved);
- a message in a `customer` or `app_created` group is a chat-archive record (doc 91774) stored
  in the inbox as the archive poller stores it (`app.ingest.archive.store_message`): the
  archive is the only channel that sees those groups' messages;
- a join in a `customer` group is a signed, encrypted `change_external_chat` app callback.

It also sets a group up as the sandbox plays it: its kind, owner, moderators, rules and its
established members (months in the group, many messages); a newcomer has no history.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.ingest.archive import store_message
from app.judging.events import archive_skip_reason
from app.models import Group
from app.repositories import groups as groups_repo
from app.sandbox.fake_wecom import SANDBOX_REPLY_URL
from bot.archive import parse_archive_message
from bot.crypto import CallbackCipher

__all__ = [
    "AGENT_ID",
    "CORP_ID",
    "MENTION",
    "aibot_message",
    "chat_change",
    "post_callback",
    "prepare_group",
    "random_aes_key",
    "store_archive_message",
]

CORP_ID = "wwsandbox0000000"
AGENT_ID = 1000002
MENTION = "@审核助手 "
ESTABLISHED_DAYS = 90  # a regular member was first seen this long before the sandbox started
ESTABLISHED_MESSAGES = 50  # ... with this many messages


def random_aes_key() -> str:
    """An EncodingAESKey drawn at random (43 characters, as WeCom gives one)."""
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def aibot_message(
    msgid: str, chat_id: str, sender: str, text: str, *, reply_url: str = SANDBOX_REPLY_URL
) -> str:
    """The plaintext of a smart-bot callback for `text` said in `chat_id` by `sender`, its
    answers going to `reply_url` (with the message's id and group in the query)."""
    return json.dumps(
        {
            "msgid": msgid,
            "aibotid": "SANDBOXBOT",
            "chatid": chat_id,
            "chattype": "group",
            "from": {"userid": sender},
            "response_url": f"{reply_url}?response_code={quote(msgid)}&chatid={quote(chat_id)}",
            "msgtype": "text",
            "text": {"content": f"{MENTION}{text}"},
        },
        ensure_ascii=False,
    )


async def store_archive_message(
    session: AsyncSession,
    *,
    msgid: str,
    chat_id: str,
    sender: str,
    text: str,
    others: list[str],
    sent_at: datetime,
    now: datetime,
) -> None:
    """The chat archive's record of `text`, stored in the inbox as the poller stores it."""
    record = {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": others,
        "roomid": chat_id,
        "msgtime": int(sent_at.timestamp() * 1000),
        "msgtype": "text",
        "text": {"content": text},
    }
    parsed = parse_archive_message(record)
    skip = archive_skip_reason(parsed, include_direct=False)
    if skip:
        raise RuntimeError(f"the archive poller would skip {msgid}: {skip}")
    await store_message(session, parsed, record, now=now)


def chat_change(
    chat_id: str,
    members: list[str],
    last: str,
    version: str,
    *,
    now: datetime,
    create: bool = False,
) -> str:
    """The plaintext of a `change_external_chat` callback: `members` joined (or, `create`,
    the group was created), the member version going from `last` to `version`."""
    items = "".join(f"<Item><![CDATA[{member}]]></Item>" for member in members)
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(now.timestamp())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId>"
        f"<ChangeType><![CDATA[{'create' if create else 'update'}]]></ChangeType>"
        f"<UpdateDetail><![CDATA[{'' if create else 'add_member'}]]></UpdateDetail>"
        f"<JoinScene>3</JoinScene><QuitScene>0</QuitScene>"
        f"<MemChangeCnt>{len(members)}</MemChangeCnt><MemChangeList>{items}</MemChangeList>"
        f"<LastMemVer>{'' if create else last}</LastMemVer>"
        f"<CurMemVer>{version}</CurMemVer></xml>"
    )


async def post_callback(
    http: httpx.AsyncClient, path: str, cipher: CallbackCipher, plaintext: str, *, xml: bool
) -> None:
    """What WeCom sends to `path`: the plaintext encrypted, the query signed."""
    encrypted = cipher.encrypt(plaintext)
    stamp, nonce = str(int(time.time())), secrets.token_hex(8)
    signature = cipher.sign(timestamp=stamp, nonce=nonce, encrypted=encrypted)
    if xml:
        body = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
        ).encode()
    else:
        body = json.dumps({"encrypt": encrypted}).encode()
    response = await http.post(
        path,
        params={"msg_signature": signature, "timestamp": stamp, "nonce": nonce},
        content=body,
    )
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")


async def prepare_group(
    session: AsyncSession,
    chat_id: str,
    *,
    kind: str,
    members: Mapping[str, str],
    name: str,
    rules: str,
    start: datetime,
    sandbox: bool,
    moderators_in_group: bool,
) -> Group:
    """The group with its kind, name, rules, owner (and, `moderators_in_group`, its
    moderators) and its established members (every role but newcomer)."""
    owners = [user for user, role in members.items() if role == "owner"]
    group = await groups_repo.ensure(
        session,
        chat_id,
        now=start - timedelta(days=ESTABLISHED_DAYS),
        kind=kind,
        smart_bot=kind == "internal",
    )
    group.name = name
    group.owner = owners[0] if owners else ""
    group.rules_text = rules
    group.sandbox = sandbox
    if moderators_in_group:
        group.moderators = [user for user, role in members.items() if role == "moderator"]
    established = {
        (chat_id, user): start - timedelta(days=ESTABLISHED_DAYS)
        for user, role in members.items()
        if role != "newcomer"
    }
    rows = await groups_repo.ensure_members(session, established)
    for member in rows.values():
        member.messages = ESTABLISHED_MESSAGES
        member.last_message_at = start - timedelta(days=1)
    return group
