"""The console's 健康 page (issue 21): every group's community health, filtered by grade,
ordered by a figure and paged, with the time the figures were computed; and one group's
health: its grade and the figures that decided it, every figure of the window, a note where
coverage is partial, and its daily series as charts.

The figures come from `app.health.service`, the functions behind `GET /api/v1/health/groups`
and `wecom-mod health`: `health_page` (the snapshot while it is fresh) for those who see every
group; for a group's moderators `health_list` (every group's stored figures in one read of the
snapshot, or computed with the list's set-based statements) narrowed to their groups, then the
same `select_groups` and `page_after` the REST list pages with; no query per group. One
group's health is `group_health`, computed now. A group one may not see answers 404, like every
console page.

The charts are inline SVG drawn on the server (`bar_chart`): rectangles whose colours come
from console.css classes, each with a <title> saying the day and the numbers; no script and no
style attribute, so the Content-Security-Policy stays as strict as on the other pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.console.access import Access, require_access
from app.console.session import NotFound, render
from app.console.texts import ui_texts
from app.health import service
from app.health.metrics import Coverage, Figures
from app.health.rollup import day_of

__all__ = ["Bar", "Chart", "bar_chart", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

Person = Annotated[Access, Depends(require_access)]

HEALTH_PAGE = 50  # groups per page of the list
WINDOWS = (7, 30, 90)  # the windows a group's view offers besides HEALTH_WINDOW_DAYS
# figures shown as a share (the others are counts or days)
SHARES = frozenset(
    {
        "speaker_ratio",
        "top2_share",
        "activation",
        "stay",
        "churn",
        "shop",
        "shop_staff",
        "shop_members",
        "noise",
    }
)
# a group's figures, in the order its view lists them
FIGURES = (
    "members",
    "days_known",
    "member_messages",
    "staff_messages",
    "days_since_member_message",
    "quiet_days",
    "speakers",
    "speaker_ratio",
    "top2_share",
    "bus_factor",
    "newcomers",
    "activation",
    "stay",
    "departures",
    "departures_after_moderation",
    "removals",
    "churn",
    "offences_word",
    "offences_flood",
    "offences_promo",
    "noise",
    "shop",
    "shop_staff",
    "shop_members",
)
# the list's columns after the group and its grade
COLUMNS = (
    "member_messages",
    "speakers",
    "days_since_member_message",
    "top2_share",
    "shop",
    "noise",
)


def shown(name: str, value: float | None) -> str:
    """A figure as a page shows it: shares in per cent, counts as they are, "—" for none."""
    if value is None:
        return "—"
    if name in SHARES:
        return f"{value * 100:.0f}%"
    return f"{value:g}"


def figure_value(figures: Figures, name: str) -> float | None:
    value: float | None = getattr(figures, name)
    return value


# -- charts --------------------------------------------------------------------------------

CHART_WIDTH = 600  # the viewBox's width; the SVG is as wide as its card (console.css)
CHART_HEIGHT = 120


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str  # the series' class: its colour in console.css


@dataclass(frozen=True)
class Chart:
    key: str  # its title's text key, and its id
    width: int
    height: int
    axis: float  # y of the zero line
    bars: list[list[Bar]]  # per day
    titles: list[str]  # per day: the date and each series' number
    top: int  # the largest stack above the zero line
    bottom: int  # the largest stack below it (0: none)
    series: list[tuple[str, str]]  # (text key, css class), for the legend
    total: int  # every number of the chart added up (0: an empty chart)


def bar_chart(
    key: str,
    dates: list[str],
    series: list[tuple[str, str, list[int], bool]],
    labels: dict[str, str],
) -> Chart:
    """A stacked bar per day: `series` is (text key, css class, a number per day, below the
    zero line?); `labels` names each text key in the page's language (for the <title>s)."""
    days = len(dates)
    above = [sum(v[i] for _, _, v, below in series if not below) for i in range(days)]
    under = [sum(v[i] for _, _, v, below in series if below) for i in range(days)]
    top, bottom = max(above, default=0), max(under, default=0)
    span = (top + bottom) or 1
    scale = (CHART_HEIGHT - 2) / span
    axis = 1 + top * scale
    step = CHART_WIDTH / max(days, 1)
    width = max(step * 0.8, 1.0)
    bars: list[list[Bar]] = []
    titles: list[str] = []
    for i in range(days):
        x = i * step + (step - width) / 2
        up, down = axis, axis
        day: list[Bar] = []
        for _, css, values, below in series:
            height = values[i] * scale
            if not height:
                continue
            if below:
                day.append(Bar(x, down, width, height, css))
                down += height
            else:
                up -= height
                day.append(Bar(x, up, width, height, css))
        bars.append(day)
        parts = [f"{labels[name]} {values[i]}" for name, _, values, _ in series]
        titles.append(f"{dates[i]}：" + "，".join(parts))
    total = sum(sum(values) for _, _, values, _ in series)
    return Chart(
        key,
        CHART_WIDTH,
        CHART_HEIGHT,
        axis,
        bars,
        titles,
        top,
        bottom,
        [(name, css) for name, css, _, _ in series],
        total,
    )


