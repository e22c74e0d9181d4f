"""`detect_promotion`: advertising and contact details in one message, scored.

Spam in WeCom groups is a way to reach members somewhere else: a link, a phone or QQ number, a
WeChat ID, a contact card or mini program, or a phrase from the ads/contact lexicon. Each of
these that a message carries yields one `Signal` (detector "promo") whose `score` is the rule's
weight; the message is promotional when the sum reaches the threshold that applies to its
sender. Newcomers (the caller decides: first messages, or first day in the group) are held to a
lower threshold, because spammers post at once and build no history first, while an
established member who shares one link is having a conversation.

Rules, with their default weights (`PromoSettings`; a weight of 0 turns a rule off):

    promo.url         per host    a link, bare domain or email domain not allowed here   0.6
                                  the same with its dot in disguise (abc。com, abc点com,  1.0
                                  abc . com, abc(.)com): nobody hides an honest link
    promo.short_link  per host    a short-link host (t.cn, url.cn, dwz.cn, bit.ly …),      1.0
                                  also in disguise (t。cn, bit . ly): it hides where it goes
    promo.phone       per number  a Chinese mobile number (1[3-9] and 9 digits, +86 too),  1.0
                                  also in two to four groups of digits or numerals spread
                                  over the sentence (一三八，中间零零一三，尾号八零零零)
    promo.qq          per number  5-11 digits next to a QQ cue (QQ, 扣扣, 企鹅, 球球, Q:)  1.0
    promo.wechat_id   per ID      a WeChat cue followed by an ID or a mobile number       1.0
    promo.wechat_cue  once        a WeChat contact cue with no ID (加我微信, +V, vx, 私我)  0.4
    promo.phrase      per hit     an ads/contact lexicon hit the caller passes in         0.5
    promo.msgtype     once        card 1.0, weapp (mini program) 0.4, link 0.3, redpacket 0.3
    promo.qr          once        the caller found a QR code in an image                  1.0
    promo.qr_cue      once        a QR code pointed at as a way in (二维码在我头像, 扫码加我, 0.6
                                  扫二维码进群): a QR code named next to 加/进群/头像/私 …
    promo.split       once        a contact spread over several one-character messages    0.2
                                  of one member (加 / 我 / V / 1 / 3 …), read joined (the
                                  caller joins them: see `detect_promotion`'s `split`)

Thresholds (defaults): an established member's message is promotional from 1.0, a
newcomer's from 0.5. So one contact detail (phone, QQ, WeChat ID, disguised or short link,
card) is promotional from anyone; one plain link, email address or QR cue only from a
newcomer; a link to an allowed domain, a red packet, a mini program (接龙, 问卷) or 加我微信
alone from nobody.

Allowed domains: by default (`allow_collaboration_hosts`) WeCom's and Tencent's own
collaboration hosts (`COLLABORATION_HOSTS`: work.weixin.qq.com, doc.weixin.qq.com, docs.qq.com,
meeting.tencent.com, mp.weixin.qq.com …), the corp's own domains (`corp_domains`, which the
service sets from its CORP_DOMAINS setting) and the group's `allowed_domains`.

Severity (`PromoResult.severity`, None when not promotional): a promotional message from a
newcomer is `block`, unless all it carries is weak signals (plain links and email addresses,
a link message, a contact cue with no contact, a split one-character message; a link beside a
contact cue is not weak), which is `review`. From an established member it is `review`, and
`block` from `block_threshold` (2.0), which takes two contact details, or one with ad
phrases. A weak result (`PromoResult.weak`: weak signals only, or an established member's one
phone number, QQ or WeChat ID or contact card with no word inviting anyone to use it,
`_INVITATION`) is for a moderator to look at, never a public warning: a newcomer sharing a
work link on day one, a member answering 135 2288 0617，寄到公司前台就行. Each signal's own
severity is what its rule alone would get under the same threshold (`log` below it).

How each kind is read, and what is deliberately not:

- Links are found in a lightly normalised copy of the text (letters and digits folded as
  `fold_char` does, so full-width and look-alike letters count; punctuation and spaces kept):
  `http(s)://…` and `www.…` with any top-level domain, and bare domains whose top-level domain
  is on a list of those seen in spam (`_TLDS`). File extensions (docx, txt, png, and py, sh,
  md, ai, which are also country codes) are not on it, and a version (v1.2) or an amount
  (3.5元) has no letters after its dot, so neither reads as a domain. A dot written as 。, 点,
  "(.)", " dot " or with spaces around it counts only before the commonest spam endings
  (`_DISGUISE_TLDS`: com cn net org top xyz cc) and after labels of two or more characters,
  not a clock time or amount (3点, 12点), because 点 also means o'clock and "order". "x. y"
  (a sentence's full stop) is no dot, and neither is a bare space ("abc com"): English
  phrases would read as domains.
- An allowed domain allows itself and its subdomains ("qq.com" allows work.weixin.qq.com, not
  qq.com.evil.cn); an allowed link yields no signal and is listed in `PromoResult.allowed`. A
  link message whose text has links, all of them allowed, carries no msgtype signal either: a
  member sharing a work link is not advertising.
- Numbers are read in the folded text (`fold`: full-width, circled and Chinese-numeral digits
  plain, separators removed, so 138 0013 8000 and １３８-００１３-８０００ count). Homophone
  digits (`_HOMOPHONES`: 伞/山=3, 灵/铃=0, 巴/扒=8, 要=1, …) are read only inside a run of
  digit-like characters as long as the whole number (11 for a phone, 5 for QQ), so a lone 山
  or 期 in a sentence never becomes a digit; and a homophone at the edge of a run that also
  has ASCII digits belongs to the words around it (我要3812345678 is not 13812345678). A
  phone number must be a whole number: digits that touch it make it part of a longer one (an
  order number, an ID card number), unless the original had a space or dash between, which
  keeps 13800138000 13900139000 two numbers. Prices, dates and room numbers are too short.
- QQ numbers need a cue right before or after them (QQ, 扣扣, 企鹅, 球球, or Q followed by a
  colon or by digits spaced out one by one: Q 2 8 5 7 3 9), with at most 号/号码/群/是
  between: "Q4 2024" and "QQ群里有 12345 人" are not QQ numbers; 12345678@qq.com is one.
- WeChat IDs are a cue (微信 and its disguises 薇信/威信/v信/vx/wx/weixin, 薇, 威, V, 微, or
  加我) followed by an ID-shaped token (a letter, then 5-19 letters, digits, _ or -) or a mobile
  number, with only punctuation and 号/是/: between. An ID of letters only counts after a
  contact cue or a separator (微信号：zhangsan), not after a bare mention (微信 meeting). An
  ID written with a space between its characters (加薇：a b c 8 8 9 9) counts as written
  together. A cue alone counts, weakly, only in a contact form (加我微信, +V, vx, 微信号, 私我);
  a mention of 微信 (我的微信运动, 微信支付) counts for nothing.
- The same evidence counts once: a number given as a WeChat contact, a QQ number that is also
  a phone number, anything inside a link, and an ad phrase inside another signal's evidence.
- Images carry nothing by themselves. When the caller has scanned an image for a QR code (a
  later hook; this module does no image work) it passes `qr_found=True`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from moderation.fold import Folded, fold_char, fold_with_origins, invisible
from moderation.lexicon import Severity
from moderation.signal import Signal

__all__ = [
    "PROMO_MSG_TYPES",
    "PROMO_RULES",
    "PhraseFinding",
    "PromoResult",
    "PromoSettings",
    "detect_promotion",
]

PROMO_RULES = (
    "promo.url",
    "promo.short_link",
    "promo.phone",
    "promo.qq",
    "promo.wechat_id",
    "promo.wechat_cue",
    "promo.phrase",
    "promo.msgtype",
    "promo.qr",
    "promo.qr_cue",
    "promo.split",
)
# WeCom's and Tencent's own collaboration hosts, with their subdomains: documents, meetings,
# forms, official-account articles, mail, the WeCom admin and drive. A member sharing one is
# working, not advertising (`PromoSettings.allow_collaboration_hosts`).
COLLABORATION_HOSTS = (
    "weixin.qq.com",  # work., doc., mp., drive., open.work., …
    "docs.qq.com",
    "wj.qq.com",
    "exmail.qq.com",
    "meeting.tencent.com",
    "meeting.qq.com",
    "tencent.com",
)
# Hosts whose links only redirect elsewhere: nobody shares one but to hide where it goes.
SHORT_LINK_HOSTS = (
    *("t.cn", "url.cn", "dwz.cn", "suo.im", "mrw.so", "t.co", "bit.ly", "ow.ly", "is.gd"),
    *("tinyurl.com", "goo.gl", "rb.gy", "cutt.ly", "tiny.cc", "s.id", "v.gd", "dwz.date"),
    *("w.url.cn", "sohu.gg", "0x3.me", "3.cn", "u.jd.com", "s.click.taobao.com"),
)
# The WeCom message types that carry promotion by their kind (archive `msgtype` values).
PROMO_MSG_TYPES = frozenset({"link", "weapp", "card", "redpacket"})

_DETECTOR = "promo"

# --- Settings ---------------------------------------------------------------------------------

_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z][a-z0-9-]*")
_HOST_LISTS = ("allowed_domains", "corp_domains")


def _hosts(name: str, domains: Any) -> tuple[str, ...]:
    """A setting's list of host names, lower case, without duplicates; ValueError naming the
    setting for anything else."""
    if isinstance(domains, str) or not isinstance(domains, (tuple, list)):
        raise ValueError(f"promo setting {name} must be a list of host names, not {domains!r}")
    normalised: list[str] = []
    for domain in domains:
        host = domain.strip().lower().rstrip(".") if isinstance(domain, str) else domain
        if not isinstance(host, str) or not _HOST.fullmatch(host):
            raise ValueError(
                f"promo setting {name}: {domain!r} is not a host name "
                "(write it like work.weixin.qq.com: no scheme, path or port)"
            )
        if host not in normalised:
            normalised.append(host)
    return tuple(normalised)


@dataclass(frozen=True, slots=True)
class PromoSettings:
    """Allow-list, thresholds and weights of the promotion rules for one group.

    Stored per group as JSON (`as_dict`, `from_mapping`); every field left out keeps its
    default. Scores are sums of weights; a weight of 0 turns its rule off.
    """

    # Host names whose links are not promotion, each with its subdomains; lower case, no
    # scheme or path (work.weixin.qq.com). Empty = only those below are allowed.
    allowed_domains: tuple[str, ...] = ()
    corp_domains: tuple[str, ...] = ()  # the corp's own domains (the service's CORP_DOMAINS)
    allow_collaboration_hosts: bool = True  # COLLABORATION_HOSTS are allowed too
    threshold: float = 1.0  # score from which an established member's message is promotional
    newcomer_threshold: float = 0.5  # the same for a newcomer; at most `threshold`
    block_threshold: float = 2.0  # score from which an established member's message blocks
    url_weight: float = 0.6  # per host; a plain link from a newcomer is promotional
    disguised_url_weight: float = 1.0  # per host written with 。/点/spaces as its dot
    short_link_weight: float = 1.0  # per short-link host (t.cn, bit.ly), plain or disguised
    phone_weight: float = 1.0  # per mobile number
    qq_weight: float = 1.0  # per QQ number
    wechat_id_weight: float = 1.0  # per WeChat ID (or number) given after a cue
    wechat_cue_weight: float = 0.4  # a contact cue with no ID (加我微信); once per message
    phrase_weight: float = 0.5  # per ads/contact lexicon hit passed in
    card_weight: float = 1.0  # a contact card message
    weapp_weight: float = 0.4  # a mini-program message (接龙, 问卷 and docs are ones too)
    link_weight: float = 0.3  # a link message, unless every link in it is allowed
    redpacket_weight: float = 0.3  # a red packet (a newcomer's 进群红包 is a custom)
    qr_weight: float = 1.0  # an image the caller found a QR code in
    qr_cue_weight: float = 0.6  # a QR code pointed at as a way in (扫码加我, 二维码在我头像)
    split_weight: float = 0.2  # a contact joined from several one-character messages

    def __post_init__(self) -> None:
        for name in _HOST_LISTS:
            object.__setattr__(self, name, _hosts(name, getattr(self, name)))
        if not isinstance(self.allow_collaboration_hosts, bool):
            raise ValueError(
                "promo setting allow_collaboration_hosts must be true or false, not "
                f"{self.allow_collaboration_hosts!r}"
            )
        for spec in fields(self):
            if spec.name in _HOST_LISTS or spec.name == "allow_collaboration_hosts":
                continue
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"promo setting {spec.name} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"promo setting {spec.name} must be 0 or more, not {value!r}")
            object.__setattr__(self, spec.name, float(value))
        for name in ("threshold", "newcomer_threshold", "block_threshold"):
            if getattr(self, name) <= 0:
                raise ValueError(f"promo setting {name} must be above 0 (0 would flag everything)")
        if not self.newcomer_threshold <= self.threshold <= self.block_threshold:
            raise ValueError(
                "promo settings need newcomer_threshold <= threshold <= block_threshold, not "
                f"{self.newcomer_threshold:g}, {self.threshold:g}, {self.block_threshold:g}"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> PromoSettings:
        """The defaults with a group's overrides (a JSON object) applied.

        Raises ValueError naming the key for an unknown key, a value of the wrong type, a
        negative weight, thresholds out of order, or an allowed domain that is not a host name.
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"promo settings must be an object, not {type(mapping).__name__}")
        known = [spec.name for spec in fields(cls)]
        unknown = sorted(str(key) for key in mapping if key not in known)
        if unknown:
            raise ValueError(
                f"unknown promo setting(s): {', '.join(unknown)}; known: {', '.join(known)}"
            )
        values = dict(mapping)
        for name in _HOST_LISTS:
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return replace(cls(), **values)

    def as_dict(self) -> dict[str, Any]:
        """Every setting by name, for storing as JSON (the host lists as lists)."""
        values: dict[str, Any] = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        for name in _HOST_LISTS:
            values[name] = list(getattr(self, name))
        return values

    def allows(self, host: str) -> bool:
        """Whether `host` (lower case) is allowed: one of the group's allowed domains, the
        corp's domains or (by default) the collaboration hosts, or a subdomain of one."""
        allowed = (*self.allowed_domains, *self.corp_domains)
        if self.allow_collaboration_hosts:
            allowed += COLLABORATION_HOSTS
        return any(host == d or host.endswith("." + d) for d in allowed)


