"""The `wecom-mod` command line: serve, migrate, check, `words` to manage the lexicon,
`archive import` to replay decrypted chat-archive records through the pipeline, `health`
to list the groups' community health, and `demo` to play sandbox scenarios in a terminal.

The `words` commands go through `app.lexicon.service`, like the REST API: a running service
picks their changes up within LEXICON_RELOAD_SECONDS. Those that change the lexicon migrate the
database first, like `serve`; those that only read it ask for a migrated database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from moderation import MatchMode, Severity

__all__ = ["main"]

log = logging.getLogger("wecom_mod")

T = TypeVar("T")


def _configure_logging(settings: Settings) -> None:
    from app.log_format import configure_logging

    # One handler on the root logger; uvicorn's loggers (access log included) propagate to it.
    configure_logging(
        settings.log_level,
        settings.log_format,
        stream=sys.stderr,
        secrets=settings.secret_values(),
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


def _require_migrated(settings: Settings) -> None:
    from app import migrate
    from app.db import database_urls

    urls = database_urls(settings.database_url)
    current, head = migrate.current_revision(urls), migrate.head_revision()
    if current != head:
        where = urls.sync_url.render_as_string(hide_password=True)
        raise SettingsError(
            f"DATABASE_URL: {where} is at revision {current or 'none'}, this version needs "
            f"{head}: run `wecom-mod migrate` first"
        )


def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on the configured database (committed when it returns)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from app.db import create_engine_for, database_urls, session_factory

    async def run() -> T:
        engine = create_engine_for(database_urls(settings.database_url))
        try:
            async with session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (OperationalError, InterfaceError) as exc:
        first = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
        raise SettingsError(f"DATABASE_URL: database unavailable: {first}") from None


def _unavailable(exc: Exception) -> SettingsError:
    """A database that cannot be reached or opened, as one line naming DATABASE_URL."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return SettingsError(
        f"DATABASE_URL: database unavailable: {lines[0] if lines else type(exc).__name__}"
    )


