"""The slash-commands this version offers (`build_registry`). How they are reached, parsed and
who may run what is `app.chat.registry`; each runs inside the inbox processor's transaction.

Every change a command makes (rules, a warning, a pardon, a word or phrase, the mode, a removal)
is recorded in the audit trail (`app.audit`: channel chat, the caller's userid as actor) in the
same transaction, as the REST routes do: changes to a group and its members are the functions
of `app.groups.actions`, which the REST routes call too. Lexicon changes go through
`app.lexicon.service` (the functions behind the REST API and the CLI, with the version bump);
in a group a word or phrase is scoped to that group, from the 1:1 chat without a group it is
company-wide (admins only).

`/warn` is an offence like a flagged message: a moderation log row (source command, verdict
warn, a `moderator`/`manual` finding) and a strike, with the warning posted in the group: in
the group the reply is the warning; from the 1:1 chat it goes through the group's channel
(`app.groups.capabilities`), or the moderator is told it could not be posted. It is carried
out whatever the group's mode: a moderator decided it.

`/report`: any member may report a member (or the group, naming no one). When distinct members
reporting the same member in the group within REPORT_WINDOW reach the policy's
`report_threshold`, the moderators (admins, the owner, the group's moderators) are alerted once
for that wave: a moderation log row (source report, verdict alert, a finding naming the reports)
and an app message linked to it, so the dispatcher applies its per-member budget and digests.
The wave's reports are marked alerted; another alert needs as many new reporters again. The
reporter is thanked and told no counts.

Times in replies are shown in China Standard Time (UTC+8), the zone WeCom's users live in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from uuid import uuid4

from app import audit
from app.chat.registry import Call, CommandRegistry, Reply, Role, split_first
from app.groups import actions
from app.groups.actions import MAX_REASON_CHARS, MAX_RULES_CHARS
from app.groups.alerts import alert_problem, alert_recipients
from app.lexicon import service
from app.lexicon.service import MAX_TEST_TEXT
from app.models import Group, LexiconAllow, LexiconWord, MemberReport, ModerationLog
from app.repositories import groups as groups_repo
from app.repositories import lexicon as lexicon_repo
from app.repositories import member_reports as reports_repo
from app.repositories import moderation_log as log_repo
from app.repositories import reports
from app.repositories import strikes as strikes_repo
from app.repositories.reports import MAX_DAYS
from app.screening.command import screen_command
from app.texts.findings import describe
from moderation import Action, Category, GroupMode, Severity, Signal, fold
from moderation.lexicon import SEVERITY_NUMBERS

__all__ = ["REPORT_WINDOW", "build_registry"]

_Entry = TypeVar("_Entry")

REPORT_WINDOW = timedelta(hours=24)  # reports of the same member counted together
DISPLAY_TZ = timezone(timedelta(hours=8))  # China Standard Time, for times in replies
STRIKES_SHOWN = 10  # a member's latest strikes listed by /strikes
FINDINGS_SHOWN = 10  # hits listed by /words test
TOP_SHOWN = 3  # rules and members listed by /stats
DEFAULT_STATS_DAYS = 7
AT = ("@", "＠")


def build_registry() -> CommandRegistry:
    """The commands this version offers, in the order /help lists them."""
    registry = CommandRegistry()

    @registry.command("help")
    async def help_command(call: Call) -> str:
        texts = call.texts
        lines = [texts["command.help_header"]]
        for spec in registry.visible_to(call.role):
            lines.append(
                texts.render(
                    "command.help_line",
                    usage=texts[f"usage./{spec.name}"],
                    help=texts[f"help./{spec.name}"],
                )
            )
        if not call.in_group_chat:
            lines.append(texts["command.group_hint"])
        return "\n".join(lines)

    registry.command("rules", needs_group=True)(_rules)
    registry.command("report", needs_group=True)(_report)
    registry.command("rules set", role=Role.MODERATOR, needs_group=True)(_rules_set)
    registry.command("warn", role=Role.MODERATOR, needs_group=True)(_warn)
    registry.command("pardon", role=Role.MODERATOR, needs_group=True)(_pardon)
    registry.command("strikes", role=Role.MODERATOR, needs_group=True)(_strikes)
    registry.command("kick", role=Role.MODERATOR, needs_group=True)(_kick)
    registry.command("mode", role=Role.MODERATOR, needs_group=True)(_mode)
    registry.command("screen", role=Role.MODERATOR, needs_group=True)(screen_command)
    registry.command("stats", role=Role.MODERATOR)(_stats)
    registry.command("words add", role=Role.MODERATOR)(_words_add)
    registry.command("words del", role=Role.MODERATOR)(_words_del)
    registry.command("words test", role=Role.MODERATOR)(_words_test)
    registry.command("allow add", role=Role.MODERATOR)(_allow_add)
    registry.command("allow del", role=Role.MODERATOR)(_allow_del)
    return registry


# -- helpers -----------------------------------------------------------------------------


def _actor(call: Call) -> actions.Actor:
    return actions.Actor(audit.chat_actor(call.sender), audit.Channel.CHAT)


async def _audit(call: Call, action: str, target: str, details: dict[str, Any]) -> None:
    await audit.record(
        call.session,
        actor=audit.chat_actor(call.sender),
        channel=audit.Channel.CHAT,
        action=action,
        target=target,
        details=details,
        at=call.now,
    )


def _key(call: Call, suffix: str) -> str:
    """An outbox idempotency key for the command's inbox event."""
    event = call.context.event_id
    return f"inbox:{event}:{suffix}" if event is not None else f"command:{uuid4().hex}:{suffix}"


