"""REST API v1 and the health endpoints, through the real ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.models import ModerationLog
from tests import support
from tests.conftest import Service, make_settings, start_service


async def flag(
    service: Service,
    count: int,
    *,
    sender: str = "zhangsan",
    chat_id: str = "chat-a",
    prefix: str = "m",
) -> None:
    for index in range(count):
        await service.post_aibot(
            support.aibot_group_text(
                "赌博", msgid=f"{prefix}-{index}", sender=sender, chat_id=chat_id
            )
        )
    await service.settle()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Basic {support.ADMIN_TOKEN}"},
        {"Authorization": f"Bearer {support.ADMIN_TOKEN}x"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer 令牌".encode()},
    ],
)
async def test_missing_or_wrong_token_is_401(service: Service, headers: dict) -> None:
    for path in ("/api/v1/moderation-logs", "/api/v1/moderation-logs/1"):
        response = await service.http.get(path, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "missing or wrong bearer token"}
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_filters_by_chat_user_and_time(service: Service) -> None:
    await flag(service, 2, sender="zhangsan", chat_id="chat-a", prefix="a")
    await flag(service, 1, sender="lisi", chat_id="chat-b", prefix="b")
    all_items = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert len(all_items) == 3
    assert [item["id"] for item in all_items] == sorted((i["id"] for i in all_items), reverse=True)
    by_chat = (await service.api("/api/v1/moderation-logs", chat_id="chat-a")).json()["items"]
    assert {item["chat_id"] for item in by_chat} == {"chat-a"} and len(by_chat) == 2
    by_user = (await service.api("/api/v1/moderation-logs", user_id="lisi")).json()["items"]
    assert [item["user_id"] for item in by_user] == ["lisi"]
    newest = datetime.fromisoformat(all_items[0]["time"])
    assert newest.utcoffset() == timedelta(0)  # times are UTC, with the zone written out
    later = (newest + timedelta(seconds=1)).isoformat()
    assert (await service.api("/api/v1/moderation-logs", since=later)).json()["items"] == []
    until = (await service.api("/api/v1/moderation-logs", until=later)).json()["items"]
    assert len(until) == 3
    earlier = (newest - timedelta(days=1)).isoformat()
    assert len((await service.api("/api/v1/moderation-logs", since=earlier)).json()["items"]) == 3


async def test_cursor_pagination_walks_every_row_once(service: Service) -> None:
    await flag(service, 7)
    # Give two rows the same time so the cursor must use the id to break the tie.
    async with service.runtime.sessions() as session, session.begin():
        rows = (await session.execute(select(ModerationLog).order_by(ModerationLog.id))).scalars()
        rows = list(rows)
        rows[3].created_at = rows[4].created_at
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await service.api("/api/v1/moderation-logs", **params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(row.id for row in rows)
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"cursor": "garbage!"}, "cursor is not one this API returned"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-21T08:00:00"}, "since needs a timezone"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1000"}, "limit"),
        ({"chat_id": "x" * 200}, "chat_id"),
    ],
)
async def test_bad_query_parameters_get_a_clear_4xx(
    service: Service, params: dict[str, str], fragment: str
) -> None:
    response = await service.api("/api/v1/moderation-logs", **params)
    assert 400 <= response.status_code < 500
    assert fragment in response.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/moderation-logs/999",
        "/api/v1/moderation-logs/0",
        "/api/v1/moderation-logs/abc",
        "/api/v1/moderation-logs/99999999999999999999999",
    ],
)
async def test_unknown_or_invalid_log_id(service: Service, path: str) -> None:
    response = await service.api(path)
    assert response.status_code in (404, 422)
    assert "error" in response.json()


async def test_healthz_says_which_channels_are_on(service: Service) -> None:
    body = (await service.http.get("/healthz")).json()
    assert body == {
        "status": "ok",
        "channels": {
            "app_callback": True,
            "aibot_callback": True,
            "app_messages": True,
            "rest_api": True,
        },
        "lexicon_words": 3,
        "lexicon_version": 1,  # the start-up import of LEXICON_PATH is the first change
    }
    assert (await service.http.get("/readyz")).json() == {"status": "ok", "database": "ok"}


async def test_openapi_docs_are_served(service: Service) -> None:
    assert (await service.http.get("/docs")).status_code == 200
    spec = (await service.http.get("/openapi.json")).json()
    assert "/api/v1/moderation-logs" in spec["paths"]


@pytest.fixture
async def bare_service(tmp_path: Path) -> AsyncIterator[Service]:
    """Only a database configured: every channel off."""
    from app import migrate
    from app.db import database_urls
    from app.settings import load_settings

    url = f"sqlite:///{tmp_path / 'bare.db'}"
    migrate.upgrade(database_urls(url))
    async for running in start_service(
        load_settings(_env_file=None, database_url=url), support.FakeWeCom()
    ):
        yield running


async def test_channels_off_answer_clearly(bare_service: Service) -> None:
    body = (await bare_service.http.get("/healthz")).json()
    assert body["channels"] == {
        "app_callback": False,
        "aibot_callback": False,
        "app_messages": False,
        "rest_api": False,
    }
    response = await bare_service.http.post("/wecom/aibot?msg_signature=a&timestamp=1&nonce=2")
    assert response.status_code == 404 and "WECOM_AIBOT_TOKEN" in response.text
    response = await bare_service.http.get("/wecom/callback")
    assert response.status_code == 404 and "WECOM_CALLBACK_TOKEN" in response.text
    response = await bare_service.api("/api/v1/moderation-logs")
    assert response.status_code == 503 and "ADMIN_API_TOKEN" in response.json()["error"]


async def test_unreachable_database_gives_503_not_500(tmp_path: Path) -> None:
    settings = make_settings("postgresql://nobody@127.0.0.1:1/none", tmp_path)
    async for service in start_service(settings, support.FakeWeCom()):
        response = await service.post_aibot(support.aibot_group_text("赌博"))
        assert response.status_code == 503
        assert response.text == "storage unavailable, retry later"
        assert (await service.http.get("/readyz")).status_code == 503
        api = await service.api("/api/v1/moderation-logs")
        assert api.status_code == 503
        assert api.json() == {"error": "database unavailable, retry later"}


async def test_background_workers_do_the_work_without_help(
    database_url: str, tmp_path: Path
) -> None:
    import httpx

    from app.main import create_app

    wecom = support.FakeWeCom()
    app = create_app(
        make_settings(database_url, tmp_path), transport=wecom.transport, poll_seconds=0.05
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            service = Service(http=http, runtime=app.state.runtime, wecom=wecom)
            assert (await service.post_aibot(support.aibot_group_text("赌博"))).status_code == 200
            for _ in range(200):
                if len(wecom.calls("/cgi-bin/message/send")) == 1:
                    break
                await asyncio.sleep(0.02)
            assert len(wecom.calls("/cgi-bin/aibot/response")) == 1
            assert len(wecom.calls("/cgi-bin/message/send")) == 1
