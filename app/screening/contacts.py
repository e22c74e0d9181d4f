"""Who an external newcomer is (`externalcontact/get`), asked of WeCom at most once per contact
within `SCREENING_CONTACT_TTL_HOURS` whatever the replica: answers, "not an external contact"
(84061) included, are kept in `contact_profiles`. A failed call is not kept: the newcomer is
screened with what the group says of them, and the decision says the contact is unchecked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.repositories import screenings as screenings_repo
from bot.client import WeComClient
from bot.errors import ConfigurationError, NotExternalContact, WeComApiError
from moderation.screening import ContactKind

__all__ = ["Contact", "ContactDirectory", "is_external"]

log = logging.getLogger(__name__)

WECHAT_TYPE = 1  # externalcontact/get type: a WeChat user
WECOM_TYPE = 2  # ... a WeCom user, of the company `corp_name`


def is_external(user_id: str) -> bool:
    """Whether a group member's id is an external_userid (wm…, wo…) rather than a userid."""
    return user_id.startswith(("wm", "wo"))


@dataclass(frozen=True, slots=True)
class Contact:
    """What is known of an external contact: its kind, name and company."""

    kind: ContactKind
    name: str = ""
    corp_name: str = ""
    note: str = ""  # why unchecked, when it is


class ContactDirectory:
    """Cached `externalcontact/get` lookups (see the module docstring). `calls` counts the
    calls made by this replica."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: WeComClient,
        *,
        ttl: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self.calls = 0

    async def lookup(self, user_ids: list[str]) -> dict[str, Contact]:
        """Each external contact among `user_ids`, from the cache or WeCom (one call each at
        most); an id that is not an external_userid gets nothing."""
        wanted = list(dict.fromkeys(uid for uid in user_ids if is_external(uid)))
        if not wanted:
            return {}
        now = self._clock()
        async with self._sessions() as session:
            cached = await screenings_repo.contacts(session, wanted, since=now - self._ttl)
        found: dict[str, Contact] = {}
        for user_id, row in cached.items():
            found[user_id] = _contact(row.known, row.contact_type, row.name, row.corp_name)
        for user_id in wanted:
            if user_id in found:
                continue
            found[user_id] = await self._fetch(user_id)
        return found

    async def _fetch(self, user_id: str) -> Contact:
        if not self._client.can_send_app_messages:
            return Contact(ContactKind.UNCHECKED, note="no app credentials")
        self.calls += 1
        try:
            answer = await self._client.get_external_contact(user_id)
        except NotExternalContact:
            await self._save(user_id, known=False)
            return Contact(ContactKind.NOT_CONTACT)
        except ConfigurationError as exc:
            log.error("external contact %s not looked up: %s", user_id, exc)
            return Contact(ContactKind.UNCHECKED, note=str(exc))
        except WeComApiError as exc:
            log.warning("external contact %s not looked up (screened by name): %s", user_id, exc)
            return Contact(ContactKind.UNCHECKED, note=str(exc))
        await self._save(
            user_id,
            known=True,
            contact_type=answer.type,
            name=answer.name,
            corp_name=answer.corp_name,
        )
        return _contact(True, answer.type, answer.name, answer.corp_name)

    async def _save(
        self,
        user_id: str,
        *,
        known: bool,
        contact_type: int = 0,
        name: str = "",
        corp_name: str = "",
    ) -> None:
        async with self._sessions() as session, session.begin():
            await screenings_repo.save_contact(
                session,
                user_id,
                at=self._clock(),
                known=known,
                contact_type=contact_type,
                name=name,
                corp_name=corp_name,
            )


def _contact(known: bool, contact_type: int, name: str, corp_name: str) -> Contact:
    if not known:
        return Contact(ContactKind.NOT_CONTACT)
    if contact_type == WECOM_TYPE:
        return Contact(ContactKind.WECOM, name=name, corp_name=corp_name)
    if contact_type == WECHAT_TYPE:
        return Contact(ContactKind.WECHAT, name=name)
    return Contact(ContactKind.UNCHECKED, name=name, note=f"unknown contact type {contact_type}")