async def _named_member(call: Call, token: str) -> str:
    """The member a command acts on; refuses the group's moderators and owner (they are exempt
    from moderation)."""
    if not token:
        raise call.bad_usage("command.member_needed")
    user_id = await call.member(token)
    if call.is_group_moderator(user_id):
        raise call.fail("command.member_protected", member=user_id, name=call.spec.name)
    return user_id


async def _display_name(call: Call, user_id: str) -> str:
    member = await groups_repo.get_member(call.session, call.need_group().chat_id, user_id)
    return member.name if member is not None and member.name else user_id


def _reason(call: Call, text: str) -> str:
    return text.strip()[:MAX_REASON_CHARS]


def _when(moment: datetime) -> str:
    return moment.astimezone(DISPLAY_TZ).strftime("%m-%d %H:%M")


def rule_label(call: Call, rule: str) -> str:
    """A strike's or finding's rule in words: word.gambling → 赌博, promo.phone → …"""
    texts = call.texts
    if rule.startswith("word."):
        return texts.category(rule.removeprefix("word."))
    return texts.templates.get(f"rule.{rule}", rule)


def _scope(call: Call) -> str:
    """The lexicon scope of a change: the group's chat id, or "" (every group)."""
    return call.group.chat_id if call.group is not None else ""


def _scope_label(call: Call) -> str:
    if call.group is None:
        return call.texts["command.scope_all"]
    return call.texts.render("command.scope_group", group=call.group_label())


def _named(call: Call, value: str, values: Sequence[str], prefix: str) -> str | None:
    """The enum value given as itself (gambling, review) or as its configured name (赌博,
    复核级, 复核); None when it is neither."""
    wanted = value.strip().lower()
    for option in values:
        name = call.texts.templates.get(f"{prefix}.{option}", "")
        if wanted in {option, name.lower(), name.removesuffix("级").lower()} - {""}:
            return option
    return None


def _allowed(call: Call, values: Sequence[str], prefix: str) -> str:
    return "、".join(
        f"{option}（{call.texts.templates.get(f'{prefix}.{option}', '')}）" for option in values
    )


def _choice(call: Call, value: str, values: Sequence[str], prefix: str, problem: str) -> str:
    """`_named`, or a usage reply listing the values and their names."""
    named = _named(call, value, values, prefix)
    if named is None:
        raise call.bad_usage(problem, value=value, allowed=_allowed(call, values, prefix))
    return named


# -- anyone ------------------------------------------------------------------------------


async def _rules(call: Call) -> str:
    if call.args:
        raise call.bad_usage()
    group = call.need_group()
    rules = group.rules_text.strip() or call.texts["command.rules_default"]
    return call.texts.render("command.rules", group=call.group_label(), rules=rules)


