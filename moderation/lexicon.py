"""The lexicon model: words and allow-list phrases, their categories and tiers, and the
word-file formats.

Word file (its text: the caller decodes the bytes, UTF-8, GBK or other): one word per line; `#`
starts a comment line; blank lines are skipped; optionally tab-separated
`word<TAB>category<TAB>severity<TAB>mode<TAB>scope`, where trailing fields may be left out.
Category defaults to `custom`, severity to `block`, mode to `fuzzy`, scope to every group
(empty).

- **Category**: a built-in one (`politics`, `porn`, `gambling`, `fraud`, `abuse`, `ads`,
  `custom`; any case), a common Chinese name of one (`CATEGORY_NAMES`: 色情 → porn, 反动 →
  politics, 广告 → ads …), or any other label a list uses (涉毒, 暴恐, 违禁品), kept as written
  as a category of its own: at most `MAX_CATEGORY_LENGTH` characters, no tab, line break or
  other control or invisible character, not a bare number. A label behaves like `custom`
  wherever nothing names it.
- **Severity**: `block`, `review`, `log`, or a number as common lists write them: 1 → log
  (only recorded), 2 → review (moderators alerted), 3 → block (warned and alerted). A line
  `word<TAB>1`…`3` with nothing after gives the severity (a category is never a number).

A list of one category (one file per category, as the open Chinese word lists are published)
may leave the category out; `parse_lexicon(category=...)` gives it, and
`category_from_filename` reads it from the file's name. Such lists often put several words on
one line separated by commas, which `parse_lexicon(split_commas=True)` reads.

Allow-list file: one phrase per line, optionally `phrase<TAB>scope`.

Why a label is a `Category` (a `StrEnum` member made on demand, equal to its text) and not a
plain `str`: every consumer keeps reading `category.value` and comparing with the built-in
members (`category is Category.ADS`), and a built-in value keeps its meaning, while a list's
own labels pass through unchanged. Labels are not cached: `Category("涉毒")` makes a new member
each time (equal, not identical, to the last), so the enum never grows.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

__all__ = [
    "CATEGORY_NAMES",
    "MAX_CATEGORY_LENGTH",
    "MAX_WORD_LENGTH",
    "SEVERITY_NUMBERS",
    "AllowEntry",
    "Category",
    "LexiconEntry",
    "LexiconFormatError",
    "MatchMode",
    "Severity",
    "category_from_filename",
    "category_of",
    "parse_allow_list",
    "parse_lexicon",
    "severity_of",
]

MAX_WORD_LENGTH = 64  # characters; longer lines are almost certainly not words
MAX_SCOPE_LENGTH = 128  # a chat id
MAX_CATEGORY_LENGTH = 32  # characters of a category label (the database column's width)


class Category(StrEnum):
    """A word's category: a built-in one, or a word list's own label (see the module
    docstring). `Category(value)` takes a built-in value in any case, or a valid label as
    written; `category_of` also reads the Chinese names of the built-in ones and says what is
    wrong with a label it refuses."""

    POLITICS = "politics"
    PORN = "porn"
    GAMBLING = "gambling"
    FRAUD = "fraud"
    ABUSE = "abuse"
    ADS = "ads"  # advertising and contact details
    CUSTOM = "custom"

    @classmethod
    def _missing_(cls, value: object) -> Category | None:
        if not isinstance(value, str):
            return None
        label = value.strip()
        for member in cls:
            if member.value == label.lower():
                return member
        if _label_problem(label):
            return None
        custom = str.__new__(cls, label)
        custom._name_ = label
        custom._value_ = label
        return custom

    @property
    def built_in(self) -> bool:
        """Whether this is one of the built-in categories (not a list's own label)."""
        return self.value in _BUILT_IN


_BUILT_IN = frozenset(member.value for member in Category)

# Names the published Chinese word lists (and this service's own texts) give the built-in
# categories, as a category column or a file name (after `category_from_filename` trims it).
CATEGORY_NAMES: dict[str, Category] = {
    **dict.fromkeys(
        ("政治", "政治类", "政治类型", "政治敏感", "涉政", "反动", "反动类"), Category.POLITICS
    ),
    **dict.fromkeys(
        ("色情", "色情类", "色情类型", "色情低俗", "涉黄", "低俗", "黄色"), Category.PORN
    ),
    **dict.fromkeys(("赌博", "赌博类", "涉赌"), Category.GAMBLING),
    **dict.fromkeys(("诈骗", "诈骗类", "欺诈", "涉诈"), Category.FRAUD),
    **dict.fromkeys(("辱骂", "辱骂类", "辱骂攻击", "脏话", "谩骂", "粗口"), Category.ABUSE),
    **dict.fromkeys(("广告", "广告类", "广告类型", "广告引流", "引流"), Category.ADS),
    **dict.fromkeys(("自定义", "自定义敏感词", "其他", "其它"), Category.CUSTOM),
}


def _label_problem(label: str) -> str:
    """What makes `label` (trimmed) unusable as a category, or "" when nothing does."""
    if not label:
        return "empty category"
    if len(label) > MAX_CATEGORY_LENGTH:
        return f"category {label!r} longer than {MAX_CATEGORY_LENGTH} characters"
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in label):
        return f"category {label!r} contains a tab, line break or invisible character"
    if label.isdecimal():
        return (
            f"category {label!r} is a number (severities 1–3 go in the column after the category)"
        )
    return ""


