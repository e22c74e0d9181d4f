"""Group upkeep: customer-group member syncs, welcomes with the group's rules, and the
customer-group welcome template. Run by a worker loop on every replica (`GroupUpkeep.run`).

Joins are seen through `change_external_chat` (`app.judging.processing`): each join marks the member
joined and not welcomed and, unless a welcome is due already, makes one due
`welcome_window_seconds` later, so a burst of joins gets one welcome naming everyone.

Each pass does, in this order:

1. **Sync** the member list of customer groups whose `sync_due_at` has come
   (`externalcontact/groupchat/get`): name, owner, member version, members' names; members
   WeCom lists that the service does not hold as members joined now, and members it no longer
   lists left. The first sync of a group is its baseline: whoever it lists was there already
   and is not welcomed (a 500-member group is not greeted member by member). A sync is claimed
   with a conditional UPDATE (the due time read → a lease), so one replica makes it; a WeCom
   error reschedules it with backoff; missing app credentials clear it (logged once).
2. **Template** (at most every TEMPLATE_SCAN_EVERY): a customer group without a webhook robot
   cannot be posted into; WeCom greets joiners with a welcome template from the corp's library
   that the group's owner attaches in the client. The group's welcome text ({members} →
   %NICKNAME%) is added to the library, edited when it changes (sha256 kept on the group), and
   the owner is told once, by app message, which template to attach.
3. **Welcome** groups whose `welcome_due_at` has come: the members who joined and are not
   welcomed are named in a text (the group's `welcome_template`, else the "welcome" text) with
   the group's rules, split into several messages if it exceeds 2048 bytes. Posted where
   `app.groups.capabilities` says a group is posted into (`appchat/send` in a group this app
   created, else the group's webhook robot, mentioning them); in a customer group WeCom's template
   greets them (marked welcomed); elsewhere there is no channel (logged). The claim (clearing
   the due time read), the members marked welcomed and the outbox rows are one transaction; a
   join committed after the claim leaves a new due time.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.groups.capabilities import GroupCapabilities, group_post
from app.groups.policy_file import effective_policy
from app.models import Group, GroupKind, GroupMember
from app.repositories import outbox as outbox_repo
from app.repositories import welcomes as welcomes_repo
from app.screening.requests import request_screening
from app.texts import Texts
from bot.client import (
    APP_MESSAGE_MAX_BYTES,
    WEBHOOK_TEXT_MAX_BYTES,
    WELCOME_TEXT_MAX_BYTES,
    GroupInfo,
    WeComClient,
    truncate_utf8,
)
from bot.errors import ConfigurationError, WeComApiError
from moderation import GroupPolicy

__all__ = [
    "MEMBER_SEPARATOR",
    "NICKNAME",
    "GroupUpkeep",
    "note_join",
    "render_welcome",
    "rules_of",
    "split_welcome",
    "template_text",
]

log = logging.getLogger(__name__)

MEMBER_SEPARATOR = "、"
NICKNAME = "%NICKNAME%"  # WeCom puts the joiner's name here in a customer-group template
POST_MAX_BYTES = WEBHOOK_TEXT_MAX_BYTES  # a webhook or appchat text (both 2048), at most
BATCH = 50  # groups taken per pass and step
SYNC_LEASE = timedelta(minutes=5)  # a claimed sync is retaken by another replica after this
RETRY_BASE = 30.0  # seconds before retrying a failed sync or template call; doubles each time
RETRY_CAP = 3600.0  # ... up to this
TEMPLATE_SCAN_EVERY = timedelta(seconds=30)  # how often the templates are compared
_ELLIPSIS = "…"
_PLACEHOLDER = re.compile(r"\{(members|rules)\}")


def note_join(
    member: GroupMember, *, at: datetime, welcome: bool, joined_at: datetime | None = None
) -> bool:
    """Record that `member` is in the group; True when they were not (a join). A join is due
    a welcome (`welcomed_at` None) when `welcome`; else it counts as welcomed at `at`."""
    if member.joined_at is not None and member.left_at is None:
        return False
    member.joined_at = joined_at or at
    member.left_at = None
    member.welcomed_at = None if welcome else at
    return True


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def rules_of(group: Group, texts: Texts) -> str:
    """The group's rules, or the "rules.none" text when it has none."""
    return group.rules_text.strip() or texts["rules.none"]


def render_welcome(texts: Texts, template: str, *, members: str, rules: str) -> str:
    """A welcome: the group's own `template` ({members}, {rules}) when it has one, else the
    configured "welcome" text ($members, $rules). Filled in one pass, so a name that looks
    like a placeholder stays as written."""
    if template:
        values = {"members": members, "rules": rules}
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
    return texts.render("welcome", members=members, rules=rules)


