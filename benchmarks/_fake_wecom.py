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
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

app = FastAPI()
calls: Counter[str] = Counter()
replies: list[tuple[str, float]] = []  # (response_code, arrival time)
app_messages: list[tuple[str, float]] = []  # (content, arrival time)
signed_in = {"userid": "admin"}  # who WeCom's sign-in pages say is there


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


@app.post("/_sign_in_as")
async def sign_in_as(userid: str) -> dict[str, str]:
    signed_in["userid"] = userid
    return {"status": "ok"}


@app.get("/connect/oauth2/authorize")
@app.get("/wwlogin/sso/login")
async def sign_in_page(redirect_uri: str, state: str) -> RedirectResponse:
    query = urlencode({"code": f"fake-{signed_in['userid']}", "state": state})
    return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)


@app.get("/cgi-bin/auth/getuserinfo")
async def getuserinfo(code: str) -> dict[str, object]:
    calls["/cgi-bin/auth/getuserinfo"] += 1
    if not code.startswith("fake-"):
        return {"errcode": 40029, "errmsg": "invalid code"}
    return {"errcode": 0, "errmsg": "ok", "userid": code.removeprefix("fake-")}


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
