"""The `wecom-mod` command line: serve, migrate, check."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from app.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

log = logging.getLogger("wecom_mod")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic narrates every plugin and context at INFO; `_migrate` says what matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _migrate(settings: Settings) -> None:
    from app import migrate
    from app.db import database_urls

    urls = database_urls(settings.database_url)
    before = migrate.current_revision(urls)
    migrate.upgrade(urls)
    after = migrate.current_revision(urls)
    where = urls.sync_url.render_as_string(hide_password=True)
    if before == after:
        log.info("database %s is up to date (revision %s)", where, after)
    else:
        log.info("database %s migrated from %s to %s", where, before or "empty", after)


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app

    app = create_app(settings)  # reads the word file and texts: fails before migrating
    if not args.no_migrate:
        _migrate(settings)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        log_config=None,
        proxy_headers=True,
    )
    return 0


def _cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    _migrate(settings)
    return 0


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from app.lexicon_file import load_lexicon_file
    from moderation import MessageFacts, SensitiveWordMatcher, evaluate

    path = args.lexicon if args.lexicon is not None else settings.lexicon_path
    source = "--lexicon" if args.lexicon is not None else "LEXICON_PATH"
    if path is None:
        raise SettingsError("LEXICON_PATH: not set (or pass --lexicon FILE)")
    matcher = SensitiveWordMatcher(load_lexicon_file(path, setting=source))
    decision = evaluate(MessageFacts(text=args.text, sender="", chat_id=""), matcher)
    if not decision.findings:
        print(f"no findings ({len(matcher)} word(s) in {path})")
        return 0
    for finding in decision.findings:
        print(
            f"[{finding.start}:{finding.end}] {finding.matched!r} → word {finding.word!r} "
            f"({finding.category.value}, {finding.severity.value})"
        )
    print(f"decision: {decision.verdict} ({', '.join(decision.actions) or 'record only'})")
    return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wecom-mod",
        description="Moderation service for WeCom (企业微信) group chats. Settings come from "
        "the environment and an optional .env file; see deploy/env.example.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the HTTP service (callbacks, REST API, workers)",
        description="Apply pending database migrations, then serve the WeCom callbacks, the "
        "REST API and the background workers.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--no-migrate", action="store_true", help="do not apply pending migrations first"
    )
    serve.set_defaults(handler=_cmd_serve)

    migrate = sub.add_parser(
        "migrate",
        help="apply pending database migrations and exit",
        description="Bring the database named by DATABASE_URL to the newest schema.",
    )
    migrate.set_defaults(handler=_cmd_migrate)

    check = sub.add_parser(
        "check",
        help="print what the sensitive-word matcher finds in a text",
        description="Match TEXT against the word file (LEXICON_PATH or --lexicon) and print "
        "each finding with its span, word, category and severity. Exit status 1 when "
        "anything is found, 0 when nothing is.",
    )
    check.add_argument("text", help="the text to check")
    check.add_argument("--lexicon", type=Path, help="word file to use instead of LEXICON_PATH")
    check.set_defaults(handler=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        _configure_logging(settings.log_level)
        return int(args.handler(args, settings))
    except SettingsError as exc:
        print(f"wecom-mod: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
