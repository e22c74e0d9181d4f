"""Tests of `bot.archive`: private keys by version, per-record decryption, message mapping.

The decryptor here is a Python stand-in with the `decrypt` method of `FinanceSdk` (the binding
itself is tested in test_finance_sdk.py): it maps a random key and a ciphertext id to a
plaintext, so these tests need no native library.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from bot.archive import (
    KNOWN_MSG_TYPES,
    ArchiveKeys,
    ArchiveMessage,
    ChatKind,
    DecryptedRecord,
    RecordError,
    SenderKind,
    decrypt_record,
    parse_archive_message,
    read_record,
    sender_kind_of,
)
from bot.errors import (
    ArchiveKeyMissing,
    ArchiveKeysInvalid,
    ArchiveRecordError,
    MalformedArchiveRecord,
    RandomKeyUndecryptable,
    RecordDecryptFailed,
)
from bot.finance_sdk import EncryptedRecord

RANDOM_KEY_2 = "Kx9hQm2VbT7pLw4sNc8dRf1gYj6kZa3e"
RANDOM_KEY_3 = "Pq5tWz0nHs2vBx7cMd4fLg9jKr1yTe6u"


@pytest.fixture(scope="module")
def key_pairs() -> dict[int, rsa.RSAPrivateKey]:
    return {ver: rsa.generate_private_key(public_exponent=65537, key_size=2048) for ver in (2, 3)}


def wrap(key: rsa.RSAPrivateKey, random_key: str) -> str:
    """What WeCom puts in encrypt_random_key: RSA PKCS#1 v1.5 under the public key, base64."""
    ciphertext = key.public_key().encrypt(random_key.encode("ascii"), padding.PKCS1v15())
    return base64.b64encode(ciphertext).decode("ascii")


def pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, pkcs8: bool = False) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8
        if pkcs8
        else serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


