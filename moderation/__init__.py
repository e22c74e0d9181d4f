"""Pure moderation decisions: text in, findings and a `Decision` out.

Standard library and ahocorasick_rs only: no I/O, no framework, no clock reads.
"""

from moderation.decision import Action, Decision, decide, mask_word
from moderation.engine import MessageFacts, evaluate
from moderation.fold import fold
from moderation.lexicon import (
    AllowEntry,
    Category,
    LexiconEntry,
    LexiconFormatError,
    MatchMode,
    Severity,
    parse_allow_list,
    parse_lexicon,
)
from moderation.matcher import Confidence, Finding, Route, SensitiveWordMatcher

__all__ = [
    "Action",
    "AllowEntry",
    "Category",
    "Confidence",
    "Decision",
    "Finding",
    "LexiconEntry",
    "LexiconFormatError",
    "MatchMode",
    "MessageFacts",
    "Route",
    "SensitiveWordMatcher",
    "Severity",
    "decide",
    "evaluate",
    "fold",
    "mask_word",
    "parse_allow_list",
    "parse_lexicon",
]