_DEFAULT_SETTINGS = PromoSettings()
_SHORT_HOSTS = frozenset(SHORT_LINK_HOSTS)


# --- Inputs and result ------------------------------------------------------------------------


class PhraseFinding(Protocol):
    """What this module reads of a word-matcher finding (`moderation.matcher.Finding`)."""

    @property
    def word(self) -> str: ...  # the lexicon word
    @property
    def start(self) -> int: ...  # span in the original text
    @property
    def end(self) -> int: ...
    @property
    def matched(self) -> str: ...  # the original text[start:end]


@dataclass(frozen=True, slots=True)
class PromoResult:
    """Every promotion signal of one message, their total, and the verdict."""

    signals: tuple[Signal, ...]  # in the order of their evidence; message-type signals last
    score: float  # the sum of the signals' scores
    threshold: float  # the threshold applied (newcomer or established)
    promotional: bool  # score >= threshold
    severity: Severity | None  # block/review when promotional (see the module doc), else None
    newcomer: bool  # whether the newcomer threshold was applied
    allowed: tuple[str, ...] = ()  # hosts of links found and allowed by the settings
    # Promotional on weak signals only (a plain link, a link message, a cue, a split
    # contact): for a moderator to look at, never a public warning by itself (`_weak`).
    weak: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "threshold": self.threshold,
            "promotional": self.promotional,
            "severity": self.severity.value if self.severity else None,
            "newcomer": self.newcomer,
            "allowed": list(self.allowed),
            "weak": self.weak,
            "signals": [signal.as_dict() for signal in self.signals],
        }