class DictDecryptor:
    """Stands in for FinanceSdk.decrypt: (random key, ciphertext) → plaintext object."""

    def __init__(self, plaintexts: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.plaintexts = plaintexts

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        try:
            return self.plaintexts[(random_key, encrypt_chat_msg)]
        except KeyError:
            raise RecordDecryptFailed("DecryptData: code 10006: 解密失败", code=10006) from None


# --- keys -------------------------------------------------------------------------------------


def test_random_keys_of_two_versions_are_decrypted(
    key_pairs: dict[int, rsa.RSAPrivateKey],
) -> None:
    keys = ArchiveKeys(key_pairs)
    assert keys.versions == (2, 3)
    assert keys.decrypt_random_key(2, wrap(key_pairs[2], RANDOM_KEY_2)) == RANDOM_KEY_2
    assert keys.decrypt_random_key(3, wrap(key_pairs[3], RANDOM_KEY_3)) == RANDOM_KEY_3


def test_a_version_without_a_key_is_a_typed_error(key_pairs: dict[int, rsa.RSAPrivateKey]) -> None:
    keys = ArchiveKeys(key_pairs)
    with pytest.raises(ArchiveKeyMissing) as caught:
        keys.decrypt_random_key(4, wrap(key_pairs[3], RANDOM_KEY_3))
    assert caught.value.publickey_ver == 4
    assert "publickey_ver 4" in str(caught.value)
    assert "loaded: 2, 3" in str(caught.value)


@pytest.mark.parametrize(
    "encrypt_random_key",
    [
        "not base64 at all!",
        "QUJD=ZZ",
        "",
        base64.b64encode(b"\x01" * 100).decode(),  # base64, but not the key's size
    ],
)
def test_a_random_key_that_is_not_base64_of_the_right_size_is_a_typed_error(
    key_pairs: dict[int, rsa.RSAPrivateKey], encrypt_random_key: str
) -> None:
    with pytest.raises(RandomKeyUndecryptable):
        ArchiveKeys(key_pairs).decrypt_random_key(2, encrypt_random_key)


def test_a_random_key_for_another_version_never_opens_the_record(
    key_pairs: dict[int, rsa.RSAPrivateKey],
) -> None:
    """RSA cannot tell a wrong key (implicit rejection gives random bytes): either the bytes are
    refused here, or DecryptData refuses them. Either way it is a RecordError, never a crash."""
    keys = ArchiveKeys(key_pairs)
    record = EncryptedRecord(1, "m1", 2, wrap(key_pairs[3], RANDOM_KEY_3), "C1")
    decryptor = DictDecryptor({(RANDOM_KEY_3, "C1"): {"msgid": "m1"}})
    result = decrypt_record(decryptor, keys, record)
    assert isinstance(result, RecordError)
    assert isinstance(result.error, RandomKeyUndecryptable | RecordDecryptFailed)


def test_keys_load_from_a_directory_of_version_named_files(
    key_pairs: dict[int, rsa.RSAPrivateKey], tmp_path: Path
) -> None:
    (tmp_path / "2.pem").write_bytes(pem_of(key_pairs[2]))
    (tmp_path / "3.pem").write_bytes(pem_of(key_pairs[3], pkcs8=True))
    (tmp_path / "README.txt").write_text("keys of the archive", encoding="utf-8")
    (tmp_path / "old").mkdir()
    keys = ArchiveKeys.from_directory(tmp_path)
    assert keys.versions == (2, 3)
    assert keys.decrypt_random_key(3, wrap(key_pairs[3], RANDOM_KEY_3)) == RANDOM_KEY_3
    assert repr(keys) == "<ArchiveKeys versions=[2, 3]>"


def test_keys_load_from_pem_strings(key_pairs: dict[int, rsa.RSAPrivateKey]) -> None:
    keys = ArchiveKeys.from_pem({2: pem_of(key_pairs[2]).decode(), 3: pem_of(key_pairs[3])})
    assert keys.decrypt_random_key(2, wrap(key_pairs[2], RANDOM_KEY_2)) == RANDOM_KEY_2


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "holds no <publickey_ver>.pem"),
        ({"key_v2.pem": "rsa2"}, "is not named <publickey_ver>.pem"),
        ({"2.pem": "garbage"}, "is not a PEM private key"),
        ({"2.pem": "ec"}, "is not an RSA key"),
        ({"2.pem": "locked"}, "password-protected"),
    ],
)
def test_a_directory_that_cannot_give_keys_is_refused_at_load(
    key_pairs: dict[int, rsa.RSAPrivateKey], tmp_path: Path, files: dict[str, str], message: str
) -> None:
    contents = {
        "rsa2": pem_of(key_pairs[2]),
        "garbage": b"-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n",
        "ec": pem_of(ec.generate_private_key(ec.SECP256R1())),
        "locked": key_pairs[2].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        ),
    }
    for name, kind in files.items():
        (tmp_path / name).write_bytes(contents[kind])
    with pytest.raises(ArchiveKeysInvalid, match=message):
        ArchiveKeys.from_directory(tmp_path)


def test_a_missing_directory_or_no_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveKeysInvalid, match="not a directory"):
        ArchiveKeys.from_directory(tmp_path / "absent")
    with pytest.raises(ArchiveKeysInvalid, match="no archive private key"):
        ArchiveKeys({})


# --- records: a batch goes on past the records it cannot read ---------------------------------


