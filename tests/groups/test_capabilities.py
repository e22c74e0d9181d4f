"""What each group kind allows (`app.groups.capabilities`, wecom-platform.md §3): the channel of a
warning, a welcome and a removal for every kind and configured channel, or why there is none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.groups.capabilities import (
    NO_CHANNEL,
    Channel,
    GroupCapabilities,
    Route,
    group_post,
    warning_post,
)
from app.models import Group, GroupKind

CHAT = "wrOgAAAAchat1"
URL = "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=abc"
APPCHAT, WEBHOOK, REPLY, REMOVE = (
    Channel.APPCHAT_SEND,
    Channel.WEBHOOK_SEND,
    Channel.AIBOT_REPLY,
    Channel.APPCHAT_REMOVE,
)
CUSTOMER, INTERNAL, APP_CREATED, UNKNOWN = (
    GroupKind.CUSTOMER,
    GroupKind.INTERNAL,
    GroupKind.APP_CREATED,
    GroupKind.UNKNOWN,
)


def group(kind: GroupKind | str, *, webhook: bool = False, smart_bot: bool = False) -> Group:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    return Group(
        chat_id=CHAT,
        kind=kind,
        webhook_key="sealed-key" if webhook else None,
        smart_bot=smart_bot,
        first_seen_at=now,
        last_seen_at=now,
        updated_at=now,
    )


# (kind, webhook key set, smart bot seen) → warning without / with a response_url, welcome,
# WeCom's template greets joiners, removal
TABLE = [
    (APP_CREATED, False, False, APPCHAT, REPLY, APPCHAT, False, REMOVE),
    # An app-created group with a robot too: appchat/send first (20 posts a minute per robot).
    (APP_CREATED, True, False, APPCHAT, REPLY, APPCHAT, False, REMOVE),
    (APP_CREATED, True, True, APPCHAT, REPLY, APPCHAT, False, REMOVE),
    (INTERNAL, True, False, WEBHOOK, REPLY, WEBHOOK, False, None),
    (INTERNAL, True, True, WEBHOOK, REPLY, WEBHOOK, False, None),
    (INTERNAL, False, True, None, REPLY, None, False, None),  # the smart bot only answers
    (INTERNAL, False, False, None, REPLY, None, False, None),
    (CUSTOMER, False, False, None, REPLY, None, True, None),
    (CUSTOMER, True, False, WEBHOOK, REPLY, WEBHOOK, False, None),
    (UNKNOWN, False, True, None, REPLY, None, False, None),
    (UNKNOWN, True, True, WEBHOOK, REPLY, WEBHOOK, False, None),
]


@pytest.mark.parametrize(
    ("kind", "webhook", "smart_bot", "warning", "reply", "welcome", "template", "removal"),
    TABLE,
)
def test_what_each_group_kind_allows(
    kind: GroupKind,
    webhook: bool,
    smart_bot: bool,
    warning: Channel | None,
    reply: Channel,
    welcome: Channel | None,
    template: bool,
    removal: Channel | None,
) -> None:
    capabilities = GroupCapabilities.of(group(kind, webhook=webhook, smart_bot=smart_bot))
    assert capabilities.warning().channel is warning
    assert capabilities.warning(response_url=URL).channel is reply
    assert capabilities.welcome().channel is welcome
    assert capabilities.welcome_template is template
    assert capabilities.removal().channel is removal
    # Nothing impossible goes without a reason; nothing possible carries one.
    for route in (capabilities.warning(), capabilities.welcome(), capabilities.removal()):
        assert bool(route.cannot) is (route.channel is None), route


@pytest.mark.parametrize(
    ("kind", "webhook", "route"),
    [
        (
            CUSTOMER,
            False,
            Route(None, "a customer group: WeCom greets joiners with its welcome template"),
        ),
        (
            INTERNAL,
            False,
            Route(
                None,
                "an internal group without a webhook robot key (give the group a webhook "
                "robot key)",
            ),
        ),
        (
            UNKNOWN,
            False,
            Route(
                None,
                "a group of unknown kind without a webhook robot key (give the group a "
                "webhook robot key)",
            ),
        ),
    ],
)
def test_a_welcome_that_cannot_be_posted_says_why(
    kind: GroupKind, webhook: bool, route: Route
) -> None:
    assert GroupCapabilities.of(group(kind, webhook=webhook)).welcome() == route


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        (CUSTOMER, "WeCom has no API to remove a member; only the group's owner can"),
        (INTERNAL, "only groups this app created allow a removal"),
        (UNKNOWN, "only groups this app created allow a removal"),
    ],
)
def test_a_removal_that_cannot_be_made_says_what_a_human_must_do(kind: GroupKind, why: str) -> None:
    route = GroupCapabilities.of(group(kind, webhook=True, smart_bot=True)).removal()
    assert route.channel is None and why in route.cannot


def test_the_kind_stored_as_a_string_reads_as_the_enum() -> None:
    """A row given its kind as the stored string (a test's UPDATE, an older caller) is the
    same group kind."""
    assert GroupCapabilities.of(group("app_created")).kind is APP_CREATED
    assert GroupKind("customer") == "customer"  # a str enum: the database holds these values
    assert [kind.value for kind in GroupKind] == ["customer", "internal", "app_created", "unknown"]


# -- what is posted ------------------------------------------------------------------------

WARNING = "⚠️ @李四 **请勿刷屏**：第 1 次违规。"


def test_a_warning_in_reply_to_the_message_is_markdown_through_its_response_url() -> None:
    kind, payload, note = warning_post(group(APP_CREATED, webhook=True), URL, WARNING, "lisi")
    assert (kind, note) == ("aibot_reply", None)
    assert payload == {
        "response_url": URL,
        "body": {"msgtype": "markdown", "markdown": {"content": WARNING}},
    }


def test_a_warning_in_an_app_created_group_goes_through_appchat_even_with_a_robot() -> None:
    kind, payload, note = warning_post(group(APP_CREATED, webhook=True), "", WARNING, "lisi")
    assert (kind, note) == ("appchat_send", None)
    text = "⚠️ @李四 请勿刷屏：第 1 次违规。"  # a text: the bold's stars would show as they are
    assert payload == {"chat_id": CHAT, "msgtype": "text", "content": {"content": text}}


def test_a_masked_word_keeps_its_stars_in_a_text_post() -> None:
    """代开发票 masked is 代**票: as a text through the robot or appchat it stayed 代票."""
    warning = "⚠️ @李四 **违反群规**：「代**票」"
    for kind in (INTERNAL, APP_CREATED):
        _, payload, _ = warning_post(group(kind, webhook=True), "", warning, "lisi")
        content = payload["content"]
        text = content["content"] if isinstance(content, dict) else content
        assert text == "⚠️ @李四 违反群规：「代**票」"


def test_a_warning_through_the_robot_is_plain_text_mentioning_the_member() -> None:
    kind, payload, note = warning_post(group(INTERNAL, webhook=True), "", WARNING, "lisi")
    assert (kind, note) == ("webhook_send", None)
    assert payload == {
        "chat_id": CHAT,
        "msgtype": "text",
        "content": "⚠️ @李四 请勿刷屏：第 1 次违规。",
        "mentioned_list": ["lisi"],
    }
    assert "key" not in str(payload)  # the dispatcher reads the key from the group's row


@pytest.mark.parametrize("kind", [CUSTOMER, INTERNAL, UNKNOWN])
def test_a_warning_with_no_channel_is_kept_for_a_later_response_url(kind: GroupKind) -> None:
    outbox_kind, payload, note = warning_post(group(kind, smart_bot=True), "", WARNING, "lisi")
    assert (outbox_kind, note) == ("aibot_reply", NO_CHANNEL)
    assert payload["response_url"] == "" and payload["body"]["markdown"]["content"] == WARNING


def test_a_welcome_post_names_its_members_for_the_robot_only() -> None:
    assert group_post(WEBHOOK, CHAT, "欢迎", ["wmA", "wmB"]) == {
        "chat_id": CHAT,
        "msgtype": "text",
        "content": "欢迎",
        "mentioned_list": ["wmA", "wmB"],
    }
    assert group_post(APPCHAT, CHAT, "欢迎", ["wmA"]) == {
        "chat_id": CHAT,
        "msgtype": "text",
        "content": {"content": "欢迎"},
    }
    with pytest.raises(ValueError, match="not a post"):
        group_post(REMOVE, CHAT, "欢迎")


def test_the_kinds_the_api_and_wecom_give_are_group_kinds() -> None:
    """The REST PATCH's `kind` (a Literal, pinned by the OpenAPI test) and the kinds WeCom's
    group info gives are the enum's values, so each converts to a `GroupKind`."""
    from typing import get_args

    from app.groups.routes import GROUP_KINDS, GroupPatch
    from bot.client import GroupKind as WeComGroupKind

    annotation = GroupPatch.model_fields["kind"].annotation
    (literal,) = [arg for arg in get_args(annotation) if arg is not type(None)]
    assert (
        set(get_args(literal))
        == set(GROUP_KINDS)
        == {kind.value for kind in GroupKind} - {"unknown"}
    )
    assert {GroupKind(kind) for kind in get_args(WeComGroupKind)} == {CUSTOMER, INTERNAL}