# --- Links ------------------------------------------------------------------------------------

# Top-level domains read after a plain dot: generic ones used in spam and the region codes of
# greater China. File extensions that are also country codes (py, sh, md, ai, ps, pl, rs) and
# ones that end English abbreviations (Mr.Wang, Co.Ltd) are left out.
_TLDS = (
    *("com", "net", "org", "cn", "cc", "top", "xyz", "vip", "info", "biz", "club", "shop"),
    *("site", "online", "store", "icu", "fun", "live", "link", "tk", "me", "io", "co", "app"),
    *("hk", "tw", "mo", "tv", "asia", "ink", "cloud", "xin"),
)
_DISGUISE_TLDS = ("com", "cn", "net", "org", "top", "xyz", "cc")
_TLD_ALT = "|".join(sorted(_TLDS, key=len, reverse=True))
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A dot: plain, with spaces before it, or disguised (。 点 (.) [.] 【.】 dot).
# Spaces and labels are bounded so that a long run of "a点a点a点…" costs linear time.
_SEP = (
    r"(?:\.(?!\s)|\s{1,3}\.\s{0,3}|\s{0,3}[。点]\s{0,3}"
    r"|\s{0,3}[(\[【]\s{0,2}(?:\.|。|点|dot)\s{0,2}[)\]】]\s{0,3}|\s{1,3}dot\s{1,3})"
)
_MAX_LABELS = 8  # before the top-level domain; real host names have fewer
_PATH = r"(?:[/?#][!-~]*)?"
_EXPLICIT_URL = re.compile(
    rf"https?://(?P<netloc>[a-z0-9._~%!$&'*+,;=:@-]+){_PATH}"
    rf"|(?<![a-z0-9_.-])(?P<www>www(?:\.{_LABEL}){{1,{_MAX_LABELS}}}\.[a-z]{{2,}})(?![a-z0-9-])"
    rf"{_PATH}"
)
_BARE_DOMAIN = re.compile(
    rf"(?<![a-z0-9_.-])(?P<body>{_LABEL}(?:{_SEP}{_LABEL}){{0,{_MAX_LABELS - 1}}}){_SEP}"
    rf"(?P<tld>{_TLD_ALT})"
    rf"(?![a-z0-9-])(?P<path>{_PATH})"
)
_SEP_ONLY = re.compile(_SEP)
# Short-link hosts of two labels, with any dot, plain or disguised (t。cn, bit . ly, dwz点cn).
_SHORT_DISGUISED = re.compile(
    "(?<![a-z0-9_.-])(?P<label>"
    + "|".join(sorted({h.split(".")[0] for h in SHORT_LINK_HOSTS if h.count(".") == 1}))
    + f")(?P<sep>{_SEP})(?P<tld>"
    + "|".join(sorted({h.split(".")[1] for h in SHORT_LINK_HOSTS if h.count(".") == 1}))
    + r")(?![a-z0-9-])(?P<path>\s{0,3}/\s{0,3}[!-~]*)?"
)
_TRAILING_PUNCT = ".,;:!?)]}'\"。，"


