"""The web console: server-rendered pages for moderators under `/console/`.

Served by the same `wecom-mod serve`; `pip install` brings the templates and static files
(package data), so there is no second process and no Node build step.

Why Jinja2 and htmx: the pages are lists, forms and a few numbers that change, which the
server renders best (one place for access rules, no API for a front end to keep in step, works
with JavaScript off). htmx (vendored, `static/htmx.min.js`, 0BSD licence in
`static/htmx.LICENSE`) adds the little that a page does by itself, such as the overview
refreshing its figures, from HTML attributes: no inline script, so the Content-Security-Policy
can forbid it (`script-src 'self'`), and no build step.

Rooms:

    session.py   signed cookies (session, sign-in state), CSRF, security headers
    access.py    who the signed-in person is and which groups they may see or change
    signin.py    sign-in: ADMIN_API_TOKEN, WeCom 网页授权 (snsapi_base), 企业微信登录 (QR); logout
    pages.py     overview, review queue, moderation log, groups, members, lexicon, outbox, audit
    health.py    健康: every group's community health, and one group's with SVG charts
    sandbox.py   沙盒: practice groups, typed messages and scenarios (`app.sandbox.live`)
    once.py      the one-time sign-in links `serve` prints on a fresh machine
    texts.py     the UI texts, Chinese by default, English with CONSOLE_LANGUAGE=en

Every change goes through the service the REST API or the chat commands use (`app.lexicon`,
`app.groups.actions`, `app.outbox.service`) and is audited under the moderator's WeCom userid
with channel `console`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.console import health, pages, sandbox, signin
from app.console.session import install_handlers

__all__ = ["STATIC_DIR", "mount"]

STATIC_DIR = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Add the console's routes, static files and error pages to `app`."""
    install_handlers(app)
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(sandbox.router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
