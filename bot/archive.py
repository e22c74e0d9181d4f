"""Chat-archive records, from what GetChatData returns to a typed `ArchiveMessage`.

One idea in three steps, kept together because each step's failure must be reported for the
one record it concerns while the batch goes on:

1. `ArchiveKeys.decrypt_random_key`: the record's `encrypt_random_key` (base64) is RSA
   PKCS#1 v1.5 ciphertext under the public key of version `publickey_ver`; several versions live
   at once (keys are rotated in the admin console and old records keep their version).
2. The SDK's DecryptData (`bot.finance_sdk.FinanceSdk.decrypt`, or anything with the same
   `decrypt` method) opens `encrypt_chat_msg` with that random key.
3. `parse_archive_message` maps the plaintext (doc 91774, platform notes §2) to `ArchiveMessage`.

`read_record` does all three and returns `ArchiveMessage | RecordError`, never raising an
`ArchiveRecordError`, so a caller processes a batch and collects the failures.

Key files: a directory holds one PEM private key per version named `<publickey_ver>.pem`
(`2.pem`, `3.pem`); other files are ignored, a `.pem` whose name is not a version is an error.

A wrong private key cannot be detected by RSA itself: to resist timing attacks OpenSSL answers
PKCS#1 v1.5 failures with random bytes ("implicit rejection"). Those bytes are almost never
UTF-8, which is refused here; otherwise DecryptData refuses the key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bot.errors import (
    ArchiveKeyMissing,
    ArchiveKeysInvalid,
    ArchiveRecordError,
    MalformedArchiveRecord,
    RandomKeyUndecryptable,
)
from bot.finance_sdk import EncryptedRecord
from bot.identifiers import MAX_ID_LENGTH, MAX_MSG_TYPE_LENGTH, identifier_problem

__all__ = [
    "KNOWN_MSG_TYPES",
    "ArchiveKeys",
    "ArchiveMessage",
    "ChatKind",
    "DecryptedRecord",
    "RecordDecryptor",
    "RecordError",
    "SenderKind",
    "decrypt_record",
    "parse_archive_message",
    "read_record",
    "sender_kind_of",
]

_KEY_FILE = re.compile(r"^(\d{1,9})\.pem$", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MSGTIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last datetime
_MAX_NESTING = 4  # chatrecord/mixed items inside items: deeper content is not read


# ---------------------------------------------------------------------------------------------
# 1. Private keys by version


class ArchiveKeys:
    """The RSA private keys of the archive, by `publickey_ver`. Never shows the keys in repr."""

    def __init__(self, keys: Mapping[int, RSAPrivateKey]) -> None:
        if not keys:
            raise ArchiveKeysInvalid("no archive private key was given")
        for ver, key in keys.items():
            if isinstance(ver, bool) or not isinstance(ver, int) or ver < 0:
                raise ArchiveKeysInvalid(f"key version {ver!r} is not a non-negative integer")
            if not isinstance(key, RSAPrivateKey):
                raise ArchiveKeysInvalid(f"the key for version {ver} is not an RSA private key")
        self._keys = dict(keys)

    @classmethod
    def from_pem(cls, pems: Mapping[int, str | bytes]) -> ArchiveKeys:
        """Keys from PEM texts (PKCS#1 "RSA PRIVATE KEY" or PKCS#8, unencrypted) by version."""
        return cls({ver: _load_pem(pem, f"version {ver}") for ver, pem in pems.items()})

    @classmethod
    def from_directory(cls, directory: str | Path) -> ArchiveKeys:
        """Keys from `<publickey_ver>.pem` files in `directory` (see the module docstring)."""
        root = Path(directory)
        if not root.is_dir():
            raise ArchiveKeysInvalid(f"{root} is not a directory of archive keys")
        keys: dict[int, RSAPrivateKey] = {}
        for path in sorted(root.iterdir()):
            if path.suffix.lower() != ".pem" or not path.is_file():
                continue
            match = _KEY_FILE.match(path.name)
            if match is None:
                raise ArchiveKeysInvalid(
                    f"{path} is not named <publickey_ver>.pem (for example 3.pem)"
                )
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise ArchiveKeysInvalid(f"cannot read {path}: {exc.strerror}") from None
            keys[int(match.group(1))] = _load_pem(pem, str(path))
        if not keys:
            raise ArchiveKeysInvalid(f"{root} holds no <publickey_ver>.pem file")
        return cls(keys)

    @property
    def versions(self) -> tuple[int, ...]:
        """The loaded versions, ascending."""
        return tuple(sorted(self._keys))

    def __repr__(self) -> str:
        return f"<ArchiveKeys versions={list(self.versions)}>"

    def decrypt_random_key(self, publickey_ver: int, encrypt_random_key: str) -> str:
        """The random key DecryptData needs, from a record's base64 `encrypt_random_key`.

        Raises `ArchiveKeyMissing` or `RandomKeyUndecryptable`.
        """
        key = self._keys.get(publickey_ver)
        if key is None:
            raise ArchiveKeyMissing(publickey_ver, self.versions)
        try:
            ciphertext = base64.b64decode(encrypt_random_key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise RandomKeyUndecryptable("encrypt_random_key is not base64") from None
        if len(ciphertext) != key.key_size // 8:
            raise RandomKeyUndecryptable(
                f"encrypt_random_key is {len(ciphertext)} bytes, the version {publickey_ver} key "
                f"needs {key.key_size // 8}: a key of another size or a damaged record"
            )
        try:
            plain = key.decrypt(ciphertext, padding.PKCS1v15())
        except ValueError:
            raise RandomKeyUndecryptable(
                f"RSA decryption with the version {publickey_ver} key failed"
            ) from None
        try:
            random_key = plain.decode("utf-8")
        except UnicodeDecodeError:
            random_key = ""
        if not random_key or "\0" in random_key:
            raise RandomKeyUndecryptable(
                f"the version {publickey_ver} key does not open this record's random key "
                "(wrong private key for this version?)"
            )
        return random_key


def _load_pem(pem: str | bytes, where: str) -> RSAPrivateKey:
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise ArchiveKeysInvalid(f"the private key of {where} is password-protected") from None
    except Exception:  # ValueError, UnsupportedAlgorithm: the text of the key stays out
        raise ArchiveKeysInvalid(f"the private key of {where} is not a PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ArchiveKeysInvalid(f"the private key of {where} is not an RSA key")
    return key


# ---------------------------------------------------------------------------------------------
# 2. Decrypting a record


class RecordDecryptor(Protocol):
    """What opens `encrypt_chat_msg`: `FinanceSdk`, or a fake in tests."""

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class DecryptedRecord:
    """A record whose plaintext JSON object is open, not yet mapped."""

    seq: int
    msgid: str
    publickey_ver: int
    plaintext: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be read, and why. The caller logs it and moves past its seq."""

    seq: int
    msgid: str
    publickey_ver: int
    error: ArchiveRecordError


def decrypt_record(
    decryptor: RecordDecryptor, keys: ArchiveKeys, record: EncryptedRecord
) -> DecryptedRecord | RecordError:
    """Open one record. Any `ArchiveRecordError` is returned as a `RecordError`, not raised."""
    try:
        random_key = keys.decrypt_random_key(record.publickey_ver, record.encrypt_random_key)
        plaintext = decryptor.decrypt(random_key, record.encrypt_chat_msg)
    except ArchiveRecordError as exc:
        return RecordError(record.seq, record.msgid, record.publickey_ver, exc)
    return DecryptedRecord(
        record.seq, record.msgid, record.publickey_ver, MappingProxyType(plaintext)
    )


def read_record(
    decryptor: RecordDecryptor, keys: ArchiveKeys, record: EncryptedRecord
) -> ArchiveMessage | RecordError:
    """Open and map one record; failures come back as `RecordError`."""
    opened = decrypt_record(decryptor, keys, record)
    if isinstance(opened, RecordError):
        return opened
    try:
        return parse_archive_message(opened.plaintext)
    except ArchiveRecordError as exc:
        return RecordError(record.seq, record.msgid, record.publickey_ver, exc)


# ---------------------------------------------------------------------------------------------
# 3. The message


class SenderKind(StrEnum):
    """Who sent a message, from the form of the id (platform notes §2)."""

    EMPLOYEE = "employee"  # a member's userid
    EXTERNAL = "external"  # an external contact: external_userid starting wm… or wo…
    BOT = "bot"  # a robot: id starting wb…
    UNKNOWN = "unknown"  # no sender in the record


class ChatKind(StrEnum):
    """A hint, from roomid and the ids in the record, of the chat a message was sent in.

    The archive record does not say whether a group is a customer group; a group message with an
    external contact among sender and recipients is `EXTERNAL_GROUP`. The app's own group data
    is the authority.
    """

    INTERNAL_GROUP = "internal_group"  # roomid set, only employees and bots seen
    EXTERNAL_GROUP = "external_group"  # roomid set, an external contact seen
    SINGLE = "single"  # no roomid: a 1:1 chat
    NONE = "none"  # not a chat message (action "switch")


def sender_kind_of(user_id: str) -> SenderKind:
    """Classify an id by its documented prefix.

    An employee whose admin-chosen userid happens to start with wm/wo/wb is misread; only the
    contact list can tell, and that belongs to the app.
    """
    if not user_id:
        return SenderKind.UNKNOWN
    if user_id.startswith(("wm", "wo")):
        return SenderKind.EXTERNAL
    if user_id.startswith("wb"):
        return SenderKind.BOT
    return SenderKind.EMPLOYEE


@dataclass(frozen=True, slots=True)
class ArchiveMessage:
    """One decrypted archive record, typed.

    `text` is what moderation reads (see `KNOWN_MSG_TYPES` for what each type contributes; ""
    for media and events). `payload` is the type's own object as WeCom sent it ({} when absent).
    `known` is False for a `msgtype` this module does not map; such a message is kept, not
    refused. A switch record (action "switch": a member switched to another company) has
    `msg_type` "switch" and no sender payload.
    """

    msgid: str
    action: str  # "send", "recall" or "switch"; another value is kept as given
    sender: str  # userid / external_userid / robot id; "" when absent
    sender_kind: SenderKind
    roomid: str  # the group's id; "" for a 1:1 chat
    chat_kind: ChatKind
    tolist: tuple[str, ...]
    sent_at: datetime  # UTC, millisecond precision
    msg_type: str
    text: str
    payload: Mapping[str, Any] = field(repr=False, hash=False)
    known: bool = True
    recalled_msgid: str = ""  # for msg_type "revoke": the msgid that was recalled

    @property
    def is_group(self) -> bool:
        """True for a group message (roomid set); 1:1 messages are skipped by the app's setting."""
        return bool(self.roomid)


# What one message type contributes to `text`: (payload, nesting depth) → parts.
_TextOf = Callable[[Mapping[str, Any], int], list[str]]


def _text_of_text(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "content")]


def _text_of_link(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "title"), _s(payload, "description"), _s(payload, "link_url")]


def _text_of_weapp(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "title"), _s(payload, "description"), _s(payload, "displayname")]


