"""A markdown warning as plain text: in a text post, and as the sandbox page shows it."""

from __future__ import annotations

import pytest

from app.groups.capabilities import unbold


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("**审核提醒** 请文明交流", "审核提醒 请文明交流"),
        ("**一** 和 **二**", "一 和 二"),
        # a masked word's stars are text, not a bold marker with nothing inside
        ("依据：「加**************零」", "依据：「加**************零」"),
        ("「赌*」与「色*」", "「赌*」与「色*」"),
        ("**违规**：「加****零」", "违规：「加****零」"),
    ],
)
def test_masked_word_stars_are_not_eaten_as_bold(markdown: str, shown: str) -> None:
    assert unbold(markdown) == shown
