"""Chat-archive records processed per second: pull → inbox → moderation, decryption stubbed.

What it measures, on the service's own objects (`create_app` with a fake Finance SDK):

- pull: `ArchivePoller.poll` over `--records` records in batches of `--batch`: the lease,
  GetChatData (a list in memory), opening each record (the RSA and DecryptData steps stubbed:
  the random key and the plaintext come from a dict), `parse_archive_message`, the skip rules,
  and one transaction per batch storing the inbox events and moving the cursor;
- judge: `InboxProcessor.process_pending` until idle: parsing each stored record again, the
  mapping to `IncomingMessage`, the lexicon (one `find_many` per batch of 50), flood and
  promotion detectors over the group's metadata in the database, strikes, the policy, and the
  moderation log, strike and outbox rows of flagged messages; recalls mark their log row.

The records (reproducible from `--seed`) are chat in `--groups` groups of `--members` members
each, one message every 0.5-20 s of simulated time per group, ending now: mostly everyday text,
about 3% with a lexicon word, 2% promotion, 4% links, images and cards, 1% recalls, 3% 1:1
chats (skipped unless ARCHIVE_INCLUDE_DIRECT) and some bursts.

It runs on SQLite (a fresh file) and, when a PostgreSQL server answers at `--postgres` (default
WECOM_MOD_TEST_POSTGRES_URL or postgresql://postgres@127.0.0.1:5432/postgres; a temporary
database is created and dropped), on PostgreSQL too, and prints records, seconds and records
per second for each stage and for both together.

    .venv/bin/python benchmarks/archive.py [--records N] [--batch B] [--groups G]
        [--members M] [--seed S] [--postgres URL]
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
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import database_urls  # noqa: E402
from app.ingest.archive import ArchivePoller, PollerConfig  # noqa: E402
from app.main import create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import InboxEvent, ModerationLog, OutboxAction  # noqa: E402
from app.settings import load_settings  # noqa: E402
from benchmarks._backends import add_postgres_argument, on_each_backend, start  # noqa: E402
from bot.archive import ArchiveKeys  # noqa: E402
from bot.finance_sdk import EncryptedRecord  # noqa: E402

CORP_ID = "wwbench"
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
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏"]
BAD = ["周末一起赌博吗", "需要代开发票的私聊", "你就是个傻逼", "加微信领红包"]
PROMO = ["有事打我电话 13800138000", "加V：abc_12345 领福利", "福利在这 www.tb-deal.cn"]


class StubKeys(ArchiveKeys):
    """The random key without RSA (decryption is stubbed; the mapping and storage are not)."""

    def decrypt_random_key(self, publickey_ver: int, encrypt_random_key: str) -> str:
        return encrypt_random_key


class StubSdk:
    """GetChatData from a list, DecryptData from a dict."""

    def __init__(self, records: list[tuple[EncryptedRecord, dict[str, Any]]]) -> None:
        self.entries = [entry for entry, _ in records]
        self.plaintexts = {entry.encrypt_chat_msg: plaintext for entry, plaintext in records}

    def get_chat_data(
        self, seq: int, limit: int = 1000, *, proxy: str = "", passwd: str = "", timeout: int = 10
    ) -> list[EncryptedRecord]:
        # Records are numbered 1..N, so the ones after `seq` start at index `seq`.
        return self.entries[seq : seq + limit]

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        return dict(self.plaintexts[encrypt_chat_msg])

    def close(self) -> None:
        pass


def everyday(rng: random.Random) -> str:
    """A line of ordinary chat; longer ones vary (the same long line from several members in a
    minute or two is a copy-paste wave, which real chat rarely is)."""
    line = rng.choice(LINES)
    if len(line) >= 8:
        line += rng.choice(
            [f"，{rng.choice(NAMES)}", f" 第{rng.randint(1, 40)}组", f"（{rng.randint(1, 12)}月）"]
        )
    return line


def build_records(
    count: int, groups: int, members: int, seed: int
) -> list[tuple[EncryptedRecord, dict[str, Any]]]:
    rng = random.Random(seed)
    end = datetime.now(UTC) - timedelta(minutes=1)
    clocks = [0.0] * groups
    plain: list[tuple[int, dict[str, Any]]] = []  # (group, record)
    burst: list[tuple[int, int]] = []
    sent: list[tuple[int, str]] = []  # (group, msgid) of group messages, for recalls
    while len(plain) < count:
        group = rng.randrange(groups)
        member = rng.randrange(members)
        step = rng.uniform(0.5, 20.0)
        sender = f"wmBench{group:03d}{member:03d}" if member % 3 == 0 else f"user{group}-{member}"
        msgid = f"bench-{len(plain)}"
        room = f"wrBenchRoom{group:04d}"
        body: dict[str, Any] = {"msgid": msgid, "action": "send", "from": sender, "roomid": room}
        roll = rng.random()
        if burst and rng.random() < 0.7:
            group, member = burst.pop()
            step = rng.uniform(0.3, 1.5)
            body.update(msgtype="text", text={"content": everyday(rng)})
        elif roll < 0.03:
            body.update(msgtype="text", text={"content": rng.choice(BAD)})
        elif roll < 0.05:
            body.update(msgtype="text", text={"content": rng.choice(PROMO)})
        elif roll < 0.06:
            body.update(
                msgtype="link", link={"title": "周报模板", "link_url": "https://doc.example.com/x"}
            )
        elif roll < 0.08:
            body.update(msgtype="image", image={"sdkfileid": f"F{len(plain)}", "filesize": 1024})
        elif roll < 0.09:
            body.update(msgtype="card", card={"corpname": "某某科技", "userid": "wmCard"})
        elif roll < 0.10 and sent:
            recalled_group, recalled = sent[rng.randrange(len(sent))]
            room = f"wrBenchRoom{recalled_group:04d}"
            body.update(
                action="recall", roomid=room, msgtype="revoke", revoke={"pre_msgid": recalled}
            )
        elif roll < 0.13:
            body.update(roomid="", msgtype="text", text={"content": everyday(rng)})
        elif roll < 0.14:
            burst = [(group, member)] * 8
            body.update(msgtype="text", text={"content": everyday(rng)})
        else:
            body.update(msgtype="text", text={"content": everyday(rng)})
        clocks[group] += step
        body["tolist"] = [f"user{group}-{(member + 1) % members}"]
        body["_at"] = clocks[group]
        if body["roomid"] and body["msgtype"] != "revoke":
            sent.append((group, msgid))
        plain.append((group, body))
    longest = max(clocks)
    out = []
    for seq, (_group, body) in enumerate(plain, start=1):
        at = end - timedelta(seconds=longest - body.pop("_at"))
        body["msgtime"] = int(at.timestamp() * 1000)
        ciphertext = f"ECM{seq:010d}" + "A" * 16
        entry = EncryptedRecord(
            seq=seq,
            msgid=body["msgid"],
            publickey_ver=1,
            encrypt_random_key="stub-random-key",
            encrypt_chat_msg=ciphertext,
        )
        out.append((entry, body))
    return out


async def run(
    url: str, workdir: Path, records: list[tuple[EncryptedRecord, dict[str, Any]]], batch: int
) -> dict[str, Any]:
    lexicon = workdir / "lexicon.txt"
    lexicon.write_text(LEXICON, encoding="utf-8")
    policy = workdir / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "newcomer_days": 0,
                "newcomer_messages": 3,
                "promo": {"allowed_domains": ["doc.example.com"]},
            }
        ),
        encoding="utf-8",
    )
    keys_dir = workdir / "keys"
    keys_dir.mkdir(exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (keys_dir / "1.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    settings = load_settings(
        _env_file=None,
        database_url=url,
        wecom_api_base="https://wecom.invalid",
        wecom_corp_id=CORP_ID,
        wecom_agent_id=1000002,
        wecom_app_secret="bench-secret",
        wecom_admin_userids="mod-alice",
        lexicon_path=str(lexicon),
        policy_path=str(policy),
        log_level="WARNING",
        archive_enabled=True,
        archive_secret="bench-archive-secret",
        archive_keys_dir=str(keys_dir),
        archive_batch=batch,
    )
    upgrade(database_urls(settings.database_url))
    sdk = StubSdk(records)
    app = create_app(settings, start_workers=False, archive_source=lambda: sdk)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await runtime.workers.run_until_idle()  # the lexicon, imported and loaded
        poller = ArchivePoller(
            runtime.sessions,
            PollerConfig(corp_id=CORP_ID, batch=batch, max_batches=len(records) // batch + 2),
            open_source=lambda: sdk,
            keys=lambda: StubKeys({1: key}),
            clock=lambda: datetime.now(UTC),
        )
        started = time.perf_counter()
        stored = await poller.poll()
        pulled = time.perf_counter()
        judged = 0
        while handled := await runtime.processor.process_pending(limit=500):
            judged += handled
        finished = time.perf_counter()
        await poller.close()
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
            recalled = (
                await session.execute(
                    select(func.count()).where(ModerationLog.recalled_at.is_not(None))
                )
            ).scalar_one()
            queued = (await session.execute(select(func.count(OutboxAction.id)))).scalar_one()
            rules: Counter[str] = Counter()
            for findings in (await session.execute(select(ModerationLog.findings))).scalars():
                for finding in findings:
                    rules[finding.get("rule") or f"lexicon.{finding.get('category')}"] += 1
            failed = (
                await session.execute(select(func.count()).where(InboxEvent.status == "failed"))
            ).scalar_one()
    return {
        "records": len(records),
        "stored": stored,
        "judged": judged,
        "pull_seconds": pulled - started,
        "judge_seconds": finished - pulled,
        "verdicts": dict(verdicts),
        "rules": dict(rules.most_common()),
        "recalled": recalled,
        "queued": queued,
        "failed": failed,
    }


def report(name: str, result: dict[str, Any]) -> None:
    records = result["records"]
    pull, judge = result["pull_seconds"], result["judge_seconds"]
    print(
        f"{name:<10} {records:>7,} records: pull+store {pull:6.2f} s = {records / pull:7,.0f}/s; "
        f"judge {result['judged']:,} events {judge:6.2f} s = {result['judged'] / judge:6,.0f}/s; "
        f"together {records / (pull + judge):6,.0f} records/s"
    )
    print(
        f"{'':<10} stored {result['stored']:,} (the rest 1:1, skipped); logged "
        f"{result['verdicts']}; recalled {result['recalled']}; outbox rows {result['queued']}; "
        f"failed {result['failed']}"
    )
    print(f"{'':<10} findings: {result['rules']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--members", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20261122)
    add_postgres_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start(
        f"--records {args.records} --batch {args.batch} --groups {args.groups} "
        f"--members {args.members} --seed {args.seed} (decryption stubbed)"
    )
    records = build_records(args.records, args.groups, args.members, args.seed)
    on_each_backend(
        args.postgres, lambda url, workdir: run(url, workdir, records, args.batch), report
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
