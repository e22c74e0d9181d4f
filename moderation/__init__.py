"""Pure moderation decisions: text in, findings and a `Decision` out.

Standard library and ahocorasick_rs only: no I/O, no framework, no clock reads.
"""

from moderation.decision import Action, Decision, decide, mask_word
from moderation.engine import MessageFacts, evaluate
from moderation.lexicon import Category, LexiconEntry, LexiconFormatError, Severity, parse_lexicon
from moderation.matcher import Finding, SensitiveWordMatcher

__all__ = [
    "Action",
    "Category",
    "Decision",
    "Finding",
    "LexiconEntry",
    "LexiconFormatError",
    "MessageFacts",
    "SensitiveWordMatcher",
    "Severity",
    "decide",
    "evaluate",
    "mask_word",
    "parse_lexicon",
]