def _text_of_card(payload: Mapping[str, Any], depth: int) -> list[str]:
    # The company name is words a promotion uses; the userid is an opaque id that would only
    # give the word matcher false hits. It stays in `payload`.
    return [_s(payload, "corpname")]


def _text_of_redpacket(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "wish")]


def _text_of_file(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "filename")]


def _text_of_doc(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "title"), _s(payload, "link_url")]


def _text_of_markdown(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "content")]


def _text_of_news(payload: Mapping[str, Any], depth: int) -> list[str]:
    parts: list[str] = []
    for item in _dicts(payload.get("item")):
        parts += [_s(item, "title"), _s(item, "description"), _s(item, "url")]
    return parts


def _text_of_todo(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "title"), _s(payload, "content")]


def _text_of_vote(payload: Mapping[str, Any], depth: int) -> list[str]:
    items = payload.get("voteitem")
    choices = [item for item in items if isinstance(item, str)] if isinstance(items, list) else []
    return [_s(payload, "votetitle"), *choices]


def _text_of_location(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "title"), _s(payload, "address")]


def _text_of_sphfeed(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "sph_name"), _s(payload, "feed_desc")]


def _text_of_calendar(payload: Mapping[str, Any], depth: int) -> list[str]:
    return [_s(payload, "title"), _s(payload, "place"), _s(payload, "remarks")]


