"""What an inbox event is: a group message to moderate whichever way it came
(`IncomingMessage`), a stored callback re-parsed, and which chat-archive records are moderated
(`archive_skip_reason`)."""

from __future__ import annotations

__all__ = [
    "ARCHIVE_KIND",
    "ARCHIVE_SKIPS",
    "IncomingMessage",
    "archive_chat_id",
    "archive_skip_reason",
    "is_recall",
    "parse_stored",
]

from dataclasses import dataclass
from datetime import datetime

from bot.archive import ArchiveMessage, SenderKind
from bot.events import CallbackEvent
from bot.parsing import parse_aibot_message, parse_app_message

ARCHIVE_KIND = "archive_message"  # inbox kind of a chat-archive record
# Why archive records are not moderated (`archive_skip_reason`), as counted in summaries.
ARCHIVE_SKIPS = {
    "switch": "company switch(es) (no message)",
    "direct": "1:1 chat message(s) (ARCHIVE_INCLUDE_DIRECT is off)",
    "bot": "robot message(s)",
}


def parse_stored(source: str, plaintext: str) -> CallbackEvent:
    """Re-parse a stored plaintext (the same parser that accepted it)."""
    return parse_aibot_message(plaintext) if source == "aibot" else parse_app_message(plaintext)


def archive_skip_reason(message: ArchiveMessage, *, include_direct: bool) -> str:
    """Why an archive record is not moderated (a key of ARCHIVE_SKIPS), "" when it is.

    Robots (ids starting wb: webhook robots, the smart bot) are the company's own; the
    service's warnings, posted by them, name the rule and must not be judged again.
    """
    if message.action == "switch":
        return "switch"
    if not message.is_group and not include_direct:
        return "direct"
    if message.sender_kind is SenderKind.BOT:
        return "bot"
    return ""


def archive_chat_id(message: ArchiveMessage) -> str:
    """The group's roomid; for a 1:1 chat, `direct:` and its two members, sorted."""
    if message.roomid:
        return message.roomid
    people = sorted({message.sender, *message.tolist} - {""})
    return ("direct:" + ":".join(people))[:128]


def is_recall(message: ArchiveMessage) -> bool:
    """A revoke record: the sender recalled an earlier message (named by `recalled_msgid`)."""
    return message.msg_type == "revoke" or message.action == "recall"


@dataclass(frozen=True)
class IncomingMessage:
    """One group message to moderate, whichever way it arrived (smart bot, chat archive)."""

    source: str  # aibot | archive
    message_id: str
    chat_id: str
    sender: str
    msg_type: str  # text, link, weapp, card, redpacket, image, ...
    text: str  # what there is to read in it (a link's title and URL, a card's company, ...)
    sent_at: datetime
    response_url: str = ""  # the smart bot's one-time reply URL, if any
