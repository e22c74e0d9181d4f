"""`/screen @member`: a moderator asks for a member's screening again. The command runs in the
inbox processor's transaction, which makes no WeCom call: it makes a screening due now (source
`command`) for the screener's next pass, which alerts the moderators and the one who asked when
something is found and tells the one who asked when nothing is. Audited (`member.screen`)."""

from __future__ import annotations

from app import audit
from app.chat.registry import Call, split_first
from app.repositories import screenings as screenings_repo

__all__ = ["screen_command"]


async def screen_command(call: Call) -> str:
    group = call.need_group()
    token, rest = split_first(call.args)
    if not token or rest:
        raise call.bad_usage("command.member_needed" if not token else None)
    user_id = await call.member(token)
    screenings_repo.request(
        call.session,
        group.chat_id,
        [user_id],
        source="command",
        at=call.now,
        requested_by=call.sender,
    )
    await audit.record(
        call.session,
        actor=audit.chat_actor(call.sender),
        channel=audit.Channel.CHAT,
        action="member.screen",
        target=f"member:{group.chat_id}/{user_id}",
        details={},
        at=call.now,
    )
    return call.texts.render("command.screen_queued", member=user_id, group=call.group_label())