def _text_of_items(payload: Mapping[str, Any], depth: int) -> list[str]:
    """mixed and chatrecord: a list of items, each `{"type", "content": "<JSON string>"}`.

    In chatrecord the item types are "ChatRecordText", "ChatRecordFile", …; without the prefix
    they are the message types themselves. The content is a JSON string (a dict is accepted).
    """
    if depth >= _MAX_NESTING:
        return []
    parts: list[str] = []
    for item in _dicts(payload.get("item")):
        kind = _s(item, "type")
        if kind.lower().startswith("chatrecord"):
            kind = kind[len("chatrecord") :]
        kind = kind.lower()
        content = item.get("content")
        if isinstance(content, str):
            try:
                content = json.loads(content)
            except ValueError:
                content = {"content": content} if kind == "text" else None
        if not isinstance(content, dict):
            continue
        text_of = _TEXT_OF.get(kind)
        if text_of is not None:
            parts += text_of(content, depth + 1)
    return parts


# msgtype → (key of its payload object in the record, what it contributes to `text`).
_TYPES: dict[str, tuple[str, _TextOf | None]] = {
    "text": ("text", _text_of_text),
    "link": ("link", _text_of_link),
    "weapp": ("weapp", _text_of_weapp),
    "card": ("card", _text_of_card),
    "redpacket": ("redpacket", _text_of_redpacket),
    "external_redpacket": ("redpacket", _text_of_redpacket),
    "file": ("file", _text_of_file),
    "mixed": ("mixed", _text_of_items),
    "chatrecord": ("chatrecord", _text_of_items),
    "docmsg": ("doc", _text_of_doc),
    "markdown": ("info", _text_of_markdown),
    "news": ("info", _text_of_news),
    "todo": ("todo", _text_of_todo),
    "vote": ("vote", _text_of_vote),
    "location": ("location", _text_of_location),
    "sphfeed": ("sphfeed", _text_of_sphfeed),
    "calendar": ("calendar", _text_of_calendar),
    # No text: media, recall, agreement events.
    "image": ("image", None),
    "voice": ("voice", None),
    "video": ("video", None),
    "emotion": ("emotion", None),
    "revoke": ("revoke", None),
    "agree": ("agree", None),
    "disagree": ("disagree", None),
}
_TEXT_OF: dict[str, _TextOf] = {
    kind: text_of for kind, (_, text_of) in _TYPES.items() if text_of is not None
}

