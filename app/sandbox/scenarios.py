"""The sandbox's ready-made scenarios, as data: a group of one kind, its members with their
roles, and what happens in it second by second, each step with the outcome it should have.

Kinds (`wecom-platform.md` §3): `internal` — an internal group with the smart bot, whose
messages reach the service as @-mentions through the smart bot's callback; `customer` — a
customer group (客户群), whose joins arrive as `change_external_chat` app callbacks;
`app_created` — a group this app created, whose messages the chat archive brings.

Roles: `newcomer` (no history in the group), `regular` (months in the group, many messages),
`owner` (the group's owner, exempt), `moderator` (an admin of the service, exempt, alerted).

Expectations: `ok` (nothing happens), `review` (moderators alerted, nothing in the group),
`act` (the bot warns or removes, or alerts moderators to remove where WeCom lets no app do
it); a join step expects its members welcomed (`welcome`). Read by `app.sandbox.player` and
checked by `tests/sandbox`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXPECTATIONS", "KINDS", "ROLES", "SCENARIOS", "Scenario", "Step", "by_name"]

KINDS = ("internal", "customer", "app_created")
ROLES = ("newcomer", "regular", "owner", "moderator")
EXPECTATIONS = ("ok", "review", "act", "welcome")


@dataclass(frozen=True)
class Step:
    """At `t` seconds from the start: `sender` says `text`, or (`join`) members join."""

    t: float
    sender: str = ""
    text: str = ""
    expect: str = "ok"
    join: tuple[str, ...] = ()  # user ids joining the group (a customer group's join event)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str  # one line in Chinese, for `demo --list` and the console
    kind: str
    members: dict[str, str]  # user id → role
    steps: tuple[Step, ...]
    names: dict[str, str] | None = None  # user id → the name shown (group nickname)
    rules: str = "1. 友善交流\n2. 禁止广告引流\n3. 禁止刷屏"  # the group's rules

    def role(self, user: str) -> str:
        return self.members.get(user, "newcomer")

    def display(self, user: str) -> str:
        return (self.names or {}).get(user, user)


_AD = "【招聘】在家兼职，手机操作，日结200-500，不收任何费用，有意者私我"

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="phone-ad",
        title="新人发贷款广告，手机号写成汉字数字拆开藏在句子里：被警告，管理员收到提醒",
        kind="internal",
        members={"lisi": "regular", "wangjl": "newcomer", "mod-alice": "moderator"},
        names={"lisi": "李四", "wangjl": "王经理", "mod-alice": "管理员Alice"},
        steps=(
            Step(0, "lisi", "今天电梯修好了吗"),
            Step(
                15,
                "wangjl",
                "急用钱的朋友看过来，当天放款，前面是一三八，中间是零零一三，后面八零零零，打给张经理",
                expect="act",
            ),
            Step(30, "lisi", "又是广告"),
        ),
    ),
    Scenario(
        name="spam-wave",
        title="四个新账号一分钟内发同一条兼职广告：第三条起按多人刷屏警告（本应用创建的群）",
        kind="app_created",
        members={
            "wmW1aa": "newcomer",
            "wmW2bb": "newcomer",
            "wmW3cc": "newcomer",
            "wmW4dd": "newcomer",
            "wmOld2": "regular",
            "kf": "moderator",
            "boss": "owner",
        },
        steps=(
            Step(0, "wmW1aa", _AD),
            Step(12, "wmW2bb", _AD),
            Step(25, "wmW3cc", _AD, expect="act"),
            Step(41, "wmW4dd", _AD, expect="act"),
            Step(60, "wmOld2", "怎么一下子这么多广告"),
        ),
    ),
    Scenario(
        name="flood",
        title="新人几秒内连发多条催客服：前六条放过，之后按刷屏警告",
        kind="internal",
        members={"xiaoliu": "newcomer", "mod-alice": "moderator"},
        names={"xiaoliu": "小刘"},
        steps=(
            Step(0, "xiaoliu", "在吗"),
            Step(0, "xiaoliu", "有人吗"),
            Step(1, "xiaoliu", "???"),
            Step(2, "xiaoliu", "客服呢"),
            Step(2, "xiaoliu", "人呢"),
            Step(3, "xiaoliu", "怎么没人"),
            Step(4, "xiaoliu", "在不在", expect="act"),
            Step(5, "xiaoliu", "回个话", expect="act"),
            Step(20, "mod-alice", "您好，请一次把问题说清楚，我们按顺序处理"),
        ),
    ),
    Scenario(
        name="newcomer-link",
        title="新同事入职第一天分享腾讯文档链接：工作链接，不警告",
        kind="internal",
        members={"xiaochen": "newcomer", "lead": "regular", "pm": "regular"},
        names={"xiaochen": "陈晓雨", "lead": "组长", "pm": "产品经理"},
        steps=(
            Step(0, "lead", "欢迎晓雨加入，以后华南渠道的数据她来汇总"),
            Step(10, "xiaochen", "大家好，我是晓雨，请多关照🙏"),
            Step(
                300,
                "xiaochen",
                "华南渠道周报-第26周 腾讯文档 https://docs.qq.com/sheet/DTW9XaWxLbmRqZ0Fl",
            ),
            Step(305, "xiaochen", "这是本周的周报，大家看下有没有漏的客户"),
            Step(400, "pm", "👍 很清楚"),
        ),
    ),
    Scenario(
        name="birthday-wave",
        title="大家接连发“生日快乐”：多人发相同内容，但不是刷屏，不警告",
        kind="internal",
        members={
            "alice": "regular",
            "bob": "regular",
            "carol": "regular",
            "dave": "regular",
            "newbie": "newcomer",
            "boss": "owner",
        },
        steps=(
            Step(0, "alice", "今天是老王生日，大家祝他生日快乐🎂"),
            Step(4, "bob", "生日快乐！"),
            Step(6, "carol", "生日快乐🎉🎉"),
            Step(9, "dave", "老王生日快乐，永远18岁"),
            Step(11, "newbie", "王哥生日快乐！🎂"),
            Step(15, "boss", "生日快乐，大吉大利"),
            Step(18, "carol", "生日快乐！"),
            Step(40, "alice", "生日快乐！今年发大财💰"),
        ),
    ),
    Scenario(
        name="reported",
        title="三名成员先后用 /report 举报同一成员：管理员收到一次提醒",
        kind="internal",
        members={
            "zhaowu": "regular",
            "alice": "regular",
            "bob": "regular",
            "carol": "regular",
            "mod-alice": "moderator",
        },
        names={"zhaowu": "赵五", "alice": "艾丽", "bob": "鲍勃", "carol": "卡罗"},
        steps=(
            Step(0, "zhaowu", "有需要理财的私聊我，稳赚不赔"),
            Step(60, "alice", "/report @zhaowu 一直私聊推销理财"),
            Step(120, "bob", "/report @zhaowu 私信骚扰"),
            Step(180, "carol", "/report @zhaowu", expect="review"),
        ),
    ),
    Scenario(
        name="welcome",
        title="三位客户扫码入群：合并成一条欢迎语（附群规），客户群由企业微信的欢迎语素材发送",
        kind="customer",
        members={"wmOld1": "regular", "owner1": "owner", "mod-alice": "moderator"},
        names={
            "wmOld1": "老客户",
            "owner1": "张店长",
            "wmNew1": "小美",
            "wmNew2": "阿杰",
            "wmNew3": "Lily",
            "mod-alice": "管理员Alice",
        },
        steps=(
            Step(0, join=("wmNew1",), expect="welcome"),
            Step(5, join=("wmNew2",), expect="welcome"),
            Step(10, join=("wmNew3",), expect="welcome"),
        ),
    ),
)


def by_name(name: str) -> Scenario | None:
    return next((scenario for scenario in SCENARIOS if scenario.name == name), None)
