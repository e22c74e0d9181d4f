"""`ModerationContext`: what judging needs besides the database (lexicon, texts, commands,
people, the default policy, how health rollups count days), built once per replica
(`app.runtime.moderation_context`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.chat.registry import CommandRegistry, blank_bot_mentions
from app.health.rollup import RollupConfig
from app.lexicon.runtime import LexiconHolder
from app.texts import Texts
from moderation import GroupPolicy, SensitiveWordMatcher


@dataclass(frozen=True)
class ModerationContext:
    """What the processor needs besides the database: lexicon, texts, commands, people and
    the default policy."""

    lexicon: LexiconHolder
    texts: Texts
    commands: CommandRegistry
    moderators: tuple[str, ...]
    app_messages_enabled: bool
    staff: frozenset[str] = frozenset()
    policy: GroupPolicy = field(default_factory=GroupPolicy)
    bot_names: tuple[str, ...] = ()  # the smart bot's display names (SMART_BOT_NAMES)
    rollups: RollupConfig = field(default_factory=RollupConfig)  # community-health days

    @property
    def matcher(self) -> SensitiveWordMatcher:
        """The matcher served now (read per message: a reload swaps it between messages)."""
        return self.lexicon.matcher

    def is_moderator(self, user_id: str) -> bool:
        return user_id in self.moderators

    def said(self, text: str, *, smart_bot: bool) -> str:
        """What a member said in a group message: `text` without the smart bot's own
        @-mentions (as spaces), which no text rule reads (`blank_bot_mentions`)."""
        return blank_bot_mentions(text, leading=smart_bot, names=self.bot_names)