def split_welcome(
    names: Sequence[str],
    render: Callable[[str, str], str],
    rules: str,
    *,
    limit: int = POST_MAX_BYTES,
) -> list[tuple[int, int, str]]:
    """Welcome messages of at most `limit` UTF-8 bytes that together name everyone in
    `names`, in order: (start, end, text) with `names[start:end]` named in `text`.

    `render(members, rules)` makes one message. Each takes as many names as fit with the whole
    rules; a name that does not fit even alone gets the rules cut short, or the text cut."""
    messages: list[tuple[int, int, str]] = []
    start = 0
    while start < len(names):
        end = start + 1
        text = render(names[start], rules)
        if _size(text) > limit:
            messages.append((start, end, _fit_alone(names[start], render, rules, limit)))
            start = end
            continue
        while end < len(names):
            candidate = render(MEMBER_SEPARATOR.join(names[start : end + 1]), rules)
            if _size(candidate) > limit:
                break
            text = candidate
            end += 1
        messages.append((start, end, text))
        start = end
    return messages


def _fit_alone(name: str, render: Callable[[str, str], str], rules: str, limit: int) -> str:
    """One name with as much of the rules as fits (bisected on characters), else cut."""
    low, high = 0, len(rules)
    best = ""
    while low <= high:
        middle = (low + high) // 2
        text = render(name, rules[:middle] + _ELLIPSIS)
        if _size(text) <= limit:
            best, low = text, middle + 1
        else:
            high = middle - 1
    return best or truncate_utf8(render(name, ""), limit)


def template_text(texts: Texts, group: Group) -> str:
    """The text of a customer group's welcome template: its welcome with %NICKNAME% for the
    members and its rules, at most WeCom's 3000 bytes."""
    text = render_welcome(
        texts, group.welcome_template, members=NICKNAME, rules=rules_of(group, texts)
    )
    return truncate_utf8(text, WELCOME_TEXT_MAX_BYTES)


