"""A fake WeCom server API for `callbacks.py`, served by uvicorn in its own process.

It answers `/cgi-bin/gettoken` with a token and everything else with success, counts the calls
per path, and records, with the time it arrived (`time.time()`, the clock the load generator
reads too), every smart-bot reply (`/cgi-bin/aibot/response`, identified by its
`response_code` query value, which the benchmark makes the callback's msgid) and every app
message (`/cgi-bin/message/send`, with its markdown or text content, from which the benchmark
reads the moderation log ids of the alerts). `GET /_records` returns what was recorded;
`POST /_reset` forgets it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()
calls: Counter[str] = Counter()
replies: list[tuple[str, float]] = []  # (response_code, arrival time)
app_messages: list[tuple[str, float]] = []  # (content, arrival time)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/_records")
async def records() -> dict[str, Any]:
    return {"calls": dict(calls), "replies": replies, "app_messages": app_messages}


@app.post("/_reset")
async def reset() -> dict[str, str]:
    calls.clear()
    replies.clear()
    app_messages.clear()
    return {"status": "ok"}


@app.api_route("/{path:path}", methods=["GET", "POST"])
async def anything(path: str, request: Request) -> dict[str, object]:
    arrived = time.time()
    body = await request.body()
    calls["/" + path] += 1
    if path == "cgi-bin/gettoken":
        return {"errcode": 0, "errmsg": "ok", "access_token": "T", "expires_in": 7200}
    if path == "cgi-bin/aibot/response":
        replies.append((request.query_params.get("response_code", ""), arrived))
    elif path == "cgi-bin/message/send":
        message = json.loads(body)
        content = message.get(message.get("msgtype", ""), {}).get("content", "")
        app_messages.append((str(content), arrived))
    return {"errcode": 0, "errmsg": "ok"}
