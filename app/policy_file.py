"""`load_policy`: the service's default group policy from POLICY_PATH (a JSON object);
`effective_policy`: that policy with a group's own overrides."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from app.json_file import read_json_setting
from app.settings import SettingsError
from moderation import GroupPolicy

if TYPE_CHECKING:
    from app.models import Group

__all__ = ["effective_policy", "load_policy"]

log = logging.getLogger(__name__)


def load_policy(path: Path | None) -> GroupPolicy:
    """The built-in defaults, with the settings in `path` applied; SettingsError naming the
    file and the setting when it cannot be read or a value is wrong."""
    if path is None:
        return GroupPolicy()
    mapping = read_json_setting(path, "POLICY_PATH")
    try:
        return GroupPolicy.from_mapping(mapping)
    except ValueError as exc:
        raise SettingsError(f"POLICY_PATH {path}: {exc}") from None


def effective_policy(group: Group | None, default: GroupPolicy) -> GroupPolicy:
    """`default` with the group's overrides. Overrides are checked when they are set; one that
    no longer parses (an older version wrote it) is logged and ignored."""
    if group is None or not group.policy:
        return default
    try:
        return GroupPolicy.from_mapping(group.policy, default)
    except (ValueError, TypeError) as exc:
        log.error("group %s: stored policy ignored, using the default: %s", group.chat_id, exc)
        return default
