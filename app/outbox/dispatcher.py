"""The outbox dispatcher: carries out stored actions through `bot.client`, with retries.

An action is claimed under a lease (so a dead worker's action is retaken after the lease), sent,
then marked `sent`; a retryable failure reschedules it with exponential backoff and jitter; a
permanent failure, or the last allowed attempt, marks it `dead` with the reason kept on the row.
Which WeCom errcodes are which is decided in one place, `bot.errors.error_for_errcode`: token
errors are refreshed and retried once inside the client; rate errors (`RateLimited`) wait at
least `RATE_LIMITED_WAIT`; a wrong setting (`ConfigurationError`, e.g. 60020 IP not trusted) is
dead at once, its last_error saying what to fix, logged as an ERROR the first time; any other
errcode, HTTP 5xx or timeout is retried up to the attempt limit. A dead action goes back to
pending with `POST /api/v1/outbox/{id}/retry` (`app.outbox.routes`).

Moderator alerts respect WeCom's per-member limit on app messages (30 a minute, 1000 an hour;
WeCom drops the excess silently), counted over what every replica sent. When several alerts
for the same moderators are due at once (a spam wave), they go out as one digest that lists
each of them; the merged rows are marked `merged` with the digest's id. When a moderator's
budget is spent, the alerts wait for it (a wait is not a failed attempt): nothing is dropped.

Posts through a group's webhook robot (`webhook_send`) carry the chat id, never the key: the
key is read from the group's row and opened with the SecretBox when the post is made, so it is
in no payload, log line or error. A robot takes 20 posts a minute (WeCom then refuses with
45009/130101 and pauses it for minutes), so no more than `WEBHOOK_PER_MINUTE` posts go to one
group in any 60 s, counted over what every replica sent; a post over that waits for the minute
to free up (not an attempt). `CHANNEL_LIMITS` holds that limit and WeCom's others on group
posts (`appchat/send` per group, `appchat/update` per corp), all kept the same way. A refusal
for rate (`RateLimited`) waits at least `RATE_LIMITED_WAIT` before the next attempt.

Each claimed action's lease is checked and renewed right before its call to WeCom
(`outbox_repo.renew`) unless what is left of it outlasts the send and its record
(`_lease_holds`: a batch's sends, usually): when a batch took longer than the lease and
another replica has taken the action since, this one does not send it.

What can be sent twice. Sends go one at a time (on PostgreSQL, up to `SENDS_IN_FLIGHT` smart-bot
replies at once, each with its own lease and record), and each has a deadline (`send_deadline`:
`SEND_CALLS` calls of WECOM_TIMEOUT_SECONDS each, a token fetch and a refresh included) after
which it is given up as a timeout, so a send that hangs holds the others back for at most that
long. The lease is longer than that deadline and the time to record the outcome (`Settings`
refuses a shorter OUTBOX_LEASE_SECONDS), so no replica can take an action while its send is
still in flight or not yet recorded. A send is recorded (`sent`, or the failure) in the
transaction right after WeCom's answer; on SQLite, whose one writer at a time would make that
record wait behind a batch of judging, a send and its record hold the replica's `write_gate`,
which the judging transactions take too, so the record never waits for more than a callback's
insert. What can repeat is therefore only the calls in flight (one, or on PostgreSQL up to
`SENDS_IN_FLIGHT` replies): when the process dies between the start of a call and the commit of
its outcome, WeCom may have taken each, and the action is sent again after its lease (WeCom's
send APIs take no idempotency key). A call given up at its deadline is the same case: WeCom may
have taken it, and it is retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import settings as settings_module
from app.db import WriteGate
from app.errors import WecomModError
from app.models import OutboxAction
from app.repositories import groups as groups_repo
from app.repositories import moderation_log as log_repo
from app.repositories import outbox as outbox_repo
from app.repositories import sandbox as sandbox_repo
from app.sandbox.fake_wecom import LIVE_REPLY_URL
from app.sandbox.view import sandbox_view
from app.secret_box import SecretBox, SecretBoxError
from app.texts import DEFAULT_TEXTS, Texts
from bot.client import APP_MESSAGE_MAX_BYTES, WeComClient
from bot.errors import ConfigurationError, RateLimited, WeComApiError

__all__ = ["CHANNEL_LIMITS", "ChannelLimit", "OutboxDispatcher", "backoff_delay"]

log = logging.getLogger(__name__)

BACKOFF_BASE = 2.0  # seconds before the second attempt
BACKOFF_CAP = 600.0  # longest wait between attempts, in seconds
LEASE = timedelta(seconds=120)  # default OUTBOX_LEASE_SECONDS: an unfinished claim's lifetime
PER_MINUTE = 30  # app messages one member may get from the app in a minute (WeCom's limit)
PER_HOUR = 1000  # ... and in an hour
DIGEST_FROM = 3  # this many alerts for the same moderators due at once go out as one digest
RATE_WAIT = timedelta(seconds=20)  # how long alerts wait when a moderator's budget is spent
RATE_LIMITED_WAIT = 60.0  # seconds, at least, before retrying a call WeCom refused for rate
# Calls one send may make (a token fetch, the call, a refreshed token, the call again), and
# seconds beyond a send's deadline for its outcome to be committed: the lease must outlast both.
SEND_CALLS = settings_module.SEND_CALLS
RECORD_MARGIN = settings_module.RECORD_MARGIN
# Smart-bot replies (the warnings and answers in a group, each to its own message's
# response_url, no per-channel limit) in flight at once on PostgreSQL, each with its own lease
# check and its own recorded outcome: WeCom answers in tens of milliseconds, and one at a time
# a spam wave's warnings would queue behind each other's round trips. Every other kind goes
# one at a time, in order (a warning before the removal it announces; limits and budgets
# counted over what went before); on SQLite a send holds the write gate, so all do.
SENDS_IN_FLIGHT = 8
CONCURRENT_KINDS = frozenset({"aibot_reply"})


@dataclass(frozen=True)
class ChannelLimit:
    """WeCom's limit on a kind of send: at most `count` in any `window`, for each of
    `windows`, per value of the payload field `per` (None: for the whole corp)."""

    per: str | None
    windows: tuple[tuple[int, timedelta], ...]


WEBHOOK_PER_MINUTE = 20  # posts one webhook robot takes in any 60 s
# WeCom's documented limits (wecom-platform.md; appchat/send: "each member may get at most 200
# messages a minute and 10,000 a day from one app in a group"; appchat/update: 1000 changes an
# hour per corp). Over them WeCom refuses (45009/130101) or drops messages silently.
CHANNEL_LIMITS = {
    "webhook_send": ChannelLimit("chat_id", ((WEBHOOK_PER_MINUTE, timedelta(minutes=1)),)),
    "appchat_send": ChannelLimit(
        "chat_id", ((200, timedelta(minutes=1)), (10_000, timedelta(days=1)))
    ),
    "appchat_remove": ChannelLimit(None, ((1000, timedelta(hours=1)),)),
}


class PermanentFailure(WeComApiError, WecomModError):
    """An action that cannot be carried out as stored (no webhook key, no SECRET_KEY)."""

    retryable = False


def _rule_name(texts: Texts, findings: list[Any]) -> str:
    """The first finding's rule in words (a lexicon category or a behaviour rule)."""
    for finding in findings:
        if finding.get("detector", "lexicon") == "lexicon":
            return texts.category(str(finding.get("category") or "custom"))
        rule = str(finding.get("rule", ""))
        return texts.templates.get(f"rule.{rule}", rule)
    return "?"