def test_a_batch_returns_messages_and_per_record_errors(
    key_pairs: dict[int, rsa.RSAPrivateKey],
) -> None:
    keys = ArchiveKeys(key_pairs)
    text = {
        "msgid": "m1",
        "action": "send",
        "from": "zhangsan",
        "tolist": ["lisi"],
        "roomid": "wrGroup1",
        "msgtime": 1700000000000,
        "msgtype": "text",
        "text": {"content": "周末一起打球"},
    }
    decryptor = DictDecryptor(
        {
            (RANDOM_KEY_2, "C1"): text,
            (RANDOM_KEY_3, "C2"): {**text, "msgid": "m2"},
            (RANDOM_KEY_2, "C6"): {"action": "send"},  # no msgid
        }
    )
    batch = [
        EncryptedRecord(11, "m1", 2, wrap(key_pairs[2], RANDOM_KEY_2), "C1"),
        EncryptedRecord(12, "m2", 3, wrap(key_pairs[3], RANDOM_KEY_3), "C2"),
        EncryptedRecord(13, "m3", 5, wrap(key_pairs[3], RANDOM_KEY_3), "C3"),
        EncryptedRecord(14, "m4", 2, "%%% not base64", "C4"),
        EncryptedRecord(15, "m5", 2, wrap(key_pairs[2], RANDOM_KEY_2), "C5"),
        EncryptedRecord(16, "m6", 2, wrap(key_pairs[2], RANDOM_KEY_2), "C6"),
    ]
    results = [read_record(decryptor, keys, record) for record in batch]
    kinds = [
        type(r).__name__ if isinstance(r, ArchiveMessage) else type(r.error).__name__
        for r in results
    ]
    assert kinds == [
        "ArchiveMessage",
        "ArchiveMessage",
        "ArchiveKeyMissing",
        "RandomKeyUndecryptable",
        "RecordDecryptFailed",
        "MalformedArchiveRecord",
    ]
    errors = [r for r in results if isinstance(r, RecordError)]
    assert [(e.seq, e.msgid, e.publickey_ver) for e in errors] == [
        (13, "m3", 5),
        (14, "m4", 2),
        (15, "m5", 2),
        (16, "m6", 2),
    ]
    assert all(isinstance(e.error, ArchiveRecordError) for e in errors)
    assert isinstance(errors[2].error, RecordDecryptFailed)
    assert errors[2].error.code == 10006


def test_decrypt_record_keeps_the_plaintext_unmapped(
    key_pairs: dict[int, rsa.RSAPrivateKey],
) -> None:
    keys = ArchiveKeys(key_pairs)
    decryptor = DictDecryptor({(RANDOM_KEY_2, "C1"): {"msgid": "m1", "anything": [1]}})
    record = EncryptedRecord(7, "m1", 2, wrap(key_pairs[2], RANDOM_KEY_2), "C1")
    opened = decrypt_record(decryptor, keys, record)
    assert isinstance(opened, DecryptedRecord)
    assert (opened.seq, opened.msgid, opened.publickey_ver) == (7, "m1", 2)
    assert dict(opened.plaintext) == {"msgid": "m1", "anything": [1]}


# --- mapping ----------------------------------------------------------------------------------

MSGTIME = 1700000000123
SENT_AT = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


def record(msgtype: str, payload_key: str | None = None, **payload: Any) -> dict[str, Any]:
    """A group message from an employee, as DecryptData returns it."""
    return {
        "msgid": f"CAQQ-{msgtype}",
        "action": "send",
        "from": "zhangsan",
        "tolist": ["lisi", "wangwu"],
        "roomid": "wrGroup01",
        "msgtime": MSGTIME,
        "msgtype": msgtype,
        payload_key or msgtype: payload,
    }


def as_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)


