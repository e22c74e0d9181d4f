"""Reading the word file (LEXICON_PATH) and the allow-list file (LEXICON_ALLOW_PATH).

The formats are in `moderation.lexicon`; the checks are those of every lexicon change
(`app.lexicon_service.parse_list`), so a file that reads here imports without error. Every
problem is a SettingsError naming the setting, so start-up stops with one line before the port
opens.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from app.lexicon_service import InvalidEntry, ListKind, parse_list
from app.settings import SettingsError
from moderation import AllowEntry, LexiconEntry

__all__ = ["ListFile", "load_lexicon_file", "read_list_file"]


@dataclass(frozen=True, slots=True)
class ListFile:
    """A word or allow-list file as read: its text, the digest of its bytes, its entries."""

    kind: ListKind
    path: Path
    text: str
    sha256: str
    entries: list[LexiconEntry] | list[AllowEntry]

    @property
    def origin(self) -> str:
        return f"file:{self.path}"


def read_list_file(path: Path, kind: ListKind, *, setting: str) -> ListFile:
    """Read and check a word file or an allow-list file. Raises SettingsError."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{setting}: {path} is not UTF-8 (byte {exc.start})") from None
    try:
        entries = parse_list(kind, text, source=str(path))
    except InvalidEntry as exc:
        raise SettingsError(f"{setting}: {exc}") from None
    return ListFile(kind, path, text, hashlib.sha256(content).hexdigest(), entries)


def load_lexicon_file(path: Path | None, *, setting: str = "LEXICON_PATH") -> list[LexiconEntry]:
    """The entries of a word file; [] when no file is configured. Raises SettingsError."""
    if path is None:
        return []
    entries = read_list_file(path, ListKind.WORDS, setting=setting).entries
    return [entry for entry in entries if isinstance(entry, LexiconEntry)]
