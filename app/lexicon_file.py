"""Reading the word file named by LEXICON_PATH (the format is in `moderation.lexicon`)."""

from __future__ import annotations

from pathlib import Path

from app.settings import SettingsError
from moderation import LexiconEntry, LexiconFormatError, parse_lexicon

__all__ = ["load_lexicon_file"]


def load_lexicon_file(path: Path | None, *, setting: str = "LEXICON_PATH") -> list[LexiconEntry]:
    """The entries of the word file; [] when no file is configured. Raises SettingsError."""
    if path is None:
        return []
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{setting}: {path} is not UTF-8 (byte {exc.start})") from None
    try:
        return parse_lexicon(text, source=str(path))
    except LexiconFormatError as exc:
        raise SettingsError(f"{setting}: {exc}") from None