def _safely(settings: Settings, step: Callable[[Settings], None]) -> None:
    """A migration step with an unreachable database reported as one line."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    try:
        step(settings)
    except (OperationalError, InterfaceError) as exc:
        raise _unavailable(exc) from None


def _now() -> datetime:
    return datetime.now(UTC)


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app

    # reads the word file and texts: fails before migrating
    app = create_app(settings, start_workers=not args.no_workers)
    if args.no_workers:
        log.info(
            "--no-workers: this replica answers HTTP only (callbacks are stored, the REST API "
            "works); nothing is judged or sent unless another replica on this database runs "
            "without it"
        )
    if not args.no_migrate:
        _safely(settings, _migrate)
    _print_sign_in_link(app, args.host, args.port)
    # uvicorn raises the SIGTERM it stopped on again once its graceful shutdown is over, which
    # would end the process by the signal (status 143); a shutdown that finished is a clean
    # exit, status 0. (Set after the migrations: a SIGTERM during them still stops at once.)
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=settings.log_level.lower(),
            log_config=None,
            proxy_headers=True,
            # Requests still open this long after SIGTERM are cancelled; then the workers get
            # their own grace (Workers.stop): 10 + 10 s, inside the usual 30 s before SIGKILL.
            timeout_graceful_shutdown=10,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _print_sign_in_link(app: Any, host: str, port: int) -> None:
    """On a fresh machine (the sandbox on because no WeCom credentials are set): a one-time
    sign-in link for the console, printed and logged (`app.console.once`)."""
    import time

    from app.console.once import LIFETIME_SECONDS, link_address, wanted

    runtime = app.state.runtime
    sandbox = runtime.sandbox
    if sandbox is None or not wanted(runtime.settings, fresh_machine=sandbox.fake_client):
        return
    link, loopback = link_address(host, port, runtime.sign_in_links.issue(now=time.time()))
    minutes = int(LIFETIME_SECONDS // 60)
    if runtime.settings.log_format == "text":
        print(
            f"\nNo WeCom credentials are set: the sandbox is on. Open this link within "
            f"{minutes} minutes to sign in to the console (it works once) and try the "
            f"sandbox:\n\n    {link}\n",
            flush=True,
        )
        log.info("one-time console sign-in link printed (valid %d minutes, once)", minutes)
    else:  # every line JSON: the link is in the log line
        log.info("one-time console sign-in link (valid %d minutes, once): %s", minutes, link)
    if not loopback:
        log.warning(
            "bound to %s, not a loopback address: the one-time link works from any machine "
            "that reaches this port; whoever opens it first is signed in as an admin",
            host,
        )


def _cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    _safely(settings, _migrate)
    return 0


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """What the service would decide about TEXT as one message from a member with no strikes
    in a quiet group (`moderation.judge_alone`: the service's own pipeline), with the hits
    the lexicon did not count and why."""
    from app.groups.policy_file import load_policy
    from app.lexicon import service
    from app.lexicon.files import load_lexicon_file
    from moderation import BatchMessage, SensitiveWordMatcher, judge_alone

    if args.lexicon is not None:
        matcher = SensitiveWordMatcher(load_lexicon_file(args.lexicon, setting="--lexicon"))
        served = f"{len(matcher)} word(s) in {args.lexicon}"
    else:
        _safely(settings, _require_migrated)
        loaded = _in_session(settings, service.load_lexicon)
        matcher = SensitiveWordMatcher(loaded.words, loaded.allow)
        served = (
            f"{len(matcher)} word(s) and {len(loaded.allow)} allow-list phrase(s) in the "
            f"database, lexicon version {loaded.version}"
        )
        if not loaded.words and settings.lexicon_path is not None:
            served += "; LEXICON_PATH is imported when the service starts or by `words import`"
    policy = load_policy(settings.policy_path, settings.corp_domain_list)
    for hit in matcher.inspect(args.text, args.chat).dropped:
        print(hit.explain())
    message = BatchMessage(args.chat, "", "text", args.text, datetime.now(UTC))
    decision = judge_alone(message, matcher, policy=policy, newcomer=args.newcomer).decision
    if decision is None:
        print(f"not judged: the policy's mode is off ({served})")
        return 0
    if not decision.flagged:
        print(f"no findings ({served})")
        return 0
    for violation in decision.violations:
        print(violation.explain())
    actions = ", ".join(decision.actions) or "record only"
    print(f"decision: {decision.verdict} ({actions}); {decision.reason}")
    return 1


def _list_kind(args: argparse.Namespace) -> tuple[str, str]:
    """(kind value, what the entries are called) for a `words` command."""
    return ("allow", "allow-list phrase(s)") if args.allow else ("words", "word(s)")


def _defaults(args: argparse.Namespace) -> tuple[Severity, MatchMode]:
    """The --severity and --mode of a `words import` (for lines that give none)."""
    from app.lexicon import service
    from moderation import MatchMode

    try:
        severity = service.parse_severity(args.severity)
        mode = MatchMode(args.mode.strip().lower()) if args.mode else MatchMode.FUZZY
    except service.InvalidEntry as exc:
        raise SettingsError(f"--severity: {exc}") from None
    except ValueError:
        raise SettingsError(
            f"--mode: unknown mode {args.mode!r} (allowed: fuzzy, folded, exact)"
        ) from None
    return severity, mode


def _cmd_words_import(args: argparse.Namespace, settings: Settings) -> int:
    from app.lexicon import service
    from app.lexicon.files import read_list_file

    if args.category_from_filename or args.file.is_dir():
        return _import_lists(args, settings)
    kind = service.ListKind(_list_kind(args)[0])
    if kind is service.ListKind.ALLOW and (args.severity or args.mode):
        raise SettingsError("--severity and --mode are for word files, not --allow")
    severity, mode = _defaults(args)
    # checked before the database
    file = read_list_file(args.file, kind, setting="FILE", severity=severity, mode=mode)
    _safely(settings, _migrate)

    async def work(session: AsyncSession) -> service.ImportResult:
        return await service.import_entries(
            session,
            kind,
            file.entries,
            origin=file.origin,
            sha256=file.sha256,
            added_by=args.by,
            source="cli",
            now=_now(),
        )

    result = _in_session(settings, work)
    counts = result.counts
    read_as = "" if file.encoding == "UTF-8" else f", read as {file.encoding}"
    print(
        f"imported {counts.total} {_list_kind(args)[1]}: {counts.added} added, "
        f"{counts.updated} updated, {counts.unchanged} unchanged from {args.file} "
        f"(lexicon version {result.version}{read_as})"
    )
    return 0


def _import_lists(args: argparse.Namespace, settings: Settings) -> int:
    """`words import DIR --category-from-filename` (or one such FILE): every list in one
    transaction, a summary line per file, then the totals."""
    from app.lexicon import service
    from app.lexicon.files import LIST_SUFFIX, ListFolder, read_list_file, read_list_folder
    from moderation import LexiconEntry

    if args.allow:
        raise SettingsError("--category-from-filename reads word lists, not --allow lists")
    if not args.category_from_filename:
        raise SettingsError(
            f"FILE: {args.file} is a folder: give --category-from-filename to import its "
            "one-file-per-category word lists"
        )
    severity, mode = _defaults(args)
    if args.file.is_dir():
        folder = read_list_folder(args.file, setting="DIR", severity=severity, mode=mode)
    else:  # one list: the folder of one file
        from moderation.lexicon import category_from_filename

        try:
            category = category_from_filename(args.file.stem)
        except ValueError as exc:
            raise SettingsError(
                f"FILE: {args.file}: the file name does not give a category: {exc}"
            ) from None
        read = read_list_file(
            args.file,
            service.ListKind.WORDS,
            setting="FILE",
            category=category,
            severity=severity,
            mode=mode,
            split_commas=True,
        )
        folder = ListFolder(args.file.parent, [replace(read, category=category)])
    _safely(settings, _migrate)
    lists = [
        service.WordList(
            origin=file.origin,
            sha256=file.sha256,
            entries=[entry for entry in file.entries if isinstance(entry, LexiconEntry)],
        )
        for file in folder.files
    ]

    async def work(session: AsyncSession) -> list[service.ImportResult]:
        return await service.import_lists(
            session, lists, added_by=args.by, source="cli", now=_now()
        )

    results = _in_session(settings, work)
    for file, result in zip(folder.files, results, strict=True):
        counts = result.counts
        notes = [] if file.encoding == "UTF-8" else [f"read as {file.encoding}"]
        if result.repeated:
            notes.append(f"{result.repeated} left to an earlier file")
        label = file.category.value if file.category is not None else "custom"
        print(
            f"{file.path.name} → {label}: {counts.total} word(s): {counts.added} added, "
            f"{counts.updated} updated, {counts.unchanged} unchanged"
            + (f" ({'; '.join(notes)})" if notes else "")
        )
    if folder.skipped:
        print(f"skipped (not {LIST_SUFFIX} word lists): {', '.join(folder.skipped)}")
    total = service.Counts(
        added=sum(result.counts.added for result in results),
        updated=sum(result.counts.updated for result in results),
        unchanged=sum(result.counts.unchanged for result in results),
    )
    version = results[-1].version
    print(
        f"imported {len(results)} file(s), {total.total} word(s): {total.added} added, "
        f"{total.updated} updated, {total.unchanged} unchanged (lexicon version {version})"
    )
    return 0


def _cmd_words_export(args: argparse.Namespace, settings: Settings) -> int:
    from app.lexicon import service

    _safely(settings, _require_migrated)
    export = service.export_allow if args.allow else service.export_words

    async def work(session: AsyncSession) -> str:
        return await export(session, now=_now())

    text = _in_session(settings, work)
    if args.file is None:
        sys.stdout.write(text)
        return 0
    args.file.write_text(text, encoding="utf-8")
    count = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"exported {count} {_list_kind(args)[1]} to {args.file}")
    return 0


def _cmd_words_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.lexicon import service

    _safely(settings, _require_migrated)

    async def work(session: AsyncSession) -> list[str]:
        lines: list[str] = []
        cursor = None
        while len(lines) < args.limit:
            want = min(500, args.limit - len(lines))
            if args.allow:
                page = await service.list_allow(session, q=args.search, limit=want, cursor=cursor)
                lines += [
                    f"{row.id}\t{row.phrase}\t{row.scope or '-'}\t{row.added_by}\t{row.source}"
                    f"\t{row.source_log_id or '-'}"
                    for row in page.items
                ]
            else:
                page = await service.list_words(
                    session, q=args.search, category=args.category, limit=want, cursor=cursor
                )
                lines += [
                    f"{row.id}\t{row.word}\t{row.category}\t{row.severity}\t{row.mode}\t"
                    f"{row.scope or '-'}\t{row.added_by}\t{row.source}"
                    for row in page.items
                ]
            cursor = page.next_cursor
            if cursor is None:
                break
        return lines

    if args.allow and args.category is not None:
        raise SettingsError("--category filters words, not --allow phrases")
    try:
        lines = _in_session(settings, work)
    except service.InvalidEntry as exc:
        raise SettingsError(f"--category: {exc}") from None
    header = (
        "id\tphrase\tscope\tadded_by\tsource\tfrom_log"
        if args.allow
        else "id\tword\tcategory\tseverity\tmode\tscope\tadded_by\tsource"
    )
    print(header)
    for line in lines:
        print(line)
    return 0


def _cmd_words_delete(args: argparse.Namespace, settings: Settings) -> int:
    from app.lexicon import service

    _safely(settings, _migrate)
    delete = service.delete_allow if args.allow else service.delete_word

    async def work(session: AsyncSession) -> int:
        return await delete(session, args.id, now=_now())

    try:
        version = _in_session(settings, work)
    except service.EntryNotFound as exc:
        print(f"wecom-mod: {exc}", file=sys.stderr)
        return 1
    what = "allow-list phrase" if args.allow else "word"
    print(f"deleted {what} {args.id} (lexicon version {version})")
    return 0


def _cmd_archive_import(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import InterfaceError, OperationalError

    from app.db import create_engine_for, database_urls, session_factory
    from app.ingest.archive_import import import_records

    if not args.file.is_file():
        raise SettingsError(f"FILE: no file at {args.file}")
    _safely(settings, _migrate)

    async def run() -> list[str]:
        engine = create_engine_for(database_urls(settings.database_url))
        try:
            summary = await import_records(
                settings, session_factory(engine), args.file, shadow=args.shadow, report=sys.stderr
            )
        finally:
            await engine.dispose()
        return summary.render()

    try:
        lines = asyncio.run(run())
    except (OperationalError, InterfaceError) as exc:
        first = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
        raise SettingsError(f"DATABASE_URL: database unavailable: {first}") from None
    for line in lines:
        print(line)
    return 0


def _cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    from app.health import service
    from app.health.table import health_table

    _safely(settings, _require_migrated)
    config = service.HealthConfig.from_settings(settings)

    async def work(session: AsyncSession) -> service.HealthPage:
        return await service.health_page(
            session,
            config,
            now=_now(),
            days=args.days,
            grade=args.grade,
            sort=args.sort,
            descending=args.desc,
            limit=args.limit,
        )

    page = _in_session(settings, work)
    for line in health_table(
        page.items, days=args.days or config.window_days, computed_at=page.computed_at
    ):
        print(line)
    if page.next_cursor is not None:
        print(f"… more groups (--limit {args.limit})")
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Play sandbox scenarios through the real service on a throwaway database, with an
    in-process fake WeCom, and print their transcripts (app/sandbox)."""
    from app.main import create_app
    from app.sandbox.player import play_scenarios
    from app.sandbox.scenarios import SCENARIOS, by_name
    from app.sandbox.transcript import header, listing, transcript
    from app.texts import load_texts

    texts = load_texts(settings.messages_path)
    if args.list:
        print("\n".join(listing(texts, SCENARIOS)))
        return 0
    chosen = SCENARIOS
    if args.scenario is not None:
        found = by_name(args.scenario)
        if found is None:
            names = ", ".join(scenario.name for scenario in SCENARIOS)
            print(
                f"wecom-mod: {texts.render('demo.unknown', name=args.scenario, names=names)}",
                file=sys.stderr,
            )
            return 2
        chosen = (found,)
    print(header(texts), flush=True)
    logging.disable(logging.WARNING)  # the sandbox's own service logs nothing an operator needs
    try:
        played = asyncio.run(
            play_scenarios(chosen, create_app, messages_path=settings.messages_path)
        )
    finally:
        logging.disable(logging.NOTSET)
    for one in played:
        print()
        print("\n".join(transcript(texts, one)))
    print()
    passed = sum(one.passed for one in played)
    print(texts.render("demo.summary", count=len(played), passed=passed))
    return 0


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
        "--no-workers",
        action="store_true",
        help="answer HTTP only: leave judging and sending to replicas started without it",
    )
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
        help="print what the service would decide about a text",
        description="Judge TEXT as the service judges a group message (the lexicon in the "
        "database, words and allow list, or the word file given with --lexicon; the promotion "
        "and flood rules; the policy of POLICY_PATH), sent by a member with no strikes into a "
        "group with no recent messages, and print each finding, how it was found, and the "
        "decision. Exit status 1 when anything is found, 0 when nothing is.",
    )
    check.add_argument("text", help="the text to check")
    check.add_argument(
        "--lexicon", type=Path, help="word file to use instead of the database lexicon"
    )
    check.add_argument(
        "--chat", default="", metavar="CHAT_ID", help="judge as if sent in this group chat"
    )
    check.add_argument(
        "--newcomer",
        action="store_true",
        help="judge as the first message of a member who just joined (default: an established "
        "member)",
    )
    check.set_defaults(handler=_cmd_check)

    words = sub.add_parser(
        "words",
        help="manage the lexicon: import, export, list, delete words and allow-list phrases",
        description="Manage the lexicon in the database. A running service picks changes up "
        "within LEXICON_RELOAD_SECONDS.",
    )
    words_sub = words.add_subparsers(dest="words_command", required=True, metavar="ACTION")

    def allow_flag(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--allow", action="store_true", help="the allow list instead of the words"
        )

    words_import = words_sub.add_parser(
        "import",
        help="add the words (or --allow phrases) of a file or a folder of lists; update "
        "listed words that differ",
        description="Import a word file (word<TAB>category<TAB>severity<TAB>mode<TAB>scope; "
        "severity block, review, log or 1-3) or, with --allow, an allow-list file "
        "(phrase<TAB>scope). With --category-from-filename, import a folder of "
        "one-file-per-category lists (every .txt file; 涉毒.txt gives category 涉毒, "
        "色情类.txt porn), or one such file, in one transaction. Files may be UTF-8, UTF-8 "
        "with BOM, UTF-16 with BOM or GBK. Missing entries are added, listed words whose "
        "category, severity or mode differ are updated, nothing is deleted.",
    )
    words_import.add_argument("file", type=Path, metavar="FILE|DIR")
    allow_flag(words_import)
    words_import.add_argument(
        "--category-from-filename",
        action="store_true",
        help="each file is one category, named by the file (suffixes 词库, 类, 类型 … "
        "dropped; 政治, 色情, 赌博, 诈骗, 广告, 辱骂 … are the built-in ones); several "
        "comma-separated words may share a line",
    )
    words_import.add_argument(
        "--severity",
        metavar="S",
        help="severity of the words whose line gives none: block (default), review, log, "
        "or 1 (log), 2 (review), 3 (block)",
    )
    words_import.add_argument(
        "--mode",
        metavar="M",
        help="match mode of the words whose line gives none: fuzzy (default), folded, exact",
    )
    words_import.add_argument(
        "--by", default="cli", metavar="NAME", help="who is adding (default: cli)"
    )
    words_import.set_defaults(handler=_cmd_words_import)

    words_export = words_sub.add_parser(
        "export",
        help="write every word (or --allow phrase) as a file that `words import` reads",
        description="Write the lexicon as a word file (or, with --allow, an allow-list file) "
        "to FILE, or to standard output when FILE is left out.",
    )
    words_export.add_argument("file", type=Path, nargs="?", metavar="FILE")
    allow_flag(words_export)
    words_export.set_defaults(handler=_cmd_words_export)

    words_list = words_sub.add_parser(
        "list",
        help="list words (or --allow phrases), newest first",
        description="List words or allow-list phrases, newest first, tab-separated.",
    )
    words_list.add_argument(
        "--search", metavar="Q", help="substring of the word as written or as folded"
    )
    words_list.add_argument(
        "--category",
        metavar="C",
        help="only words of this category (a built-in one, or a list's label such as 涉毒)",
    )
    words_list.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N rows (default 100)"
    )
    allow_flag(words_list)
    words_list.set_defaults(handler=_cmd_words_list)

    words_delete = words_sub.add_parser(
        "delete",
        help="delete one word (or --allow phrase) by id",
        description="Delete one word or allow-list phrase by its id (see `words list`).",
    )
    words_delete.add_argument("id", type=int, metavar="ID")
    allow_flag(words_delete)
    words_delete.set_defaults(handler=_cmd_words_delete)

    archive = sub.add_parser(
        "archive",
        help="chat archive (会话内容存档): replay decrypted records through the pipeline",
        description="Work with chat-archive records. The service pulls the archive itself "
        "when ARCHIVE_ENABLED is true; these commands are for files of records.",
    )
    archive_sub = archive.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    archive_import = archive_sub.add_parser(
        "import",
        help="judge decrypted archive records from a JSON-lines file; print a summary",
        description="Store each record of FILE (one decrypted archive record per line, as "
        "the Finance SDK's DecryptData returns it) in the inbox and judge it like the "
        "service does: 1:1 chats skipped unless ARCHIVE_INCLUDE_DIRECT, recalls marked, bad "
        "lines reported by number and skipped. A msgid already in the database is not judged "
        "again. Without --shadow, actions are queued for a running service to send.",
    )
    archive_import.add_argument("file", type=Path, metavar="FILE")
    archive_import.add_argument(
        "--shadow",
        action="store_true",
        help="judge as if every group were in shadow mode: log decisions, queue nothing "
        "(use a copy or a scratch DATABASE_URL)",
    )
    archive_import.set_defaults(handler=_cmd_archive_import)

    from app.health.service import GRADE_FILTERS, SORTS

    health = sub.add_parser(
        "health",
        help="community health of every group as a table (docs/health.md)",
        description="Every group's grade (healthy, watch, at_risk, dead; ungraded when only "
        "the smart bot sees it) and figures over the last --days days, dead first.",
    )
    health.add_argument(
        "--days", type=int, default=None, help="the window in days (HEALTH_WINDOW_DAYS)"
    )
    health.add_argument("--grade", choices=GRADE_FILTERS, help="only groups of this grade")
    health.add_argument("--sort", choices=SORTS, default="grade", help="order by this figure")
    health.add_argument("--desc", action="store_true", help="largest first")
    health.add_argument("--limit", type=int, default=200, help="rows shown (default 200)")
    health.set_defaults(handler=_cmd_health)

    demo = sub.add_parser(
        "demo",
        help="play sandbox scenarios and print what the bot decided and posted",
        description="Plays a ready-made scenario (all of them without SCENARIO) through the "
        "real service on a throwaway SQLite database, WeCom replaced by an in-process fake: "
        "the messages, the decisions and why, what the bot posted in the group, the alerts.",
    )
    demo.add_argument("scenario", nargs="?", metavar="SCENARIO", help="a name from --list")
    demo.add_argument("--list", action="store_true", help="list the scenarios and exit")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from sqlalchemy.exc import InterfaceError, OperationalError

    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        _configure_logging(settings)
        return int(args.handler(args, settings))
    except SettingsError as exc:
        print(f"wecom-mod: configuration error: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, InterfaceError) as exc:  # a step not wrapped by `_safely`
        print(f"wecom-mod: configuration error: {_unavailable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
