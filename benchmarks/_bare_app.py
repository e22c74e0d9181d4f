"""The floor for `callbacks.py`: a bare FastAPI endpoint that reads the body and answers an
empty 200, served by uvicorn like the service is (HTTP parsing, routing, nothing else)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/bare")
async def bare(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
