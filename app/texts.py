"""Every text the bot posts, Chinese by default, overridable from a JSON file (MESSAGES_PATH).

Templates use `$name` placeholders (string.Template); each template may use only the
placeholders listed for it, and a file that names an unknown text or placeholder stops start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from app.json_file import read_json_setting
from app.settings import SettingsError

__all__ = ["DEFAULT_TEXTS", "PLACEHOLDERS", "Texts", "load_texts"]

DEFAULT_TEXTS: dict[str, str] = {
    "warning": (
        "⚠️ @$sender 你的消息违反了群规：**$rule**（$detail）。请文明交流，多次违规将由管理员处理。"
    ),
    "warning.final": (
        "⛔ @$sender 最后一次警告：你的消息再次违反群规：**$rule**（$detail）。"
        "再次违规将被移出本群。"
    ),
    "alert": (
        "**【wecom-mod】违规消息提醒**\n"
        "> 群聊：$chat\n"
        "> 成员：$sender\n"
        "> 规则：$rule（$severity）\n"
        "> 依据：$detail\n"
        "> 证据：$evidence\n"
        "> 违规次数：$strikes\n"
        "> 处理：$action\n"
        "> 记录编号：#$log_id\n"
        "> 撤销：$undo"
    ),
    "alert.digest": (
        "**【wecom-mod】违规消息汇总**（$count 条，合并发送以免刷屏）\n$lines\n"
        "> 详情见管理后台或 GET /api/v1/moderation-logs/{编号}"
    ),
    "alert.digest_line": "> #$log_id $chat · $sender · $rule · $verdict",
    "verdict.remove": "已移出",
    "verdict.warn": "已警告",
    "verdict.alert": "待处理",
    "detail.word": "命中「$word」，$how",
    "detail.signal": "「$what」",
    "detail.count": "$seconds 秒内 $count 条，上限 $limit 条",
    "detail.none": "—",
    "undo.pardon": (
        "如属误判，调用 POST /api/v1/groups/$chat/members/$sender/pardon 清除该成员的违规记录"
    ),
    "undo.none": "无需撤销（未计入违规）",
    "strikes.none": "未计入",
    "strikes.count": "第 $count 次",
    "action.warn": "已在群内警告该成员",
    "action.final_warning": "已在群内发出最后警告",
    "action.remove": "已将该成员移出群聊",
    "action.human_remove": (
        "已达移除条件，但企业微信不允许本应用移出该群成员：请群主或管理员在企业微信中"
        "打开该群 → 群成员 → 移出该成员"
    ),
    "action.exempt": "该成员为管理员或员工，不做处理，仅记录",
    "action.alert": "仅通知管理员，未在群内警告",
    "action.warn_unavailable": "未能在群内警告（该消息没有可用的回复通道），请人工提醒",
    "chat.direct": "单聊",
    "route.exact": "原文",
    "route.folded": "变形写法（全角、繁体、大小写、特殊字体等）",
    "route.gap": "字间插入符号或空格",
    "route.repeat": "重复字",
    "route.variant": "谐音或形近字",
    "route.pinyin": "拼音",
    "confidence.low": "；可信度较低，请人工确认",
    "severity.block": "拦截级",
    "severity.review": "复核级",
    "severity.log": "记录级",
    "category.politics": "政治敏感",
    "category.porn": "色情低俗",
    "category.gambling": "赌博",
    "category.fraud": "诈骗",
    "category.abuse": "辱骂攻击",
    "category.ads": "广告引流",
    "category.custom": "自定义敏感词",
    "rule.flood.rate": "刷屏（短时间内发送过多消息）",
    "rule.flood.repeat": "刷屏（重复发送相同内容）",
    "rule.flood.wave": "刷屏（多人复制粘贴同一内容）",
    "rule.flood.short_burst": "刷屏（连续发送大量短消息）",
    "rule.flood.repeated_char": "刷屏（大量重复字符）",
    "rule.flood.too_long": "刷屏（消息过长）",
    "rule.promo.url": "广告引流（链接）",
    "rule.promo.phone": "广告引流（手机号）",
    "rule.promo.qq": "广告引流（QQ 号）",
    "rule.promo.wechat_id": "广告引流（微信号）",
    "rule.promo.wechat_cue": "广告引流（加微信）",
    "rule.promo.phrase": "广告引流（推广话术）",
    "rule.promo.msgtype": "广告引流（名片、小程序、链接或红包）",
    "rule.promo.qr": "广告引流（二维码）",
    "command.help_header": "wecom-mod 可用命令：",
    "command.help_line": "$usage — $help",
    "command.unknown": "未知命令 /$name。发送 /help 查看可用命令。",
    "command.refused": "抱歉，/$name 仅限管理员使用。",
    "command.not_command": "你好！我是群管理助手。发送 /help 查看可用命令。",
    "help./help": "列出你可以使用的命令",
}

# The placeholders each template may use; texts not listed here take none.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "warning": frozenset({"sender", "rule", "detail", "word", "severity", "how"}),
    "warning.final": frozenset({"sender", "rule", "detail", "word", "severity", "how"}),
    "alert": frozenset(
        {
            "chat",
            "sender",
            "rule",
            "severity",
            "detail",
            "word",
            "how",
            "evidence",
            "strikes",
            "action",
            "log_id",
            "undo",
        }
    ),
    "alert.digest": frozenset({"count", "lines"}),
    "alert.digest_line": frozenset({"log_id", "chat", "sender", "rule", "verdict"}),
    "detail.word": frozenset({"word", "how"}),
    "detail.signal": frozenset({"what"}),
    "detail.count": frozenset({"seconds", "count", "limit"}),
    "undo.pardon": frozenset({"chat", "sender"}),
    "strikes.count": frozenset({"count"}),
    "command.help_line": frozenset({"usage", "help"}),
    "command.unknown": frozenset({"name"}),
    "command.refused": frozenset({"name"}),
}


@dataclass(frozen=True)
class Texts:
    templates: dict[str, str]

    def render(self, key: str, **values: Any) -> str:
        return Template(self.templates[key]).safe_substitute(
            {name: str(value) for name, value in values.items()}
        )

    def __getitem__(self, key: str) -> str:
        return self.templates[key]


def _validate(key: str, template: str, where: str) -> None:
    if key not in DEFAULT_TEXTS:
        raise SettingsError(f"{where}: unknown text {key!r}")
    try:
        names = set(Template(template).get_identifiers())
        valid = Template(template).is_valid()
    except ValueError as exc:  # pragma: no cover - is_valid covers the usual cases
        raise SettingsError(f"{where}: text {key!r}: {exc}") from None
    if not valid:
        raise SettingsError(f"{where}: text {key!r}: a '$' not followed by a name (write $$)")
    unknown = names - PLACEHOLDERS.get(key, frozenset())
    if unknown:
        allowed = ", ".join(sorted(PLACEHOLDERS.get(key, ()))) or "none"
        raise SettingsError(
            f"{where}: text {key!r} uses unknown placeholder ${sorted(unknown)[0]} "
            f"(allowed: {allowed})"
        )


def load_texts(path: Path | None) -> Texts:
    """The defaults, overridden by the JSON object in `path` (MESSAGES_PATH) when given."""
    templates = dict(DEFAULT_TEXTS)
    if path is None:
        return Texts(templates)
    where = f"MESSAGES_PATH {path}"
    overrides = read_json_setting(path, "MESSAGES_PATH")
    if not isinstance(overrides, dict) or not all(
        isinstance(value, str) for value in overrides.values()
    ):
        raise SettingsError(f"{where}: must be a JSON object of text name → string")
    for key, template in overrides.items():
        _validate(key, template, where)
        templates[key] = template
    return Texts(templates)
