"""Golden check of the judging pipeline: the decisions on the pipeline benchmark's corpus, per
message, dumped as stable JSON and compared with a stored dump.

The corpus is `benchmarks/pipeline.py`'s (same generator, same flags, same defaults), stored in
the inbox and judged by the service's own `InboxProcessor`, as that benchmark does. For every
message the dump holds: the verdict, the rules that fired (lexicon words and behaviour signals,
with tier and span), the ladder step, the standing strikes after it, the reason, the actions
decided and the outbox rows they became (kind = channel, status, the reason a row was skipped,
and a digest of the payload, so that a changed warning text shows up too). Messages that were
not flagged have verdict "none" and nothing else.

    .venv/bin/python benchmarks/golden.py --write benchmarks/data/golden-pipeline.json
    .venv/bin/python benchmarks/golden.py --compare benchmarks/data/golden-pipeline.json
        [--messages N] [--postgres URL]

`--compare` runs the corpus (or its first `--messages` messages: each message is judged only
against the ones before it, so a prefix of the corpus decides the same), prints the first
differences and exits 1 when any message is decided differently. SQLite by default;
`--postgres URL` runs on a temporary database of that server instead.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import database_urls  # noqa: E402
from app.main import create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import ModerationLog, OutboxAction  # noqa: E402
from app.repositories import inbox as inbox_repo  # noqa: E402
from app.settings import load_settings  # noqa: E402
from benchmarks._backends import start, temporary_database  # noqa: E402
from benchmarks.pipeline import LEXICON, build_messages  # noqa: E402

SHOWN = 10  # differences printed, at most
CORPUS_KEYS = ("groups", "members", "seed")


async def decisions(url: str, workdir: Path, messages: list[tuple[str, datetime]]) -> list[Any]:
    """The decision on each message, in corpus order (see the module docstring)."""
    lexicon = workdir / "lexicon.txt"
    lexicon.write_text(LEXICON, encoding="utf-8")
    policy = workdir / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 3}), encoding="utf-8")
    settings = load_settings(
        _env_file=None,
        database_url=url,
        wecom_aibot_token="AibotCallbackToken",
        wecom_aibot_aes_key="ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut",
        wecom_api_base="https://wecom.invalid",
        wecom_corp_id="wwbench",
        wecom_agent_id=1000002,
        wecom_app_secret="bench-secret",
        wecom_admin_userids="mod-alice",
        lexicon_path=str(lexicon),
        policy_path=str(policy),
        log_level="WARNING",
    )
    upgrade(database_urls(settings.database_url))
    app = create_app(settings, start_workers=False)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.sessions() as session, session.begin():
            for index, (plaintext, at) in enumerate(messages):
                await inbox_repo.store_once(
                    session,
                    inbox_repo.pending_row(
                        dedupe_key=f"aibot:bench-{index}",
                        source="aibot",
                        kind="aibot_text",
                        chat_id="",
                        sender="",
                        plaintext=plaintext,
                        now=at,
                    ),
                )
        while await runtime.processor.process_pending(limit=500):
            pass
        async with runtime.sessions() as session:
            logs = (await session.execute(select(ModerationLog))).scalars().all()
            rows = (await session.execute(select(OutboxAction))).scalars().all()
    outbox: dict[int, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda row: row.idempotency_key):
        if row.moderation_log_id is not None:
            outbox.setdefault(row.moderation_log_id, []).append(_outbox_row(row))
    by_message = {entry.message_id: _logged(entry, outbox.get(entry.id, [])) for entry in logs}
    return [by_message.get(f"bench-{index}", {"verdict": "none"}) for index in range(len(messages))]


def _logged(entry: ModerationLog, outbox: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "verdict": entry.verdict,
        "mode": entry.mode,
        "rules": [_rule(finding) for finding in entry.findings or ()],
        "step": entry.step,
        "strikes": entry.strikes,
        "reason": entry.reason,
        "actions": list(entry.actions or ()),
        "outbox": outbox,
    }


def _rule(finding: dict[str, Any]) -> str:
    """One violation as `rule tier (effective tier) start:end`: a lexicon word as
    `word.<category>:<word>`, a signal by its rule (`flood.rate`, `promo.phone`)."""
    if finding.get("detector") in ("flood", "promo"):
        rule = str(finding["rule"])
        if finding.get("for_review"):
            rule += " for-review"
    else:
        rule = f"word.{finding.get('category')}:{finding.get('word')}"
    return (
        f"{rule} {finding.get('severity')} ({finding.get('effective_severity')}) "
        f"{finding.get('start')}:{finding.get('end')}"
    )


def _outbox_row(row: OutboxAction) -> dict[str, Any]:
    payload = json.dumps(row.payload, ensure_ascii=False, sort_keys=True)
    return {
        "action": row.idempotency_key.rsplit(":", 1)[-1],
        "kind": row.kind,
        "status": row.status,
        "note": row.last_error,
        "payload": hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16],
    }


def run(args: argparse.Namespace) -> list[Any]:
    messages = build_messages(args.messages, args.groups, args.members, args.seed)
    with tempfile.TemporaryDirectory() as workdir_name:
        workdir = Path(workdir_name)
        if not args.postgres:
            return asyncio.run(decisions(f"sqlite:///{workdir / 'golden.db'}", workdir, messages))
        with temporary_database(args.postgres) as url:
            if url is None:
                raise SystemExit(2)
            return asyncio.run(decisions(url, workdir, messages))


def compare(stored: dict[str, Any], found: list[Any]) -> list[str]:
    """The differences between a stored dump and the decisions `found` on its first messages."""
    differences = []
    for index, (want, got) in enumerate(zip(stored["decisions"], found, strict=False)):
        if want != got:
            differences.append(
                f"bench-{index}:\n  stored: {json.dumps(want, ensure_ascii=False)}\n"
                f"  now:    {json.dumps(got, ensure_ascii=False)}"
            )
    return differences


def _dump(args: argparse.Namespace, found: list[Any]) -> str:
    """The stored form: one message's decision per line, so that a diff shows messages."""
    corpus = json.dumps({key: getattr(args, key) for key in CORPUS_KEYS}, sort_keys=True)
    lines = ",\n".join(json.dumps(item, ensure_ascii=False, sort_keys=True) for item in found)
    return f'{{"corpus": {corpus},\n"decisions": [\n{lines}\n]}}\n'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", type=Path, metavar="FILE", help="dump the decisions to FILE")
    what.add_argument("--compare", type=Path, metavar="FILE", help="compare with FILE")
    parser.add_argument(
        "--messages", type=int, default=None, help="messages (default: 5000, or all of FILE)"
    )
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--members", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--postgres",
        default="",
        metavar="URL",
        help="run on a temporary database of this PostgreSQL server instead of SQLite",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stored: dict[str, Any] | None = None
    if args.compare is not None:
        stored = json.loads(args.compare.read_text(encoding="utf-8"))
        for key in CORPUS_KEYS:
            if stored["corpus"][key] != getattr(args, key):
                print(f"--{key} {getattr(args, key)} is not the stored corpus's {stored['corpus']}")
                return 2
        total = len(stored["decisions"])
        if args.messages is None:
            args.messages = total
        if args.messages > total:
            print(f"--messages {args.messages}: {args.compare} holds {total}")
            return 2
    elif args.messages is None:
        args.messages = 5000
    start(
        f"--messages {args.messages} --groups {args.groups} --members {args.members} "
        f"--seed {args.seed}{' on PostgreSQL' if args.postgres else ' on SQLite'}"
    )
    found = run(args)
    flagged = sum(1 for decision in found if decision["verdict"] != "none")
    if stored is None:
        args.write.write_text(_dump(args, found), encoding="utf-8")
        print(f"wrote the decisions on {len(found)} message(s) ({flagged} flagged) to {args.write}")
        return 0
    differences = compare(stored, found)
    if differences:
        print(f"{len(differences)} of {len(found)} message(s) decided differently; first:")
        for line in differences[:SHOWN]:
            print(line)
        return 1
    print(f"identical: {len(found)} message(s), {flagged} flagged, decided as in {args.compare}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
