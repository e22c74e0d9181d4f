"""`load_policy`: the service's default group policy from POLICY_PATH (a JSON object);
`effective_policy`: that policy with a group's own overrides."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.json_file import read_json_setting
from app.settings import SettingsError
from moderation import GroupPolicy

if TYPE_CHECKING:
    from app.models import Group

__all__ = ["effective_policy", "load_policy"]

log = logging.getLogger(__name__)


def load_policy(path: Path | None, corp_domains: Sequence[str] = ()) -> GroupPolicy:
    """The built-in defaults, with the settings in `path` applied and the corp's own domains
    (CORP_DOMAINS) added to `promo.corp_domains`; SettingsError naming the file or setting
    when it cannot be read or a value is wrong."""
    policy = GroupPolicy()
    if path is not None:
        mapping = read_json_setting(path, "POLICY_PATH")
        try:
            policy = GroupPolicy.from_mapping(mapping)
        except ValueError as exc:
            raise SettingsError(f"POLICY_PATH {path}: {exc}") from None
    if corp_domains:
        domains = [*policy.promo.corp_domains, *corp_domains]
        try:
            policy = GroupPolicy.from_mapping({"promo": {"corp_domains": domains}}, policy)
        except ValueError as exc:
            raise SettingsError(f"CORP_DOMAINS: {exc}") from None
    return policy


def effective_policy(group: Group | None, default: GroupPolicy) -> GroupPolicy:
    """`default` with the group's overrides. Overrides are checked when they are set; one that
    no longer parses (an older version wrote it) is logged and ignored."""
    if group is None or not group.policy:
        return default
    try:
        return GroupPolicy.from_mapping(group.policy, default)
    except (ValueError, TypeError) as exc:
        log.error("group %s: stored policy ignored, using the default: %s", group.chat_id, exc)
        return default
