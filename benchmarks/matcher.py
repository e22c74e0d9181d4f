"""Sensitive-word engine throughput: `SensitiveWordMatcher` against a bare Aho-Corasick automaton.

What it measures, in one run, on the same lexicon and the same messages:

1. `raw`: `ahocorasick_rs.AhoCorasick([e.word for e in entries])` (default implementation): its
   build time, and every message scanned as it is (not folded) with
   `find_matches_as_indexes(text, overlapping=True)`. This is the floor: one automaton pass.
2. `engine`: `moderation.matcher.SensitiveWordMatcher(entries, allow)`: its build time (folding
   the words, generating the pinyin and look-alike variants, building the automaton) and every
   message scanned with `.find(text)` (folding, hit rules, variants, allow list, span recovery).

For each: build seconds, scan seconds, messages/s and MB/s (MB = 10^6 bytes of UTF-8 text),
matches or findings, and the share of messages with at least one. Then the engine/raw
messages/s ratio and the engine's build time, each against its target with PASS/FAIL; the
time one more engine scan spends reading word boundaries around Chinese hits (segmentation,
`moderation.segment`), timed call by call, apart from the rest; the first engine batch of the
process, which builds the process-wide set of dictionary words the sound pass reads, and
the bit set of their hashes that rules most keys out before the set is asked (not part
of any matcher's build); the memory of each build,
measured in a fresh child process per build so that one build does not reuse memory freed by
another (RSS growth from /proc/self/status, retained and peak; tracemalloc
for the engine's Python objects, which does not see the automata's Rust heap); `len(matcher)`
and `matcher.pattern_count`; how many planted words the engine found, by disguise; the engine's
findings by route.

Every timing is the best of `--repeats` runs with `time.perf_counter` (the first run also warms
any cache). The data is generated from `--seed`, so two runs with the same flags scan the same
text:

- lexicon (`--words`, default 50,000): about 60 realistic seed words (赌博, 代开发票, 加微信, ...)
  with their pinyin and traditional spellings, a few mixed words (加v群, q群, ...), 10% ASCII
  words of 3-8 lowercase letters, and the rest words of 2-6 characters drawn from a pool of
  common Chinese characters (a frequency-ordered head written out below, then the 3,755
  characters of GB2312 level 1, the standard's "commonly used" tier); categories and
  severities spread over the `moderation.lexicon` enums, mode `fuzzy` (the default and the
  most work). Allow list: 500 phrases, each a lexicon word inside a longer ordinary phrase.
- messages (`--messages`, default 100,000): chat-like text, 40% short (2-15 characters), 45%
  medium (16-80), 15% long (81-300): everyday work-chat phrases, runs of frequent characters,
  ASCII words, numbers, emoji (ZWJ sequences and skin tones too), URLs, @-mentions, Chinese
  punctuation, some full-width Latin and traditional characters. 7% contain a planted lexicon
  word: plain, or disguised with a space, a dash or a zero-width space between its characters,
  in pinyin, in traditional characters, or in full-width Latin letters; 0.5% contain an
  allow-list phrase. Accidental hits (a random lexicon word inside a run of characters) add a
  little on top.

Run it with `make bench-matcher` (`make bench` runs it after the callback benchmark), or directly:

    .venv/bin/python benchmarks/matcher.py [--words N] [--messages N] [--seed S] [--repeats R]
        [--profile]

`--profile` also runs one engine build and one engine scan under cProfile and prints the top
functions by own time (these runs are not timed). Exit status: 0 when both targets pass, 1 when
one fails, 2 when `moderation.matcher` does not have the engine API (after the raw figures).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import inspect
import io
import json
import os
import platform
import pstats
import random
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import ahocorasick_rs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/matcher.py` puts benchmarks/ first
    sys.path.insert(0, str(ROOT))

from moderation import matcher as matcher_module  # noqa: E402
from moderation import segment as segment_module  # noqa: E402
from moderation.lexicon import AllowEntry, Category, LexiconEntry, Severity  # noqa: E402
from moderation.matcher import Finding, SensitiveWordMatcher  # noqa: E402
from moderation.segment import Segmenter  # noqa: E402

RATIO_TARGET = 0.30  # engine messages/s over raw messages/s, at least
BUILD_TARGET = 1.0  # seconds to build the engine for TARGET_WORDS words, less than
TARGET_WORDS = 50_000
ALLOW_PHRASES = 500
PLANT_SHARE = 0.07  # messages with a planted lexicon word
ALLOW_SHARE = 0.005  # messages with an allow-list phrase
PROBE_TIMEOUT = 600.0  # seconds for one memory-probe child process

# -- character pool --------------------------------------------------------------------------

# The most frequent Chinese characters, roughly in frequency order (duplicates are dropped).
# Message filler draws from this head with Zipf-like weights; lexicon words draw from the whole
# pool (this head, then GB2312 level 1).
FREQUENT_HEAD = (
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之"
    "年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理"
    "心她本前开但因只从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高"
    "间由问很最重并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老"
    "给世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女"
    "变四神总何电数安少报才结反受目太量再感建务做接必场件计管期市直德资命山金指克许统区保至队形"
    "社便空决治展马科司五基眼书非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求据程"
    "北边死张该交规万取拉格望觉术领共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每"
    "济车亲极林服快办议往元英士证近失转夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连调深商算质"
    "团集百需价花党华城石级整府离况亚请技际约示复病息究线似官火断精满支视消越器容照须九增研写称"
    "企八功吗包片史委乎查轻易早曾除农找装广显吧阿李标谈吃图念六引历首医局突专费号尽另周较注语仅"
    "考落青随选列武红响虽推势参希古众构房半节土投某案黑维革划敢客村谁试哪急球喜超脸钱星朋友孩站"
    "班周末晚饭菜茶咖啡午早休假期加油辛苦谢谢收到好的明白稍等马上回复发给群里公告会议室订票酒店"
    "快递邮件文件表格报销签字项目进度需求排期上线测试版本数据同步预算方案客户老板同事领导部门培训"
)

# Realistic sensitive words: (word, category, pinyin, traditional spelling or "" when the same).
SEED_WORDS: tuple[tuple[str, Category, str, str], ...] = (
    ("赌博", Category.GAMBLING, "dubo", "賭博"),
    ("博彩", Category.GAMBLING, "bocai", ""),
    ("网赌", Category.GAMBLING, "wangdu", "網賭"),
    ("赌场", Category.GAMBLING, "duchang", "賭場"),
    ("百家乐", Category.GAMBLING, "baijiale", "百家樂"),
    ("六合彩", Category.GAMBLING, "liuhecai", ""),
    ("老虎机", Category.GAMBLING, "laohuji", "老虎機"),
    ("赌球", Category.GAMBLING, "duqiu", "賭球"),
    ("时时彩", Category.GAMBLING, "shishicai", "時時彩"),
    ("私彩", Category.GAMBLING, "sicai", ""),
    ("代开发票", Category.FRAUD, "daikaifapiao", "代開發票"),
    ("刷单", Category.FRAUD, "shuadan", "刷單"),
    ("兼职刷单", Category.FRAUD, "jianzhishuadan", "兼職刷單"),
    ("套现", Category.FRAUD, "taoxian", "套現"),
    ("信用卡套现", Category.FRAUD, "xinyongkataoxian", "信用卡套現"),
    ("洗钱", Category.FRAUD, "xiqian", "洗錢"),
    ("办证", Category.FRAUD, "banzheng", "辦證"),
    ("假证", Category.FRAUD, "jiazheng", "假證"),
    ("传销", Category.FRAUD, "chuanxiao", "傳銷"),
    ("高利贷", Category.FRAUD, "gaolidai", "高利貸"),
    ("网贷", Category.FRAUD, "wangdai", "網貸"),
    ("裸贷", Category.FRAUD, "luodai", "裸貸"),
    ("杀猪盘", Category.FRAUD, "shazhupan", "殺豬盤"),
    ("色情", Category.PORN, "seqing", ""),
    ("裸聊", Category.PORN, "luoliao", ""),
    ("约炮", Category.PORN, "yuepao", "約炮"),
    ("援交", Category.PORN, "yuanjiao", ""),
    ("黄片", Category.PORN, "huangpian", "黃片"),
    ("成人视频", Category.PORN, "chengrenshipin", "成人視頻"),
    ("一夜情", Category.PORN, "yiyeqing", ""),
    ("傻逼", Category.ABUSE, "shabi", ""),
    ("滚蛋", Category.ABUSE, "gundan", "滾蛋"),
    ("去死", Category.ABUSE, "qusi", ""),
    ("废物", Category.ABUSE, "feiwu", "廢物"),
    ("脑残", Category.ABUSE, "naocan", "腦殘"),
    ("王八蛋", Category.ABUSE, "wangbadan", ""),
    ("加微信", Category.ADS, "jiaweixin", ""),
    ("加群", Category.ADS, "jiaqun", ""),
    ("免费领取", Category.ADS, "mianfeilingqu", "免費領取"),
    ("日赚千元", Category.ADS, "rizhuanqianyuan", "日賺千元"),
    ("躺赚", Category.ADS, "tangzhuan", "躺賺"),
    ("代购", Category.ADS, "daigou", "代購"),
    ("低价出售", Category.ADS, "dijiachushou", "低價出售"),
    ("微商代理", Category.ADS, "weishangdaili", ""),
    ("枪支", Category.CUSTOM, "qiangzhi", "槍支"),
    ("毒品", Category.CUSTOM, "dupin", ""),
    ("冰毒", Category.CUSTOM, "bingdu", ""),
    ("大麻", Category.CUSTOM, "dama", ""),
    ("代孕", Category.CUSTOM, "daiyun", ""),
    ("翻墙", Category.CUSTOM, "fanqiang", "翻牆"),
    ("迷药", Category.CUSTOM, "miyao", "迷藥"),
    ("窃听器", Category.CUSTOM, "qietingqi", "竊聽器"),
    ("游行", Category.POLITICS, "youxing", "遊行"),
    ("静坐", Category.POLITICS, "jingzuo", "靜坐"),
    ("示威", Category.POLITICS, "shiwei", ""),
    ("罢工", Category.POLITICS, "bagong", "罷工"),
)
MIXED_WORDS = ("加v群", "q群", "加vx", "v信", "加q", "wx号", "vx号", "扣扣群", "qq号")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Everyday work-chat filler; random lexicon words never fall inside these.
PHRASES = _words(
    "收到 好的 谢谢 辛苦了 明天上午开会 今天下午三点的例会改到四点 麻烦大家看一下 "
    "文件已经发群里了 请各位核对一下报表 我这边没问题 稍等一下 马上到 已经处理好了 "
    "周五之前提交 客户那边还没回复 这个需求下周再排期 大家注意查收邮件 会议室订好了 "
    "中午一起吃饭吗 今天加班吗 我请假一天 有空吗 在吗 哈哈哈 没关系 不好意思 我看看 等我一下 "
    "可以的 明白了 新版本已经上线 测试环境又挂了 报销单记得签字 下周一放假 端午节快乐 "
    "生日快乐 恭喜恭喜 周末去爬山 天气太热了 路上堵车 地铁晚点了 快递到了 帮我带杯咖啡 "
    "项目进度怎么样 需求文档更新了 预算还差一点 这个方案不错 老板说再改改 数据已经同步 "
    "请大家填一下表格 下班前发给我 群公告请看一下 培训资料在共享盘 早上好 晚安 加油 辛苦大家 "
    "收到请回复 第二季度的报表已经上传 前台记得准备访客证 团建地点定在公司附近的公园 "
    "中午十二点集合 这个问题我来跟进 已经提交审批 合同扫描件发我一份 明天记得带电脑 "
    "系统维护到晚上十点 谁有充电器 会议纪要已发邮件 这周的周报别忘了 请假条已经批了 "
    "楼下外卖到了"
)
TRADITIONAL_PHRASES = ("我們明天見", "謝謝大家", "開會時間改了", "這個問題們再討論", "請準時參加")
ASCII_WORDS = _words(
    "ok pdf ppt excel app wifi bug kpi ddl iphone ios android api demo online hr ceo ui sql "
    "github zoom hello thanks lol emm okr mac windows vpn todo review deadline"
)
URL_HOSTS = ("example.com", "t.cn", "www.baidu.com", "work.weixin.qq.com", "docs.qq.com")
FILLER_ASCII = frozenset(
    {*ASCII_WORDS, "http", "https", "www", "com", "cn", "qq", "baidu", "work", "weixin", "docs"}
)
EMOJI = (
    "😀",
    "👍",
    "🙏",
    "🎉",
    "😂",
    "🤔",
    "❤️",
    "👌",
    "💪",
    "🔥",
    "👨\u200d👩\u200d👧\u200d👦",
    "👩\u200d💻",
    "🏳️\u200d🌈",
    "🙋\u200d♂️",
    "👍🏻",
    "🙏🏼",
)
PUNCTUATION = ("，", "。", "！", "？", "、", "…", "！！", "？？", "~", "……", "：", "；")
MENTIONS = ("@张三 ", "@李四 ", "@王经理 ", "@所有人 ", "@小赵 ", "@Amy ")
FULLWIDTH_FILLER = ("ＯＫ", "ｏｋ", "ＰＰＴ", "ＡＰＰ", "ＶＩＰ", "ｗｅｉｘｉｎ")
DISGUISES = ("plain", "space", "dash", "zwsp", "pinyin", "traditional", "fullwidth")
DISGUISE_WEIGHTS = (55, 8, 8, 8, 8, 6, 7)
SEPARATORS = {"space": " ", "dash": "-", "zwsp": "\u200b"}


def _dedupe(chars: str) -> str:
    return "".join(dict.fromkeys(char for char in chars if "\u4e00" <= char <= "\u9fff"))


def gb2312_level1() -> str:
    """The 3,755 characters of GB2312 level 1 (rows 16-55), the standard's common tier."""
    chars = []
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            if row == 0xD7 and cell > 0xF9:  # row 55 ends at cell 89
                break
            chars.append(bytes((row, cell)).decode("gb2312"))
    return "".join(chars)


