"""`GET /metrics`: this replica's Prometheus metrics (text exposition format 0.0.4).

Open like `/healthz`: it holds counts and ages, never message content, ids of people or
secrets, but it shows volumes; keep it off the public side of the reverse proxy, or set
METRICS_ENABLED=false (then 404). See `app.metrics` for what each metric counts.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from app.metrics import CONTENT_TYPE, collect, render

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/metrics", response_class=PlainTextResponse, summary="Prometheus metrics of this replica"
)
async def metrics(request: Request) -> Response:
    runtime = request.app.state.runtime
    if not runtime.settings.metrics_enabled:
        return PlainTextResponse("metrics are off (METRICS_ENABLED=false)", status_code=404)
    return Response(render(await collect(runtime)), media_type=CONTENT_TYPE)
