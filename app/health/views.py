"""A group's health as the REST API shows it (`GroupHealthOut`, `HealthDetailOut`), built from
`app.health.service` results; the field descriptions are the OpenAPI document's."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.health.metrics import Figures
from app.health.rollup import day_of
from app.health.service import GroupHealth, HealthDetail

__all__ = ["FiguresOut", "GroupHealthOut", "HealthDetailOut", "detail_out", "group_out"]


class FiguresOut(BaseModel):
    """The window's figures (docs/health.md); null: not defined (nothing to divide by) or not
    observable (coverage)."""

    days: int = Field(description="days in the window, today included")
    start: date = Field(description="the window's first day (HEALTH_TIMEZONE)")
    end: date = Field(description="the window's last day: today")
    coverage: str = Field(description="full (chat archive) | partial (smart bot only) | none")
    members: int = Field(description="members known now who have not left, staff not counted")
    days_known: int = Field(description="days since the service first saw the group")
    member_messages: int | None
    staff_messages: int | None
    days_since_member_message: int | None = Field(description="null: none seen yet")
    quiet_days: int | None = Field(description="days of the window with no member message")
    speakers: int | None = Field(description="distinct members who spoke in the window")
    speaker_ratio: float | None = Field(description="speakers ÷ members")
    top2_share: float | None = Field(description="share of member messages by the top two")
    bus_factor: int | None = Field(description="fewest members sending half the messages")
    newcomers: int = Field(description="members who joined in the window")
    activated: int | None = Field(description="newcomers who spoke within 7 days of joining")
    activation: float | None = Field(description="activated ÷ newcomers")
    stay_cohort: int = Field(description="members who joined 30 days before the window")
    stayed: int = Field(description="of them, those who did not leave within 30 days")
    stay: float | None = Field(description="stayed ÷ stay_cohort")
    departures: int = Field(description="left by themselves (QuitScene 0)")
    departures_after_moderation: int = Field(
        description="of them, within 7 days after an offence of theirs"
    )
    removals: int = Field(description="removed (QuitScene 1)")
    churn: float | None = Field(
        description="(departures - departures_after_moderation) ÷ (members + departures)"
    )
    offences_word: int | None
    offences_flood: int | None
    offences_promo: int | None
    noise: float | None = Field(description="messages that were an offence or a flood ÷ messages")
    promo_staff: int | None
    promo_members: int | None
    shop: float | None = Field(description="promotional messages ÷ all messages")
    shop_staff: float | None = Field(description="staff's promotional ÷ staff's messages")
    shop_members: float | None = Field(description="members' promotional ÷ members' messages")


class DecidingFigureOut(BaseModel):
    figure: str = Field(description="a name of `figures`")
    value: float
    threshold: float | None = Field(description="the threshold it crossed; null: healthy")


class GroupHealthOut(BaseModel):
    chat_id: str
    name: str
    grade: str | None = Field(description="healthy | watch | at_risk | dead; null: not graded")
    decided_by: list[DecidingFigureOut] = Field(description="the figures that set the grade")
    figures: FiguresOut


class DayOut(BaseModel):
    date: date
    member_messages: int
    staff_messages: int
    speakers: int = Field(description="distinct members (not staff) who spoke")
    joins: int
    departures: int
    removals: int
    offences: int = Field(description="offences of every detector")
    noisy: int
    promo_staff: int
    promo_members: int


class HealthDetailOut(GroupHealthOut):
    series: list[DayOut] = Field(description="every day of the window, oldest first")


def _figures_out(figures: Figures) -> FiguresOut:
    values = {
        name: getattr(figures, name)
        for name in FiguresOut.model_fields
        if name not in ("start", "end", "coverage")
    }
    return FiguresOut(
        **values,
        start=day_of(figures.end - figures.days + 1),
        end=day_of(figures.end),
        coverage=figures.coverage.value,
    )


def group_out(item: GroupHealth) -> GroupHealthOut:
    health = item.health
    return GroupHealthOut(
        chat_id=item.chat_id,
        name=item.name,
        grade=health.grade.value if health.grade is not None else None,
        decided_by=[
            DecidingFigureOut(figure=f.name, value=f.value, threshold=f.threshold)
            for f in health.decided_by
        ],
        figures=_figures_out(health.figures),
    )


def detail_out(detail: HealthDetail) -> HealthDetailOut:
    return HealthDetailOut(
        **group_out(detail.group).model_dump(),
        series=[
            DayOut(
                date=day_of(day.day),
                member_messages=day.member_messages,
                staff_messages=day.staff_messages,
                speakers=detail.speakers.get(day.day, 0),
                joins=day.joins,
                departures=day.departures,
                removals=day.removals,
                offences=day.offences_word + day.offences_flood + day.offences_promo,
                noisy=day.noisy,
                promo_staff=day.promo_staff,
                promo_members=day.promo_members,
            )
            for day in detail.days
        ],
    )