def category_of(value: str) -> Category:
    """The category `value` names: a built-in one by its value (any case) or a Chinese name
    (`CATEGORY_NAMES`), else the label itself, trimmed of spaces. Raises ValueError saying
    what is wrong with a label that cannot be one (empty, too long, a control or invisible
    character, a bare number)."""
    label = value.strip(" \u3000")
    named = CATEGORY_NAMES.get(label)
    if named is not None:
        return named
    problem = _label_problem(label)
    if problem:
        raise ValueError(problem)
    return Category(label)


# Suffixes a list's file name adds to its category: "…lexicon", "…type", "…class" (暴恐词库,
# 色情类型, 政治类), longest first. They name the file, not the category, so 暴恐.txt and
# 暴恐词库.txt of two lists import into one category.
_FILENAME_SUFFIXES = ("敏感词库", "敏感词", "关键词", "词库", "词表", "类型", "类")


def category_from_filename(stem: str) -> Category:
    """The category of a one-category list from its file name without the extension:
    trimmed of a suffix that names the file (`_FILENAME_SUFFIXES`: 暴恐词库 → 暴恐, 色情类型 →
    色情 → porn), then read like a category column (`category_of`). A name made of parts
    joined by `-` or `_` whose first part names a built-in category is that category
    (政治类-反动词库 → politics). Nothing left after trimming (敏感词) is `custom`. Raises
    ValueError like `category_of`."""
    label = _trim_filename(stem.strip(" \u3000"))
    if not label:
        return Category.CUSTOM
    for separator in ("-", "_"):
        first = _trim_filename(label.partition(separator)[0].strip())
        if separator in label and first in CATEGORY_NAMES:
            return CATEGORY_NAMES[first]
    return category_of(label)


def _trim_filename(stem: str) -> str:
    for suffix in _FILENAME_SUFFIXES:
        if stem.endswith(suffix):
            return stem.removesuffix(suffix).rstrip(" -_")
    return stem


class Severity(StrEnum):
    """The tier of a word: `block` warns and alerts, `review` alerts, `log` only records.

    Lists often number them: `Severity("3")` is `block`, "2" `review`, "1" `log`
    (`SEVERITY_NUMBERS`); the names are read in any case."""

    BLOCK = "block"
    REVIEW = "review"
    LOG = "log"

    @property
    def rank(self) -> int:
        return {"block": 3, "review": 2, "log": 1}[self.value]

    @classmethod
    def _missing_(cls, value: object) -> Severity | None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return None
        text = value.strip().lower()
        for member in cls:
            if member.value == text:
                return member
        return SEVERITY_NUMBERS.get(text)


SEVERITY_NUMBERS: dict[str, Severity] = {
    "1": Severity.LOG,
    "2": Severity.REVIEW,
    "3": Severity.BLOCK,
}


def severity_of(value: str | int) -> Severity:
    """The severity `value` names (block, review, log in any case, or 1–3). Raises
    ValueError listing what is allowed."""
    try:
        return Severity(str(value) if isinstance(value, int) else value)
    except ValueError:
        shown = value.strip() if isinstance(value, str) else value
        raise ValueError(
            f"unknown severity {shown!r} (allowed: block, review, log, or 1 = log, "
            "2 = review, 3 = block)"
        ) from None