HEAD = _dedupe(FREQUENT_HEAD)
POOL = _dedupe(HEAD + gb2312_level1())


def fullwidth(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


# -- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lexicon:
    entries: list[LexiconEntry]
    allow: list[AllowEntry]
    cjk: list[str]  # the CJK-only words
    ascii: list[str]  # the ASCII words
    pinyin: dict[str, str]  # seed word -> pinyin
    traditional: dict[str, str]  # seed word -> traditional spelling (where it differs)


def _substrings(texts: Sequence[str], longest: int) -> set[str]:
    return {
        text[i:j]
        for text in texts
        for i in range(len(text))
        for j in range(i + 2, min(len(text), i + longest) + 1)
    }


def build_lexicon(words: int, seed: int) -> Lexicon:
    """`words` distinct entries and the allow list, the same for the same seed."""
    rng = random.Random(seed * 1_000 + 1)
    severities = (Severity.BLOCK, Severity.REVIEW, Severity.LOG)
    categories = list(Category)
    seen: set[str] = set()
    entries: list[LexiconEntry] = []
    cjk: list[str] = []
    ascii_words: list[str] = []

    def add(word: str, category: Category) -> None:
        seen.add(word)
        severity = rng.choices(severities, weights=(40, 35, 25))[0]
        entries.append(LexiconEntry(word=word, category=category, severity=severity))

    for word, category, _pinyin, _traditional in SEED_WORDS:
        add(word, category)
        cjk.append(word)
    for word in MIXED_WORDS:
        add(word, Category.ADS)
    avoid = _substrings([*PHRASES, *TRADITIONAL_PHRASES], 6) | FILLER_ASCII
    ascii_target = words // 10
    while len(ascii_words) < ascii_target and len(entries) < words:
        word = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 8)))
        if word not in seen and word not in avoid:
            add(word, rng.choice(categories))
            ascii_words.append(word)
    while len(entries) < words:
        length = rng.choices((2, 3, 4, 5, 6), weights=(25, 30, 30, 10, 5))[0]
        word = "".join(rng.choices(POOL, k=length))
        if word not in seen and word not in avoid:
            add(word, rng.choice(categories))
            cjk.append(word)
    allow = []
    for word in rng.sample(cjk, min(ALLOW_PHRASES, len(cjk))):
        before = "".join(rng.choices(HEAD, k=rng.randint(1, 3)))
        after = "".join(rng.choices(HEAD, k=rng.randint(0, 3)))
        allow.append(AllowEntry(phrase=f"{before}{word}{after}"))
    return Lexicon(
        entries=entries,
        allow=allow,
        cjk=cjk,
        ascii=ascii_words,
        pinyin={word: pinyin for word, _c, pinyin, _t in SEED_WORDS},
        traditional={word: trad for word, _c, _p, trad in SEED_WORDS if trad},
    )