async def _report(call: Call) -> str:
    group = call.need_group()
    first, rest = split_first(call.args)
    target, reason = "", call.args
    if first.startswith(AT):
        target, reason = await call.member(first), rest
    elif first:
        known = await call.known_member(first)
        if known is not None:
            target, reason = known, rest
    if target == call.sender:
        raise call.fail("command.report_self")
    if (
        not call.in_group_chat
        and call.role < Role.MODERATOR
        and await groups_repo.get_member(call.session, group.chat_id, call.sender) is None
    ):
        raise call.fail("command.report_not_member", group=call.group_label())
    # Reports of one group are counted one transaction at a time (replicas wait here).
    await groups_repo.lock(call.session, group.chat_id)
    reports_repo.add(
        call.session,
        chat_id=group.chat_id,
        reporter=call.sender,
        target=target,
        reason=_reason(call, reason),
        created_at=call.now,
    )
    await call.session.flush()
    wave = await reports_repo.unalerted(
        call.session, group.chat_id, target, since=call.now - REPORT_WINDOW
    )
    reporters = list(dict.fromkeys(report.reporter for report in wave))
    if len(reporters) >= call.policy.report_threshold:
        await _alert_reports(call, group, target, wave, reporters)
    return call.texts["command.report_thanks"]


async def _alert_reports(
    call: Call, group: Group, target: str, wave: Sequence[MemberReport], reporters: list[str]
) -> None:
    texts = call.texts
    threshold = call.policy.report_threshold
    reasons = [report.reason for report in wave if report.reason]
    summary = (
        f"{len(reporters)} member(s) reported {target or 'the group'} within "
        f"{REPORT_WINDOW.total_seconds() / 3600:g} h (threshold {threshold})"
    )
    finding = Signal(
        detector="report",
        rule="report",
        severity=Severity.REVIEW,
        score=len(reporters) / threshold,
        summary=summary,
        facts={
            "reports": [report.id for report in wave],
            "reporters": reporters,
            "reasons": reasons[:20],
            "threshold": threshold,
            "window_seconds": REPORT_WINDOW.total_seconds(),
        },
    )
    standing = 0
    if target:
        standing = await strikes_repo.standing_count(
            call.session,
            group.chat_id,
            target,
            since=call.now - timedelta(days=call.policy.strike_window_days),
            shadow=False,
        )
    entry = ModerationLog(
        inbox_event_id=call.context.event_id,
        created_at=call.now,
        source="report",
        chat_id=group.chat_id,
        user_id=target,
        message_id="",
        text="\n".join(reasons)[:2000],
        findings=[finding.as_dict()],
        verdict="alert",
        reason=summary,
        mode="enforce",
        step=None,
        strikes=standing,
        actions=[Action.ALERT_MODERATORS.value],
    )
    await log_repo.add(call.session, entry)
    recipients = alert_recipients(call.context.moderators, group)
    alert = texts.render(
        "report.alert",
        chat=call.group_label(),
        member=target or texts["command.report_nobody"],
        count=len(reporters),
        reasons="；".join(reasons[:5]) or texts["detail.none"],
        log_id=entry.id,
    )
    note = alert_problem(call.context.app_messages_enabled, recipients)
    call.enqueue(
        key=f"log:{entry.id}:alert",
        kind="app_message",
        payload={"to_users": recipients, "msgtype": "markdown", "content": {"content": alert}},
        moderation_log_id=entry.id,
        note=note,
    )
    await reports_repo.mark_alerted(call.session, [report.id for report in wave], at=call.now)


# -- moderators: the group ---------------------------------------------------------------


async def _rules_set(call: Call) -> str:
    text = call.args.strip()
    if not text:
        raise call.bad_usage("command.rules_empty")
    if len(text) > MAX_RULES_CHARS:
        raise call.fail("command.rules_too_long", limit=MAX_RULES_CHARS, chars=len(text))
    await actions.set_rules(call.session, call.need_group(), text, actor=_actor(call), now=call.now)
    return call.texts.render("command.rules_set", group=call.group_label(), chars=len(text))


async def _warn(call: Call) -> Reply | str:
    texts = call.texts
    group = call.need_group()
    token, rest = split_first(call.args)
    user_id = await _named_member(call, token)
    reason = _reason(call, rest) or texts["command.warn_default_reason"]
    warned = await actions.warn(
        call.session,
        group,
        user_id,
        reason,
        by=call.sender,
        actor=_actor(call),
        policy=call.policy,
        now=call.now,
        inbox_event_id=call.context.event_id,
        message_id=call.context.message_id,
    )
    entry, count = warned.entry, warned.strikes
    warning = texts.render(
        "command.warning",
        member=await _display_name(call, user_id),
        reason=reason,
        count=count,
    )
    if call.in_group_chat:
        return Reply(warning, moderation_log_id=entry.id)
    posted = actions.queue_warning(
        call.session, group, entry, warning, now=call.now, channel=call.context.warning_channel
    )
    if posted:
        call.context.enqueued = True
    return texts.render(
        "command.warned",
        member=user_id,
        group=call.group_label(),
        count=count,
        posted=texts["command.warn_posted" if posted else "command.warn_not_posted"],
    )


