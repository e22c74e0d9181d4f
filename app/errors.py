"""Every error the `app` package raises, rooted in one class.

```
WecomModError                     root of every error `app/` defines
├── SettingsError                 app.settings: a missing or malformed setting (`NAME: reason`)
├── SecretBoxError                app.secret_box: an unusable master key or unopenable token
├── CommandError                  app.chat.registry: the reply a chat command gives instead
├── LexiconError                  app.lexicon.service: one line for a human
│   ├── InvalidEntry              the input cannot be stored as it is; nothing changed
│   └── EntryNotFound             no word or allow-list phrase has that id
├── CorrectionError               app.lexicon.corrections: one line for a human
│   ├── LogNotFound               no moderation log row has that id
│   ├── AlreadyReviewed           the moderation log row was reviewed before
│   ├── NotOverturned             the moderation log row has not been overturned
│   └── BadChoice                 the proposal, phrase or scope cannot be added from the row
├── NotDead                       app.outbox.service: retrying an outbox action that is not dead
├── ConsoleError                  app.console.session: answered as an HTML page
│   ├── SignInNeeded              no valid session: to the sign-in page
│   ├── Forbidden                 signed in, but may not do this (403)
│   ├── NotFound                  nothing there, or not theirs to see (404)
│   └── ConsoleOff                no key to sign the console's cookies with (503)
├── InboxWriterClosed             app.ingest.inbox_writer: `store` after `close()`
│                                 (also RuntimeError)
├── LeaseLost                     app.ingest.archive: another replica took the archive lease
├── PermanentFailure              app.outbox.dispatcher: an outbox action that cannot be carried out
│                                 as stored (also bot.errors.WeComApiError, not retryable)
└── _Disconnected                 app.ingest.callbacks: the client left before its body came
```

Each class stays in the module that raises it (its name and any other base it needs, such as
`RuntimeError` or `WeComApiError`, are part of what callers catch); this module only holds
the root, so it imports nothing and every module of `app/` may import it.
`tests/service/test_architecture.py` checks that every exception class in `app/` descends from
`WecomModError` and is drawn above.

The other packages keep their own errors: `bot.errors.WeComError` roots the wire protocol's;
`moderation/` raises `ValueError`s (bad policy values; `LexiconFormatError` for a word list).
"""

from __future__ import annotations

__all__ = ["WecomModError"]


class WecomModError(Exception):
    """Root of every error raised by the `app` package."""
