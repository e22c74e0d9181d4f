"""Pure moderation decisions: a batch of messages and their facts in, a `Decision` each out
(`judge_batch`, the one judging pipeline).

Standard library, ahocorasick_rs and numpy only (numpy folds a batch of messages as one array:
see `moderation.fold.FoldedBatch`): no I/O, no framework, no clock reads.
"""

from moderation.decision import Action, Decision, Violation, mask_word, strictest
from moderation.flood import FloodThresholds, MessageMeta, detect_flood, text_fingerprint
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
from moderation.pipeline import (
    BatchFacts,
    BatchMessage,
    GroupFacts,
    Judgement,
    MemberFacts,
    judge_alone,
    judge_batch,
)
from moderation.policy import (
    DEFAULT_LADDER,
    GroupMode,
    GroupPolicy,
    JoinScreening,
    Standing,
    Step,
    decide,
    is_offence,
    judge,
    promotion_signal,
)
from moderation.promo import PromoResult, PromoSettings, detect_promotion
from moderation.signal import Signal

__all__ = [
    "DEFAULT_LADDER",
    "Action",
    "AllowEntry",
    "BatchFacts",
    "BatchMessage",
    "Category",
    "Confidence",
    "Decision",
    "Finding",
    "FloodThresholds",
    "GroupFacts",
    "GroupMode",
    "GroupPolicy",
    "JoinScreening",
    "Judgement",
    "LexiconEntry",
    "LexiconFormatError",
    "MatchMode",
    "MemberFacts",
    "MessageMeta",
    "PromoResult",
    "PromoSettings",
    "Route",
    "SensitiveWordMatcher",
    "Severity",
    "Signal",
    "Standing",
    "Step",
    "Violation",
    "decide",
    "detect_flood",
    "detect_promotion",
    "fold",
    "is_offence",
    "judge",
    "judge_alone",
    "judge_batch",
    "mask_word",
    "parse_allow_list",
    "parse_lexicon",
    "promotion_signal",
    "strictest",
    "text_fingerprint",
]