async def _pardon(call: Call) -> str:
    group = call.need_group()
    token, note = split_first(call.args)
    if not token:
        raise call.bad_usage("command.member_needed")
    user_id = await call.member(token)
    count = await actions.pardon(
        call.session,
        group.chat_id,
        user_id,
        actor=_actor(call),
        pardoned_by=audit.chat_actor(call.sender),
        now=call.now,
        note=_reason(call, note) if note else "",
    )
    if not count:
        return call.texts.render("command.pardon_none", member=user_id, group=call.group_label())
    return call.texts.render(
        "command.pardoned", member=user_id, group=call.group_label(), count=count
    )


async def _strikes(call: Call) -> str:
    texts = call.texts
    group = call.need_group()
    token, rest = split_first(call.args)
    if not token or rest:
        raise call.bad_usage("command.member_needed" if not token else None)
    user_id = await call.member(token)
    rows = await strikes_repo.every(call.session, group.chat_id, user_id)
    if not rows:
        return texts.render("command.strikes_none", member=user_id, group=call.group_label())
    days = call.policy.strike_window_days
    since = call.now - timedelta(days=days)

    def live(pardoned: datetime | None, at: datetime) -> bool:
        return pardoned is None and at >= since

    lines = []
    for row in list(rows)[-STRIKES_SHOWN:][::-1]:
        if row.pardoned_at is not None:
            state = texts["command.strike_pardoned"]
        elif row.created_at < since:
            state = texts["command.strike_expired"]
        elif row.shadow:
            state = texts["command.strike_shadow"]
        else:
            state = ""
        lines.append(
            texts.render(
                "command.strikes_line",
                time=_when(row.created_at),
                rule=rule_label(call, row.rule),
                state=state,
            )
        )
    return texts.render(
        "command.strikes",
        member=user_id,
        group=call.group_label(),
        standing=sum(1 for r in rows if not r.shadow and live(r.pardoned_at, r.created_at)),
        shadow=sum(1 for r in rows if r.shadow and live(r.pardoned_at, r.created_at)),
        days=f"{days:g}",
        lines="\n".join(lines),
    )


async def _kick(call: Call) -> str:
    group = call.need_group()
    token, rest = split_first(call.args)
    user_id = await _named_member(call, token)
    route = await actions.kick(
        call.session,
        group,
        user_id,
        _reason(call, rest),
        actor=_actor(call),
        idempotency_key=_key(call, "kick"),
        now=call.now,
    )
    if route.channel is None:
        return call.texts.render("command.kick_human", member=user_id, group=call.group_label())
    call.context.enqueued = True
    return call.texts.render("command.kick_queued", member=user_id, group=call.group_label())


async def _mode(call: Call) -> str:
    texts = call.texts
    group = call.need_group()
    value = call.args.strip().lower()
    if not value:
        return texts.render(
            "command.mode", group=call.group_label(), mode=texts[f"mode.{call.policy.mode.value}"]
        )
    wanted = _choice(call, value, [mode.value for mode in GroupMode], "mode", "command.mode_bad")
    try:
        await actions.set_mode(
            call.session,
            group,
            GroupMode(wanted),
            default=call.context.policy_for(None),
            actor=_actor(call),
            now=call.now,
        )
    except (ValueError, TypeError) as exc:
        raise call.fail("command.invalid_entry", problem=str(exc)) from None
    return texts.render("command.mode_set", group=call.group_label(), mode=texts[f"mode.{wanted}"])