class GroupUpkeep:
    """Syncs, templates and welcomes (see the module docstring); `run` is one pass."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: WeComClient,
        *,
        texts: Texts,
        policy: GroupPolicy,
        app_messages_enabled: bool,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
        sandbox_calls: bool = True,
    ) -> None:
        self._sessions = sessions
        self._client = client
        # Whether `client` may be called for a sandbox group's members and template: only
        # when it is the sandbox's fake WeCom (`app.sandbox.live`); else they are left alone.
        self._sandbox_calls = sandbox_calls
        self._texts = texts
        self._policy = policy  # the service's default (groups override it)
        self._app_messages_enabled = app_messages_enabled
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._templates_scanned_at: datetime | None = None
        # Failed WeCom calls by (step, chat id): (failures in a row, not before).
        self._retries: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._config_logged = False

    async def run(self) -> int:
        """One pass; returns how many syncs, template changes and welcomes it made."""
        done = await self._sync_due()
        done += await self._templates()
        done += await self._welcome_due()
        return done

    # -- retries -------------------------------------------------------------------------

    def _failed(self, step: str, chat_id: str, now: datetime) -> float:
        """Count a failure; returns the seconds to wait before the next try."""
        failures = self._retries.get((step, chat_id), (0, now))[0] + 1
        delay = float(min(RETRY_CAP, RETRY_BASE * 2 ** (failures - 1)))
        self._retries[(step, chat_id)] = (failures, now + timedelta(seconds=delay))
        return delay

    def _waiting(self, step: str, chat_id: str, now: datetime) -> bool:
        entry = self._retries.get((step, chat_id))
        return entry is not None and now < entry[1]

    def _configuration_error(self, exc: ConfigurationError) -> None:
        if not self._config_logged:
            self._config_logged = True
            log.error(
                "customer-group member syncs and welcome templates are off: %s (logged once)",
                exc,
            )

    # -- 1. sync -------------------------------------------------------------------------

    async def _sync_due(self) -> int:
        now = self._clock()
        async with self._sessions() as session:
            due = await welcomes_repo.due_syncs(
                session, now=now, limit=BATCH, sandbox=self._sandbox_calls
            )
        done = 0
        for group_id, chat_id, kind, seen, version in due:
            if kind != GroupKind.CUSTOMER:
                async with self._sessions() as session, session.begin():
                    await welcomes_repo.claim_sync(session, group_id, seen=seen, until=None)
                log.info("group %s: member sync dropped (only customer groups are synced)", chat_id)
                continue
            lease = now + SYNC_LEASE
            async with self._sessions() as session, session.begin():
                if not await welcomes_repo.claim_sync(session, group_id, seen=seen, until=lease):
                    continue  # another replica has it
            try:
                info = await self._client.get_customer_group(chat_id)
            except ConfigurationError as exc:
                self._configuration_error(exc)
                await self._reschedule_sync(group_id, lease, None)
                continue
            except WeComApiError as exc:
                delay = self._failed("sync", chat_id, now)
                log.warning(
                    "customer group %s: member list not fetched, retrying in %.0f s: %s",
                    chat_id,
                    delay,
                    exc,
                )
                await self._reschedule_sync(group_id, lease, now + timedelta(seconds=delay))
                continue
            self._retries.pop(("sync", chat_id), None)
            done += await self._apply_sync(group_id, info, lease, version)
        return done

    async def _reschedule_sync(self, group_id: int, lease: datetime, at: datetime | None) -> None:
        async with self._sessions() as session, session.begin():
            await welcomes_repo.claim_sync(session, group_id, seen=lease, until=at)

    async def _apply_sync(
        self, group_id: int, info: GroupInfo, lease: datetime, version: str
    ) -> int:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            group = await welcomes_repo.get_group(session, group_id, for_update=True)
            if group is None or group.sync_due_at != lease:
                log.info(
                    "customer group %s: member sync taken over by another replica", info.chat_id
                )
                return 0
            group.name = info.name[:256] or group.name
            group.owner = info.owner[:128] or group.owner
            if group.member_version != version:
                # A callback moved the list on while WeCom was asked: this answer may be older
                # than what the service holds now. Ask again.
                group.sync_due_at = now
                log.info(
                    "customer group %s: members changed during the sync; fetching again",
                    info.chat_id,
                )
                return 1
            baseline = group.members_synced_at is None
            policy = effective_policy(group, self._policy)
            welcome = policy.welcome and not baseline
            await welcomes_repo.add_members(session, info.chat_id, info.member_ids, now=now)
            rows = await welcomes_repo.members_by_user(session, info.chat_id)
            listed = set(info.member_ids)
            joined: list[str] = []
            for user_id in info.member_ids:
                member = rows[user_id]
                name = info.member_names.get(user_id, "")
                if name and member.name != name[:256]:
                    member.name = name[:256]
                joined_at = now
                if baseline and user_id in info.member_joined:
                    joined_at = datetime.fromtimestamp(info.member_joined[user_id], UTC)
                if note_join(member, at=now, welcome=welcome, joined_at=joined_at):
                    joined.append(user_id)
            left = [
                user_id
                for user_id, member in rows.items()
                if user_id not in listed and member.joined_at is not None and member.left_at is None
            ]
            for user_id in left:
                rows[user_id].left_at = now
            if joined and welcome:
                await welcomes_repo.request_welcome(
                    session, group.id, due=now + timedelta(seconds=policy.welcome_window_seconds)
                )
            if joined and not baseline:  # join screening (app.screening); not the baseline
                request_screening(session, group, joined, policy=policy, at=now, source="sync")
            if info.member_version:
                group.member_version = info.member_version[:64]
            group.members_synced_at = now
            group.sync_due_at = None
        log.info(
            "customer group %s synced: %d member(s)%s, %d joined%s, %d left",
            info.chat_id,
            len(listed),
            " (baseline: none of them is welcomed)" if baseline else "",
            len(joined),
            " (welcome due)" if joined and welcome else "",
            len(left),
        )
        return 1

    # -- 2. customer-group template ------------------------------------------------------

    async def _templates(self) -> int:
        now = self._clock()
        scanned = self._templates_scanned_at
        if scanned is not None and now - scanned < TEMPLATE_SCAN_EVERY:
            return 0
        self._templates_scanned_at = now
        if not self._client.can_send_app_messages:
            return 0  # no app credentials: no template library either (logged by the sync)
        async with self._sessions() as session:
            ids = await welcomes_repo.template_candidates(session, sandbox=self._sandbox_calls)
        done = 0
        for group_id in ids:
            done += await self._template(group_id, now)
        return done

    async def _template(self, group_id: int, now: datetime) -> int:
        changed = told = False
        async with self._sessions() as session, session.begin():
            group = await welcomes_repo.lock_group(session, group_id)
            if group is None or not GroupCapabilities.of(group).welcome_template:
                return 0
            if not effective_policy(group, self._policy).welcome:
                return 0
            if self._waiting("template", group.chat_id, now):
                return 0
            text = template_text(self._texts, group)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if digest != group.welcome_template_hash:
                try:
                    if group.welcome_template_id:
                        await self._client.edit_group_welcome_template(
                            group.welcome_template_id, text
                        )
                    else:
                        group.welcome_template_id = (
                            await self._client.add_group_welcome_template(text)
                        )[:128]
                except ConfigurationError as exc:
                    self._configuration_error(exc)
                    self._failed("template", group.chat_id, now)
                    return 0
                except WeComApiError as exc:
                    delay = self._failed("template", group.chat_id, now)
                    log.warning(
                        "customer group %s: welcome template not %s, retrying in %.0f s: %s",
                        group.chat_id,
                        "updated" if group.welcome_template_id else "added",
                        delay,
                        exc,
                    )
                    return 0
                self._retries.pop(("template", group.chat_id), None)
                group.welcome_template_hash = digest
                changed = True
                log.info(
                    "customer group %s: welcome template %s is the group's welcome now",
                    group.chat_id,
                    group.welcome_template_id,
                )
            told = self._tell_owner(session, group, text, now)
        if told:
            self._on_enqueued()
        return int(changed) + int(told)

    def _tell_owner(self, session: AsyncSession, group: Group, text: str, now: datetime) -> bool:
        """Once per group: ask the owner (app message) to attach the template in the client."""
        if group.owner_told_at is not None or not group.welcome_template_id:
            return False
        if not group.owner or not self._app_messages_enabled:
            return False  # told once the sync has learnt the owner
        message = self._texts.render(
            "welcome.owner",
            group=group.name or group.chat_id,
            template_id=group.welcome_template_id,
            text=text,
        )
        outbox_repo.enqueue(
            session,
            idempotency_key=f"welcome-template:{group.id}:owner",
            kind="app_message",
            payload={
                "chat_id": group.chat_id,  # whose template (and a sandbox group's: the sandbox's)
                "to_users": [group.owner],
                "msgtype": "text",
                "content": {"content": truncate_utf8(message, APP_MESSAGE_MAX_BYTES)},
            },
            now=now,
        )
        group.owner_told_at = now
        log.info(
            "customer group %s: owner %s asked to attach welcome template %s",
            group.chat_id,
            group.owner,
            group.welcome_template_id,
        )
        return True

    # -- 3. welcome ----------------------------------------------------------------------

    async def _welcome_due(self) -> int:
        now = self._clock()
        async with self._sessions() as session:
            due = await welcomes_repo.due_welcomes(session, now=now, limit=BATCH)
        done = 0
        for group_id, seen in due:
            queued = False
            async with self._sessions() as session, session.begin():
                if not await welcomes_repo.claim_welcome(session, group_id, seen=seen):
                    continue  # another replica has it
                group = await welcomes_repo.get_group(session, group_id)
                if group is None:  # pragma: no cover - groups are never deleted
                    continue
                members = await welcomes_repo.unwelcomed_members(session, group.chat_id)
                if not members:
                    continue
                queued = self._welcome(session, group, members, seen, now)
                await welcomes_repo.mark_welcomed(
                    session, [member.id for member in members], at=now
                )
            done += 1
            if queued:
                self._on_enqueued()
        return done

    def _welcome(
        self,
        session: AsyncSession,
        group: Group,
        members: Sequence[GroupMember],
        due: datetime,
        now: datetime,
    ) -> bool:
        """Queue the welcome of `members` where the group allows it; returns whether queued."""
        shown = ", ".join(member.user_id for member in members[:20])
        if len(members) > 20:
            shown += " …"
        if not effective_policy(group, self._policy).welcome:
            log.info("group %s: %d member(s) joined; welcomes are off", group.chat_id, len(members))
            return False
        capabilities = GroupCapabilities.of(group)
        channel = capabilities.welcome().channel
        if channel is None and capabilities.welcome_template:
            log.info(
                "customer group %s: %d member(s) joined (%s): WeCom greets them with the "
                "group's 入群欢迎语 template%s",
                group.chat_id,
                len(members),
                shown,
                f" ({group.welcome_template_id})" if group.welcome_template_id else "",
            )
            return False
        if channel is None:
            log.warning(
                "group %s: %d member(s) joined (%s) and are not welcomed: %s",
                group.chat_id,
                len(members),
                shown,
                capabilities.welcome().cannot,
            )
            return False
        template = group.welcome_template
        texts = self._texts

        def render(names: str, rules: str) -> str:
            return render_welcome(texts, template, members=names, rules=rules)

        names = [member.name or member.user_id for member in members]
        parts = split_welcome(names, render, rules_of(group, texts))
        ids = ",".join(str(member.id) for member in members)
        digest = hashlib.sha256(f"{group.chat_id}|{due.isoformat()}|{ids}".encode()).hexdigest()
        for index, (start, end, text) in enumerate(parts):
            mentioned = [member.user_id for member in members[start:end]]
            outbox_repo.enqueue(
                session,
                idempotency_key=f"welcome:{digest[:40]}:{index}",
                kind=channel.value,
                payload=group_post(channel, group.chat_id, text, mentioned),
                now=now,
            )
        log.info(
            "group %s: welcome of %d member(s) (%s) queued in %d message(s) via %s",
            group.chat_id,
            len(members),
            shown,
            len(parts),
            channel.value,
        )
        return True