@dataclass(frozen=True)
class Message:
    text: str
    planted: str = ""  # the lexicon word planted in it ("" when none)
    disguise: str = ""  # how it was written (one of DISGUISES)
    allowed: str = ""  # the allow-list phrase in it ("" when none)


class MessageMaker:
    def __init__(self, lexicon: Lexicon, seed: int) -> None:
        self.rng = random.Random(seed * 1_000 + 2)
        self.lexicon = lexicon
        self.seeds = [word for word, _c, _p, _t in SEED_WORDS]
        self.entry_words = [entry.word for entry in lexicon.entries]
        self.head_weights = list(_cumulative(1.0 / (rank + 10) for rank in range(len(HEAD))))

    def filler(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.45:
            return rng.choice(PHRASES)
        if kind < 0.60:
            return "".join(rng.choices(HEAD, cum_weights=self.head_weights, k=rng.randint(2, 6)))
        if kind < 0.75:
            return rng.choice(PUNCTUATION)
        if kind < 0.81:
            return f" {rng.choice(ASCII_WORDS)} "
        if kind < 0.87:
            return self.number()
        if kind < 0.95:
            return "".join(rng.choices(EMOJI, k=rng.randint(1, 3)))
        if kind < 0.97:
            return rng.choice(TRADITIONAL_PHRASES)
        if kind < 0.99:
            return rng.choice(FULLWIDTH_FILLER)
        return f" https://{rng.choice(URL_HOSTS)}/s/{rng.randint(10_000, 99_999_999):x} "

    def number(self) -> str:
        rng = self.rng
        return rng.choice(
            (
                f"{rng.randint(1, 12)}点",
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
                f"{rng.randint(2020, 2026)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
                f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}",
                f"{rng.randint(1, 9_999)}元",
                f"{rng.randint(1, 100)}%",
                str(rng.randint(1, 1_000)),
            )
        )

    def plant(self) -> tuple[str, str, str]:
        """(text to insert, lexicon word, disguise)."""
        rng = self.rng
        lexicon = self.lexicon
        disguise = rng.choices(DISGUISES, weights=DISGUISE_WEIGHTS)[0]
        if disguise == "plain":
            # Real hits lean towards the well-known words.
            word = rng.choice(self.seeds if rng.random() < 0.3 else self.entry_words)
            if word.isascii():
                return f" {word} ", word, disguise
            return word, word, disguise
        if disguise in SEPARATORS:
            word = rng.choice(self.seeds if rng.random() < 0.3 else lexicon.cjk)
            return SEPARATORS[disguise].join(word), word, disguise
        if disguise == "pinyin":
            word = rng.choice(self.seeds)
            return f" {lexicon.pinyin[word]} ", word, disguise
        if disguise == "traditional":
            word = rng.choice(list(lexicon.traditional))
            return lexicon.traditional[word], word, disguise
        if rng.random() < 0.2 or not lexicon.ascii:
            return f"加{fullwidth('weixin')}", "加微信", disguise  # a variant of 加微信, folded
        word = rng.choice(lexicon.ascii)
        return f" {fullwidth(word)} ", word, disguise

    def message(self) -> Message:
        rng = self.rng
        size = rng.random()
        if size < 0.40:
            target = rng.randint(2, 15)
        elif size < 0.85:
            target = rng.randint(16, 80)
        else:
            target = rng.randint(81, 300)
        parts: list[str] = []
        length = 0
        while length < target:
            part = self.filler()
            if parts and length + len(part) > target:
                break
            parts.append(part)
            length += len(part)
        planted = disguise = allowed = ""
        roll = rng.random()
        if roll < PLANT_SHARE:
            text, planted, disguise = self.plant()
            parts.insert(rng.randint(0, len(parts)), text)
        elif roll < PLANT_SHARE + ALLOW_SHARE and self.lexicon.allow:
            allowed = rng.choice(self.lexicon.allow).phrase
            parts.insert(rng.randint(0, len(parts)), allowed)
        if rng.random() < 0.10:
            parts.insert(0, rng.choice(MENTIONS))
        return Message("".join(parts).strip() or "好的", planted, disguise, allowed)


