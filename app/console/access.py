"""Who the signed-in person is in the console, from the same rules as the chat commands
(`app.chat.registry.role_of`): admins (WECOM_ADMIN_USERIDS, or a sign-in with ADMIN_API_TOKEN)
see and change everything; a group's owner and moderators see and change their groups only;
CONSOLE_READONLY_USERIDS see everything and change nothing. Anyone else has no console.

The role is worked out on every request from the settings and the groups table, so a
moderator taken off a group loses it at once, whatever their cookie says, on every replica (no
copy of the groups is kept between requests). Admins and read-only accounts need no group for
that; a moderator's groups are one query that returns only the groups they own or moderate
(`app.repositories.groups.moderated_by`), never every group. A page that shows group names
asks for the names it shows. A row of a group they may not see answers 404, exactly like a
row that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.console.session import Forbidden, NotFound, Session, SignInNeeded, read_session
from app.repositories import groups as groups_repo
from app.settings import Settings

__all__ = ["TOKEN_USER", "Access", "ConsoleRole", "access_of", "require_access"]

TOKEN_USER = audit.rest_actor("admin")  # the audit actor of a sign-in with ADMIN_API_TOKEN


class ConsoleRole(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    READONLY = "readonly"


@dataclass(frozen=True, slots=True)
class Access:
    session: Session
    role: ConsoleRole
    chat_ids: tuple[str, ...] | None  # the groups they may see, sorted; None: every group

    @property
    def user(self) -> str:
        return self.session.user

    @property
    def can_change(self) -> bool:
        return self.role is not ConsoleRole.READONLY

    def sees(self, chat_id: str) -> bool:
        return self.chat_ids is None or chat_id in self.chat_ids

    def require_sees(self, chat_id: str) -> None:
        if not self.sees(chat_id):
            raise NotFound(chat_id)

    def require_change(self) -> None:
        if not self.can_change:
            raise Forbidden("read-only")


async def access_of(
    session: AsyncSession, settings: Settings, user: str, via: str
) -> Access | None:
    """What `user` may see; None when they have no console (no role, no group)."""
    signed = Session(user=user, via=via, csrf="", expires=0)
    if via == "token" or user in settings.admin_userids:
        return Access(signed, ConsoleRole.ADMIN, None)
    if user in settings.console_readonly_list:
        return Access(signed, ConsoleRole.READONLY, None)
    theirs = await groups_repo.moderated_by(session, user)
    if not theirs:
        return None
    return Access(signed, ConsoleRole.MODERATOR, tuple(theirs))


async def require_access(request: Request) -> Access:
    """The dependency of every console page and fragment: a session and a role, or sign in."""
    session = read_session(request)
    if session is None:
        raise SignInNeeded()
    runtime = request.app.state.runtime
    async with runtime.sessions() as db:
        access = await access_of(db, runtime.settings, session.user, session.via)
    if access is None:
        raise Forbidden("no role")
    return Access(session, access.role, access.chat_ids)