MAPPING_CASES = [
    ("text", record("text", content="加我微信领红包 wx123456"), "加我微信领红包 wx123456"),
    (
        "link",
        record(
            "link",
            title="限时优惠",
            description="点击领取百元红包",
            link_url="https://promo.example/a",
            image_url="https://promo.example/a.png",
        ),
        "限时优惠\n点击领取百元红包\nhttps://promo.example/a",
    ),
    (
        "weapp",
        record(
            "weapp",
            title="拼团低价",
            description="三人成团",
            username="gh_0123@app",
            displayname="好物商城",
        ),
        "拼团低价\n三人成团\n好物商城",
    ),
    (
        "card",
        record("card", corpname="某某理财有限公司", userid="wmCardUser0001"),
        "某某理财有限公司",
    ),
    (
        "redpacket",
        record("redpacket", type=1, wish="恭喜发财，大吉大利", totalcnt=5, totalamount=3000),
        "恭喜发财，大吉大利",
    ),
    (
        "external_redpacket",
        record("external_redpacket", "redpacket", type=1, wish="新人红包", totalcnt=1),
        "新人红包",
    ),
    ("image", record("image", sdkfileid="CtYBMzA2", md5sum="50de8e5ae8ffe4f1", filesize=70961), ""),
    ("voice", record("voice", sdkfileid="kcSkJJv", voice_size=4355, play_length=10), ""),
    ("video", record("video", sdkfileid="Cts", filesize=3479, play_length=3), ""),
    ("emotion", record("emotion", type=1, width=290, height=290, sdkfileid="Cte"), ""),
    (
        "file",
        record("file", sdkfileid="CtYB", filename="2024年投资回报表.xlsx", fileext="xlsx"),
        "2024年投资回报表.xlsx",
    ),
    ("agree", record("agree", userid="wmAgree000001", agree_time=1700000000), ""),
    ("disagree", record("disagree", userid="wmAgree000001", agree_time=1700000000), ""),
    (
        "mixed",
        record(
            "mixed",
            item=[
                {"type": "text", "content": as_json({"content": "看看这个"})},
                {"type": "image", "content": as_json({"sdkfileid": "Ct1", "md5sum": "ab"})},
                {"type": "text", "content": as_json({"content": "扫码进群\n"})},
            ],
        ),
        "看看这个\n扫码进群",
    ),
    (
        "chatrecord",
        record(
            "chatrecord",
            title="群聊的聊天记录",
            item=[
                {
                    "type": "ChatRecordText",
                    "msgtime": 1700000000,
                    "content": as_json({"content": "代开发票"}),
                    "from_chatroom": False,
                },
                {
                    "type": "ChatRecordFile",
                    "msgtime": 1700000001,
                    "content": as_json({"filename": "价目表.pdf", "sdkfileid": "x"}),
                    "from_chatroom": True,
                },
                {
                    "type": "ChatRecordLink",
                    "msgtime": 1700000002,
                    "content": as_json({"title": "点我", "link_url": "https://x.example"}),
                    "from_chatroom": True,
                },
                {"type": "ChatRecordImage", "content": as_json({"sdkfileid": "y"})},
            ],
        ),
        "代开发票\n价目表.pdf\n点我\nhttps://x.example",
    ),
    (
        "docmsg",
        record("docmsg", "doc", title="内部文档", doc_creator="zhangsan", link_url="https://doc"),
        "内部文档\nhttps://doc",
    ),
    ("markdown", record("markdown", "info", content="**通知**：明天放假"), "**通知**：明天放假"),
    (
        "news",
        record(
            "news",
            "info",
            item=[{"title": "新品", "description": "五折", "url": "https://n", "picurl": "p"}],
        ),
        "新品\n五折\nhttps://n",
    ),
    ("todo", record("todo", title="周报", content="周五前提交"), "周报\n周五前提交"),
    (
        "vote",
        record("vote", votetitle="团建去哪", voteitem=["爬山", "唱歌"], votetype=101),
        "团建去哪\n爬山\n唱歌",
    ),
    (
        "location",
        record("location", longitude=116.3, latitude=39.9, address="北京市海淀区", title="公司"),
        "公司\n北京市海淀区",
    ),
    (
        "sphfeed",
        record("sphfeed", feed_type=4, sph_name="好物推荐", feed_desc="全网最低"),
        "好物推荐\n全网最低",
    ),
    (
        "calendar",
        record("calendar", title="周会", place="3楼", remarks="带电脑", starttime=1700000000),
        "周会\n3楼\n带电脑",
    ),
]