async def _stats(call: Call) -> str:
    texts = call.texts
    arg = call.args.strip()
    days = DEFAULT_STATS_DAYS
    if arg:
        if not arg.isdigit() or not 1 <= int(arg) <= MAX_DAYS:
            raise call.bad_usage("command.days_bad", max=MAX_DAYS)
        days = int(arg)
    chat_id = call.group.chat_id if call.group is not None else None
    chats = [chat_id] if chat_id is not None else None
    session, now = call.session, call.now
    since = now - timedelta(days=days)
    activity = await reports.member_activity(session, chats, since=since)
    recent = await reports.messages_since(session, chats, since=now - timedelta(days=1))
    verdicts = await reports.verdict_counts(session, since=since, chat_id=chat_id)
    findings = await reports.finding_counts(session, since=since, chat_id=chat_id)
    offenders = await reports.top_offenders(session, since=since, chat_id=chat_id, limit=TOP_SHOWN)
    by_verdict: dict[str, int] = {}
    shadow = 0
    for (verdict, mode), count in verdicts.items():
        by_verdict[verdict] = by_verdict.get(verdict, 0) + count
        if mode == GroupMode.SHADOW.value:
            shadow += count
    top_rules = sorted(findings.by_rule.items(), key=lambda item: (-item[1], item[0]))
    rules = "、".join(f"{rule_label(call, rule)} ×{count}" for rule, count in top_rules[:TOP_SHOWN])
    people = "、".join(
        f"{item.user_id} ×{item.count}"
        if chat_id
        else f"{item.user_id}（{item.chat_id}）×{item.count}"
        for item in offenders
    )
    return texts.render(
        "command.stats",
        scope=call.group_label() if call.group is not None else texts["command.stats_all"],
        days=days,
        messages_24h=sum(recent.values()),
        active=sum(item.active_members for item in activity.values()),
        flagged=sum(by_verdict.values()),
        warned=by_verdict.get("warn", 0),
        removed=by_verdict.get("remove", 0),
        alerted=by_verdict.get("alert", 0),
        shadow=shadow,
        rules=rules or texts["command.stats_none"],
        offenders=people or texts["command.stats_none"],
    )


# -- moderators: the lexicon -------------------------------------------------------------

_OUTCOME_TEXTS = {
    service.Outcome.ADDED: "command.word_added",
    service.Outcome.UPDATED: "command.word_updated",
    service.Outcome.UNCHANGED: "command.word_unchanged",
}


async def _audit_added(call: Call, action: str, result: service.WordsResult) -> None:
    """Record an add that changed the lexicon (as the REST routes do), and have it reloaded."""
    if not result.counts.changed:
        return
    call.context.lexicon_changed = True
    counts = result.counts
    await _audit(
        call,
        action,
        f"lexicon.{action.split('.')[1]}",
        {
            "added": counts.added,
            "updated": counts.updated,
            "lexicon_version": result.version,
            "entries": [
                {
                    "id": change.row.id,
                    "entry": (
                        change.row.word
                        if isinstance(change.row, LexiconWord)
                        else change.row.phrase
                    ),
                    "scope": change.row.scope,
                    "outcome": change.outcome.value,
                }
                for change in result.changes
                if change.outcome is not service.Outcome.UNCHANGED
            ],
        },
    )


def _entry(call: Call, make: Callable[..., _Entry], *args: Any, **kwargs: Any) -> _Entry:
    """A lexicon or allow-list entry made by `make` (`service.word_entry`/`allow_entry`);
    a usage reply naming the problem when it is not valid."""
    try:
        return make(*args, **kwargs)
    except service.InvalidEntry as exc:
        raise call.bad_usage("command.invalid_entry", problem=str(exc)) from None


async def _words_add(call: Call) -> str:
    texts = call.texts
    tokens = call.args.split()
    if not tokens or len(tokens) > 3:
        raise call.bad_usage()
    category = severity = None
    if len(tokens) == 2 and tokens[1] in SEVERITY_NUMBERS:
        tokens.insert(1, "")  # word 1–3: a severity, as word files read it
    if len(tokens) > 1 and tokens[1]:
        # A built-in category by value or configured name (赌博), else a list's own label.
        built_in = [c.value for c in Category]
        category = _named(call, tokens[1], built_in, "category") or tokens[1]
        try:
            service.parse_category(category)
        except service.InvalidEntry as exc:
            raise call.bad_usage(
                "command.category_bad",
                value=tokens[1],
                problem=str(exc),
                allowed=_allowed(call, built_in, "category"),
            ) from None
    if len(tokens) > 2:
        levels = [s.value for s in Severity]
        severity = _named(call, tokens[2], levels, "severity")
        if severity is None and tokens[2] in SEVERITY_NUMBERS:
            severity = SEVERITY_NUMBERS[tokens[2]].value  # 1–3, as word lists number them
        if severity is None:
            numbered = "、".join(
                f"{number}（{call.texts.templates.get(f'severity.{level.value}', '')}）"
                for number, level in sorted(SEVERITY_NUMBERS.items(), reverse=True)
            )
            raise call.bad_usage(
                "command.severity_bad",
                value=tokens[2],
                allowed=f"{_allowed(call, levels, 'severity')}、{numbered}",
            )
    entry = _entry(call, service.word_entry, tokens[0], category, severity, None, _scope(call))
    result = await service.add_words(
        call.session, [entry], added_by=call.sender, source="command", now=call.now
    )
    await _audit_added(call, "lexicon.words.add", result)
    change = result.changes[0]
    row = change.row
    if not isinstance(row, LexiconWord):  # pragma: no cover - add_words returns word rows
        raise TypeError(f"expected a word row, got {type(row).__name__}")
    return texts.render(
        _OUTCOME_TEXTS[change.outcome],
        word=row.word,
        category=texts.category(row.category),
        severity=texts[f"severity.{row.severity}"],
        scope=_scope_label(call),
    )