@dataclass(frozen=True, slots=True)
class _Link:
    start: int  # span in the original text
    end: int
    host: str
    disguised: bool
    allowed: bool
    email: bool = False  # the domain of an email address (name@host)
    short: bool = False  # a short-link host (`SHORT_LINK_HOSTS`)


def _is_short(host: str) -> bool:
    return host in _SHORT_HOSTS or any(host.endswith("." + short) for short in _SHORT_HOSTS)


def _host_of_netloc(netloc: str) -> str:
    """The host of `user:password@host:port`: what follows the last @, before the port."""
    return netloc.rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")


def _disguise_allowed(labels: list[str]) -> bool:
    """Disguised dots count only after labels that are no clock time or amount (3点, 12点)."""
    return all(len(label) >= 2 and (len(label) >= 3 or not label.isdigit()) for label in labels)


def _find_links(light: _Light, text: str, settings: PromoSettings) -> list[_Link]:
    links: list[_Link] = []
    taken: list[tuple[int, int]] = []
    for match in _EXPLICIT_URL.finditer(light.text):
        end = match.end()
        while end > match.start() and light.text[end - 1] in _TRAILING_PUNCT:
            end -= 1
        if match.group("netloc") is not None:
            host = _host_of_netloc(match.group("netloc"))
        else:
            host = match.group("www")
        if not host:
            continue
        start, stop = light.original_span(match.start(), end)
        links.append(_Link(start, stop, host, False, settings.allows(host), short=_is_short(host)))
        taken.append((match.start(), end))
    for short in _SHORT_DISGUISED.finditer(light.text):
        host = f"{short.group('label')}.{short.group('tld')}"
        if host not in _SHORT_HOSTS or _overlaps(short.start(), short.end(), taken):
            continue
        start, stop = light.original_span(short.start(), short.end())
        disguised = short.group("sep") != "."
        links.append(_Link(start, stop, host, disguised, settings.allows(host), short=True))
        taken.append(short.span())
    position = 0
    while (bare := _BARE_DOMAIN.search(light.text, position)) is not None:
        position = bare.start() + 1
        if _overlaps(bare.start(), bare.end(), taken):
            continue
        whole = light.text[bare.start() : bare.end("tld")]
        separators = [sep.group() for sep in _SEP_ONLY.finditer(whole)]
        labels = [part for part in _SEP_ONLY.split(whole) if part]
        disguised = any(sep != "." for sep in separators)
        if disguised and bare.group("tld") not in _DISGUISE_TLDS:
            continue
        if disguised and not _disguise_allowed(labels[:-1]):
            continue
        end = bare.end()
        while end > bare.start() and light.text[end - 1] in _TRAILING_PUNCT:
            end -= 1
        host = ".".join(labels)
        start, stop = light.original_span(bare.start(), end)
        email = bare.start() > 0 and light.text[bare.start() - 1] == "@"
        links.append(
            _Link(start, stop, host, disguised, settings.allows(host), email, _is_short(host))
        )
        taken.append((bare.start(), bare.end()))
        position = bare.end()
    links.sort(key=lambda link: link.start)
    return links