@pytest.mark.parametrize(
    ("plaintext", "text"),
    [(p, t) for _, p, t in MAPPING_CASES],
    ids=[n for n, _, _ in MAPPING_CASES],
)
def test_every_known_type_maps_with_its_text(plaintext: dict[str, Any], text: str) -> None:
    message = parse_archive_message(plaintext)
    assert message.known
    assert message.text == text
    assert message.msg_type == plaintext["msgtype"]
    assert message.msgid == plaintext["msgid"]
    assert message.action == "send"
    assert message.sender == "zhangsan"
    assert message.sender_kind is SenderKind.EMPLOYEE
    assert message.tolist == ("lisi", "wangwu")
    assert message.roomid == "wrGroup01"
    assert message.is_group
    assert message.chat_kind is ChatKind.INTERNAL_GROUP
    assert message.sent_at == SENT_AT
    payload_key = {"external_redpacket": "redpacket", "docmsg": "doc", "markdown": "info"}.get(
        message.msg_type, "info" if message.msg_type == "news" else message.msg_type
    )
    assert dict(message.payload) == plaintext[payload_key]
    assert message.recalled_msgid == ""


def test_the_table_covers_every_known_type() -> None:
    covered = {name for name, _, _ in MAPPING_CASES} | {"revoke"}
    assert covered == KNOWN_MSG_TYPES


def test_a_recall_names_the_recalled_message() -> None:
    plaintext = record("revoke", pre_msgid="14417038898327893474_1700000000")
    plaintext["action"] = "recall"
    message = parse_archive_message(plaintext)
    assert (message.action, message.msg_type, message.text) == ("recall", "revoke", "")
    assert message.recalled_msgid == "14417038898327893474_1700000000"


def test_an_unknown_type_is_kept_not_refused() -> None:
    plaintext = record("meeting_voice_call", endtime=1700000100, sdkfileid="v")
    message = parse_archive_message(plaintext)
    assert not message.known
    assert message.msg_type == "meeting_voice_call"
    assert message.text == ""
    assert dict(message.payload) == {"endtime": 1700000100, "sdkfileid": "v"}


def test_a_one_to_one_message_is_not_a_group_message() -> None:
    plaintext = {**record("text", content="在吗"), "roomid": "", "tolist": ["wmCustomer0000001"]}
    message = parse_archive_message(plaintext)
    assert not message.is_group
    assert message.chat_kind is ChatKind.SINGLE


def test_a_switch_record_maps_without_a_chat() -> None:
    plaintext = {
        "msgid": "125289002219525886280",
        "action": "switch",
        "time": 1554119421840,
        "user": "XuJinSheng",
    }
    message = parse_archive_message(plaintext)
    assert (message.action, message.msg_type, message.text) == ("switch", "switch", "")
    assert message.sender == "XuJinSheng"
    assert message.sender_kind is SenderKind.EMPLOYEE
    assert message.chat_kind is ChatKind.NONE
    assert not message.is_group
    assert message.sent_at == datetime(2019, 4, 1, 11, 50, 21, 840000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sender", "tolist", "sender_kind", "chat_kind"),
    [
        ("zhangsan", ["lisi"], SenderKind.EMPLOYEE, ChatKind.INTERNAL_GROUP),
        (
            "wmJ1a2bCDEFGhijkLMnoPQRstUVwxyz012",
            ["lisi"],
            SenderKind.EXTERNAL,
            ChatKind.EXTERNAL_GROUP,
        ),
        (
            "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA",
            ["lisi"],
            SenderKind.EXTERNAL,
            ChatKind.EXTERNAL_GROUP,
        ),
        ("wbRobotAbc0123456789", ["lisi"], SenderKind.BOT, ChatKind.INTERNAL_GROUP),
        ("zhangsan", ["lisi", "wmCustomer0000001"], SenderKind.EMPLOYEE, ChatKind.EXTERNAL_GROUP),
        ("", ["lisi"], SenderKind.UNKNOWN, ChatKind.INTERNAL_GROUP),
    ],
)
def test_sender_and_chat_kind_come_from_the_ids(
    sender: str, tolist: list[str], sender_kind: SenderKind, chat_kind: ChatKind
) -> None:
    message = parse_archive_message(
        {**record("text", content="你好"), "from": sender, "tolist": tolist}
    )
    assert message.sender_kind is sender_kind
    assert message.chat_kind is chat_kind
    assert sender_kind_of(sender) is sender_kind


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"tolist": "lisi"}, lambda m: m.tolist == ()),
        ({"tolist": ["lisi", 7, None]}, lambda m: m.tolist == ("lisi",)),
        ({"from": 12345}, lambda m: m.sender == "" and m.sender_kind is SenderKind.UNKNOWN),
        ({"roomid": None}, lambda m: not m.is_group),
        ({"text": "not an object"}, lambda m: m.text == "" and dict(m.payload) == {}),
        ({"text": {"content": 42}}, lambda m: m.text == ""),
        ({"msgtime": str(MSGTIME)}, lambda m: m.sent_at == SENT_AT),
        ({"msgtype": None}, lambda m: not m.known and m.msg_type == ""),
        ({"action": None}, lambda m: m.action == ""),
    ],
    ids=[
        "tolist-str",
        "tolist-mixed",
        "from-int",
        "roomid-null",
        "payload-str",
        "content-int",
        "msgtime-str",
        "msgtype-null",
        "action-null",
    ],
)
def test_optional_fields_are_read_leniently(change: dict[str, Any], check: Any) -> None:
    assert check(parse_archive_message({**record("text", content="你好"), **change}))


