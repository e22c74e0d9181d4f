"""Every text the bot posts, Chinese by default, overridable from a JSON file (MESSAGES_PATH).

Templates use `$name` placeholders (string.Template); each template may use only the
placeholders listed for it, and a file that names an unknown text or placeholder stops start-up.

A lexicon category is named by `category.<value>`: the built-in ones have default names; a
word list's own label (涉毒) is shown as itself unless the file names it too
(`"category.涉毒": "涉毒违禁"`, the one kind of text a file may add: `Texts.category`).
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
        "如属误判，在群里 @机器人 发送 /pardon @$sender，或在应用单聊中发送 "
        "/pardon #$chat $sender，或调用 POST /api/v1/groups/$chat/members/$sender/pardon，"
        "清除该成员的违规记录"
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
    "welcome": "👋 欢迎 $members 加入本群！\n📌 请阅读并遵守群规：\n$rules",
    "rules.none": "请文明交流、友善互助；禁止广告引流、刷屏和违法违规内容。",
    "welcome.owner": (
        "【wecom-mod】客户群「$group」的入群欢迎语已放入企业的欢迎语素材库"
        "（素材 ID：$template_id）。企业微信不允许应用自动为客户群挂上欢迎语：请在企业微信中"
        "打开该群 → 群设置 → 入群欢迎语，选用这条素材，之后新成员入群时由企业微信自动发送。"
        "群规变化时素材会自动更新，无需重新设置。欢迎语内容：\n$text"
    ),
    "route.exact": "原文",
    "route.folded": "变形写法（全角、繁体、大小写、特殊字体等）",
    "route.gap": "字间插入符号或空格",
    "route.repeat": "重复字",
    "route.variant": "常见替代写法（谐音、形近字、缩写）",
    "route.pinyin": "拼音",
    "route.homophone": "同音字",
    "route.mixed": "汉字夹拼音",
    "route.digit": "数字或字母替代（如 4 代替“死”、3 代替 e）",
    "route.symbol": "表情或符号代替文字",
    "route.component": "拆字（如 亻言 代替“信”）",
    "route.script": "日文假名、韩文或注音符号",
    "route.inflection": "英文词形变化或复合词",
    "route.insertion": "词中插入了多余的字",
    "confidence.low": "；可信度较低，请人工确认",
    "confidence.warning": "；出现在劝诫或提醒语境中（“$cue”）",
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
    "rule.promo.short_link": "广告引流（短链接）",
    "rule.promo.phone": "广告引流（手机号）",
    "rule.promo.qq": "广告引流（QQ 号）",
    "rule.promo.wechat_id": "广告引流（微信号）",
    "rule.promo.wechat_cue": "广告引流（加微信）",
    "rule.promo.phrase": "广告引流（推广话术）",
    "rule.promo.msgtype": "广告引流（名片、小程序、链接或红包）",
    "rule.promo.qr": "广告引流（二维码）",
    "rule.promo.qr_cue": "广告引流（引导扫码）",
    "rule.promo.split": "广告引流（联系方式拆成多条消息发送）",
    "command.help_header": "wecom-mod 可用命令：",
    "command.help_line": "$usage — $help",
    "command.unknown": "未知命令 /$name。发送 /help 查看可用命令。",
    "command.refused": "抱歉，/$name 仅限管理员使用。",
    "command.not_command": "你好！我是群管理助手。发送 /help 查看可用命令。",
    "help./help": "列出你可以使用的命令",
    "help./rules": "查看本群群规",
    "help./report": "向管理员举报成员或问题（不写成员即举报群里的情况）",
    "help./rules set": "修改本群群规（不超过 2000 字，可多行）",
    "help./warn": "在群里警告成员，并记一次违规",
    "help./pardon": "清除成员在本群的违规记录",
    "help./strikes": "查看成员在本群的违规记录",
    "help./kick": "将成员移出本群（仅限本应用创建的群）",
    "help./mode": "查看或切换本群的审核模式：enforce 执行、shadow 只记录、off 关闭",
    "help./stats": "查看近 N 天的审核统计（默认 7 天）",
    "help./words add": (
        "添加敏感词：在群里只对本群生效；单聊不指定群则全公司生效（仅限管理员）。类别可用内置类别"
        "或自定义标签（如 涉毒）；级别可写 1–3（1 记录、2 复核、3 拦截）"
    ),
    "help./words del": "删除敏感词",
    "help./words test": "测试一段文字会命中哪些敏感词",
    "help./allow add": "添加放行短语（短语中的敏感词不计）",
    "help./allow del": "删除放行短语",
    "usage./help": "/help",
    "usage./rules": "/rules",
    "usage./report": "/report [@成员] [原因]",
    "usage./rules set": "/rules set 群规内容",
    "usage./warn": "/warn @成员 [原因]",
    "usage./pardon": "/pardon @成员",
    "usage./strikes": "/strikes @成员",
    "usage./kick": "/kick @成员 [原因]",
    "usage./mode": "/mode [enforce|shadow|off]",
    "usage./stats": "/stats [天数]",
    "usage./words add": "/words add 敏感词 [类别] [级别]",
    "usage./words del": "/words del 敏感词",
    "usage./words test": "/words test 文字",
    "usage./allow add": "/allow add 短语",
    "usage./allow del": "/allow del 短语",
    "command.usage": "用法：$usage",
    "command.subcommands": "/$name 的用法：\n$lines",
    "command.needs_group": (
        "/$name 需要指定群：在应用单聊中请把 #群ID（或唯一的群名）放在第一个参数，"
        "例如 /$name #wrOgAAAAchat1 …\n用法：$usage"
    ),
    "command.group_hint": (
        "在应用单聊中管理某个群时，请把 #群ID（或唯一的群名）放在第一个参数，"
        "例如：/strikes #wrOgAAAAchat1 @lisi"
    ),
    "command.group_unknown": "找不到群 #$group。请使用群 ID（chat_id），或唯一的群名。",
    "command.group_ambiguous": "有多个群叫「$group」，请改用群 ID：$candidates",
    "command.group_elsewhere": "在群里只能管理本群；管理其他群请在应用单聊中发送命令。",
    "command.member_needed": "请指定成员：@userid 或 @群昵称。",
    "command.member_unknown": "本群中找不到「$name」。请改用成员的 userid，例如 @zhangsan。",
    "command.member_ambiguous": (
        "本群有多名成员叫「$name」：$candidates。请改用 userid，例如 @$example。"
    ),
    "command.member_protected": "$member 是本群的管理员或群主，不能对其使用 /$name。",
    "command.invalid_entry": "无法处理：$problem",
    "command.rules": "📋 $group 群规：\n$rules",
    "command.rules_default": (
        "1. 友善交流，不辱骂、攻击他人\n"
        "2. 不发布色情、赌博、诈骗、政治敏感等违规内容\n"
        "3. 未经允许不发广告、链接、二维码，不拉人加好友\n"
        "4. 不刷屏"
    ),
    "command.rules_empty": "请在 /rules set 后写上群规内容。",
    "command.rules_too_long": "群规最多 $limit 字，这次有 $chars 字。",
    "command.rules_set": "已更新 $group 的群规（$chars 字）。成员发送 /rules 即可查看。",
    "command.warning": (
        "⚠️ @$member 管理员提醒：$reason。请遵守群规，这是你在本群的第 $count 次违规记录，"
        "多次违规将被移出本群。"
    ),
    "command.warn_default_reason": "违反群规",
    "command.warned": "已警告 $member（$group），这是其第 $count 次有效违规记录。$posted",
    "command.warn_posted": "警告将发到群里。",
    "command.warn_not_posted": "但本应用在该群没有发言通道，警告无法发到群里，请人工提醒。",
    "command.pardoned": "已清除 $member 在 $group 的 $count 次违规记录。",
    "command.pardon_none": "$member 在 $group 没有需要清除的违规记录。",
    "command.strikes": (
        "$member 在 $group 的有效违规：$standing 次（近 $days 天；影子模式另有 $shadow 次）\n"
        "最近的记录（北京时间）：\n$lines"
    ),
    "command.strikes_line": "· $time $rule$state",
    "command.strikes_none": "$member 在 $group 没有违规记录。",
    "command.strike_pardoned": "（已清除）",
    "command.strike_expired": "（已过期）",
    "command.strike_shadow": "（影子模式）",
    "command.kick_queued": "已请求将 $member 移出 $group。",
    "command.kick_human": (
        "企业微信不允许本应用移出 $group 的成员（该群不是本应用创建的）：请群主或管理员在"
        "企业微信中打开该群 → 群成员 → 移出 $member。"
    ),
    "command.mode": "$group 当前的审核模式：$mode。",
    "command.mode_set": "$group 的审核模式已设为：$mode。",
    "command.mode_bad": "未知模式「$value」，可选：$allowed",
    "mode.enforce": "enforce（执行：警告、提醒管理员、移出）",
    "mode.shadow": "shadow（影子：只记录会怎样处理，不发送任何消息）",
    "mode.off": "off（关闭：不审核）",
    "command.days_bad": "天数应为 1 到 $max 的整数。",
    "command.stats": (
        "📊 $scope 近 $days 天的审核统计\n"
        "> 近 24 小时消息：$messages_24h 条\n"
        "> 期间发言成员：$active 人\n"
        "> 判定违规：$flagged 次（警告 $warned，移出 $removed，提醒管理员 $alerted；"
        "其中影子模式 $shadow）\n"
        "> 主要规则：$rules\n"
        "> 违规最多：$offenders"
    ),
    "command.stats_all": "全部群",
    "command.stats_none": "无",
    "command.scope_all": "对所有群生效",
    "command.scope_group": "仅对 $group 生效",
    "command.word_added": "已添加敏感词「$word」（$category，$severity），$scope。",
    "command.word_updated": "已将敏感词「$word」改为 $category，$severity，$scope。",
    "command.word_unchanged": "敏感词「$word」已在词库中（$category，$severity），$scope。",
    "command.category_bad": (
        "不能用「$value」作类别：$problem。内置类别：$allowed；"
        "其他标签（如 涉毒）按原样作为自定义类别。"
    ),
    "command.severity_bad": "未知级别「$value」，可选：$allowed",
    "command.word_deleted": "已删除敏感词「$entry」（原先$scope）。",
    "command.word_missing": "词库中没有「$entry」（$scope 的部分）。",
    "command.allow_added": "已添加放行短语「$phrase」，$scope。",
    "command.allow_unchanged": "放行短语「$phrase」已存在，$scope。",
    "command.allow_deleted": "已删除放行短语「$entry」（原先$scope）。",
    "command.allow_missing": "放行名单中没有「$entry」（$scope 的部分）。",
    "command.entry_company_wide": (
        "「$entry」属于全公司的词库，只有管理员能在应用单聊中（不指定群）删除。"
    ),
    "command.text_too_long": "文字太长：最多 $limit 字。",
    "command.words_test_clean": "未命中敏感词（按$scope的词库）。",
    "command.words_test": "命中 $count 处（按$scope的词库）：\n$lines",
    "command.words_test_line": "· $rule（$severity）：$detail",
    "command.report_thanks": "感谢你的举报，管理员会尽快核实处理。",
    "command.report_self": "不能举报自己。",
    "command.report_not_member": "你不是 $group 的成员（或本服务还没见过你在该群发言），不能举报。",
    "command.report_nobody": "（未指明成员）",
    "report.alert": (
        "**【wecom-mod】成员举报提醒**\n"
        "> 群聊：$chat\n"
        "> 被举报：$member\n"
        "> 24 小时内举报人数：$count\n"
        "> 理由：$reasons\n"
        "> 记录编号：#$log_id\n"
        "> 处理：核实后可在群里 @机器人 使用 /warn、/kick，或用 /strikes 查看其违规记录"
    ),
    "rule.manual": "管理员手动警告",
    "rule.report": "成员举报",
    # -- join screening (app.screening) ----------------------------------------------------
    "help./screen": "对成员重新做入群筛查（昵称、所属企业、短时间内加入多个群），结果发给管理员",
    "usage./screen": "/screen @成员",
    "command.screen_queued": "已安排对 $member（$group）重新做入群筛查，结果将通过应用消息发给你。",
    "screen.alert": (
        "**【wecom-mod】入群筛查提醒**（$count 人）\n"
        "> 群聊：$chat\n"
        "$members\n"
        "> 复核：在管理后台或用 POST /api/v1/moderation-logs/{编号}/review 确认或推翻"
    ),
    "screen.alert_member": (
        "> 成员：$member（$name）\n> 发现：$findings\n> 处理：$action\n> 记录编号：#$log_id"
    ),
    "screen.alert_more": "> ……另有 $count 人，详见管理后台的审核记录（来源 join）",
    "screen.finding": "$rule（$detail）",
    "screen.name_unknown": "昵称未知",
    "screen.action.alert": (
        "请核实。客户群不能通过接口移出成员：如需移出，请群主在企业微信中打开该群 → 群成员 → "
        "移出该成员"
    ),
    "screen.action.remove": "已按群策略将其移出本群",
    "screen.action.review": "请核实（该发现需人工判断，未移出）",
    "screen.action.remove_unavailable": (
        "群策略为移出，但企业微信不允许本应用移出该群成员（仅本应用创建的群可以）：请群主在"
        "企业微信中打开该群 → 群成员 → 移出该成员"
    ),
    "screen.detail.other_corp": "企业微信用户，所属企业「$corp」不是本企业，也不在合作伙伴名单中",
    "screen.detail.hopping": "$hours 小时内加入本企业 $count 个群：$groups",
    "alert.record": "\n> 其他群的有效违规：$strikes 次（$groups）",
    "alert.record_group": "$group $count 次",
    "screen.detail.record": "在本企业其他 $count 个群有 $strikes 次有效违规：$groups",
    "screen.detail.name_only": "不是本企业的外部联系人（企业微信错误码 84061），仅按群昵称筛查",
    "screen.manual_clean": "入群筛查 $member（$group）：未发现问题。",
    "screen.manual_skipped": "入群筛查 $member（$group）：未筛查，$why。",
    "screen.skip.group_unknown": "本服务还不认识该群",
    "screen.skip.mode_off": "该群的审核模式为 off",
    "screen.skip.policy_off": "该群关闭了入群筛查（join_screening 为 off）",
    "screen.skip.exempt": "该成员是管理员、群主或员工",
    "screen.skip.company_member": "该成员是本企业成员",
    "rule.screen.other_corp": "其他企业员工入群",
    "rule.screen.hopping": "短时间内加入多个群",
    "rule.screen.name_only": "仅按昵称筛查",
    "rule.screen.record": "其他群有违规记录",
    # `wecom-mod demo`: the transcript of a sandbox scenario (app/sandbox/transcript.py)
    "demo.header": (
        "wecom-mod demo：在一次性的临时 SQLite 数据库上演示（结束即删除，不读写 DATABASE_URL 的"
        "数据）；企业微信接口由进程内的模拟代替，不会访问网络。"
    ),
    "demo.scenario": "== $name：$title",
    "demo.group": "   群类型：$kind；成员：$members",
    "demo.member": "$name（$role）",
    "demo.message": "$offset $member（$role）：$text",
    "demo.join": "$offset $members 入群",
    "demo.decision": "    → 判定：$verdict",
    "demo.why": "      · $rule：$detail",
    "demo.group_post": "    群内（$via）：$text",
    "demo.via.aibot": "智能机器人回复",
    "demo.via.appchat": "应用发送",
    "demo.via.webhook": "群机器人",
    "demo.alert": "    管理员提醒（应用消息 → $to）：",
    "demo.owner": "    群主通知（应用消息 → $to）：",
    "demo.template": "    欢迎语素材（已放入企业的欢迎语素材库，新成员入群时由企业微信发送）：",
    "demo.reporters": "$count 人举报：$reporters",
    "demo.wecom_welcome": "    群内 企业微信欢迎语：$text",
    "demo.removal": "    移出成员：$text",
    "demo.other": "    其他调用：$text",
    "demo.setup": "  （建群时）",
    "demo.later": "  （之后）",
    "demo.expected": "    预期：$expected ✓",
    "demo.unexpected": "    预期：$expected ✗ 实际：$actual",
    "demo.summary": "共 $count 个场景，$passed 个符合预期。",
    "demo.list": "$name\t$kind\t$title",
    "demo.unknown": "没有场景「$name」。可用的场景：$names",
    "demo.kind.internal": "内部群（智能机器人）",
    "demo.kind.customer": "客户群",
    "demo.kind.app_created": "本应用创建的群",
    "demo.role.newcomer": "新人",
    "demo.role.regular": "老成员",
    "demo.role.owner": "群主",
    "demo.role.moderator": "管理员",
    "demo.verdict.warn": "警告",
    "demo.verdict.remove": "移出",
    "demo.verdict.alert": "提醒管理员",
    "demo.verdict.exempt": "豁免（只记录）",
    "demo.verdict.log": "只记录",
    "demo.verdict.none": "无违规",
    "demo.outcome.ok": "无处理",
    "demo.outcome.review": "提醒管理员",
    "demo.outcome.act": "处理（警告或移出）",
    "demo.outcome.welcome": "欢迎",
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
    "confidence.warning": frozenset({"cue"}),
    "detail.signal": frozenset({"what"}),
    "detail.count": frozenset({"seconds", "count", "limit"}),
    "undo.pardon": frozenset({"chat", "sender"}),
    "welcome": frozenset({"members", "rules"}),
    "welcome.owner": frozenset({"group", "template_id", "text"}),
    "strikes.count": frozenset({"count"}),
    "command.help_line": frozenset({"usage", "help"}),
    "command.unknown": frozenset({"name"}),
    "command.refused": frozenset({"name"}),
    "command.usage": frozenset({"usage"}),
    "command.subcommands": frozenset({"name", "lines"}),
    "command.needs_group": frozenset({"name", "usage"}),
    "command.group_unknown": frozenset({"group"}),
    "command.group_ambiguous": frozenset({"group", "candidates"}),
    "command.member_unknown": frozenset({"name"}),
    "command.member_ambiguous": frozenset({"name", "candidates", "example"}),
    "command.member_protected": frozenset({"member", "name"}),
    "command.invalid_entry": frozenset({"problem"}),
    "command.rules": frozenset({"group", "rules"}),
    "command.rules_too_long": frozenset({"limit", "chars"}),
    "command.rules_set": frozenset({"group", "chars"}),
    "command.warning": frozenset({"member", "reason", "count"}),
    "command.warned": frozenset({"member", "group", "count", "posted"}),
    "command.pardoned": frozenset({"member", "group", "count"}),
    "command.pardon_none": frozenset({"member", "group"}),
    "command.strikes": frozenset({"member", "group", "standing", "days", "shadow", "lines"}),
    "command.strikes_line": frozenset({"time", "rule", "state"}),
    "command.strikes_none": frozenset({"member", "group"}),
    "command.kick_queued": frozenset({"member", "group"}),
    "command.kick_human": frozenset({"member", "group"}),
    "command.mode": frozenset({"group", "mode"}),
    "command.mode_set": frozenset({"group", "mode"}),
    "command.mode_bad": frozenset({"value", "allowed"}),
    "command.days_bad": frozenset({"max"}),
    "command.stats": frozenset(
        {
            "scope",
            "days",
            "messages_24h",
            "active",
            "flagged",
            "warned",
            "removed",
            "alerted",
            "shadow",
            "rules",
            "offenders",
        }
    ),
    "command.scope_group": frozenset({"group"}),
    "command.word_added": frozenset({"word", "category", "severity", "scope"}),
    "command.word_updated": frozenset({"word", "category", "severity", "scope"}),
    "command.word_unchanged": frozenset({"word", "category", "severity", "scope"}),
    "command.category_bad": frozenset({"value", "allowed", "problem"}),
    "command.severity_bad": frozenset({"value", "allowed"}),
    "command.word_deleted": frozenset({"entry", "scope"}),
    "command.word_missing": frozenset({"entry", "scope"}),
    "command.allow_added": frozenset({"phrase", "scope"}),
    "command.allow_unchanged": frozenset({"phrase", "scope"}),
    "command.allow_deleted": frozenset({"entry", "scope"}),
    "command.allow_missing": frozenset({"entry", "scope"}),
    "command.entry_company_wide": frozenset({"entry"}),
    "command.text_too_long": frozenset({"limit"}),
    "command.words_test_clean": frozenset({"scope"}),
    "command.words_test": frozenset({"count", "scope", "lines"}),
    "command.words_test_line": frozenset({"rule", "severity", "detail"}),
    "command.report_not_member": frozenset({"group"}),
    "report.alert": frozenset({"chat", "member", "count", "reasons", "log_id"}),
    "command.screen_queued": frozenset({"member", "group"}),
    "screen.alert": frozenset({"count", "chat", "members"}),
    "screen.alert_member": frozenset({"member", "name", "findings", "action", "log_id"}),
    "screen.alert_more": frozenset({"count"}),
    "screen.finding": frozenset({"rule", "detail"}),
    "screen.detail.other_corp": frozenset({"corp"}),
    "screen.detail.hopping": frozenset({"hours", "count", "groups"}),
    "screen.detail.record": frozenset({"count", "strikes", "groups"}),
    "alert.record": frozenset({"strikes", "groups"}),
    "alert.record_group": frozenset({"group", "count"}),
    "screen.manual_clean": frozenset({"member", "group"}),
    "screen.manual_skipped": frozenset({"member", "group", "why"}),
    "demo.scenario": frozenset({"name", "title"}),
    "demo.group": frozenset({"kind", "members"}),
    "demo.member": frozenset({"name", "role"}),
    "demo.message": frozenset({"offset", "member", "role", "text"}),
    "demo.join": frozenset({"offset", "members"}),
    "demo.decision": frozenset({"verdict"}),
    "demo.why": frozenset({"rule", "detail"}),
    "demo.group_post": frozenset({"via", "text"}),
    "demo.reporters": frozenset({"count", "reporters"}),
    "demo.alert": frozenset({"to"}),
    "demo.owner": frozenset({"to"}),
    "demo.wecom_welcome": frozenset({"text"}),
    "demo.removal": frozenset({"text"}),
    "demo.other": frozenset({"text"}),
    "demo.expected": frozenset({"expected"}),
    "demo.unexpected": frozenset({"expected", "actual"}),
    "demo.summary": frozenset({"count", "passed"}),
    "demo.list": frozenset({"name", "kind", "title"}),
    "demo.unknown": frozenset({"name", "names"}),
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

    def category(self, value: str) -> str:
        """A lexicon category in words: its configured name, or a list's label as itself."""
        return self.templates.get(f"category.{value}", value)


def _validate(key: str, template: str, where: str) -> None:
    label = key.removeprefix("category.")
    if key not in DEFAULT_TEXTS and not (key.startswith("category.") and label.strip()):
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
