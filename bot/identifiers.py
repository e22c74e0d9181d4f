"""The limits on identifiers that come from outside (WeCom's callbacks and archive records).

WeCom's ids are short ASCII (`wrOgAAAA…` chat ids, userids of at most 64 characters,
`wm…`/`wo…` external ids, msgids of a few dozen characters). The service stores each in a
column of `MAX_ID_LENGTH` characters (`app/models.py`), so a longer one, or one holding a
control character (a newline would also forge log lines), is refused where it enters: a
callback answers 400 and stores nothing, an archive record is recorded as unreadable. Nothing
accepted can then fail later on a column's width.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ID_LENGTH", "MAX_MSG_TYPE_LENGTH", "identifier_problem"]

MAX_ID_LENGTH = 128  # characters: chat ids, userids, msgids (the columns' width)
MAX_MSG_TYPE_LENGTH = 64  # characters: an archive record's msgtype (WeCom's are under 20)

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def identifier_problem(value: str, *, limit: int = MAX_ID_LENGTH) -> str | None:
    """Why `value` cannot be stored as an identifier, or None when it can ("" is allowed)."""
    if len(value) > limit:
        return f"longer than {limit} characters ({len(value)})"
    if _CONTROL.search(value):
        return "holds a control character"
    return None
