"""Data tables for disguises: look-alike letters (applied to text and words by `fold`) and
homophone/shape substitutions (applied to lexicon words only, when the matcher is built).

Both are small, hand-kept tables of what spammers and trolls in Chinese group chats actually
write. Keys and values are in folded form (lower case, simplified).
"""

from __future__ import annotations

__all__ = ["CONFUSABLES", "SHAPES", "SUBSTITUTIONS"]

# Letters from other scripts that look like Latin letters → the Latin letter (after case folding,
# so only lower-case keys are needed). Cyrillic, Greek, IPA and small capitals.
_LOOK_ALIKES = {
    "a": "аαɑᴀ",
    "b": "вьβʙ",
    "c": "сϲᴄ",
    "d": "ԁᴅ",
    "e": "еεᴇ",
    "g": "ɡɢ",
    "h": "нһʜ",
    "i": "іιıɩɪ",
    "j": "јȷᴊ",
    "k": "кκᴋ",
    "l": "ӏʟ",
    "m": "мᴍ",
    "n": "пηɴ",
    "o": "оοσᴏ",
    "p": "рρᴘ",
    "q": "ԛ",
    "r": "ʀ",
    "s": "ѕꜱ",
    "t": "тτᴛ",
    "u": "υμᴜ",
    "v": "ѵνᴠ",
    "w": "ԝωᴡ",
    "x": "хχ",
    "y": "уүγʏ",
    "z": "ᴢ",
}

CONFUSABLES: dict[str, str] = {
    look_alike: latin for latin, look_alikes in _LOOK_ALIKES.items() for look_alike in look_alikes
}

# Kana and hangul written for the Chinese character or component they look like (微イ言 with
# katakana イ for 亻, ロ for 口), and hiragana の, which Chinese chat writes for 的. Full width
# forms only: NFKC has already turned half-width katakana into these.
SHAPES: dict[str, str] = {
    "イ": "亻",
    "ロ": "口",
    "エ": "工",
    "カ": "力",
    "タ": "夕",
    "ニ": "二",
    "ハ": "八",
    "ト": "卜",
    "ヒ": "匕",
    "ノ": "丿",
    "メ": "乂",
    "ム": "厶",
    "ル": "儿",
    "ネ": "礻",
    "チ": "千",
    "リ": "刂",
    "ヨ": "彐",
    "サ": "艹",
    "ㅁ": "口",
    "ㅡ": "一",
    "ㅣ": "丨",
    "ㄹ": "己",
    "の": "的",
}

# A fragment of a lexicon word → what is written instead of it. The matcher adds each lexicon
# word with these substitutions (one at a time first, then combined, up to a cap) as extra
# patterns tagged `variant`. Homophones (薇/威 for 微), split shapes (亻言 for 信), look-alike
# characters (曰 for 日) and the Latin letters people type instead (v for 微信).
SUBSTITUTIONS: dict[str, tuple[str, ...]] = {
    "微信": ("v", "vx", "wx", "v信", "weixin", "绿泡泡"),
    "微": ("薇", "威", "徽", "危", "嶶"),
    "信": ("亻言", "芯", "伈"),
    "日": ("曰",),
    "傻逼": ("sb", "傻b", "煞笔", "傻比", "沙比"),
    "逼": ("b", "比", "屄", "笔", "13"),  # 13 written close reads as B (装13)
    "操": ("草", "艹", "肏", "屮"),
    "操你妈": ("cnm", "草泥马"),
    "他妈的": ("tmd", "他马的"),
    "他妈": ("特么", "tm", "他喵"),
    "妈逼": ("妈卖批", "mb"),
    "婊子": ("婊砸",),
    "鸡巴": ("jb",),
    "脑残": ("nc",),
    "qq": ("扣扣", "企鹅", "球球", "抠抠"),
    "零": ("〇",),
    # The capital numerals of receipts and cheques (陆合彩).
    "一": ("壹",),
    "二": ("贰",),
    "三": ("叁",),
    "四": ("肆",),
    "五": ("伍",),
    "六": ("陆",),
    "七": ("柒",),
    "八": ("捌",),
    "九": ("玖",),
    "十": ("拾",),
    # The initials gamblers write for three-character games (initials are made only for
    # words of four characters or more: three letters are too many an abbreviation).
    "百家乐": ("bjl",),
    "时时彩": ("ssc",),
    "六合彩": ("lhc",),
    "法轮功": ("flg", "法lun功"),
    "共产党": ("gcd", "共惨党"),
    "你妈": ("你马", "尼玛", "nm"),
    "妈": ("马", "玛"),
    "你": ("泥", "尼"),
    "赌": ("堵", "睹", "笃"),
    "博": ("搏", "膊"),
    "彩": ("采",),
    "毒": ("独",),
    "枪": ("抢",),
    "群": ("裙",),
    "炮": ("泡", "砲", "p"),
    "色": ("涩", "瑟"),
    "黄": ("皇",),
    "性": ("姓",),
    "党": ("裆", "档"),
    "贷": ("代", "袋"),
    "款": ("欵",),
    "职": ("只", "织"),
    "单": ("丹",),
    "赚": ("转",),
    "死": ("4", "屎"),
    "狗": ("苟",),
    "裸": ("倮", "luo"),
    "约": ("药",),
    "嫖": ("飘",),
    "鸡": ("机", "几"),
}