def charts_of(detail: service.HealthDetail, labels: dict[str, str]) -> list[Chart]:
    """The group's daily series as charts: messages, speakers, joins and departures,
    offences, promotion."""
    days = detail.days
    dates = [day_of(day.day).isoformat() for day in days]

    def of(name: str) -> list[int]:
        return [int(getattr(day, name)) for day in days]

    return [
        bar_chart(
            "health.chart.messages",
            dates,
            [
                ("health.series.member_messages", "s-member", of("member_messages"), False),
                ("health.series.staff_messages", "s-staff", of("staff_messages"), False),
            ],
            labels,
        ),
        bar_chart(
            "health.chart.speakers",
            dates,
            [
                (
                    "health.series.speakers",
                    "s-member",
                    [detail.speakers.get(day.day, 0) for day in days],
                    False,
                )
            ],
            labels,
        ),
        bar_chart(
            "health.chart.joins",
            dates,
            [
                ("health.series.joins", "s-join", of("joins"), False),
                ("health.series.departures", "s-leave", of("departures"), True),
                ("health.series.removals", "s-removal", of("removals"), True),
            ],
            labels,
        ),
        bar_chart(
            "health.chart.offences",
            dates,
            [
                ("health.series.offences_word", "s-word", of("offences_word"), False),
                ("health.series.offences_flood", "s-flood", of("offences_flood"), False),
                ("health.series.offences_promo", "s-promo", of("offences_promo"), False),
            ],
            labels,
        ),
        bar_chart(
            "health.chart.promo",
            dates,
            [
                ("health.series.promo_members", "s-member", of("promo_members"), False),
                ("health.series.promo_staff", "s-staff", of("promo_staff"), False),
            ],
            labels,
        ),
    ]


# -- pages ---------------------------------------------------------------------------------


def _show(request: Request, person: Access, template: str, **context: Any) -> Response:
    return render(
        request,
        template,
        session=person.session,
        role=person.role,
        page="health",
        shown=shown,
        **context,
    )


@router.get("/health")
async def health_list_page(
    request: Request,
    person: Person,
    grade: Annotated[service.GradeFilter | None, Query()] = None,
    sort: Annotated[service.Sort, Query()] = "grade",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    cursor: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """Every group one may see, by grade (dead first) or a figure, HEALTH_PAGE at a time."""
    runtime = request.app.state.runtime
    config = service.HealthConfig.from_settings(runtime.settings)
    now = runtime.now()
    descending = order == "desc"
    async with runtime.sessions() as db:
        if person.chat_ids is None:
            page = await service.health_page(
                db,
                config,
                now=now,
                grade=grade,
                sort=sort,
                descending=descending,
                limit=HEALTH_PAGE,
                after=cursor,
            )
            items, grades = page.items, page.grades
            computed_at, next_cursor = page.computed_at, page.next_cursor
        else:
            every = await service.health_list(db, config, now=now)
            theirs = [item for item in every.items if person.sees(item.chat_id)]
            grades = dict.fromkeys(service.GRADE_FILTERS, 0)
            for item in theirs:
                grades[item.health.grade.value if item.health.grade else service.UNGRADED] += 1
            chosen = service.select_groups(theirs, grade=grade, sort=sort, descending=descending)
            items, next_cursor = service.page_after(
                chosen,
                limit=HEALTH_PAGE,
                after=cursor,
                missing=lambda item: _missing(item, sort),
            )
            computed_at = every.computed_at
    return _show(
        request,
        person,
        "health.html",
        items=items,
        grades=grades,
        computed_at=computed_at,
        next_cursor=next_cursor,
        grade=grade or "",
        sort=sort,
        order=order,
        sorts=service.SORTS,
        grade_filters=service.GRADE_FILTERS,
        columns=COLUMNS,
        window_days=config.window_days,
    )


def _missing(item: service.GroupHealth, sort: str) -> bool:
    if sort in ("grade", "chat_id", "name"):
        return False
    return getattr(item.health.figures, sort) is None


@router.get("/health/{chat_id}")
async def group_health_page(
    request: Request,
    person: Person,
    chat_id: str,
    days: Annotated[int | None, Query(ge=1, le=366)] = None,
) -> Response:
    """One group's health over `days` (HEALTH_WINDOW_DAYS), with its daily series as charts."""
    person.require_sees(chat_id)
    runtime = request.app.state.runtime
    config = service.HealthConfig.from_settings(runtime.settings)
    async with runtime.sessions() as db:
        detail = await service.group_health(db, config, chat_id, now=runtime.now(), days=days)
    if detail is None:
        raise NotFound(chat_id)
    figures = detail.group.health.figures
    labels = dict(ui_texts(runtime.settings.console_language))
    return _show(
        request,
        person,
        "health_group.html",
        item=detail.group,
        figures=figures,
        rows=[(name, shown(name, figure_value(figures, name))) for name in FIGURES],
        decided=[
            (f.name, shown(f.name, f.value), shown(f.name, f.threshold))
            for f in detail.group.health.decided_by
        ],
        partial=figures.coverage is Coverage.PARTIAL,
        unobserved=figures.coverage is Coverage.NONE,
        charts=charts_of(detail, labels),
        start=day_of(figures.end - figures.days + 1),
        end=day_of(figures.end),
        windows=sorted({*WINDOWS, config.window_days}),
        days=figures.days,
    )