async def _allow_add(call: Call) -> str:
    phrase = call.args.strip()
    if not phrase:
        raise call.bad_usage()
    entry = _entry(call, service.allow_entry, phrase, _scope(call))
    result = await service.add_allow(
        call.session, [entry], added_by=call.sender, source="command", now=call.now
    )
    await _audit_added(call, "lexicon.allow.add", result)
    change = result.changes[0]
    row = change.row
    if not isinstance(row, LexiconAllow):  # pragma: no cover - add_allow returns phrase rows
        raise TypeError(f"expected an allow-list row, got {type(row).__name__}")
    key = (
        "command.allow_added"
        if change.outcome is service.Outcome.ADDED
        else "command.allow_unchanged"
    )
    return call.texts.render(key, phrase=row.phrase, scope=_scope_label(call))


async def _words_del(call: Call) -> str:
    word = call.args.strip()
    if not word:
        raise call.bad_usage()
    entry = _entry(call, service.word_entry, word, scope=_scope(call))
    rows = await lexicon_repo.words_by_folded(call.session, {fold(entry.word)})
    return await _delete(call, "words", entry.word, rows)


async def _allow_del(call: Call) -> str:
    phrase = call.args.strip()
    if not phrase:
        raise call.bad_usage()
    entry = _entry(call, service.allow_entry, phrase, _scope(call))
    rows = await lexicon_repo.allow_by_folded(call.session, {fold(entry.phrase)})
    return await _delete(call, "allow", entry.phrase, rows)


async def _delete(
    call: Call, kind: str, given: str, rows: Sequence[LexiconWord | LexiconAllow]
) -> str:
    """Delete the word or phrase of the call's scope among `rows` (same folded form)."""
    texts = call.texts
    scope = _scope(call)
    row = next((row for row in rows if row.scope == scope), None)
    missing = "command.word_missing" if kind == "words" else "command.allow_missing"
    if row is None:
        if scope and any(other.scope == "" for other in rows):
            raise call.fail("command.entry_company_wide", entry=given)
        raise call.fail(missing, entry=given, scope=_scope_label(call))
    text = row.word if isinstance(row, LexiconWord) else row.phrase
    delete = service.delete_word if kind == "words" else service.delete_allow
    try:
        version = await delete(call.session, row.id, now=call.now)
    except service.EntryNotFound:  # deleted meanwhile through another replica
        raise call.fail(missing, entry=given, scope=_scope_label(call)) from None
    call.context.lexicon_changed = True
    await _audit(
        call,
        f"lexicon.{kind}.delete",
        f"lexicon.{kind}:{row.id}",
        {"id": row.id, "entry": text, "scope": row.scope, "lexicon_version": version},
    )
    key = "command.word_deleted" if kind == "words" else "command.allow_deleted"
    return texts.render(key, entry=text, scope=_scope_label(call))


async def _words_test(call: Call) -> str:
    texts = call.texts
    text = call.args
    if not text:
        raise call.bad_usage()
    if len(text) > MAX_TEST_TEXT:
        raise call.fail("command.text_too_long", limit=MAX_TEST_TEXT)
    check = service.check_text(call.context.matcher, text, _scope(call))
    if not check.findings:
        return texts.render("command.words_test_clean", scope=_scope_label(call))
    lines = []
    for finding in check.findings[:FINDINGS_SHOWN]:
        rule, detail = describe(texts, finding)
        lines.append(
            texts.render(
                "command.words_test_line",
                rule=rule,
                severity=texts[f"severity.{finding.effective_severity.value}"],
                detail=detail,
            )
        )
    return texts.render(
        "command.words_test",
        count=len(check.findings),
        scope=_scope_label(call),
        lines="\n".join(lines),
    )
