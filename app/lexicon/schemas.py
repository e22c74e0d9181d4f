"""The lexicon's REST shapes shared beyond its own endpoints: an allow-list entry as the API
shows it (the lexicon's routes and a review's learned phrase), and the field limit."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_FIELD", "AllowOut"]

MAX_FIELD = 1_000  # characters of any one field before the lexicon's own checks


class AllowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    phrase: str
    folded: str
    scope: str
    added_by: str
    added_at: datetime
    source: str
    source_log_id: int | None = Field(
        description="the moderation log row whose overturn added the phrase "
        "(POST /api/v1/moderation-logs/{id}/allow); null: added by hand or from a file"
    )