def backoff_delay(attempts: int, rng: random.Random) -> float:
    """Seconds to wait after `attempts` failed tries: exponential, capped, with jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


class OutboxDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: WeComClient,
        *,
        clock: Callable[[], datetime],
        max_attempts: int,
        texts: Texts | None = None,
        rng: random.Random | None = None,
        batch_size: int = 20,
        secret_box: SecretBox | None = None,
        lease: timedelta = LEASE,
        give_way: Callable[[], Awaitable[None]] | None = None,
        send_deadline: float | None = None,
        write_gate: WriteGate | None = None,
    ) -> None:
        self._lease = lease
        # Seconds one send may take in all before it is given up as a timeout (None: no limit
        # beyond the client's own).
        self._send_deadline = send_deadline
        # SQLite: held from a send's lease renewal to the commit of its outcome, and by every
        # judging transaction, so that the outcome is recorded as soon as WeCom answers.
        self._write_gate = write_gate
        # Awaited before each claim: the callbacks being answered go first (`Foreground`).
        self._give_way = give_way
        self._texts = texts or Texts(dict(DEFAULT_TEXTS))  # the digest's wording
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._max_attempts = max_attempts
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._batch_size = batch_size
        self._secret_box = secret_box  # opens webhook keys; None: SECRET_KEY is not set
        self._reported: set[tuple[str, int]] = set()  # (kind, errcode) logged as ERROR
        self._stopping = False

    def stop(self) -> None:
        """Shutting down: finish the send in flight, then give back what is claimed and
        return (`dispatch_due`), so nothing waits out a lease or is cut off mid-call."""
        self._stopping = True

    async def dispatch_due(self) -> int:
        """Send every action that is due now; returns how many were attempted."""
        attempted = 0
        while not self._stopping:
            if self._give_way is not None:
                await self._give_way()
            async with self._sessions() as session, session.begin():
                batch = await outbox_repo.claim_due(
                    session, now=self._clock(), limit=self._batch_size, lease=self._lease
                )
            if not batch:
                return attempted
            claimed = [action.id for action in batch]
            alerts: dict[tuple[str, ...], list[OutboxAction]] = {}
            sends: list[tuple[list[OutboxAction], Callable[[], Awaitable[None]]]] = []
            sandbox = await self._sandbox_chats(batch)
            for action in batch:
                if action.id in sandbox:
                    sends.append(([action], partial(self._to_sandbox, action, sandbox[action.id])))
                elif action.kind == "app_message" and action.moderation_log_id is not None:
                    recipients = tuple(sorted(action.payload.get("to_users") or ()))
                    alerts.setdefault(recipients, []).append(action)
                elif action.kind in CHANNEL_LIMITS:
                    limit = CHANNEL_LIMITS[action.kind]
                    sends.append(([action], partial(self._send_limited, action, limit, claimed)))
                else:
                    sends.append(([action], partial(self._send_one, action)))
            for recipients, group in alerts.items():
                sends.append((group, partial(self._send_alerts, recipients, group)))
            if not await self._send_all(sends):
                return attempted
            attempted += len(batch)
        return attempted

    async def _send_all(
        self, sends: list[tuple[list[OutboxAction], Callable[[], Awaitable[None]]]]
    ) -> bool:
        """Carry out a batch's sends in order, those of CONCURRENT_KINDS up to SENDS_IN_FLIGHT
        at once (PostgreSQL); False when the replica is stopping: what was not started is
        given back, what was started is finished."""
        in_flight: set[asyncio.Task[None]] = set()
        concurrent = self._write_gate is None  # SQLite: the write gate, one at a time
        try:
            for index, (actions, send) in enumerate(sends):
                alone = not (concurrent and all(a.kind in CONCURRENT_KINDS for a in actions))
                if alone:
                    await _finish(in_flight)  # in order after what went before
                if self._stopping:
                    await self._give_back(sends[index:])
                    return False
                if alone:
                    await send()
                    continue
                if len(in_flight) >= SENDS_IN_FLIGHT:
                    done, in_flight = await asyncio.wait(
                        in_flight, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in done:
                        task.result()  # a failure to record an outcome stops the pass
                in_flight.add(asyncio.ensure_future(send()))
        finally:
            await _finish(in_flight)
        return True

    async def _sandbox_chats(self, batch: Sequence[OutboxAction]) -> dict[int, str]:
        """The actions of the batch that are the sandbox's, with their group: the chat their
        payload names, or their log row's, is a sandbox group (`app.repositories.sandbox`), or
        their smart-bot reply goes to the console sandbox's response_url (`LIVE_REPLY_URL`,
        which names the group). Two small reads a batch."""
        log_ids = [a.moderation_log_id for a in batch if a.moderation_log_id is not None]
        async with self._sessions() as session:
            rows = await log_repo.by_ids(session, log_ids) if log_ids else {}
            chats: dict[int, str] = {}
            for action in batch:
                row = rows.get(action.moderation_log_id or 0)
                chats[action.id] = str(action.payload.get("chat_id") or "") or (
                    row.chat_id if row is not None else ""
                )
            sandbox = await sandbox_repo.among(session, chats.values())
        found = {}
        for action in batch:
            url = str(action.payload.get("response_url") or "")
            if url.startswith(LIVE_REPLY_URL + "?"):
                named = parse_qs(urlsplit(url).query).get("chatid", [""])[0]
                found[action.id] = chats[action.id] or named
            elif chats[action.id] in sandbox:
                found[action.id] = chats[action.id]
        return found

    async def _to_sandbox(self, action: OutboxAction, chat_id: str) -> None:
        """A sandbox group's action: what WeCom would show goes to `sandbox_posts` for the
        sandbox page, the action is marked `sandbox`; no call to WeCom is made."""
        where, text, to_users = sandbox_view(action.kind, action.payload)
        async with self._sessions() as session, session.begin():
            row = await outbox_repo.get(session, action.id)
            if row is None:  # pragma: no cover - deleted under us (a sandbox reset)
                return
            sandbox_repo.add_post(
                session,
                chat_id=chat_id,
                kind=action.kind,
                where=where,
                text=text,
                to_users=to_users,
                now=self._clock(),
                outbox_action_id=action.id,
                moderation_log_id=action.moderation_log_id,
            )
            row.status = outbox_repo.SANDBOX_STATUS
            row.sent_at = self._clock()
            row.lease_until = None
        log.info("outbox action %s (%s) delivered to the sandbox", action.id, action.kind)

    async def _give_back(
        self, sends: list[tuple[list[OutboxAction], Callable[[], Awaitable[None]]]]
    ) -> None:
        """Claimed actions not sent because the replica is stopping: due again at once, for
        any replica, the claim not counted as an attempt."""
        actions = [action for covered, _send in sends for action in covered]
        await self._hold(actions, self._clock())
        log.info("outbox: stopping, %d claimed action(s) given back unsent", len(actions))

    async def _send_alerts(self, recipients: tuple[str, ...], actions: list[OutboxAction]) -> None:
        """Alerts for the same moderators: one by one while few, else one digest; held back
        while any recipient has no budget left."""
        now = self._clock()
        budget = await self._budget(recipients, now)
        if budget <= 0:
            await self._hold(actions, now + RATE_WAIT)
            return
        if len(actions) < DIGEST_FROM and len(actions) <= budget:
            for action in actions:
                await self._send_one(action)
            return
        digest, left = await self._digest(actions)
        if left:
            await self._hold(left, now)  # the next pass takes them (into the next digest)
        await self._send_one(digest)

    async def _budget(self, recipients: tuple[str, ...], now: datetime) -> int:
        """How many more app messages every one of `recipients` may get right now."""
        if not recipients:
            return PER_MINUTE
        async with self._sessions() as session:
            sent = await outbox_repo.app_messages_sent_since(session, now - timedelta(hours=1))
        minute_ago = now - timedelta(minutes=1)
        left = []
        for recipient in recipients:
            times = [at for to_users, at in sent if recipient in to_users]
            last_minute = sum(1 for at in times if at >= minute_ago)
            left.append(min(PER_MINUTE - last_minute, PER_HOUR - len(times)))
        return min(left)

    async def _send_limited(
        self, action: OutboxAction, limit: ChannelLimit, claimed: list[int]
    ) -> None:
        """Send unless the channel had its fill in one of its windows (counted over what every
        replica sent); then wait until the oldest send that fills it leaves the window."""
        now = self._clock()
        where = (limit.per, str(action.payload.get(limit.per, ""))) if limit.per else None
        longest = max(window for _count, window in limit.windows)
        async with self._sessions() as session:
            times = await outbox_repo.sends_since(
                session,
                action.kind,
                now - longest,
                now=now,
                where=where,
                exclude_ids=claimed,
            )
        until = None
        for count, window in limit.windows:
            inside = [at for at in times if at > now - window]
            if len(inside) >= count:
                free = inside[len(inside) - count] + window
                until = free if until is None else max(until, free)
                log.info(
                    "outbox action %s (%s) waits until %s: %s had %d send(s) in the last %s "
                    "(at most %d)",
                    action.id,
                    action.kind,
                    free.isoformat(timespec="seconds"),
                    " ".join(where) if where else "the corp",
                    len(inside),
                    window,
                    count,
                )
        if until is not None:
            await self._hold([action], max(until, now + timedelta(seconds=1)))
            return
        await self._send_one(action)

    async def _webhook_key(self, chat_id: str) -> str:
        """The group's robot key, opened; PermanentFailure saying why when there is none."""
        async with self._sessions() as session:
            sealed = await groups_repo.webhook_key(session, chat_id)
        if not sealed:
            raise PermanentFailure(f"group {chat_id} has no webhook key (cleared since queued?)")
        if self._secret_box is None:
            raise PermanentFailure(
                f"cannot open the webhook key of group {chat_id}: SECRET_KEY is not set"
            )
        try:
            return self._secret_box.decrypt(sealed)
        except SecretBoxError as exc:
            raise PermanentFailure(
                f"cannot open the webhook key of group {chat_id}: {exc}"
            ) from None

    async def _hold(self, actions: list[OutboxAction], until: datetime) -> None:
        """Put claimed actions back to wait, without counting the claim as an attempt."""
        async with self._sessions() as session, session.begin():
            await outbox_repo.hold(session, [action.id for action in actions], until=until)

    async def _digest(self, actions: list[OutboxAction]) -> tuple[OutboxAction, list[OutboxAction]]:
        """The first action becomes the digest (its payload rewritten in place) and the others
        that fit in one message are marked `merged` into it, in one transaction (so a crash
        cannot send them again on their own); returns the digest and the actions left over."""
        texts = self._texts
        log_ids = [action.moderation_log_id or 0 for action in actions]
        async with self._sessions() as session:
            rows = await log_repo.by_ids(session, log_ids)
        lines: list[str] = []
        taken: list[OutboxAction] = []
        for action in actions:
            row = rows.get(action.moderation_log_id or 0)
            if row is None:  # pragma: no cover - the log row was deleted under us
                continue
            line = texts.render(
                "alert.digest_line",
                log_id=row.id,
                chat=row.chat_id or texts["chat.direct"],
                sender=row.user_id,
                rule=_rule_name(texts, row.findings),
                verdict=texts.templates.get(f"verdict.{row.verdict}", row.verdict),
            )
            candidate = texts.render(
                "alert.digest", count=len(taken) + 1, lines="\n".join([*lines, line])
            )
            if taken and len(candidate.encode("utf-8")) > APP_MESSAGE_MAX_BYTES:
                break
            lines.append(line)
            taken.append(action)
        first = taken[0]
        content = texts.render("alert.digest", count=len(taken), lines="\n".join(lines))
        async with self._sessions() as session, session.begin():
            stored = await outbox_repo.get(session, first.id)
            if stored is not None:
                stored.payload = {**first.payload, "content": {"content": content}}
                first = stored
            if len(taken) > 1:
                await outbox_repo.mark_merged(
                    session, [action.id for action in taken[1:]], into=first.id
                )
        left = [action for action in actions if action not in taken]
        log.info(
            "%d alert(s) for %s merged into one digest (outbox action %s)",
            len(taken),
            ", ".join(first.payload.get("to_users") or ()),
            first.id,
        )
        return first, left

    async def _send_one(self, action: OutboxAction) -> None:
        if self._write_gate is None:
            await self._renew_send_record(action)
            return
        async with self._write_gate:
            await self._renew_send_record(action)

    def _lease_holds(self, action: OutboxAction) -> bool:
        """Whether the action's lease, as claimed or last renewed, outlasts its send and the
        record of its outcome from now on: no other replica can take it meanwhile, so it needs
        no renewal (a batch's first sends, usually all of them)."""
        if self._send_deadline is None or action.lease_until is None:
            return False
        left = (action.lease_until - self._clock()).total_seconds()
        return left > self._send_deadline + RECORD_MARGIN

    async def _renew_send_record(self, action: OutboxAction) -> None:
        """Renew the lease (unless it holds: `_lease_holds`), make the call (within the send
        deadline), record the outcome."""
        mine = self._lease_holds(action)
        if not mine:
            async with self._sessions() as session, session.begin():
                mine = await outbox_repo.renew(
                    session, action, now=self._clock(), lease=self._lease
                )
        if not mine:
            log.warning(
                "outbox action %s (%s) not sent here: its lease ran out and another worker took it",
                action.id,
                action.kind,
            )
            return
        error: WeComApiError | None = None
        try:
            async with asyncio.timeout(self._send_deadline):
                await self._carry_out(action)
        except WeComApiError as exc:
            error = exc
        except TimeoutError:
            error = WeComApiError(f"no answer from WeCom within {self._send_deadline:g} s")
        except Exception as exc:  # a bug or bad payload must not kill the dispatcher
            log.exception("outbox action %s (%s) raised", action.id, action.kind)
            error = WeComApiError(f"{type(exc).__name__}: {exc}")
            error.retryable = False
        if error is None:
            async with self._sessions() as session, session.begin():
                await outbox_repo.mark_sent(session, action.id, now=self._clock())
            self._reported = {seen for seen in self._reported if seen[0] != action.kind}
            log.info("outbox action %s (%s) sent", action.id, action.kind)
            return
        async with self._sessions() as session, session.begin():
            row = await outbox_repo.get(session, action.id)
            if row is None:  # pragma: no cover - deleted under us
                return
            now = self._clock()
            row.lease_until = None
            if error.retryable and row.attempts < self._max_attempts:
                delay = backoff_delay(row.attempts, self._rng)
                if isinstance(error, RateLimited):
                    delay = max(delay, RATE_LIMITED_WAIT)
                row.status = "pending"
                row.next_attempt_at = now + timedelta(seconds=delay)
                row.last_error = str(error)[:2000]
                log.warning(
                    "outbox action %s (%s) attempt %d failed, retrying in %.0f s: %s",
                    row.id,
                    row.kind,
                    row.attempts,
                    delay,
                    error,
                )
            elif isinstance(error, ConfigurationError):
                row.status = "dead"
                row.last_error = (
                    f"configuration error, not retried: {error}; once fixed, retry it with "
                    f"POST /api/v1/outbox/{row.id}/retry"
                )[:2000]
                self._report_configuration_error(error, row.id, row.kind)
            else:
                row.status = "dead"
                row.last_error = str(error)[:2000]
                log.error(
                    "outbox action %s (%s) gave up after %d attempt(s): %s",
                    row.id,
                    row.kind,
                    row.attempts,
                    error,
                )

    def _report_configuration_error(
        self, error: ConfigurationError, action_id: int, kind: str
    ) -> None:
        """An ERROR line the first time a setting fails a call; the same failure again (every
        queued action meets it) is a WARNING, until an action of that kind is sent."""
        problem = (kind, error.errcode)
        if problem in self._reported:
            log.warning("outbox action %s (%s) dead, same configuration error", action_id, kind)
            return
        self._reported.add(problem)
        log.error(
            "outbox action %s (%s) dead: configuration error the operator must fix: %s",
            action_id,
            kind,
            error,
        )

    async def _carry_out(self, action: OutboxAction) -> None:
        payload = action.payload
        if action.kind == "aibot_reply":
            await self._client.reply_via_response_url(payload["response_url"], payload["body"])
        elif action.kind == "app_message":
            answer = await self._client.send_app_message(
                payload["to_users"], payload["msgtype"], payload["content"]
            )
            invalid = answer.get("invaliduser")
            if invalid:
                log.warning("outbox action %s: WeCom rejected recipients %s", action.id, invalid)
        elif action.kind == "appchat_send":
            await self._client.appchat_send(
                payload["chat_id"], msgtype=payload["msgtype"], content=payload["content"]
            )
        elif action.kind == "webhook_send":
            key = await self._webhook_key(payload["chat_id"])
            await self._client.send_webhook(
                key,
                msgtype=payload["msgtype"],
                content=payload["content"],
                mentioned_list=payload.get("mentioned_list") or (),
            )
        elif action.kind == "appchat_remove":
            await self._client.appchat_remove_members(payload["chat_id"], payload["user_ids"])
            log.info(
                "removed %s from group %s (outbox action %s)",
                ", ".join(payload["user_ids"]),
                payload["chat_id"],
                action.id,
            )
        else:
            raise ValueError(f"unknown outbox action kind {action.kind!r}")


async def _finish(tasks: set[asyncio.Task[None]]) -> None:
    """Wait for the sends in flight (each records its own outcome and catches its own
    errors); `tasks` is emptied."""
    if tasks:
        await asyncio.gather(*tasks)
        tasks.clear()
