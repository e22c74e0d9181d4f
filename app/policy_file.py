"""`load_policy`: the service's default group policy from POLICY_PATH (a JSON object)."""

from __future__ import annotations

from pathlib import Path

from app.json_file import read_json_setting
from app.settings import SettingsError
from moderation import GroupPolicy

__all__ = ["load_policy"]


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
