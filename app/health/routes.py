"""REST API v1: community health (docs/health.md). Every group's grade and figures over a
window, filtered by grade and ordered by a figure, in pages (from the snapshot while it is
fresh: `app.health.service.health_list`); one group's with its daily series, computed now.
Same bearer tokens as the rest of /api/v1 (read-only token included)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from app.admin.auth import require_token
from app.health import service
from app.health.views import GroupHealthOut, HealthDetailOut, detail_out, group_out
from app.runtime import runtime_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/health", tags=["health"], dependencies=[Depends(require_token)])

ChatId = Annotated[str, Path(min_length=1, max_length=128, description="the group's chat id")]
Days = Annotated[
    int | None,
    Query(ge=1, le=366, description="the window in days, today included (HEALTH_WINDOW_DAYS)"),
]


class HealthPage(BaseModel):
    computed_at: datetime = Field(
        description="when the figures were computed: the snapshot's time (refreshed every "
        "HEALTH_REFRESH_MINUTES for the default window), or now"
    )
    items: list[GroupHealthOut]
    grades: dict[str, int] = Field(
        description="every group's count by grade (ungraded included), before the filter"
    )
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


@router.get("/groups", response_model=HealthPage, summary="Every group's health over a window")
async def list_health(
    request: Request,
    days: Days = None,
    grade: Annotated[
        service.GradeFilter | None, Query(description="only groups of this grade")
    ] = None,
    sort: Annotated[
        service.Sort, Query(description="order by this figure (grade: dead first)")
    ] = "grade",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=128, description="`next_cursor` of the page before (a chat id)"),
    ] = None,
) -> Any:
    runtime = runtime_of(request)
    config = service.HealthConfig.from_settings(runtime.settings)
    async with runtime.sessions() as session:
        page = await service.health_page(
            session,
            config,
            now=runtime.now(),
            days=days,
            grade=grade,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            after=cursor,
        )
    return HealthPage(
        computed_at=page.computed_at,
        items=[group_out(item) for item in page.items],
        grades=page.grades,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/groups/{chat_id}",
    response_model=HealthDetailOut,
    summary="One group's health over a window, with its daily series",
)
async def group_health(request: Request, chat_id: ChatId, days: Days = None) -> Any:
    runtime = runtime_of(request)
    config = service.HealthConfig.from_settings(runtime.settings)
    async with runtime.sessions() as session:
        detail = await service.group_health(session, config, chat_id, now=runtime.now(), days=days)
    if detail is None:
        raise HTTPException(404, f"no group {chat_id}")
    return detail_out(detail)
