"""`warning_cue`: a listed word named in order to warn against it, not to do it.

Work and community groups forward anti-fraud and safety notices all the time: 【反诈提醒】刷单
就是诈骗, 严禁赌博, 谨防网络赌博, 举报色情信息. The words are there as written, so the engine
finds them, but a public warning to the colleague who forwarded the notice is exactly the false
warning an operator cannot forgive. Such a hit is kept (a spammer can write 严禁 too, and a
moderator should still see it) but made low confidence, so that it acts as `review` at most:
the moderator decides, nobody is warned in public. The finding says which cue did it.

A hit is in a warning when, in its clause (the text between two sentence breaks, the ones the
gap rule uses, or a line break):

- a prohibition or vigilance cue comes before it (严禁, 禁止, 谨防, 警惕, 远离, 拒绝, 打击,
  举报, 切勿, 不要参与 …), or
- a verdict cue comes after it (…是诈骗, …都是骗局, …属于违法), or
- the message opens with an anti-fraud header (反诈, 防骗, 警方提醒 … within its first clause
  or its 【】 title), which covers the whole notice.

A cue preceded by a negation (不是诈骗, 并非骗局, 不违法, 无陷阱) is no cue: "刷单日结，不是诈骗"
is an advertisement. Cues are matched on the original text, so a disguised cue counts for
nothing: a notice has no reason to disguise its own words.

Pure and cheap: it only runs over texts that already have a finding.
"""

from __future__ import annotations

import re

__all__ = ["AFTER_CUES", "BEFORE_CUES", "HEADER_CUES", "warning_cue"]

# Words that, before a listed word in the same clause, forbid it or warn against it.
BEFORE_CUES = (
    "严禁",
    "禁止",
    "严打",
    "杜绝",
    "谨防",
    "警惕",
    "提防",
    "防范",
    "严防",
    "当心",
    "小心",
    "远离",
    "拒绝",
    "抵制",
    "打击",
    "整治",
    "取缔",
    "举报",
    "揭露",
    "切勿",
    "切莫",
    "请勿",
    "不要参与",
    "不要相信",
    "不参与",
    "识破",
    "反诈",
    "防骗",
)
# Words that, after a listed word in the same clause, call it a crime or a fraud.
AFTER_CUES = ("诈骗", "骗局", "骗子", "违法", "犯罪", "陷阱", "举报", "报警")
# Words that, in a message's first clause or its 【】 title, make the whole message a notice.
HEADER_CUES = ("反诈", "防骗", "警方提醒", "公安提醒", "警情通报", "安全提醒", "风险提示")
# A cue right after one of these is denied, not asserted.
_NEGATIONS = ("不是", "并非", "绝非", "不算", "不属于", "非", "不", "无", "没", "零")

_CLAUSE_BREAK = re.compile(r"[，。！？；!?;…\n\r\u2028\u2029]")
_TITLE = re.compile(r"【([^】]{1,20})】")


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the clause holding text[start:end]."""
    low = start
    while low > 0 and not _CLAUSE_BREAK.match(text, low - 1):
        low -= 1
    high = end
    while high < len(text) and not _CLAUSE_BREAK.match(text, high):
        high += 1
    return low, high


def _asserted(text: str, at: int) -> bool:
    """Whether the cue starting at `at` is not negated by the words just before it."""
    return not any(text.endswith(negation, 0, at) for negation in _NEGATIONS)


def _first_cue(text: str, low: int, high: int, cues: tuple[str, ...]) -> str:
    """The first cue of `cues` asserted in text[low:high] ("" when none)."""
    best = ""
    best_at = high
    for cue in cues:
        at = text.find(cue, low, high)
        while at != -1 and not _asserted(text, at):
            at = text.find(cue, at + 1, high)
        if at != -1 and at < best_at:
            best, best_at = cue, at
    return best


def warning_cue(text: str, start: int, end: int) -> str:
    """The cue that makes the hit text[start:end] part of a warning against it ("" when
    none): a prohibition before it or a verdict after it in its clause, or an anti-fraud
    header of the whole message."""
    low, high = _clause(text, start, end)
    cue = _first_cue(text, low, start, BEFORE_CUES) or _first_cue(text, end, high, AFTER_CUES)
    if cue:
        return cue
    header_end = _clause(text, 0, 0)[1]
    title = _TITLE.match(text.lstrip())
    if title is not None:
        header_end = max(header_end, len(text) - len(text.lstrip()) + title.end())
    return _first_cue(text, 0, min(header_end, start), HEADER_CUES)