def _cumulative(weights: Iterable[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def build_messages(lexicon: Lexicon, count: int, seed: int) -> list[Message]:
    maker = MessageMaker(lexicon, seed)
    return [maker.message() for _ in range(count)]


# -- measuring -------------------------------------------------------------------------------

T = TypeVar("T")


def timed(repeats: int, run: Callable[[], object]) -> float:
    """The fastest of `repeats` runs in seconds. `run` keeps nothing: as in the service, each
    batch's results go as soon as they are used, so the garbage collector sees what it would
    see there, not 100,000 results piling up."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def best_of(repeats: int, run: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `repeats` runs in seconds, and what the last run returned."""
    best = float("inf")
    result: T | None = None
    for _ in range(repeats):
        result = None  # let the previous run's result go before the next run
        gc.collect()
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def engine_api_problem() -> str:
    """What the engine API lacks ("" when it has everything this benchmark uses)."""
    missing = []
    try:
        parameters = set(inspect.signature(SensitiveWordMatcher).parameters)
    except (TypeError, ValueError):
        parameters = set()
    if "allow" not in parameters:
        missing.append("SensitiveWordMatcher(entries, allow)")
    finding_fields = {field.name for field in fields(Finding)}
    for name in ("route", "routes", "pattern", "confidence", "evidence"):
        if name not in finding_fields:
            missing.append(f"Finding.{name}")
    if not missing:
        return ""
    return (
        f"moderation.matcher ({matcher_module.__file__}) does not have the engine API yet: "
        f"missing {', '.join(missing)}"
    )


def proc_status_kib(field: str) -> int | None:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM), or None where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def progress(line: str) -> None:
    sys.stdout.flush()  # keep the report and the progress lines in order on a terminal
    print(line, file=sys.stderr, flush=True)


def memory_probe(kind: str, words: int, seed: int) -> dict[str, int | None]:
    """Build one thing in this (fresh) process and say how much memory that took, in bytes."""
    lexicon = build_lexicon(words, seed)
    raw_words = [entry.word for entry in lexicon.entries]
    gc.collect()
    if kind == "engine-tracemalloc":
        tracemalloc.start()
        engine = SensitiveWordMatcher(lexicon.entries, lexicon.allow)
        current, highest = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"retained": current, "peak": highest, "patterns": engine.pattern_count}
    builders: dict[str, Callable[[], object]] = {
        "raw-rss": lambda: ahocorasick_rs.AhoCorasick(raw_words),
        "engine-rss": lambda: SensitiveWordMatcher(lexicon.entries, lexicon.allow),
    }
    if kind not in builders:
        raise ValueError(f"unknown memory probe {kind!r}")
    peak_known = reset_peak_rss()
    before = proc_status_kib("VmRSS")
    built = builders[kind]()  # kept alive until RSS has been read
    after = proc_status_kib("VmRSS")
    high = proc_status_kib("VmHWM")
    if before is None or after is None:
        return {"retained": None, "peak": None}
    peak = 1024 * (high - before) if peak_known and high is not None else None
    del built
    return {"retained": 1024 * (after - before), "peak": peak}