KNOWN_MSG_TYPES = frozenset(_TYPES)


def _s(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""


def _dicts(value: object) -> Iterable[Mapping[str, Any]]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    if isinstance(value, dict):  # a single item sent as an object
        return [value]
    return []


def _join(parts: Iterable[str]) -> str:
    return "\n".join(part.strip() for part in parts if part and part.strip())


def _sent_at(value: object, msgid: str) -> datetime:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedArchiveRecord(f"record {msgid}: msgtime is not milliseconds")
    if not 0 <= value <= _MAX_MSGTIME_MS:
        raise MalformedArchiveRecord(f"record {msgid}: msgtime {value} is out of range")
    return _EPOCH + timedelta(milliseconds=value)


def _checked(value: str, what: str, msgid: str, *, limit: int = MAX_ID_LENGTH) -> str:
    """`value` when it fits its column (`bot.identifiers`), else `MalformedArchiveRecord`."""
    problem = identifier_problem(value, limit=limit)
    if problem is not None:
        raise MalformedArchiveRecord(f"record {msgid[:MAX_ID_LENGTH]!r}: {what} {problem}")
    return value


def parse_archive_message(plaintext: object) -> ArchiveMessage:
    """Map one decrypted record (the JSON object DecryptData returns) to `ArchiveMessage`.

    Fields are read leniently (a wrong-typed optional field reads as empty); a record that is
    not an object, has no msgid or no usable time, or whose msgid, sender, roomid or msgtype is
    too long or holds a control character (`bot.identifiers`) raises `MalformedArchiveRecord`.
    """
    if not isinstance(plaintext, Mapping):
        raise MalformedArchiveRecord("decrypted record is not a JSON object")
    msgid = plaintext.get("msgid")
    if not isinstance(msgid, str) or not msgid:
        raise MalformedArchiveRecord("decrypted record has no msgid")
    _checked(msgid, "msgid", msgid)
    action = _s(plaintext, "action")
    if action == "switch":
        # {"msgid", "action": "switch", "time": ms, "user": userid}
        user = _checked(_s(plaintext, "user") or _s(plaintext, "from"), "user", msgid)
        return ArchiveMessage(
            msgid=msgid,
            action=action,
            sender=user,
            sender_kind=sender_kind_of(user),
            roomid="",
            chat_kind=ChatKind.NONE,
            tolist=(),
            sent_at=_sent_at(plaintext.get("time", plaintext.get("msgtime")), msgid),
            msg_type="switch",
            text="",
            payload=MappingProxyType({}),
        )
    sender = _checked(_s(plaintext, "from"), "from", msgid)
    roomid = _checked(_s(plaintext, "roomid"), "roomid", msgid)
    raw_tolist = plaintext.get("tolist")
    tolist = (
        tuple(item for item in raw_tolist if isinstance(item, str))
        if isinstance(raw_tolist, list)
        else ()
    )
    msg_type = _checked(_s(plaintext, "msgtype"), "msgtype", msgid, limit=MAX_MSG_TYPE_LENGTH)
    known_type = _TYPES.get(msg_type)
    payload_key = known_type[0] if known_type else msg_type
    payload = plaintext.get(payload_key) if payload_key else None
    if not isinstance(payload, dict):
        payload = plaintext.get(msg_type) if msg_type else None
    if not isinstance(payload, dict):
        payload = {}
    text_of = known_type[1] if known_type else None
    text = _join(text_of(payload, 0)) if text_of else ""
    if not roomid:
        chat_kind = ChatKind.SINGLE
    elif any(sender_kind_of(uid) is SenderKind.EXTERNAL for uid in (sender, *tolist)):
        chat_kind = ChatKind.EXTERNAL_GROUP
    else:
        chat_kind = ChatKind.INTERNAL_GROUP
    return ArchiveMessage(
        msgid=msgid,
        action=action,
        sender=sender,
        sender_kind=sender_kind_of(sender),
        roomid=roomid,
        chat_kind=chat_kind,
        tolist=tolist,
        sent_at=_sent_at(plaintext.get("msgtime"), msgid),
        msg_type=msg_type,
        text=text,
        payload=MappingProxyType(payload),
        known=known_type is not None,
        recalled_msgid=_s(payload, "pre_msgid") if msg_type == "revoke" else "",
    )
