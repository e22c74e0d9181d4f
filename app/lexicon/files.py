"""Reading word files and allow-list files: LEXICON_PATH, LEXICON_ALLOW_PATH, the files of
`wecom-mod words import`, and folders of one-file-per-category lists.

The formats are in `moderation.lexicon`; the checks are those of every lexicon change
(`app.lexicon.service.parse_list`), so a file that reads here imports without error. Every
problem is a SettingsError naming the setting (or the command's argument), the file and, where
there is one, the line, so start-up or the command stops with one line before the database is
touched.

Encodings, as the published Chinese lists come: UTF-8 (with or without a BOM), UTF-16 with a
BOM (Windows Notepad's "Unicode"), else GBK/GB18030. A file that starts as UTF-8 Chinese and
breaks later is reported as broken UTF-8 rather than read as GBK: a GBK file's first Chinese
characters are almost never valid UTF-8, while a damaged UTF-8 file would read as GBK
nonsense. Line breaks may be LF or CRLF.

A folder (`read_list_folder`) is read as its `*.txt` files, sorted by name, each one category
named by its file (`moderation.category_from_filename`: 涉毒.txt → 涉毒, 色情类.txt → porn),
with several comma-separated words allowed on a line. Other files and subfolders are skipped
and listed.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.lexicon.service import InvalidEntry, ListKind, parse_list
from app.settings import SettingsError
from moderation import AllowEntry, Category, LexiconEntry, MatchMode, Severity
from moderation.lexicon import category_from_filename

__all__ = [
    "ListFile",
    "ListFolder",
    "decode_list",
    "load_lexicon_file",
    "read_list_file",
    "read_list_folder",
]

LIST_SUFFIX = ".txt"  # the files of a folder of lists that are read
# Characters of U+0800 and above (three UTF-8 bytes: Chinese) read as UTF-8 before a decoding
# error, from which on a file is broken UTF-8 rather than GBK.
_UTF8_EVIDENCE = 2


@dataclass(frozen=True, slots=True)
class ListFile:
    """A word or allow-list file as read: its text, the digest of its bytes, its entries."""

    kind: ListKind
    path: Path
    text: str
    sha256: str
    entries: list[LexiconEntry] | list[AllowEntry]
    encoding: str = "UTF-8"  # as read: UTF-8, UTF-8 with BOM, UTF-16, GBK/GB18030
    category: Category | None = None  # a folder's file: the category its name gives

    @property
    def origin(self) -> str:
        return f"file:{self.path}"


@dataclass(frozen=True, slots=True)
class ListFolder:
    """A folder of one-category word lists as read."""

    path: Path
    files: list[ListFile]
    skipped: list[str] = field(default_factory=list)  # names of entries that are not lists


def _line_of(content: bytes, offset: int) -> int:
    return content.count(b"\n", 0, offset) + 1


def decode_list(content: bytes, path: Path, *, setting: str) -> tuple[str, str]:
    """(text, encoding) of a list file's bytes (see the module docstring). Raises
    SettingsError naming the setting, the file, the line and the byte."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return content.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError as exc:
            raise SettingsError(
                f"{setting}: {path}: starts like UTF-16 but is not (byte {exc.start}); "
                "save it as UTF-8"
            ) from None
    bom = content.startswith(codecs.BOM_UTF8)
    try:
        return content.decode("utf-8-sig"), "UTF-8 with BOM" if bom else "UTF-8"
    except UnicodeDecodeError as exc:
        start = exc.start + (len(codecs.BOM_UTF8) if bom else 0)
        read = content[:start].decode("utf-8-sig", errors="replace")
        if bom or sum(1 for char in read if ord(char) >= 0x800) >= _UTF8_EVIDENCE:
            raise SettingsError(
                f"{setting}: {path}:{_line_of(content, start)}: not valid UTF-8 (byte {start}); "
                "the file is damaged or mixes encodings"
            ) from None
    try:
        return content.decode("gb18030"), "GBK/GB18030"
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{setting}: {path}:{_line_of(content, exc.start)}: neither UTF-8 nor GBK/GB18030 "
            f"(byte {exc.start}); save it as UTF-8"
        ) from None


def read_list_file(
    path: Path,
    kind: ListKind,
    *,
    setting: str,
    category: Category = Category.CUSTOM,
    severity: Severity = Severity.BLOCK,
    mode: MatchMode = MatchMode.FUZZY,
    split_commas: bool = False,
) -> ListFile:
    """Read and check a word file or an allow-list file. `category`, `severity`, `mode` and
    `split_commas` as for `app.lexicon.service.parse_list`. Raises SettingsError."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    text, encoding = decode_list(content, path, setting=setting)
    try:
        entries = parse_list(
            kind,
            text,
            source=str(path),
            category=category,
            severity=severity,
            mode=mode,
            split_commas=split_commas,
        )
    except InvalidEntry as exc:
        raise SettingsError(f"{setting}: {exc}") from None
    return ListFile(kind, path, text, hashlib.sha256(content).hexdigest(), entries, encoding)


def read_list_folder(
    folder: Path,
    *,
    setting: str,
    severity: Severity = Severity.BLOCK,
    mode: MatchMode = MatchMode.FUZZY,
) -> ListFolder:
    """Read and check every `*.txt` word list of `folder`, sorted by name, the category of
    each from its name (a line's own category column still wins). Raises SettingsError for
    the first file that cannot be read, naming it."""
    if not folder.is_dir():
        raise SettingsError(f"{setting}: {folder} is not a folder")
    try:
        children = sorted(folder.iterdir(), key=lambda child: child.name)
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {folder}: {exc.strerror}") from None
    files: list[ListFile] = []
    skipped: list[str] = []
    for child in children:
        if child.name.startswith("."):
            continue
        if child.suffix.lower() != LIST_SUFFIX or not child.is_file():
            skipped.append(child.name + ("/" if child.is_dir() else ""))
            continue
        try:
            category = category_from_filename(child.stem)
        except ValueError as exc:
            raise SettingsError(
                f"{setting}: {child}: the file name does not give a category: {exc}"
            ) from None
        read = read_list_file(
            child,
            ListKind.WORDS,
            setting=setting,
            category=category,
            severity=severity,
            mode=mode,
            split_commas=True,
        )
        files.append(replace(read, category=category))
    if not files:
        raise SettingsError(f"{setting}: {folder} has no {LIST_SUFFIX} word lists")
    return ListFolder(folder, files, skipped)


def load_lexicon_file(path: Path | None, *, setting: str = "LEXICON_PATH") -> list[LexiconEntry]:
    """The entries of a word file; [] when no file is configured. Raises SettingsError."""
    if path is None:
        return []
    entries = read_list_file(path, ListKind.WORDS, setting=setting).entries
    return [entry for entry in entries if isinstance(entry, LexiconEntry)]