def run_probe(kind: str, args: argparse.Namespace) -> tuple[dict[str, int | None], str]:
    """Run `memory_probe(kind)` in a child process: (figures, "" or why there are none)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-probe",
        kind,
        "--words",
        str(args.words),
        "--seed",
        str(args.seed),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {PROBE_TIMEOUT:.0f} s"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {}, f"child exited with status {done.returncode}: {tail}"
    try:
        figures: dict[str, int | None] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}, f"unreadable child output: {done.stdout[-200:]!r}"
    return figures, ""


@contextlib.contextmanager
def segmenter_timed() -> Iterator[list[float]]:
    """The time spent reading word boundaries (`Segmenter.crossing`, `may_cross`, `holding`,
    and `segment.pairs_apart`, the same dictionary tests for a whole batch of the sound
    pass's two-character stretches at once) while the block runs: yields [seconds inside
    them, seconds of the whole block, calls], filled in when the block ends. The segmentation
    cost, measured apart from the rest of the scan (each call timed with `time.perf_counter`,
    which adds a little to both)."""
    saved = {name: getattr(Segmenter, name) for name in ("crossing", "may_cross", "holding")}
    namespace = vars(matcher_module)  # where the matcher looks `pairs_apart` up
    saved_apart = namespace["pairs_apart"]
    figures = [0.0, 0.0, 0.0]

    def timing(method: Callable[..., str]) -> Callable[..., str]:
        def timed_method(*args: Any) -> str:
            started = time.perf_counter()
            try:
                return method(*args)
            finally:
                figures[0] += time.perf_counter() - started
                figures[2] += 1

        return timed_method

    started = time.perf_counter()
    try:
        for name, method in saved.items():
            setattr(Segmenter, name, timing(method))
        namespace["pairs_apart"] = timing(saved_apart)
        yield figures
    finally:
        figures[1] = time.perf_counter() - started
        for name, method in saved.items():
            setattr(Segmenter, name, method)
        namespace["pairs_apart"] = saved_apart


def megabytes(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:.1f} MB"


def profile(title: str, run: Callable[[], object], top: int = 25) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(pstats.SortKey.TIME).print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    total = next((line.strip() for line in lines if "function calls" in line), "")
    print(f"\ncProfile, {title} ({total}); top {top} by own time:")
    for line in lines[start:]:
        if line.strip():
            print(line.replace(str(ROOT) + os.sep, ""))


# -- report ----------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    build: float
    scan: float
    hits: int  # matches (raw) or findings (engine)
    messages_hit: int


def print_table(rows: list[Row], messages: int, size: int) -> None:
    header = (
        f"{'target':<7} {'build s':>8} {'scan s':>8} {'messages/s':>11} {'MB/s':>7} "
        f"{'matches':>8} {'messages with one':>18}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        share = row.messages_hit / messages if messages else 0.0
        print(
            f"{row.name:<7} {row.build:>8.3f} {row.scan:>8.3f} {messages / row.scan:>11,.0f} "
            f"{size / row.scan / 1e6:>7.2f} {row.hits:>8,} "
            f"{row.messages_hit:>9,} ({share:>5.1%})"
        )


def machine_context() -> str:
    return (
        f"machine: {os.cpu_count()} CPU(s), {platform.platform()}, Python "
        f"{platform.python_version()}; ahocorasick-rs {metadata.version('ahocorasick-rs')}"
    )


def describe_data(lexicon: Lexicon, messages: list[Message], size: int) -> None:
    lengths = Counter(len(word) for word in lexicon.cjk)
    spread = ", ".join(f"{n}: {lengths[n]:,}" for n in sorted(lengths))
    severities = Counter(entry.severity.value for entry in lexicon.entries)
    print(
        f"lexicon: {len(lexicon.entries):,} entries ({len(lexicon.cjk):,} CJK by length "
        f"{spread}; {len(lexicon.ascii):,} ASCII; {len(MIXED_WORDS)} mixed; "
        f"{len(SEED_WORDS)} seed words); severities "
        + ", ".join(f"{name} {count:,}" for name, count in sorted(severities.items()))
        + f"; {len(Category)} categories; character pool {len(POOL):,} "
        f"(head {len(HEAD)}); allow list {len(lexicon.allow)} phrases"
    )
    chars = [len(message.text) for message in messages]
    planted = Counter(message.disguise for message in messages if message.planted)
    allowed = sum(1 for message in messages if message.allowed)
    print(
        f"messages: {len(messages):,}, {sum(chars):,} characters, {size / 1e6:.2f} MB UTF-8; "
        f"length avg {sum(chars) / len(chars):.0f}, max {max(chars)}; "
        f"<=15: {sum(1 for n in chars if n <= 15) / len(chars):.0%}, "
        f">80: {sum(1 for n in chars if n > 80) / len(chars):.0%}"
    )
    print(
        f"planted: {sum(planted.values()):,} messages ("
        + ", ".join(f"{name} {planted[name]:,}" for name in DISGUISES)
        + f"); with an allow-list phrase: {allowed:,}"
    )


def report_engine_quality(messages: list[Message], results: list[list[Finding]]) -> None:
    found: Counter[str] = Counter()
    planted: Counter[str] = Counter()
    for message, findings in zip(messages, results, strict=True):
        if message.planted:
            planted[message.disguise] += 1
            if any(finding.word == message.planted for finding in findings):
                found[message.disguise] += 1
    print(
        "planted words the engine found: "
        + ", ".join(
            f"{name} {found[name]:,}/{planted[name]:,}" for name in DISGUISES if planted[name]
        )
    )
    with_allowed = inside = 0
    for message, findings in zip(messages, results, strict=True):
        if message.allowed:
            with_allowed += 1
            start = message.text.find(message.allowed)
            end = start + len(message.allowed)
            inside += sum(1 for f in findings if start <= f.start and f.end <= end)
    print(
        f"messages with an allow-list phrase: {with_allowed:,}; findings inside the phrase: "
        f"{inside:,} (expected 0)"
    )
    unplanted = Counter(
        finding.pattern
        for message, findings in zip(messages, results, strict=True)
        if not message.planted and not message.allowed
        for finding in findings
    )
    quiet = sum(
        1
        for message, findings in zip(messages, results, strict=True)
        if findings and not message.planted and not message.allowed
    )
    print(
        f"messages with nothing planted but with findings: {quiet:,} ({quiet / len(messages):.1%});"
        " their most frequent patterns: "
        + ", ".join(f"{pattern!r} {n:,}" for pattern, n in unplanted.most_common(6))
    )
    routes = Counter(str(finding.route) for findings in results for finding in findings)
    print("findings by route: " + ", ".join(f"{r} {n:,}" for r, n in routes.most_common()))
    severities = Counter(str(finding.severity) for findings in results for finding in findings)
    print("findings by severity: " + ", ".join(f"{s} {n:,}" for s, n in severities.most_common()))


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--words", type=int, default=TARGET_WORDS, help="lexicon entries")
    parser.add_argument("--messages", type=int, default=100_000, help="messages to scan")
    parser.add_argument("--seed", type=int, default=20_240_601, help="seed of the generated data")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best one counts")
    parser.add_argument(
        "--batch",
        type=int,
        default=50,
        help="messages per find_many call (the service's inbox batch is 50)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one engine build and scan"
    )
    parser.add_argument("--memory-probe", default="", help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.words < 100 or args.messages < 1 or args.repeats < 1:
        parser.error("--words must be at least 100, --messages and --repeats at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, args.words, args.seed)))
        return 0
    print(machine_context())
    print(
        f"parameters: --words {args.words} --messages {args.messages} --seed {args.seed} "
        f"--repeats {args.repeats}; timings are the best of {args.repeats} run(s)"
    )
    started = time.perf_counter()
    lexicon = build_lexicon(args.words, args.seed)
    messages = build_messages(lexicon, args.messages, args.seed)
    texts = [message.text for message in messages]
    size = sum(len(text.encode("utf-8")) for text in texts)
    describe_data(lexicon, messages, size)
    progress(f"data generated in {time.perf_counter() - started:.1f} s")

    # 1. The bare automaton.
    progress("raw: building and scanning ...")
    raw_build, automaton = best_of(
        args.repeats, lambda: ahocorasick_rs.AhoCorasick([e.word for e in lexicon.entries])
    )
    find_raw = automaton.find_matches_as_indexes

    def scan_raw() -> None:
        for text in texts:
            find_raw(text, overlapping=True)

    raw_scan = timed(args.repeats, scan_raw)
    raw_results = [find_raw(text, overlapping=True) for text in texts]
    rows = [
        Row(
            "raw",
            raw_build,
            raw_scan,
            sum(len(matches) for matches in raw_results),
            sum(1 for matches in raw_results if matches),
        )
    ]
    del raw_results

    problem = engine_api_problem()
    if problem:
        print()
        print_table(rows, len(texts), size)
        print(f"\n!!! {problem}")
        print("!!! only the raw figures were measured; the engine part needs the new API")
        return 2

    # 2. The full engine.
    progress("engine: building and scanning ...")
    engine_build, matcher = best_of(
        args.repeats, lambda: SensitiveWordMatcher(lexicon.entries, lexicon.allow)
    )
    find, find_many = matcher.find, matcher.find_many
    # Tables built once per process, at the first scan rather than with each matcher (the
    # sound pass's set of dictionary words and its bit set, `moderation.segment`): the first
    # batch pays them.
    started = time.perf_counter()
    find_many(texts[: args.batch])
    first_batch = time.perf_counter() - started
    segment_module._word_keys.cache_clear()
    segment_module._word_key_bits.cache_clear()
    started = time.perf_counter()
    segment_module._word_key_bits()  # builds `_word_keys` too
    word_keys_cold = time.perf_counter() - started

    def scan_engine() -> None:
        for first in range(0, len(texts), args.batch):
            find_many(texts[first : first + args.batch])

    def scan_engine_one_by_one() -> None:
        for text in texts:
            find(text)

    engine_scan = timed(args.repeats, scan_engine)
    single_scan = timed(args.repeats, scan_engine_one_by_one)
    with segmenter_timed() as in_segmenter:
        scan_engine()
    engine_results = find_many(texts)
    rows.append(
        Row(
            "engine",
            engine_build,
            engine_scan,
            sum(len(findings) for findings in engine_results),
            sum(1 for findings in engine_results if findings),
        )
    )
    rows.append(Row("1 by 1", engine_build, single_scan, rows[-1].hits, rows[-1].messages_hit))

    # 3. Memory, one fresh child process per build.
    progress("memory: probing in child processes ...")
    probes = {
        kind: run_probe(kind, args) for kind in ("raw-rss", "engine-rss", "engine-tracemalloc")
    }

    print()
    print_table(rows, len(texts), size)
    print(
        f"(raw: automaton matches, overlapping; engine: findings, `find_many` over batches of "
        f"{args.batch} messages; 1 by 1: the same findings, one `find` call per message)"
    )
    print()
    ratio = raw_scan / engine_scan  # = engine messages/s over raw messages/s
    ratio_ok = ratio >= RATIO_TARGET
    build_ok = engine_build < BUILD_TARGET
    print(
        f"engine/raw messages/s: {ratio:.3f} (target >= {RATIO_TARGET:.2f}) "
        f"{'PASS' if ratio_ok else 'FAIL'}"
    )
    segmentation, timed_scan = in_segmenter[0], in_segmenter[1]
    print(
        f"segmentation (word boundaries around Chinese hits, `moderation.segment`): "
        f"{segmentation:.3f} s of a {timed_scan:.3f} s scan ({segmentation / timed_scan:.0%}), "
        f"in {int(in_segmenter[2]):,} calls; the scan without that time would give a ratio "
        f"of {raw_scan / max(1e-9, engine_scan - segmentation * engine_scan / timed_scan):.3f}"
    )
    print(
        f"first engine batch of {args.batch} messages in the process: {first_batch:.3f} s; it "
        f"builds the process-wide set of dictionary words of the sound pass and its bit set "
        f"({word_keys_cold:.3f}"
        " s alone, built again cold), once per process for every matcher: not in the build "
        "time below"
    )
    note = "" if args.words == TARGET_WORDS else f"; the target is for {TARGET_WORDS:,} words"
    print(
        f"engine build, {len(lexicon.entries):,} words: {engine_build:.3f} s "
        f"(target < {BUILD_TARGET:.1f} s{note}) {'PASS' if build_ok else 'FAIL'}"
    )
    print(
        f"engine: len(matcher) = {len(matcher):,}, pattern_count = {matcher.pattern_count:,} "
        f"({matcher.pattern_count / max(1, len(matcher)):.2f} patterns per entry); "
        f"raw automaton: {len(lexicon.entries):,} patterns"
    )
    for kind, label in (
        ("raw-rss", "raw automaton, RSS growth"),
        ("engine-rss", "engine, RSS growth"),
        ("engine-tracemalloc", "engine, tracemalloc (Python objects only)"),
    ):
        figures, why = probes[kind]
        if why:
            print(f"memory, {label}: n/a ({why})")
        else:
            print(
                f"memory, {label}: retained {megabytes(figures.get('retained'))}, "
                f"peak {megabytes(figures.get('peak'))}"
            )
    report_engine_quality(messages, engine_results)

    if args.profile:
        del engine_results
        profile(
            f"engine build, {len(lexicon.entries):,} words",
            lambda: SensitiveWordMatcher(lexicon.entries, lexicon.allow),
        )
        profile(f"engine scan, {len(texts):,} messages", scan_engine)

    if not (ratio_ok and build_ok):
        print("!!! a target was missed: see FAIL above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
