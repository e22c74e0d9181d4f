"""The two callback channels (self-built app, smart bot): how each is parsed and what turns it
on. Apart from the endpoints (`app.ingest.callbacks`) so that `app.runtime.Runtime` can hold them
without importing the endpoints, which read the runtime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.crypto import CallbackCipher
from bot.events import CallbackEvent, Source
from bot.parsing import (
    parse_aibot_envelope,
    parse_aibot_message,
    parse_app_envelope,
    parse_app_message,
)


@dataclass(frozen=True)
class CallbackChannel:
    source: Source
    label: str
    cipher: CallbackCipher | None  # None: the channel is off
    off_reason: str
    parse_envelope: Callable[[bytes], str]
    parse_message: Callable[[str], CallbackEvent]
    # The sandbox's own endpoint (`app.sandbox.live`): only sandbox groups' events, signed
    # with the replica's sandbox cipher; not counted in the callback metrics.
    sandbox: bool = False


def app_channel(cipher: CallbackCipher | None) -> CallbackChannel:
    return CallbackChannel(
        source="app",
        label="app callback",
        cipher=cipher,
        off_reason="the app callback is off: set WECOM_CORP_ID, WECOM_CALLBACK_TOKEN "
        "and WECOM_CALLBACK_AES_KEY",
        parse_envelope=parse_app_envelope,
        parse_message=parse_app_message,
    )


def aibot_channel(cipher: CallbackCipher | None) -> CallbackChannel:
    return CallbackChannel(
        source="aibot",
        label="smart bot callback",
        cipher=cipher,
        off_reason="the smart bot callback is off: set WECOM_AIBOT_TOKEN and WECOM_AIBOT_AES_KEY",
        parse_envelope=parse_aibot_envelope,
        parse_message=parse_aibot_message,
    )


SANDBOX_OFF = "the sandbox is off (SANDBOX_ENABLED, docs/sandbox.md)"


def sandbox_channels(
    app_cipher: CallbackCipher | None, aibot_cipher: CallbackCipher | None
) -> tuple[CallbackChannel, CallbackChannel]:
    """The sandbox's two channels, parsed as the real ones, signed with its own ciphers."""
    return tuple(  # type: ignore[return-value]
        replace(channel, label=f"sandbox {channel.label}", off_reason=SANDBOX_OFF, sandbox=True)
        for channel in (app_channel(app_cipher), aibot_channel(aibot_cipher))
    )
