"""The whole path through the real ASGI app, on SQLite and on PostgreSQL: encrypted callback in,
inbox, moderation, log + outbox, the HTTP calls to the fake WeCom API out, the log over REST."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, func, select

from app.models import GroupMember, InboxEvent, ModerationLog, ModerationLogRule, OutboxAction
from app.repositories.moderation_log import rules_of
from bot.parsing import parse_app_message
from tests import support
from tests.conftest import Service


async def count(service: Service, model: type) -> int:
    async with service.runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_group_text_with_lexicon_word_warns_alerts_and_logs_once(service: Service) -> None:
    response = await service.post_aibot(support.aibot_group_text("今晚一起去赌博吧", msgid="m-1"))
    assert response.status_code == 200
    await service.settle()

    warnings = service.wecom.bodies("/cgi-bin/aibot/response")
    assert len(warnings) == 1
    assert service.wecom.calls("/cgi-bin/aibot/response")[0].url.params["response_code"] == "m-1"
    content = warnings[0]["markdown"]["content"]
    assert warnings[0]["msgtype"] == "markdown"
    assert "@zhangsan" in content and "赌博" in content  # the rule's name
    assert "赌*" in content and "「赌博」" not in content  # the word, masked

    alerts = service.wecom.bodies("/cgi-bin/message/send")
    assert len(alerts) == 1
    assert alerts[0]["touser"] == "mod-alice|mod-bob"
    assert alerts[0]["agentid"] == support.AGENT_ID
    assert alerts[0]["msgtype"] == "markdown"
    alert = alerts[0]["markdown"]["content"]
    assert "wrOgAAAAchat1" in alert and "zhangsan" in alert and "今晚一起去赌*吧" in alert
    assert service.wecom.calls("/cgi-bin/message/send")[0].url.params["access_token"] == "TOKEN-1"

    page = (await service.api("/api/v1/moderation-logs")).json()
    assert len(page["items"]) == 1
    item = page["items"][0]
    assert item["chat_id"] == "wrOgAAAAchat1"
    assert item["user_id"] == "zhangsan"
    assert item["decision"] == "warn"
    assert item["action_status"] == "sent"
    assert [f["word"] for f in item["findings"]] == ["赌博"]
    text = item["text"]
    finding = item["findings"][0]
    assert text[finding["start"] : finding["end"]] == "赌博"
    assert {a["kind"]: a["status"] for a in item["actions"]} == {
        "aibot_reply": "sent",
        "app_message": "sent",
    }
    one = await service.api(f"/api/v1/moderation-logs/{item['id']}")
    assert one.status_code == 200 and one.json() == item


async def test_same_delivery_three_more_times_still_one_of_each(service: Service) -> None:
    plaintext = support.aibot_group_text("赌博群拉人", msgid="m-dup")
    for _ in range(4):
        response = await service.post_aibot(plaintext)
        assert response.status_code == 200
        await service.settle()
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 1
    assert len(service.wecom.calls("/cgi-bin/message/send")) == 1
    assert len((await service.api("/api/v1/moderation-logs")).json()["items"]) == 1
    assert await count(service, InboxEvent) == 1


async def test_retries_arriving_before_processing_store_one_event(service: Service) -> None:
    plaintext = support.aibot_group_text("赌博", msgid="m-burst")
    for _ in range(3):
        assert (await service.post_aibot(plaintext)).status_code == 200
    await service.settle()
    assert await count(service, InboxEvent) == 1
    assert await count(service, ModerationLog) == 1
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 1


async def test_clean_group_text_leaves_no_trace_but_the_inbox_key(service: Service) -> None:
    assert (await service.post_aibot(support.aibot_group_text("好的 谢谢"))).status_code == 200
    await service.settle()
    assert service.wecom.requests == []
    assert await count(service, ModerationLog) == 0
    async with service.runtime.sessions() as session:
        row = (await session.execute(select(InboxEvent))).scalar_one()
    assert row.status == "done" and row.plaintext is None  # message text is not kept


async def test_review_word_alerts_without_warning(service: Service) -> None:
    await service.post_aibot(support.aibot_group_text("私聊加微信领福利", msgid="m-review"))
    await service.settle()
    assert service.wecom.calls("/cgi-bin/aibot/response") == []
    assert len(service.wecom.calls("/cgi-bin/message/send")) == 1
    item = (await service.api("/api/v1/moderation-logs")).json()["items"][0]
    assert item["decision"] == "alert"


async def test_log_tier_word_is_recorded_only(service: Service) -> None:
    await service.post_aibot(support.aibot_group_text("口交", msgid="m-log"))
    await service.settle()
    assert service.wecom.requests == []
    item = (await service.api("/api/v1/moderation-logs")).json()["items"][0]
    assert item["decision"] == "log" and item["action_status"] == "none"


async def test_app_help_command_answers_by_app_message(service: Service) -> None:
    response = await service.post_app(support.app_text("/help", sender="mod-alice"))
    assert response.status_code == 200
    await service.settle()
    sent = service.wecom.bodies("/cgi-bin/message/send")
    assert len(sent) == 1
    assert sent[0]["touser"] == "mod-alice"
    assert sent[0]["msgtype"] == "text"
    assert "/help" in sent[0]["text"]["content"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("/nosuch", "未知命令 /nosuch"), ("你好", "发送 /help")],
)
async def test_app_chat_other_texts_get_a_pointer_to_help(
    service: Service, text: str, expected: str
) -> None:
    await service.post_app(support.app_text(text, sender="lisi", msg_id="99"))
    await service.settle()
    (sent,) = service.wecom.bodies("/cgi-bin/message/send")
    assert expected in sent["text"]["content"]


async def test_aibot_help_command_in_group_replies_there(service: Service) -> None:
    await service.post_aibot(support.aibot_group_text("/help", msgid="m-help"))
    await service.settle()
    (reply,) = service.wecom.bodies("/cgi-bin/aibot/response")
    assert "/help" in reply["markdown"]["content"]
    assert await count(service, ModerationLog) == 0


@pytest.mark.parametrize("members", [["wmEAAAJack"], ["wmEAAAJack", "wmEAAARose", "zhangsan"]])
async def test_change_external_chat_is_parsed_and_stored(
    service: Service, members: list[str]
) -> None:
    plaintext = support.external_chat_change(members)
    assert (await service.post_app(plaintext)).status_code == 200
    assert (await service.post_app(plaintext)).status_code == 200  # a retry
    async with service.runtime.sessions() as session:
        rows = (await session.execute(select(InboxEvent))).scalars().all()
    assert len(rows) == 1
    row = rows[0]
    assert row.kind == "change_external_chat"
    assert row.chat_id == "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
    assert row.dedupe_key.startswith("app:sha256:")
    event = parse_app_message(row.plaintext or "")
    assert event.members == tuple(members)  # type: ignore[union-attr]
    await service.settle()
    async with service.runtime.sessions() as session:
        row = (await session.execute(select(InboxEvent))).scalar_one()
    assert row.status == "done"
    assert row.plaintext is not None  # membership events are kept for the group registry


async def test_url_verification_answers_plain_echostr_on_both_endpoints(service: Service) -> None:
    for path, signer in (
        ("/wecom/callback", support.app_signer()),
        ("/wecom/aibot", support.aibot_signer()),
    ):
        echostr = signer.cipher.encrypt("8736254129834712")
        response = await service.http.get(f"{path}?{signer.query(echostr, echostr=True)}")
        assert response.status_code == 200, response.text
        assert response.text == "8736254129834712"
        assert response.headers["content-type"].startswith("text/plain")


def _tamper_signature(service: Service) -> tuple[str, bytes]:
    signer = support.aibot_signer()
    encrypted = signer.cipher.encrypt(support.aibot_group_text("赌博"))
    return signer.query(encrypted, signature="0" * 40), support.aibot_envelope(encrypted)


def _stale(service: Service) -> tuple[str, bytes]:
    signer = support.aibot_signer()
    encrypted = signer.cipher.encrypt(support.aibot_group_text("赌博"))
    return signer.query(encrypted, timestamp=1_600_000_000), support.aibot_envelope(encrypted)


def _wrong_receiveid(service: Service) -> tuple[str, bytes]:
    # Encrypted with the smart bot's key but addressed to a corp, as an app callback would be.
    from bot.crypto import CallbackCipher

    other = CallbackCipher(
        token=support.AIBOT_TOKEN,
        encoding_aes_key=support.AIBOT_AES_KEY,
        receive_id="wwSomeOtherCorp",
    )
    encrypted = other.encrypt(support.aibot_group_text("赌博"))
    return support.aibot_signer().query(encrypted), support.aibot_envelope(encrypted)


def _signed(encrypted: str) -> tuple[str, bytes]:
    return support.aibot_signer().query(encrypted), support.aibot_envelope(encrypted)


def _bad_padding(service: Service) -> tuple[str, bytes]:
    import base64

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(support.AIBOT_AES_KEY + "=")
    message = b"{}"
    plain = b"\x00" * 16 + len(message).to_bytes(4, "big") + message  # receiveid "" follows
    plain += bytes([40]) * (64 - len(plain))  # pad byte 40: larger than WeCom's 32
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return _signed(base64.b64encode(enc.update(plain) + enc.finalize()).decode())


def _bad_base64(service: Service) -> tuple[str, bytes]:
    return _signed("not*base64!!")


def _oversized(service: Service) -> tuple[str, bytes]:
    return _signed("A" * 300_000)


def _not_json(service: Service) -> tuple[str, bytes]:
    return support.aibot_signer().query("x"), b"<xml>not json</xml>"


def _json_without_encrypt(service: Service) -> tuple[str, bytes]:
    return support.aibot_signer().query("x"), json.dumps({"hello": 1}).encode()


def _deeply_nested(service: Service) -> tuple[str, bytes]:
    return support.aibot_signer().query("x"), b"[" * 100_000 + b"]" * 100_000


def _plaintext_not_json(service: Service) -> tuple[str, bytes]:
    return _signed(support.aibot_signer().cipher.encrypt("<xml>not json</xml>"))


def _missing_signature(service: Service) -> tuple[str, bytes]:
    encrypted = support.aibot_signer().cipher.encrypt(support.aibot_group_text("赌博"))
    return "timestamp=1&nonce=2", support.aibot_envelope(encrypted)


@pytest.mark.parametrize(
    ("build", "status"),
    [
        (_tamper_signature, 403),
        (_stale, 403),
        (_wrong_receiveid, 403),
        (_bad_padding, 400),
        (_bad_base64, 400),
        (_oversized, 413),
        (_not_json, 400),
        (_json_without_encrypt, 400),
        (_deeply_nested, 400),
        (_plaintext_not_json, 400),
        (_missing_signature, 400),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_bad_aibot_deliveries_get_4xx_and_store_nothing(
    service: Service, build: object, status: int
) -> None:
    query, body = build(service)  # type: ignore[operator]
    response = await service.http.post(f"/wecom/aibot?{query}", content=body)
    assert response.status_code == status, response.text
    assert response.text and "Traceback" not in response.text
    await service.settle()
    assert await count(service, InboxEvent) == 0
    assert service.wecom.requests == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not xml",
        b"<xml><ToUserName>x</ToUserName></xml>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<xml><Encrypt>&b;</Encrypt></xml>",
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>',
    ],
    ids=["not-xml", "no-encrypt", "entity-expansion", "external-entity"],
)
async def test_bad_app_envelopes_get_400_and_store_nothing(service: Service, body: bytes) -> None:
    response = await service.http.post(
        f"/wecom/callback?{support.app_signer().query('x')}", content=body
    )
    assert response.status_code == 400
    assert await count(service, InboxEvent) == 0


async def test_app_callback_signed_for_the_smart_bot_is_refused(service: Service) -> None:
    """The two channels have their own token, key and receiveid."""
    signer = support.aibot_signer()
    encrypted = signer.cipher.encrypt(support.app_text("/help"))
    response = await service.http.post(
        f"/wecom/callback?{signer.query(encrypted)}", content=support.app_envelope(encrypted)
    )
    assert response.status_code == 403
    assert await count(service, InboxEvent) == 0


async def test_warning_that_cannot_be_sent_is_retried_then_succeeds(service: Service) -> None:
    service.wecom.scripted["/cgi-bin/aibot/response"] = [(502, {})]
    await service.post_aibot(support.aibot_group_text("赌博", msgid="m-retry"))
    await service.settle()
    async with service.runtime.sessions() as session:
        warn = (
            await session.execute(select(OutboxAction).where(OutboxAction.kind == "aibot_reply"))
        ).scalar_one()
        assert warn.status == "pending" and warn.attempts == 1
        assert "HTTP 502" in (warn.last_error or "")
        warn.next_attempt_at = service.runtime.now()  # let the backoff pass
        await session.commit()
    await service.settle()
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 2
    item = (await service.api("/api/v1/moderation-logs")).json()["items"][0]
    assert item["action_status"] == "sent"


async def test_aibot_one_to_one_text_gets_a_pointer_to_help(service: Service) -> None:
    plaintext = json.loads(support.aibot_group_text("你好", msgid="m-single"))
    plaintext["chattype"] = "single"
    del plaintext["chatid"]
    await service.post_aibot(json.dumps(plaintext, ensure_ascii=False))
    await service.settle()
    (reply,) = service.wecom.bodies("/cgi-bin/aibot/response")
    assert "/help" in reply["markdown"]["content"]
    assert await count(service, ModerationLog) == 0


async def test_url_verification_keeps_a_raw_plus_in_echostr(service: Service) -> None:
    """WeCom may send base64 '+' unescaped; a form decoder would turn it into a space."""
    signer = support.aibot_signer()
    echostr = next(
        candidate
        for index in range(1000)
        if "+"
        in (
            candidate := signer.cipher.encrypt("echo-plus", random_prefix=bytes([index % 256]) * 16)
        )
    )
    query = signer.query(echostr).replace("&nonce", f"&echostr={echostr}&nonce")
    response = await service.http.get(f"/wecom/aibot?{query}")
    assert response.status_code == 200, response.text
    assert response.text == "echo-plus"


async def test_one_broken_event_does_not_hold_back_its_batch(service: Service) -> None:
    from app.judging.processing import MAX_ATTEMPTS
    from app.repositories import inbox as inbox_repo

    await service.post_aibot(support.aibot_group_text("赌博", msgid="m-before"))
    async with service.runtime.sessions() as session, session.begin():
        await inbox_repo.store_once(
            session,
            inbox_repo.pending_row(
                dedupe_key="aibot:msg:poison",
                source="aibot",
                kind="aibot_text",
                chat_id="c",
                sender="u",
                plaintext="{not json",
                now=service.runtime.now(),
            ),
        )
    await service.post_aibot(support.aibot_group_text("赌博", msgid="m-after"))
    await service.settle()
    assert await count(service, ModerationLog) == 2
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 2
    for _ in range(MAX_ATTEMPTS):
        await service.settle()
    async with service.runtime.sessions() as session:
        poison = (
            await session.execute(
                select(InboxEvent).where(InboxEvent.dedupe_key.contains("poison"))
            )
        ).scalar_one()
    assert poison.status == "failed"
    assert poison.attempts == MAX_ATTEMPTS
    assert "MalformedMessage" in (poison.last_error or "")


async def test_database_outage_while_processing_costs_no_attempt(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from app.judging.processing import InboxProcessor

    async def outage(*_args: object) -> bool:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    await service.post_aibot(support.aibot_group_text("赌博", msgid="m-outage"))
    processor = InboxProcessor(
        service.runtime.sessions, service.runtime.context, clock=service.runtime.clock
    )
    monkeypatch.setattr(processor, "_handle", outage)
    with pytest.raises(OperationalError):
        await processor.process_pending()
    async with service.runtime.sessions() as session:
        row = (await session.execute(select(InboxEvent))).scalar_one()
    assert (row.status, row.attempts) == ("pending", 0)
    await service.settle()
    assert len(service.wecom.calls("/cgi-bin/aibot/response")) == 1


async def test_disguised_word_is_warned_with_how_it_was_found(service: Service) -> None:
    """賭賭博博 (traditional, each character doubled) is caught; the warning and the alert say
    how, and the log keeps the explanation with the exact span."""
    await service.post_aibot(support.aibot_group_text("今晚一起去賭賭博博吧", msgid="m-disguise"))
    await service.settle()
    (warning,) = service.wecom.bodies("/cgi-bin/aibot/response")
    assert "重复字、变形写法" in warning["markdown"]["content"]
    (alert,) = service.wecom.bodies("/cgi-bin/message/send")
    assert "重复字、变形写法" in alert["markdown"]["content"]
    item = (await service.api("/api/v1/moderation-logs")).json()["items"][0]
    (finding,) = item["findings"]
    assert item["text"][finding["start"] : finding["end"]] == "賭賭博博"
    assert finding["evidence"] == "赌赌博博"
    assert finding["routes"] == ["repeat", "folded"]
    assert finding["confidence"] == "high"
    assert "via repeat+folded" in finding["explanation"]


async def test_short_word_across_noise_alerts_moderators_but_warns_nobody(
    service: Service,
) -> None:
    await service.post_aibot(support.aibot_group_text("来 赌-博 吧", msgid="m-low"))
    await service.settle()
    assert service.wecom.calls("/cgi-bin/aibot/response") == []
    (alert,) = service.wecom.bodies("/cgi-bin/message/send")
    assert "可信度较低" in alert["markdown"]["content"]
    item = (await service.api("/api/v1/moderation-logs")).json()["items"][0]
    assert item["decision"] == "alert"
    assert item["findings"][0]["effective_severity"] == "review"


async def test_forwarded_anti_fraud_notice_warns_nobody_and_says_why(service: Service) -> None:
    """A colleague forwards a notice that names 赌博 to forbid it: the moderators see it in
    review, with the cue, and nobody is warned in the group."""
    notice = "【社区提醒】严禁在楼道内赌博，发现请联系物业"
    await service.post_aibot(support.aibot_group_text(notice, msgid="m-notice"))
    await service.settle()
    assert service.wecom.calls("/cgi-bin/aibot/response") == []
    (alert,) = service.wecom.bodies("/cgi-bin/message/send")
    assert "劝诫或提醒语境中（“严禁”）" in alert["markdown"]["content"]
    item = (await service.api("/api/v1/moderation-logs")).json()["items"][0]
    assert item["decision"] == "alert"
    (finding,) = item["findings"]
    assert (finding["warning"], finding["effective_severity"]) == ("严禁", "review")


async def test_a_batch_of_messages_is_judged_with_a_few_statements_not_a_few_per_message(
    service: Service,
) -> None:
    """50 clean messages from 25 members in 5 groups: groups, members, strikes and flood
    history are read for the whole batch, and the members' counts written in one go."""
    for index in range(50):
        answer = await service.post_aibot(
            support.aibot_group_text(
                f"今天的第{index}条消息",
                msgid=f"few-{index}",
                sender=f"member-{index % 25}",
                chat_id=f"wrFew{index % 5}",
            )
        )
        assert answer.status_code == 200
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    engine = service.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert await service.runtime.processor.process_pending() == 50
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # 15 before the health rollups (groups and members new here: a SELECT and an INSERT each;
    # a later batch of known ones reads them with one SELECT each; with the chat archive off no
    # message copies are read, written or pruned), which add one upsert per table (3) and, in
    # the pruning pass this first call makes, a delete of old days per table (2): 20 on SQLite,
    # 18 on PostgreSQL.
    assert len(statements) <= 20, "\n".join(statements)
    assert not any("message_copies" in statement for statement in statements)
    assert sum("health_" in statement for statement in statements) == 5
    async with service.runtime.sessions() as session:
        counts = (
            await session.execute(
                select(GroupMember.chat_id, func.sum(GroupMember.messages)).group_by(
                    GroupMember.chat_id
                )
            )
        ).all()
    assert sorted(counts) == [(f"wrFew{chat}", 10) for chat in range(5)]


async def test_each_log_row_is_written_with_the_rules_of_its_findings(service: Service) -> None:
    """The log's rule filter reads `moderation_log_rules`: the judged messages' rows have
    theirs, written in the batch's transaction."""
    for index, words in enumerate(
        ["今晚一起去赌博吧", "加我微信 vx123456 领红包", "赌博 加vx123456"]
    ):
        await service.post_aibot(support.aibot_group_text(words, msgid=f"rules-{index}"))
    await service.settle()
    async with service.runtime.sessions() as session:
        logs = (await session.execute(select(ModerationLog))).scalars().all()
        kept = (await session.execute(select(ModerationLogRule))).scalars().all()
    assert len(logs) == 3
    expected = {(entry.id, rule) for entry in logs for rule in rules_of(entry.findings)}
    assert {(rule.moderation_log_id, rule.rule) for rule in kept} == expected
    assert {rule for _id, rule in expected} >= {"word.gambling", "promo.wechat_id"}
    created = {entry.id: entry.created_at for entry in logs}
    assert all(rule.created_at == created[rule.moderation_log_id] for rule in kept)