@dataclass(frozen=True, slots=True)
class _Light:
    """The text with letters and digits folded (`fold_char`: case, width, look-alikes,
    traditional) and everything else kept as NFKC, minus what shows as nothing (`fold.invisible`:
    format characters, combining marks, Hangul fillers), as the word matcher reads it; for each
    character, the index of the original character it came from."""

    text: str
    starts: list[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the characters [start, end) (end > start)."""
        return self.starts[start], self.starts[end - 1] + 1


def _light(text: str) -> _Light:
    """`_Light` of `text`: with one table lookup per character (`_LightTable`), and the
    character-by-character walk only for a text with a character that is dropped or becomes
    more than one."""
    light = text.translate(_LIGHT)
    if len(light) == len(text) and not _LIGHT.uneven.intersection(text):
        return _Light(light, list(range(len(text))))
    parts: list[str] = []
    starts: list[int] = []
    for index, char in enumerate(text):
        folded = _LIGHT[ord(char)]
        parts.append(folded)
        starts.extend([index] * len(folded))
    return _Light("".join(parts), starts)


class _LightTable(dict[int, str]):
    """Code point → what `_light` makes of the character: "" for what shows as nothing
    (`fold.invisible`: 加ㅤ微ㅤ信 is 加微信, as the word matcher reads it), else `fold_char`'s
    letters and digits or the NFKC of anything else; filled as characters are met (a
    `str.translate` table). `uneven`: the characters met that do not become exactly one."""

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()

    def __missing__(self, code: int) -> str:
        char = chr(code)
        folded = "" if invisible(char) else fold_char(char) or unicodedata.normalize("NFKC", char)
        if len(folded) != 1:
            self.uneven.add(char)
        if len(self) < _LIGHT_CACHE_LIMIT:
            self[code] = folded
        return folded


_LIGHT_CACHE_LIMIT = 50_000  # code points remembered (a few MB at most)
_LIGHT = _LightTable()


# --- Numbers ----------------------------------------------------------------------------------

# Characters written for a digit in a number: Chinese numerals (as `fold` leaves them when they
# stand alone), radio-style digits (幺 两 拐 勾 洞) and common homophones. Only characters that
# are read as the digit in spam are listed; 吧 (8), 死 (4), 就 (9) and 午 (5) are left out
# because they end or start ordinary words next to numbers too often.
_NUMERALS = {
    "0": "零〇",
    "1": "一壹幺",
    "2": "二贰两",
    "3": "三叁",
    "4": "四肆",
    "5": "五伍",
    "6": "六陆",
    "7": "七柒",
    "8": "八捌",
    "9": "九玖",
}
_HOMOPHONES = {
    "0": "灵令铃玲洞",
    "1": "要腰",
    "2": "俩尔儿",
    "3": "伞山散",
    "4": "思似寺丝",
    "5": "吾无舞武",
    "6": "溜留流",
    "7": "妻期漆齐拐",
    "8": "巴扒爸叭",
    "9": "酒久韭勾",
}
_DIGIT_OF: dict[str, str] = {
    **{digit: digit for digit in "0123456789"},
    **{
        char: digit
        for table in (_NUMERALS, _HOMOPHONES)
        for digit, chars in table.items()
        for char in chars
    },
}
_HOMOPHONE_CHARS = frozenset("".join(_HOMOPHONES.values()))
_TO_DIGITS = str.maketrans(_DIGIT_OF)


def _digit_class(digits: str) -> str:
    return "[" + "".join(char for char, d in _DIGIT_OF.items() if d in digits) + "]"


_ANY = _digit_class("0123456789")
_PHONE = re.compile(
    rf"(?P<prefix>(?:00)?86)?(?P<number>{_digit_class('1')}{_digit_class('3456789')}{_ANY}{{9}})"
)
_RUN = re.compile(f"{_ANY}+")
_QQ_CUE = r"qq|扣扣|抠抠|蔻蔻|企鹅|球球"
_QQ_CUE_BEFORE = re.compile(
    rf"(?P<cue>{_QQ_CUE}|(?<![a-z])q)(?:号码|号|群号|群|账号|id|是|为|加){{0,2}}\Z"
)
_QQ_CUE_AFTER = re.compile(rf"(?:号|是)?(?P<cue>{_QQ_CUE})")
_QQ_LENGTHS = range(11, 4, -1)  # QQ numbers have 5 to 11 digits; the longest reading wins
_SPACED_DIGITS = re.compile(r"\s+\d(?:\s+\d){4,}")
_ASCII_DIGITS = frozenset("0123456789")
_HOMOPHONE_STRIP = "".join(sorted(_HOMOPHONE_CHARS))


def _edges_read(run: str) -> bool:
    """A number with ASCII digits must start and end with a digit or numeral: a homophone at
    its edge is part of the neighbouring words."""
    if not any(char.isascii() for char in run):
        return True
    return run[0] not in _HOMOPHONE_CHARS and run[-1] not in _HOMOPHONE_CHARS


def _trim_edges(run: str, start: int) -> tuple[str, int]:
    """`run` without homophones at its edges when it has ASCII digits, and its new start."""
    if not any(char.isascii() for char in run):
        return run, start
    stripped = run.lstrip(_HOMOPHONE_STRIP)
    start += len(run) - len(stripped)
    return stripped.rstrip(_HOMOPHONE_STRIP), start


def _apart(folded: Folded, left: int) -> bool:
    """Whether folded characters `left` and `left + 1` were apart in the original (a space,
    dash or other removed character between them): two numbers, not one."""
    return folded.original_span(left + 1, left + 2)[0] > folded.original_span(left, left + 1)[0] + 1


def _stands_alone(folded: Folded, start: int, end: int) -> bool:
    """Whether folded characters [start, end) are a whole number: no ASCII digit touches them
    unless something stood between in the original (13800138000 13900139000 is two numbers,
    20241121000123456 is one)."""
    text = folded.text
    if start > 0 and text[start - 1] in _ASCII_DIGITS and not _apart(folded, start - 1):
        return False
    return not (end < len(text) and text[end] in _ASCII_DIGITS and not _apart(folded, end - 1))


@dataclass(frozen=True, slots=True)
class _Number:
    start: int  # span in the original text (QQ: with its cue)
    end: int
    digits: str
    homophones: bool
    digits_start: int  # span of the digits alone in the original text
    digits_end: int
    cue: str = ""  # the QQ cue, folded


def _number(
    folded: Folded, start: int, end: int, cue: tuple[int, int] | None = None, cue_text: str = ""
) -> _Number:
    run = folded.text[start:end]
    digits_start, digits_end = folded.original_span(start, end)
    span_start, span_end = digits_start, digits_end
    if cue is not None:
        span_start, span_end = folded.original_span(min(cue[0], start), max(cue[1], end))
    homophones = any(char in _HOMOPHONE_CHARS for char in run)
    return _Number(
        span_start,
        span_end,
        run.translate(_TO_DIGITS),
        homophones,
        digits_start,
        digits_end,
        cue_text,
    )


def _find_phones(folded: Folded) -> list[_Number]:
    phones: list[_Number] = []
    position = 0
    while (match := _PHONE.search(folded.text, position)) is not None:
        position = match.start() + 1
        if not _edges_read(match.group("number")):
            continue
        if not _stands_alone(folded, match.start(), match.end()):
            continue
        phone = _number(folded, match.start("number"), match.end("number"))
        if match.group("prefix"):
            prefix_start, _ = folded.original_span(match.start(), match.start() + 1)
            phone = replace(phone, start=prefix_start)
        phones.append(phone)
        position = match.end()
    return phones


_DIGIT_GROUP = re.compile("[0-9]{3,}")
_MAX_SPREAD_GAP = 10  # folded characters between two groups of a phone number spread out
_MOBILE = re.compile("1[3-9][0-9]{9}")


def _find_spread_phones(folded: Folded, text: str) -> list[_Number]:
    """Mobile numbers written as two to four groups of digits (or numerals, which `fold`
    turns into digits in runs of three) with a few words between them: 打一五九，中间八七六五，
    最后四三二一. A group is written in one piece in `text`: digits that folding joined across
    a colon, a dash or a space are times, dates and ranges (14:00-16:00), not a group."""
    groups = list(_DIGIT_GROUP.finditer(folded.text))
    if len(groups) < 2 or sum(group.end() - group.start() for group in groups) < 11:
        return []  # the cheap test first: most texts hold one group of digits at most
    groups = [
        group
        for group in groups
        if _in_one_piece(text, *folded.original_span(group.start(), group.end()))
    ]
    found: list[_Number] = []
    for first in range(len(groups)):
        digits = ""
        for last in range(first, min(first + 4, len(groups))):
            if last > first and groups[last].start() - groups[last - 1].end() > _MAX_SPREAD_GAP:
                break
            digits += groups[last].group()
            if len(digits) >= 11:
                if last > first and len(digits) == 11 and _MOBILE.fullmatch(digits):
                    start, _ = folded.original_span(groups[first].start(), groups[first].end())
                    _, end = folded.original_span(groups[last].start(), groups[last].end())
                    found.append(_Number(start, end, digits, False, start, end))
                break
    return found


def _in_one_piece(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is digits (or Chinese numerals) only, nothing between them."""
    return all(char.isdigit() or char in _NUMERAL_CHARS for char in text[start:end])


_NUMERAL_CHARS = frozenset("零〇一二三四五六七八九壹贰叁肆伍陆柒捌玖两幺")


# A QR code pointed at as a way in: named next to a way to reach someone or a group.
_QR_CUE = re.compile(
    r"(?:二维码|扫码|扫一扫|长按识别|qr\s?code)"
    r"(?=[^。！？!?\n]{0,12}(?:加|进群|入群|进[^。！？!?\n]{0,3}群|拉你|头像|私|联系|好友|咨询|领))"
    r"|(?:加|进群|入群|头像|私|联系|好友)[^。！？!?\n]{0,12}(?:二维码|扫码|扫一扫)"
)


def _find_qq(folded: Folded, text: str) -> list[_Number]:
    numbers: list[_Number] = []
    for match in _RUN.finditer(folded.text):
        run, run_start = _trim_edges(match.group(), match.start())
        run_end = run_start + len(run)
        before = _QQ_CUE_BEFORE.search(folded.text, max(0, match.start() - 12), match.start())
        after = _QQ_CUE_AFTER.match(folded.text, match.end())
        if before is not None and before.group("cue") == "q":
            # A lone Q is a cue only as "Q:" or before digits spaced out one by one (Q 2 8 5 7
            # 3 9): Q4 2024 is a quarter.
            _, cue_end = folded.original_span(before.start("cue"), before.end("cue"))
            after_cue = text[cue_end:]
            if not after_cue.lstrip(" \u3000").startswith((":", "：")) and not (
                _SPACED_DIGITS.match(after_cue)
            ):
                before = None
        if before is not None:  # the number starts the run
            lengths = [
                n
                for n in _QQ_LENGTHS
                if n == len(run) or (n < len(run) and _apart(folded, run_start + n - 1))
            ]
            if lengths:
                start, end = run_start, run_start + lengths[0]
                cue = before.span("cue")
                numbers.append(_number(folded, start, end, cue, before.group("cue")))
                continue
        if after is not None:  # the number ends the run
            lengths = [
                n
                for n in _QQ_LENGTHS
                if n == len(run) or (n < len(run) and _apart(folded, run_end - n - 1))
            ]
            if lengths:
                start, end = run_end - lengths[0], run_end
                cue = after.span("cue")
                numbers.append(_number(folded, start, end, cue, after.group("cue")))
    return [number for number in numbers if number.digits[0] != "0"]


# --- WeChat -----------------------------------------------------------------------------------

# 微信 and how it is disguised (see `moderation.variants.SUBSTITUTIONS`): 薇/威/徽/危 for 微,
# 亻言/芯/伈 for 信, and the Latin forms. Noise (emoji, punctuation) may sit inside.
_WX_WORD = (
    r"(?:[微薇威徽危嶶]\W{0,2}(?:信|亻言|芯|伈)"
    r"|(?<![a-z0-9])(?:v\W{0,2}信|v\W?x|w\W?x|weixin|wechat)(?![a-z]))"
)
_WX_SHORT = r"(?:[薇威微]|(?<![a-z0-9])v(?![a-z0-9]))"
_CUE = re.compile(
    # Contact forms: a cue even without an ID.
    rf"(?P<contact>(?:加\W{{0,2}}(?:一?下\W{{0,2}})?(?:[我个]\W{{0,2}})?(?:的\W{{0,2}})?"
    rf"|[+➕]\W{{0,2}})"
    rf"(?:{_WX_WORD}|{_WX_SHORT})"
    rf"|{_WX_WORD}\W{{0,2}}号码?"
    r"|(?<![a-z0-9])[vw]\W?x(?![a-z0-9])"
    r"|私(?:聊|信)?我)"
    # Bare mentions: a cue only when an ID or number follows.
    rf"|(?P<bare>{_WX_WORD}|{_WX_SHORT}|加我)"
)
_GAP = r"\W{0,3}(?:(?:号码|号|账号|id|是|为|同号|:)\W{0,2}){0,2}"
_ID_AFTER = re.compile(rf"(?P<gap>{_GAP})(?P<id>[a-z][a-z0-9_-]{{5,19}})(?![a-z0-9_-])")
# An ID written with one space between its characters (a b c 8 8 9 9), letters among them.
_SPACED_ID_AFTER = re.compile(
    rf"(?P<gap>{_GAP})(?P<id>(?=[a-z0-9_-]*(?:\s[a-z0-9_-])*\s?[a-z])"
    rf"[a-z0-9_-](?:\s[a-z0-9_-]){{5,19}})(?![a-z0-9_-])"
)
_NUMBER_GAP = re.compile(_GAP)
_MAX_GAP_CHARS = 16  # between a cue and a number, in original characters
_NOT_IDS = frozenset({"weixin", "wechat"})  # the cue itself, written out


@dataclass(frozen=True, slots=True)
class _WeChat:
    start: int  # span in the original text: the cue and what follows it
    end: int
    cue: str  # as written
    contact_id: str  # the ID or number; "" for a cue alone
    kind: str  # "id", "phone" or "cue"


def _overlaps(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in spans)


def _find_wechat(
    light: _Light, text: str, phones: list[_Number], links: Sequence[tuple[int, int]]
) -> list[_WeChat]:
    """Each WeChat cue with the ID or mobile number that follows it, or alone when it is a
    contact form; cues inside a link are part of the link. The ASCII cues end where a letter
    cannot follow (vx, wx, v), so an ID is never glued to its cue."""
    found: list[_WeChat] = []
    for match in _CUE.finditer(light.text):
        cue_start, cue_end = light.original_span(match.start(), match.end())
        if _overlaps(cue_start, cue_end, links):
            continue
        contact = match.group("contact") is not None
        after = _ID_AFTER.match(light.text, match.end()) or _SPACED_ID_AFTER.match(
            light.text, match.end()
        )
        if after is not None:
            gap, contact_id = after.group("gap"), "".join(after.group("id").split())
            # A word of letters after a bare mention is English (微信 meeting), not an ID.
            explicit = contact or match.group().startswith("加") or gap.strip() != ""
            id_start, id_end = light.original_span(after.start("id"), after.end("id"))
            if (
                (explicit or not contact_id.isalpha())
                and contact_id not in _NOT_IDS
                and not _overlaps(id_start, id_end, links)
            ):
                found.append(_WeChat(cue_start, id_end, text[cue_start:cue_end], contact_id, "id"))
                continue
        phone = next(
            (
                p
                for p in phones
                if 0 <= p.start - cue_end <= _MAX_GAP_CHARS
                and _NUMBER_GAP.fullmatch(_light(text[cue_end : p.start]).text)
            ),
            None,
        )
        if phone is not None:
            found.append(
                _WeChat(cue_start, phone.end, text[cue_start:cue_end], phone.digits, "phone")
            )
        elif contact:
            found.append(_WeChat(cue_start, cue_end, text[cue_start:cue_end], "", "cue"))
    return found


# --- Scoring --------------------------------------------------------------------------------


def _severity(
    score: float, settings: PromoSettings, newcomer: bool, weak: bool = False
) -> Severity | None:
    """The tier of a score: None below the threshold that applies, `block` for a newcomer or
    from `block_threshold`, `review` in between; `review` at most when all there is are weak
    signals (`_weak`)."""
    score = round(score, 9)  # 0.6 + 0.4 must reach 1.0 whatever the float rounding
    if score < (settings.newcomer_threshold if newcomer else settings.threshold):
        return None
    if (newcomer or score >= settings.block_threshold) and not weak:
        return Severity.BLOCK
    return Severity.REVIEW


# Words that invite the group to use a contact detail, or bait them into it.
_INVITATION = re.compile(
    "加我|加一下|联系我|找我|私我|私聊|私信|咨询|带你|赚钱|兼职|福利|优惠|免费|领取|扫码|进群|入群"
)


def _contact_detail(signal: Signal) -> bool:
    """Whether a signal is a contact detail on its own: a phone number, a QQ or WeChat ID, a
    contact card message (no cue or phrase inviting anyone to use it)."""
    if signal.rule == "promo.msgtype":
        return signal.facts.get("msg_type") == "card"
    return signal.rule in ("promo.phone", "promo.qq", "promo.wechat_id")


def _weak(rule: str, facts: Mapping[str, Any]) -> bool:
    """Whether a signal is weak: a plain link or email address, a link message, a contact cue
    with no contact, a message joined from one-character messages. Only they do not make a
    newcomer's message `block` (a work link shared on the first day is for a moderator to
    look at)."""
    if rule == "promo.url":
        return not facts.get("disguised")
    if rule == "promo.msgtype":
        return facts.get("msg_type") == "link"
    return rule in ("promo.wechat_cue", "promo.split")


_MSGTYPE_SUMMARY = {
    "card": "a contact card message",
    "weapp": "a mini-program message",
    "link": "a link message",
    "redpacket": "a red packet",
}


@dataclass(slots=True)
class _Signals:
    """The signals of one message as they are found; each span of evidence counts once."""

    text: str
    settings: PromoSettings
    newcomer: bool
    found: list[Signal]

    def add(
        self,
        rule: str,
        weight: float,
        summary: str,
        facts: dict[str, Any],
        span: tuple[int, int] = (-1, -1),
    ) -> None:
        if weight <= 0:  # the rule is off
            return
        start, end = span
        weak = _weak(rule, facts)
        self.found.append(
            Signal(
                detector=_DETECTOR,
                rule=rule,
                severity=_severity(weight, self.settings, self.newcomer, weak) or Severity.LOG,
                score=weight,
                summary=summary,
                evidence=self.text[start:end] if start >= 0 else "",
                start=start,
                end=end,
                facts={"weight": weight, **facts},
            )
        )

    def covers(self, start: int, end: int) -> bool:
        """Whether [start, end) lies inside the evidence of a signal already found."""
        return any(s.start <= start and end <= s.end for s in self.found if s.start >= 0)


def _add_links(signals: _Signals, links: list[_Link]) -> None:
    settings = signals.settings
    seen: set[str] = set()
    for link in links:
        if link.allowed or link.host in seen:
            continue
        seen.add(link.host)
        facts = {
            "host": link.host,
            "disguised": link.disguised,
            "email": link.email,
            "count": sum(1 for other in links if other.host == link.host),
        }
        if link.short:
            how = " in disguise" if link.disguised else ""
            signals.add(
                "promo.short_link",
                settings.short_link_weight,
                f"short link {link.host}{how}: it hides where it goes",
                facts,
                (link.start, link.end),
            )
            continue
        if link.disguised:
            weight, summary = settings.disguised_url_weight, f"domain {link.host} in disguise"
        elif link.email:
            weight, summary = settings.url_weight, f"email address at {link.host}"
        else:
            weight, summary = settings.url_weight, f"link to {link.host}, not allowed here"
        signals.add("promo.url", weight, summary, facts, (link.start, link.end))


def _add_contacts(
    signals: _Signals, wechat: list[_WeChat], phones: list[_Number], qq: list[_Number]
) -> None:
    """WeChat IDs first (a number given as a WeChat contact is one detail), then phone and QQ
    numbers not seen yet, then a WeChat cue alone when no ID was given."""
    settings = signals.settings
    seen: set[str] = set()
    for entry in wechat:
        if entry.kind == "cue" or entry.contact_id in seen:
            continue
        seen.add(entry.contact_id)
        what = "mobile number" if entry.kind == "phone" else "ID"
        signals.add(
            "promo.wechat_id",
            settings.wechat_id_weight,
            f"WeChat {what} {entry.contact_id} after {entry.cue!r}",
            {"id": entry.contact_id, "kind": entry.kind, "cue": entry.cue},
            (entry.start, entry.end),
        )
    for rule, weight, numbers in (
        ("promo.phone", settings.phone_weight, phones),
        ("promo.qq", settings.qq_weight, qq),
    ):
        for number in numbers:
            if number.digits in seen:
                continue
            seen.add(number.digits)
            how = " in homophone digits" if number.homophones else ""
            if rule == "promo.phone":
                summary = f"mobile number {number.digits}{how}"
            else:
                summary = f"QQ number {number.digits}{how} next to {number.cue!r}"
            facts: dict[str, Any] = {"number": number.digits, "homophones": number.homophones}
            if number.cue:
                facts["cue"] = number.cue
            signals.add(rule, weight, summary, facts, (number.start, number.end))
    cues = [entry for entry in wechat if entry.kind == "cue"]
    if cues and not any(entry.kind != "cue" for entry in wechat):
        first = cues[0]
        signals.add(
            "promo.wechat_cue",
            settings.wechat_cue_weight,
            f"asks to be contacted on WeChat ({first.cue}) without an ID",
            {"cue": first.cue, "count": len(cues)},
            (first.start, first.end),
        )


def _add_phrases(signals: _Signals, ad_findings: Sequence[PhraseFinding]) -> None:
    seen: set[tuple[int, int]] = set()
    for finding in ad_findings:
        span = (finding.start, finding.end)
        if span in seen or signals.covers(*span):
            continue
        seen.add(span)
        signals.add(
            "promo.phrase",
            signals.settings.phrase_weight,
            f"ads/contact phrase {finding.word!r}",
            {"word": finding.word},
            span,
        )


def detect_promotion(
    text: str,
    msg_type: str = "text",
    *,
    settings: PromoSettings = _DEFAULT_SETTINGS,
    newcomer: bool = False,
    ad_findings: Sequence[PhraseFinding] = (),
    qr_found: bool = False,
    split: bool = False,
) -> PromoResult:
    """The promotion signals of one message and whether they add up to promotion.

    `text` is what the message says (for a link: title, description and URL; for a mini
    program: title and display name; for a red packet: the wish). `msg_type` is the WeCom
    archive `msgtype`. `newcomer` applies the newcomer threshold. `ad_findings` are the word
    matcher's hits of the ads/contact category on `text`. `qr_found` says the caller found a
    QR code in the message's image (this module does no image work). `split` says `text` is
    several one-character messages of one member joined (加 / 我 / V / 1 / 3 …): whatever
    they hold then also yields `promo.split`.
    """
    kind = msg_type.strip().lower()
    signals = _Signals(text, settings, newcomer, [])
    light = _light(text)
    folded = fold_with_origins(text)

    links = _find_links(light, text, settings)
    link_spans = [(link.start, link.end) for link in links]
    phones = [p for p in _find_phones(folded) if not _overlaps(p.start, p.end, link_spans)]
    phones += [
        p
        for p in _find_spread_phones(folded, text)
        if not _overlaps(p.start, p.end, link_spans + [(q.start, q.end) for q in phones])
    ]
    wechat = _find_wechat(light, text, phones, link_spans)
    wechat_spans = [(entry.start, entry.end) for entry in wechat if entry.kind != "cue"]
    phones = [p for p in phones if not _overlaps(p.start, p.end, wechat_spans)]
    taken = link_spans + wechat_spans + [(p.start, p.end) for p in phones]
    # The digits alone must be new: 12345678@qq.com is a QQ number next to the domain qq.com.
    qq = [n for n in _find_qq(folded, text) if not _overlaps(n.digits_start, n.digits_end, taken)]

    _add_links(signals, links)
    _add_contacts(signals, wechat, phones, qq)
    _add_phrases(signals, ad_findings)
    signals.found.sort(key=lambda signal: (signal.start, signal.end))
    if kind in PROMO_MSG_TYPES:
        only_allowed = kind == "link" and bool(links) and all(link.allowed for link in links)
        if not only_allowed:
            weight = {
                "card": settings.card_weight,
                "weapp": settings.weapp_weight,
                "link": settings.link_weight,
                "redpacket": settings.redpacket_weight,
            }[kind]
            signals.add("promo.msgtype", weight, _MSGTYPE_SUMMARY[kind], {"msg_type": kind})
    if qr_found:
        signals.add("promo.qr", settings.qr_weight, "an image with a QR code", {"msg_type": kind})
    pointer = _QR_CUE.search(light.text)
    if pointer is not None:
        start, end = light.original_span(pointer.start(), pointer.end())
        signals.add(
            "promo.qr_cue",
            settings.qr_cue_weight,
            "points at a QR code as a way in",
            {"cue": text[start:end]},
            (start, end),
        )
    if split and signals.found:
        signals.add(
            "promo.split",
            settings.split_weight,
            "a contact spread over one-character messages",
            {"joined": text},
        )

    score = math.fsum(signal.score for signal in signals.found)
    rules = {signal.rule for signal in signals.found}
    weak = all(_weak(signal.rule, signal.facts) for signal in signals.found) and not (
        # A link beside a contact cue is the classic invitation: not weak together.
        "promo.wechat_cue" in rules and rules & {"promo.url", "promo.msgtype"}
    )
    if (
        not newcomer
        and score < settings.block_threshold
        and all(_contact_detail(signal) for signal in signals.found)
        and not _INVITATION.search(light.text)
    ):
        # An established member giving one phone number, QQ or WeChat ID or a contact card
        # with nothing inviting anyone to use it (135 2288 0617，寄到公司前台就行) is answering
        # someone: for a moderator to look at, never a public warning.
        weak = True
    severity = _severity(score, settings, newcomer, weak)
    return PromoResult(
        signals=tuple(signals.found),
        score=score,
        threshold=settings.newcomer_threshold if newcomer else settings.threshold,
        promotional=severity is not None,
        severity=severity,
        newcomer=newcomer,
        allowed=tuple(dict.fromkeys(link.host for link in links if link.allowed)),
        weak=weak and severity is not None,
    )
