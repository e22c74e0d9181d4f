"""Liveness (`/healthz`, with which channels are on and the lexicon served) and readiness
(`/readyz`, database)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.repositories import ping

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and which channels are on")
async def healthz(request: Request) -> dict[str, Any]:
    runtime = request.app.state.runtime
    settings = runtime.configured  # as given: the sandbox's fake WeCom is no channel
    return {
        "status": "ok",
        "channels": {
            "app_callback": settings.app_callback_enabled,
            "aibot_callback": settings.aibot_enabled,
            "app_messages": settings.app_messages_enabled,
            "rest_api": settings.rest_api_enabled,
        },
        "lexicon_words": len(runtime.lexicon.matcher),
        "lexicon_version": runtime.lexicon.version if runtime.lexicon.loaded else None,
    }


@router.get("/readyz", summary="Readiness: the database answers")
async def readyz(request: Request) -> JSONResponse:
    try:
        async with request.app.state.runtime.sessions() as session:
            await ping(session)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("readiness check failed: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})
