"""The console's 健康 page over HTTP with a session (issue 21): the list as the REST API gives
it (grade filter, order, pages, when it was computed), one group's view with its SVG charts,
the grade's figures and the partial-coverage note, and who sees which group; and the member
page's record in the other groups (issue 24).

The groups are those of tests/health/test_health_api.py's `seed`: ACTIVE healthy, STAR at
risk (one member sends nearly everything), DEAD, MENTIONS seen through the smart bot only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.console import health as console_health
from tests import support
from tests.conftest import Service, start_service
from tests.console.test_console import (
    AUDITOR,
    CHAT,
    GROUP_MOD,
    OTHER,
    console_settings,
    csrf_of,
    say,
    sign_in,
    strikes,
    two_groups,
)
from tests.health.test_health_api import ACTIVE, DEAD, MENTIONS, STAR, seed

ADMIN = support.MODERATORS[0]  # WECOM_ADMIN_USERIDS


@pytest.fixture
def clock() -> support.Clock:
    return support.Clock()


@pytest.fixture
async def service(
    database_url: str, tmp_path: Path, clock: support.Clock
) -> AsyncIterator[Service]:
    async for running in start_service(
        console_settings(database_url, tmp_path), support.FakeWeCom(), clock=clock
    ):
        yield running


def listed(text: str) -> list[str]:
    return re.findall(r'<tr id="health-([^"]+)">', text)


async def make_moderator(service: Service, chat: str, user: str) -> None:
    answer = await service.http.patch(
        f"/api/v1/groups/{chat}",
        json={"moderators": [user]},
        headers={"Authorization": f"Bearer {support.ADMIN_TOKEN}"},
    )
    assert answer.status_code == 200, answer.text


# -- 健康: the list --------------------------------------------------------------------------


async def test_the_health_list_is_the_rest_apis(service: Service, clock: support.Clock) -> None:
    await seed(service, clock)
    await sign_in(service, ADMIN)
    page = await service.http.get("/console/health")
    assert page.status_code == 200, page.text
    rest = (await service.api("/api/v1/health/groups")).json()
    assert listed(page.text) == [item["chat_id"] for item in rest["items"]]
    assert listed(page.text) == [DEAD, STAR, ACTIVE, MENTIONS]
    assert re.search(r'id="grade-count-dead"[^>]*>死群 1<', page.text)
    assert re.search(r'id="grade-count-ungraded"[^>]*>无评级 1<', page.text)
    assert re.search(r'id="health-computed-at">2026-03-02 09:00<', page.text)
    assert 'href="/console/health" aria-current="page"' in page.text  # in the navigation
    # the figures that decided the grade, with their thresholds
    row = page.text.split(f'<tr id="health-{DEAD}">')[1].split("</tr>")[0]
    assert "死群" in row and "距上次成员发言（天） 20 (阈值 14)" in row
    star = page.text.split(f'<tr id="health-{STAR}">')[1].split("</tr>")[0]
    assert "危险" in star and "前两名占比" in star and "阈值 80%" in star
    # filter, order
    dead = await service.http.get("/console/health", params={"grade": "dead"})
    assert listed(dead.text) == [DEAD]
    busiest = await service.http.get(
        "/console/health", params={"sort": "member_messages", "order": "desc"}
    )
    assert listed(busiest.text) == [ACTIVE, STAR, DEAD, MENTIONS]
    bad = await service.http.get("/console/health", params={"sort": "nonsense"})
    assert bad.status_code == 422


async def test_the_health_list_pages(
    service: Service, clock: support.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(service, clock)
    monkeypatch.setattr(console_health, "HEALTH_PAGE", 1)
    for user in (ADMIN, GROUP_MOD):  # from health_page, and from the moderator's own groups
        if user == GROUP_MOD:
            for chat in (STAR, DEAD):
                await make_moderator(service, chat, GROUP_MOD)
        service.http.cookies.clear()
        await sign_in(service, user)
        seen: list[str] = []
        target: str | None = "/console/health?sort=grade&order=asc"
        while target:
            page = await service.http.get(target.replace("&amp;", "&"))
            assert page.status_code == 200
            seen += listed(page.text)
            more = re.search(r'id="health-more" href="([^"]+)"', page.text)
            target = more.group(1) if more else None
        expected = [DEAD, STAR, ACTIVE, MENTIONS] if user == ADMIN else [DEAD, STAR]
        assert seen == expected, user


# -- 健康: one group ------------------------------------------------------------------------


async def test_a_groups_health_view_with_its_charts(service: Service, clock: support.Clock) -> None:
    await seed(service, clock)
    await sign_in(service, ADMIN)
    page = await service.http.get(f"/console/health/{STAR}", params={"days": 7})
    assert page.status_code == 200, page.text
    assert re.search(r'id="health-grade">危险<', page.text)
    assert re.search(r'class="decided"><strong>前两名占比</strong> \d+% ', page.text)
    assert re.search(r'id="figure-bus_factor">1<', page.text)
    assert re.search(r'id="figure-member_messages">42<', page.text)  # 7 days × 6
    assert 'id="health-partial"' not in page.text
    # five charts, inline SVG: a bar a day with its numbers in a <title>, no script or style
    assert page.text.count("<svg ") == 5
    messages = page.text.split('id="chart-messages"')[1].split("</section>")[0]
    assert messages.count('<g class="day">') == 7
    assert messages.count('class="s-member"') == 7
    assert re.search(r"<title>\d{4}-\d\d-\d\d：成员 6，员工 0</title>", messages)
    speakers = page.text.split('id="chart-speakers"')[1].split("</section>")[0]
    assert "发言人数 2</title>" in speakers
    assert "<script>" not in page.text and "style=" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # the window
    thirty = await service.http.get(f"/console/health/{STAR}")
    chart = thirty.text.split('id="chart-messages"')[1].split("</section>")[0]
    assert chart.count('<g class="day">') == 30
    assert (await service.http.get(f"/console/health/{STAR}?days=0")).status_code == 422


async def test_partial_coverage_and_dead_groups_say_so(
    service: Service, clock: support.Clock
) -> None:
    await seed(service, clock)
    await sign_in(service, ADMIN)
    mentions = await service.http.get(f"/console/health/{MENTIONS}")
    assert re.search(r'id="health-grade">无评级<', mentions.text)
    assert 'id="health-partial"' in mentions.text and "智能机器人" in mentions.text
    assert re.search(r'id="figure-member_messages">—<', mentions.text)
    dead = await service.http.get(f"/console/health/{DEAD}")
    assert re.search(r'id="health-grade">死群<', dead.text)
    assert "距上次成员发言（天）</strong> 20" in dead.text and "阈值 14" in dead.text
    assert (await service.http.get("/console/health/wr-nowhere")).status_code == 404


async def test_a_moderator_sees_the_health_of_their_groups_only(
    service: Service, clock: support.Clock
) -> None:
    await seed(service, clock)
    await make_moderator(service, STAR, GROUP_MOD)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get("/console/health")
    assert listed(page.text) == [STAR]
    assert re.search(r'id="grade-count-at_risk"[^>]*>危险 1<', page.text)
    assert re.search(r'id="grade-count-dead"[^>]*>死群 0<', page.text)
    assert (await service.http.get(f"/console/health/{STAR}")).status_code == 200
    for chat in (DEAD, ACTIVE, "wr-nowhere"):
        other = await service.http.get(f"/console/health/{chat}")
        assert other.status_code == 404 and "没有找到" in other.text
    assert listed((await service.http.get("/console/health?grade=dead")).text) == []


async def test_read_only_sees_every_groups_health(service: Service, clock: support.Clock) -> None:
    await seed(service, clock)
    await sign_in(service, AUDITOR)
    page = await service.http.get("/console/health")
    assert listed(page.text) == [DEAD, STAR, ACTIVE, MENTIONS]
    assert (await service.http.get(f"/console/health/{DEAD}")).status_code == 200
    assert 'method="post"' not in page.text.split("<main>")[1]  # nothing to change here


async def test_the_group_page_links_to_its_health(service: Service, clock: support.Clock) -> None:
    await seed(service, clock)
    await sign_in(service, ADMIN)
    group = await service.http.get(f"/console/groups/{STAR}")
    assert f'id="group-health" href="/console/health/{STAR}"' in group.text


async def test_health_pages_need_a_session(service: Service) -> None:
    for path in ("/console/health", f"/console/health/{STAR}"):
        answer = await service.http.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/console/login?next="
        )


async def test_health_in_english(database_url: str, tmp_path: Path, clock: support.Clock) -> None:
    settings = console_settings(database_url, tmp_path, console_language="en")
    async for running in start_service(settings, support.FakeWeCom(), clock=clock):
        await seed(running, clock)
        await sign_in(running, ADMIN)
        page = await running.http.get("/console/health")
        assert "Community health" in page.text and re.search(
            r'id="grade-count-dead"[^>]*>dead 1<', page.text
        )
        view = await running.http.get(f"/console/health/{MENTIONS}")
        assert "seen through the smart bot only" in view.text
        assert "Messages a day" in view.text


# -- 成员: the member's record in the other groups ---------------------------------------------


async def test_the_member_page_shows_the_record_in_other_groups(service: Service) -> None:
    await two_groups(service)
    await say(service, "一起赌博", "b-2", "lisi", chat=OTHER)
    # GROUP_MOD moderates CHAT only, and sees lisi's strike in OTHER (not a link: not theirs)
    await sign_in(service, GROUP_MOD)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert page.status_code == 200
    row = page.text.split(f'id="elsewhere-{OTHER}">')[1].split("</tr>")[0]
    assert re.search(r'class="count">1<', row)
    assert f"/console/groups/{OTHER}/members/lisi" not in row
    assert "其他群的记录" in page.text
    # an admin gets a link; a read-only account sees it too
    service.http.cookies.clear()
    await sign_in(service, ADMIN)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert f'href="/console/groups/{OTHER}/members/lisi"' in page.text
    back = await service.http.get(f"/console/groups/{OTHER}/members/lisi")
    assert re.search(rf'id="elsewhere-{CHAT}">.*?class="count">1<', back.text)
    service.http.cookies.clear()
    await sign_in(service, AUDITOR)
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert f'id="elsewhere-{OTHER}"' in page.text
    # a pardon in the other group clears it here too
    service.http.cookies.clear()
    await sign_in(service, ADMIN)
    other = await service.http.get(f"/console/groups/{OTHER}/members/lisi")
    await service.http.post(
        f"/console/groups/{OTHER}/members/lisi/pardon", data={"csrf": csrf_of(other)}
    )
    assert await strikes(service, "lisi", OTHER) == 0
    page = await service.http.get(f"/console/groups/{CHAT}/members/lisi")
    assert f'id="elsewhere-{OTHER}"' not in page.text and 'id="elsewhere-none"' in page.text
    # a member with no record elsewhere
    zhaoliu = await service.http.get(f"/console/groups/{OTHER}/members/zhaoliu")
    assert 'id="elsewhere-none"' in zhaoliu.text
