"""A group's settings checked before they are stored, the same for the REST API's PATCH and the
web console, so both refuse a value with the same words: its moderators, its webhook robot key
and its policy overrides (the welcome template's check is `app.groups.views`). Each raises
`ValueError` with the message both show; nothing is stored by these functions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from moderation.policy import GroupPolicy

__all__ = ["MAX_MODERATORS", "moderators", "policy_problem", "webhook_key"]

MAX_MODERATORS = 100
_WEBHOOK_KEY = re.compile(r"[A-Za-z0-9_-]{8,128}")
_USERID = re.compile(r"[^\s,]{1,128}")


def webhook_key(value: str) -> str:
    """The key itself, from a key or a webhook URL (…/cgi-bin/webhook/send?key=…)."""
    value = value.strip()
    if "://" in value:
        keys = parse_qs(urlsplit(value).query).get("key", [])
        value = keys[0].strip() if keys else ""
    if not _WEBHOOK_KEY.fullmatch(value):
        raise ValueError(
            "webhook_key: expected the robot's key (8–128 letters, digits, - or _) or its "
            "webhook URL with ?key="
        )
    return value


def moderators(values: Sequence[str]) -> list[str]:
    """The userids trimmed, each once, in the order given."""
    if len(values) > MAX_MODERATORS:
        raise ValueError(f"moderators: at most {MAX_MODERATORS}")
    seen: list[str] = []
    for index, value in enumerate(values):
        user_id = value.strip()
        if not _USERID.fullmatch(user_id):
            raise ValueError(
                f"moderators[{index}]: a userid of 1–128 characters, no spaces or commas"
            )
        if user_id not in seen:
            seen.append(user_id)
    return seen


def policy_problem(overrides: Mapping[str, Any], default: GroupPolicy) -> str | None:
    """Why `overrides` are not a valid policy over the service's `default`, or None."""
    try:
        GroupPolicy.from_mapping(overrides, default)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None