class MatchMode(StrEnum):
    """How hard a word is looked for.

    `fuzzy`: every route (folding, noise between characters, repeated characters, pinyin and
    look-alike variants). `folded`: the folded word only, written without noise in between.
    `exact`: the word exactly as written (ASCII case aside).
    """

    FUZZY = "fuzzy"
    FOLDED = "folded"
    EXACT = "exact"


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    word: str
    category: Category = Category.CUSTOM
    severity: Severity = Severity.BLOCK
    mode: MatchMode = MatchMode.FUZZY
    scope: str = ""  # "" = every group; otherwise the one chat id it applies to
    added_by: str = ""
    added_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """A phrase inside which no lexicon hit counts (路口交通 ⊃ 口交)."""

    phrase: str
    scope: str = ""
    added_by: str = ""
    added_at: datetime | None = None


class LexiconFormatError(ValueError):
    """A word file line that cannot be read; the message names the source and line."""


_E = TypeVar("_E", bound=StrEnum)


def _choice(enum: type[_E], value: str, what: str, where: str) -> _E:
    try:
        return enum(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise LexiconFormatError(
            f"{where}: unknown {what} {value.strip()!r} (allowed: {allowed})"
        ) from None


def _lines(
    text: str, source: str, max_fields: int, shape: str, *, first_is_one: bool = True
) -> list[tuple[str, list[str]]]:
    """(where, fields) of each non-blank, non-comment line; fields are trimmed of spaces.
    `first_is_one`: the first field is one word or phrase (its length is checked here)."""
    rows = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.lstrip("\ufeff")
        if not line.strip() or line.strip().startswith("#"):
            continue
        where = f"{source}:{number}"
        # Tabs separate fields, so only spaces are trimmed around each field.
        parts = [part.strip(" \u3000") for part in line.rstrip("\t ").split("\t")]
        if len(parts) > max_fields:
            raise LexiconFormatError(f"{where}: expected {shape}")
        if not parts[0]:
            raise LexiconFormatError(f"{where}: empty word before the tab")
        if first_is_one and len(parts[0]) > MAX_WORD_LENGTH:
            raise LexiconFormatError(f"{where}: word longer than {MAX_WORD_LENGTH} characters")
        if len(parts) > max_fields - 1 and len(parts[-1]) > MAX_SCOPE_LENGTH:
            raise LexiconFormatError(f"{where}: scope longer than {MAX_SCOPE_LENGTH} characters")
        rows.append((where, parts + [""] * (max_fields - len(parts))))
    return rows


_COMMAS = str.maketrans({"，": ","})


def parse_lexicon(
    text: str,
    *,
    source: str = "lexicon",
    category: Category = Category.CUSTOM,
    severity: Severity = Severity.BLOCK,
    mode: MatchMode = MatchMode.FUZZY,
    split_commas: bool = False,
) -> list[LexiconEntry]:
    """Parse a word file's text. Raises LexiconFormatError naming `source:line` on bad input.

    `category`, `severity` and `mode` are those of a line that gives none (a list of one
    category gives its category here). With `split_commas`, the word field may hold several
    words separated by commas (`,` or `，`), as many published lists write them; empty ones
    (a trailing comma) are skipped."""
    shape = "word[TAB category[TAB severity[TAB mode[TAB scope]]]]"
    entries = []
    rows = _lines(text, source, 5, shape, first_is_one=not split_commas)
    for where, (field, category_text, severity_text, mode_text, scope) in rows:
        if category_text in SEVERITY_NUMBERS and not (severity_text or mode_text or scope):
            category_text, severity_text = "", category_text  # word<TAB>1–3: a severity
        try:
            line_category = category_of(category_text) if category_text else category
            line_severity = severity_of(severity_text) if severity_text else severity
        except ValueError as exc:
            raise LexiconFormatError(f"{where}: {exc}") from None
        line_mode = _choice(MatchMode, mode_text, "mode", where) if mode_text else mode
        words = [field]
        if split_commas:
            words = [word.strip(" \u3000") for word in field.translate(_COMMAS).split(",")]
        for word in words:
            if not word:
                continue
            if len(word) > MAX_WORD_LENGTH:
                raise LexiconFormatError(f"{where}: word longer than {MAX_WORD_LENGTH} characters")
            entries.append(
                LexiconEntry(
                    word=word,
                    category=line_category,
                    severity=line_severity,
                    mode=line_mode,
                    scope=scope,
                )
            )
    return entries


def parse_allow_list(text: str, *, source: str = "allow-list") -> list[AllowEntry]:
    """Parse an allow-list file's text (`phrase[TAB scope]` per line)."""
    return [
        AllowEntry(phrase=phrase, scope=scope)
        for _where, (phrase, scope) in _lines(text, source, 2, "phrase[TAB scope]")
    ]
