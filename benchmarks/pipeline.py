"""Moderation decisions per second: the full pipeline after the callback has been answered.

What it measures: `--messages` smart-bot group messages are stored in the inbox (as the callback
endpoint stores them), then the service's own `InboxProcessor` works through them, and the time
of that work is measured. Per message that is (`moderation.judge_each` over each batch, up to
500 events, 200 on SQLite, with the facts the processor reads for it): the lexicon (one
`find_many` per 64 messages), the flood detector over the group's recent message metadata (read
from and written to the database), the promotion detector, the member's standing strikes, the
group's policy, and for flagged messages the moderation log row, the strike and the outbox rows,
all in the transactions the service uses. Nothing is sent: the outbox is left to the dispatcher.

The messages (reproducible from `--seed`) are chat in `--groups` groups from `--members`
members each, one message every 0.5-20 s of simulated time per group: everyday lines, about 3%
with a lexicon word, 2% with a phone number or WeChat id, and occasional bursts of one member
posting fast (which the flood rules catch).

It runs on SQLite (a fresh file) and, when a PostgreSQL server answers at `--postgres` (default
postgresql://postgres@127.0.0.1:5432/postgres; a temporary database is created and dropped), on
PostgreSQL too, and prints messages, seconds, decisions per second, the CPU time this process
spent per message (less sensitive than the wall clock to other work on the machine; on
PostgreSQL the server's CPU is not in it) and what was decided.

    .venv/bin/python benchmarks/pipeline.py [--messages N] [--groups G] [--members M]
        [--seed S] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import database_urls  # noqa: E402
from app.main import create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import ModerationLog, OutboxAction  # noqa: E402
from app.repositories import inbox as inbox_repo  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.settings import Settings, load_settings  # noqa: E402
from benchmarks._backends import add_postgres_argument, on_each_backend, start  # noqa: E402

LEXICON = "赌博\tgambling\tblock\n代开发票\tfraud\tblock\n加微信\tads\treview\n傻逼\tabuse\tblock\n"
LINES = [
    "好的 谢谢",
    "收到",
    "今天下午3点开会，会议室301",
    "这个方案我再看一下，晚点回复大家",
    "周报已经发到群文件了，麻烦查收",
    "哈哈哈 太好笑了",
    "明天的活动几点开始？",
    "@所有人 请大家在周五前提交报销单",
    "版本v1.2发布了，更新说明见文档",
    "辛苦了👍",
    "我觉得可以，按这个来吧",
    "有人知道打印机怎么连吗",
]
BAD = ["周末一起赌博吗", "需要代开发票的私聊", "你就是个傻逼", "加微信领红包"]
PROMO = ["有事打我电话 13800138000", "加V：abc_12345 领福利", "福利在这 www.tb-deal.cn"]


def build_messages(count: int, groups: int, members: int, seed: int) -> list[tuple[str, datetime]]:
    rng = random.Random(seed)
    clocks = [datetime(2026, 11, 21, 9, tzinfo=UTC)] * groups
    out: list[tuple[str, datetime]] = []
    burst: list[tuple[int, int]] = []  # (group, member) still bursting
    while len(out) < count:
        group = rng.randrange(groups)
        member = rng.randrange(members)
        step = rng.uniform(0.5, 20.0)
        roll = rng.random()
        if burst and rng.random() < 0.7:
            group, member = burst.pop()
            step = rng.uniform(0.3, 1.5)
            text = rng.choice(LINES)
        elif roll < 0.03:
            text = rng.choice(BAD)
        elif roll < 0.05:
            text = rng.choice(PROMO)
        elif roll < 0.06:
            burst = [(group, member)] * 8
            text = rng.choice(LINES)
        else:
            text = rng.choice(LINES)
        clocks[group] += timedelta(seconds=step)
        body = {
            "msgid": f"bench-{len(out)}",
            "aibotid": "AIBOTID",
            "chatid": f"wrBench{group:04d}",
            "chattype": "group",
            "from": {"userid": f"member-{group}-{member}"},
            "response_url": f"https://wecom.invalid/cgi-bin/aibot/response?code={len(out)}",
            "msgtype": "text",
            "text": {"content": f"@审核助手 {text}"},
        }
        out.append((json.dumps(body, ensure_ascii=False), clocks[group]))
    return out


def bench_settings(url: str, workdir: Path) -> Settings:
    """The service's settings for a benchmark run on `url`: the benchmark's lexicon and a
    policy where a member is a newcomer for 3 messages, written into `workdir`."""
    lexicon = workdir / "lexicon.txt"
    lexicon.write_text(LEXICON, encoding="utf-8")
    policy = workdir / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 3}), encoding="utf-8")
    return load_settings(
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


async def store_messages(runtime: Runtime, messages: list[tuple[str, datetime]]) -> None:
    """The corpus into the inbox, as the callback endpoint stores it, in one transaction."""
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


async def run(url: str, workdir: Path, messages: list[tuple[str, datetime]]) -> dict[str, object]:
    settings = bench_settings(url, workdir)
    upgrade(database_urls(settings.database_url))
    app = create_app(settings, start_workers=False)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await store_messages(runtime, messages)
        processor = runtime.processor
        started = time.perf_counter()
        cpu_started = time.process_time()
        done = 0
        while True:
            handled = await processor.process_pending(limit=500)
            if not handled:
                break
            done += handled
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        async with runtime.sessions() as session:
            verdicts = Counter(
                dict(
                    (
                        await session.execute(
                            select(ModerationLog.verdict, func.count()).group_by(
                                ModerationLog.verdict
                            )
                        )
                    ).all()
                )
            )
            queued = (await session.execute(select(func.count(OutboxAction.id)))).scalar_one()
    return {
        "messages": done,
        "seconds": elapsed,
        "cpu": cpu,
        "verdicts": verdicts,
        "queued": queued,
    }


def report(name: str, result: dict[str, object]) -> None:
    messages = int(result["messages"])  # type: ignore[call-overload]
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    cpu = float(result["cpu"])  # type: ignore[arg-type]
    verdicts = result["verdicts"]
    print(
        f"{name:<10} {messages:>8,} messages in {seconds:7.2f} s = "
        f"{messages / seconds:8,.0f} decisions/s ({cpu / messages * 1000:.2f} ms CPU of this "
        f"process per message); logged: {dict(verdicts)} "  # type: ignore[call-overload]
        f"; outbox rows: {result['queued']}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--members", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20261121)
    add_postgres_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start(
        f"--messages {args.messages} --groups {args.groups} --members {args.members} "
        f"--seed {args.seed}"
    )
    messages = build_messages(args.messages, args.groups, args.members, args.seed)
    on_each_backend(args.postgres, lambda url, workdir: run(url, workdir, messages), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
