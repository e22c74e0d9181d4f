"""`load_policy`: the service's default group policy from POLICY_PATH (a JSON object)."""

from __future__ import annotations

import json
from pathlib import Path

from app.settings import SettingsError
from moderation import GroupPolicy

__all__ = ["load_policy"]


def load_policy(path: Path | None) -> GroupPolicy:
    """The built-in defaults, with the settings in `path` applied; SettingsError naming the
    file and the setting when it cannot be read or a value is wrong."""
    if path is None:
        return GroupPolicy()
    where = f"POLICY_PATH {path}"
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{where}: cannot read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: not a UTF-8 JSON file: {exc}") from None
    try:
        return GroupPolicy.from_mapping(mapping)
    except ValueError as exc:
        raise SettingsError(f"{where}: {exc}") from None
