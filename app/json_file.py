"""`read_json_setting`: the JSON file a setting names (MESSAGES_PATH, POLICY_PATH), read once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.settings import SettingsError

__all__ = ["read_json_setting"]


def read_json_setting(path: Path, setting: str) -> Any:
    """The parsed JSON in `path`; SettingsError naming the setting and the file when it cannot
    be read or is not UTF-8 JSON."""
    where = f"{setting} {path}"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{where}: cannot read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: not a UTF-8 JSON file: {exc}") from None