def test_mixed_items_that_are_objects_or_plain_strings_are_read() -> None:
    plaintext = record(
        "mixed",
        item=[
            {"type": "text", "content": {"content": "对象"}},
            {"type": "text", "content": "不是JSON"},
            {"type": "image", "content": "{broken"},
            "not an item",
        ],
    )
    assert parse_archive_message(plaintext).text == "对象\n不是JSON"


def nested_chat_record(levels: int) -> dict[str, Any]:
    """A forwarded chat record holding a forwarded chat record … `levels` deep, text at the end.

    Each level escapes the JSON string of the one inside it, so the size doubles per level.
    """
    inner: dict[str, Any] = {
        "item": [{"type": "ChatRecordText", "content": as_json({"content": "底"})}]
    }
    for _ in range(levels):
        inner = {"item": [{"type": "ChatRecordChatRecord", "content": as_json(inner)}]}
    return record("chatrecord", **inner)


def test_nested_chat_records_are_read_a_few_levels_deep_and_no_deeper() -> None:
    assert parse_archive_message(nested_chat_record(2)).text == "底"
    deep = parse_archive_message(nested_chat_record(10))
    assert deep.known
    assert deep.text == ""


@pytest.mark.parametrize(
    "plaintext",
    [
        None,
        [],
        "a string",
        {},
        {"msgid": "", "msgtime": MSGTIME},
        {"msgid": 123, "msgtime": MSGTIME},
        {"msgid": "m", "msgtype": "text"},
        {"msgid": "m", "msgtime": "soon"},
        {"msgid": "m", "msgtime": -1},
        {"msgid": "m", "msgtime": True},
        {"msgid": "m", "msgtime": 10**20},
        {"msgid": "m", "action": "switch", "user": "u"},
    ],
    ids=[
        "null",
        "list",
        "string",
        "empty",
        "empty-msgid",
        "int-msgid",
        "no-msgtime",
        "word-msgtime",
        "negative-msgtime",
        "bool-msgtime",
        "huge-msgtime",
        "switch-no-time",
    ],
)
def test_a_malformed_record_is_a_typed_parse_error(plaintext: object) -> None:
    with pytest.raises(MalformedArchiveRecord):
        parse_archive_message(plaintext)


def test_a_message_is_frozen_and_hashable() -> None:
    message = parse_archive_message(record("text", content="你好"))
    with pytest.raises(AttributeError):
        message.text = "改"  # type: ignore[misc]
    with pytest.raises(TypeError):
        message.payload["content"] = "改"  # type: ignore[index]
    assert hash(message) == hash(parse_archive_message(record("text", content="你好")))
