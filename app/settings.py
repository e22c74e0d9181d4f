"""Typed settings from the environment and an optional `.env` file (see deploy/env.example).

`load_settings()` turns every problem into one `SettingsError` whose message is one line naming
the variable and the reason; `wecom-mod` prints it and stops. A channel whose credentials are
all absent is off; one that is half configured is an error (it is almost always a typo).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.db import database_urls
from app.errors import WecomModError
from app.log_format import LOG_FORMATS
from app.secret_box import SecretBox, SecretBoxError
from bot.client import DEFAULT_API_BASE
from bot.crypto import decode_aes_key

__all__ = ["Settings", "SettingsError", "load_settings"]

DEFAULT_DATABASE_URL = "sqlite:///./wecom-mod.db"
MIN_ADMIN_TOKEN_LENGTH = 16
MAX_LEXICON_RELOAD_SECONDS = 3600
MAX_ARCHIVE_POLL_SECONDS = 3600
MIN_ARCHIVE_LEASE_SECONDS = 10  # longer than one GetChatData call (its timeout is 10 s)
SEND_CALLS = 4  # WeCom calls one outbox send may make (app.outbox.dispatcher.SEND_CALLS)
RECORD_MARGIN = 5.0  # seconds to commit a send's outcome (app.outbox.dispatcher.RECORD_MARGIN)


class SettingsError(WecomModError):
    """A missing or malformed setting; the message is one line: `NAME: reason`."""


def _comma_list(value: str, prefix: str = "") -> list[str]:
    """The non-blank items of a comma-separated setting, stripped of blanks and of any of the
    characters of `prefix` before them."""
    items = (part.strip().lstrip(prefix).strip() for part in value.split(","))
    return [item for item in items if item]


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    wecom_corp_id: str = ""
    wecom_agent_id: int | None = None
    wecom_app_secret: SecretStr | None = None
    wecom_callback_token: SecretStr | None = None
    wecom_callback_aes_key: SecretStr | None = None
    wecom_aibot_token: SecretStr | None = None
    wecom_aibot_aes_key: SecretStr | None = None
    wecom_api_base: str = DEFAULT_API_BASE
    wecom_admin_userids: str = ""
    wecom_staff_userids: str = ""  # staff: exempt from moderation, not moderators
    policy_path: Path | None = None  # JSON: the default GroupPolicy for every group
    # The corp's own web domains, comma-separated: links to them (and their subdomains) are
    # not promotion in any group (added to the policy's promo.corp_domains).
    corp_domains: str = ""
    # The smart bot's display names, comma-separated: an @-mention of one is not part of what
    # a member said (archive copies of messages that mention it); a smart-bot callback's own
    # leading mention is left out without it.
    smart_bot_names: str = ""
    # Join screening (app/screening): the company's own names as WeCom gives a contact's
    # corp_name, and partner companies, comma-separated: their WeCom users are not flagged as
    # another company's staff (a group's policy adds partner_corps); how long what
    # externalcontact/get said of a contact is kept before WeCom is asked again.
    corp_names: str = ""
    partner_corps: str = ""
    screening_contact_ttl_hours: float = Field(default=24.0, gt=0, le=720)
    admin_api_token: SecretStr | None = None  # REST: read and write
    readonly_api_token: SecretStr | None = None  # REST: GET only; needs ADMIN_API_TOKEN
    secret_key: SecretStr | None = None  # master key of app.secret_box (webhook keys at rest)
    lexicon_path: Path | None = None
    lexicon_allow_path: Path | None = None
    lexicon_reload_seconds: float = 2.0  # how often each replica looks for lexicon changes
    database_url: str = DEFAULT_DATABASE_URL
    messages_path: Path | None = None
    callback_timestamp_window_seconds: int = Field(default=600, ge=1)
    callback_max_body_bytes: int = Field(default=262_144, ge=1024)
    # 16 tries span at least 38 minutes of backoff (up to 77): a WeCom outage that long is
    # waited out before an action is marked dead.
    outbox_max_attempts: int = Field(default=16, ge=1)
    # seconds a claimed action stays with the replica sending it (renewed before each send);
    # a replica killed mid-send leaves its actions to the others after this
    outbox_lease_seconds: float = Field(default=120.0, ge=1.0)
    # seconds one HTTP call to WeCom may take in all, connecting to the answer's last byte
    wecom_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    log_level: str = "INFO"
    log_format: str = "text"  # "text" (one line per record) or "json" (one object per line)
    metrics_enabled: bool = True  # GET /metrics; false: it answers 404
    # Chat archive (会话内容存档): see app/ingest/archive.py.
    archive_enabled: bool = False
    archive_secret: SecretStr | None = None  # the archive's own Secret, not an app secret
    archive_sdk_path: Path | None = None  # libWeWorkFinanceSdk_C.so; None: pyweworkfinance's
    archive_keys_dir: Path | None = None  # <publickey_ver>.pem private keys
    archive_poll_seconds: float = 15.0  # pull at least this often (msgaudit_notify: at once)
    archive_batch: int = Field(default=1000, ge=1, le=1000)  # records per GetChatData call
    archive_include_direct: bool = False  # moderate 1:1 messages too
    archive_lease_seconds: float = 60.0  # how long a replica's hold on the puller lasts
    # Web console (app/console): who may only look, how long a sign-in lasts, the cookie's
    # Secure flag (true behind HTTPS), the UI language, and WeCom's sign-in hosts.
    console_readonly_userids: str = ""
    console_session_hours: float = Field(default=12.0, gt=0, le=720)
    console_cookie_secure: bool = False
    console_language: str = "zh"  # zh | en
    wecom_oauth_host: str = "https://open.weixin.qq.com"  # 网页授权 inside WeCom
    wecom_login_host: str = "https://login.work.weixin.qq.com"  # 企业微信登录 (QR)
    # Community health (app/health, docs/health.md): the time zone of the rollups' days, how
    # long they are kept, the default window of the figures, when a group counts as silent,
    # and how often the health list's snapshot is recomputed.
    health_timezone: str = "Asia/Shanghai"
    health_retention_days: int = Field(default=400, ge=31, le=3660)
    health_window_days: int = Field(default=30, ge=1, le=366)
    health_silent_days: int = Field(default=14, ge=1, le=366)
    # minutes between two recomputations of the health list's snapshot (by one replica)
    health_refresh_minutes: int = Field(default=10, ge=1, le=1440)
    # The weekly digest to WECOM_ADMIN_USERIDS (app/health/digest.py): on/off, the ISO weekday
    # (1 Monday … 7 Sunday) and hour (HEALTH_TIMEZONE) it is due, a link to put in it.
    health_digest_enabled: bool = False
    health_digest_weekday: int = Field(default=1, ge=1, le=7)
    health_digest_hour: int = Field(default=9, ge=0, le=23)
    health_digest_link: str = ""
    # The console's sandbox (app/sandbox/live.py, docs/sandbox.md): empty: on exactly when no
    # WeCom credentials are set (a fresh machine; `serve` then prints a one-time sign-in
    # link); true: on with credentials too (try a policy before enforcing it); false: off.
    sandbox_enabled: bool | None = None
    # A key drawn by this process to sign the console's cookies when neither SECRET_KEY nor
    # ADMIN_API_TOKEN is set (`with_session_key`: a fresh machine's sandbox); not a setting.
    _session_key: bytes | None = PrivateAttr(default=None)

    @field_validator(
        "wecom_app_secret",
        "wecom_callback_token",
        "wecom_callback_aes_key",
        "wecom_aibot_token",
        "wecom_aibot_aes_key",
        "admin_api_token",
        "readonly_api_token",
        "secret_key",
        "lexicon_path",
        "lexicon_allow_path",
        "messages_path",
        "policy_path",
        "wecom_agent_id",
        "archive_secret",
        "archive_sdk_path",
        "archive_keys_dir",
        "sandbox_enabled",
        mode="before",
    )
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "wecom_corp_id",
        "wecom_admin_userids",
        "wecom_staff_userids",
        "database_url",
        "corp_domains",
        "smart_bot_names",
        "console_readonly_userids",
        "corp_names",
        "partner_corps",
        mode="before",
    )
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("wecom_callback_aes_key", "wecom_aibot_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_aes_key(value.get_secret_value())
        return value

    @field_validator("wecom_api_base", "wecom_oauth_host", "wecom_login_host")
    @classmethod
    def _api_base(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://qyapi.weixin.qq.com")
        return value.strip().rstrip("/")

    @field_validator("console_language")
    @classmethod
    def _console_language(cls, value: str) -> str:
        language = value.strip().lower()
        if language not in ("zh", "en"):
            raise ValueError(f"must be zh or en, got {value!r}")
        return language

    @field_validator("admin_api_token", "readonly_api_token")
    @classmethod
    def _token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_ADMIN_TOKEN_LENGTH} characters")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                SecretBox(value.get_secret_value())
            except SecretBoxError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("lexicon_reload_seconds")
    @classmethod
    def _reload_seconds(cls, value: float) -> float:
        if not 0 < value <= MAX_LEXICON_RELOAD_SECONDS:
            raise ValueError(
                f"must be more than 0 and at most {MAX_LEXICON_RELOAD_SECONDS} seconds"
            )
        return value

    @field_validator("health_timezone")
    @classmethod
    def _health_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"not a time zone name (IANA, e.g. Asia/Shanghai): {value!r}"
            ) from None
        return value

    @field_validator("archive_poll_seconds")
    @classmethod
    def _archive_poll_seconds(cls, value: float) -> float:
        if not 0 < value <= MAX_ARCHIVE_POLL_SECONDS:
            raise ValueError(f"must be more than 0 and at most {MAX_ARCHIVE_POLL_SECONDS} seconds")
        return value

    @field_validator("archive_lease_seconds")
    @classmethod
    def _archive_lease_seconds(cls, value: float) -> float:
        if value < MIN_ARCHIVE_LEASE_SECONDS:
            raise ValueError(f"must be at least {MIN_ARCHIVE_LEASE_SECONDS} seconds")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        urls = database_urls(value)  # the one place that knows URL shapes; raises ValueError
        if urls.is_sqlite:
            folder = Path(urls.sync_url.database or "").parent
            if not folder.is_dir():
                raise ValueError(
                    f"the folder {folder} of the SQLite file does not exist (create it, or "
                    "point the path at one that does)"
                )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        log_format = value.strip().lower()
        if log_format not in LOG_FORMATS:
            raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
        return log_format

    @model_validator(mode="after")
    def _tokens_apart(self) -> Settings:
        if self.readonly_api_token is None:
            return self
        if self.admin_api_token is None:
            raise ValueError(
                "READONLY_API_TOKEN: set ADMIN_API_TOKEN too (the REST API is on only with it)"
            )
        if self.secret("readonly_api_token") == self.secret("admin_api_token"):
            raise ValueError("READONLY_API_TOKEN: must differ from ADMIN_API_TOKEN")
        return self

    @model_validator(mode="after")
    def _channels_complete(self) -> Settings:
        groups = {
            "the app callback": ("WECOM_CORP_ID", "WECOM_CALLBACK_TOKEN", "WECOM_CALLBACK_AES_KEY"),
            "the smart bot callback": ("WECOM_AIBOT_TOKEN", "WECOM_AIBOT_AES_KEY"),
            "app messages (alerts and replies)": (
                "WECOM_CORP_ID",
                "WECOM_AGENT_ID",
                "WECOM_APP_SECRET",
            ),
        }
        present = {
            "WECOM_CORP_ID": bool(self.wecom_corp_id),
            "WECOM_AGENT_ID": self.wecom_agent_id is not None,
            "WECOM_APP_SECRET": self.wecom_app_secret is not None,
            "WECOM_CALLBACK_TOKEN": self.wecom_callback_token is not None,
            "WECOM_CALLBACK_AES_KEY": self.wecom_callback_aes_key is not None,
            "WECOM_AIBOT_TOKEN": self.wecom_aibot_token is not None,
            "WECOM_AIBOT_AES_KEY": self.wecom_aibot_aes_key is not None,
        }
        for channel, names in groups.items():
            own = [name for name in names if name != "WECOM_CORP_ID"]
            if any(present[name] for name in own):
                missing = [name for name in names if not present[name]]
                if missing:
                    given = [name for name in own if present[name]]
                    raise ValueError(
                        f"{missing[0]}: missing ({', '.join(given)} set; "
                        f"{channel} needs {', '.join(names)})"
                    )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Settings:
        # A replica must not take an action whose send is still in flight or not yet recorded.
        longest = SEND_CALLS * self.wecom_timeout_seconds + RECORD_MARGIN
        if self.outbox_lease_seconds <= longest:
            raise ValueError(
                f"OUTBOX_LEASE_SECONDS: must be longer than a send can take, "
                f"{SEND_CALLS} x WECOM_TIMEOUT_SECONDS + {RECORD_MARGIN:g} = {longest:g} s "
                f"(got {self.outbox_lease_seconds:g}): another replica would send an action "
                "again while it is still being sent"
            )
        return self

    @model_validator(mode="after")
    def _archive_complete(self) -> Settings:
        if not self.archive_enabled:
            return self
        needed = {
            "WECOM_CORP_ID": bool(self.wecom_corp_id),
            "ARCHIVE_SECRET": self.archive_secret is not None,
            "ARCHIVE_KEYS_DIR": self.archive_keys_dir is not None,
        }
        for name, present in needed.items():
            if not present:
                raise ValueError(
                    f"{name}: missing (ARCHIVE_ENABLED is true; the chat archive needs "
                    f"{', '.join(needed)})"
                )
        if self.archive_lease_seconds <= self.archive_poll_seconds:
            raise ValueError(
                f"ARCHIVE_LEASE_SECONDS: must be longer than ARCHIVE_POLL_SECONDS "
                f"({self.archive_lease_seconds:g} <= {self.archive_poll_seconds:g}): the lease "
                "would lapse between two pulls and pass from replica to replica"
            )
        return self

    # -- derived views -------------------------------------------------------------------

    @property
    def corp_domain_list(self) -> list[str]:
        return _comma_list(self.corp_domains)

    @property
    def corp_name_list(self) -> list[str]:
        return _comma_list(self.corp_names)

    @property
    def partner_corp_list(self) -> list[str]:
        return _comma_list(self.partner_corps)

    @property
    def smart_bot_name_list(self) -> list[str]:
        return _comma_list(self.smart_bot_names, prefix="@＠")

    @property
    def admin_userids(self) -> list[str]:
        return _comma_list(self.wecom_admin_userids)

    @property
    def staff_userids(self) -> list[str]:
        return _comma_list(self.wecom_staff_userids)

    @property
    def console_readonly_list(self) -> list[str]:
        return _comma_list(self.console_readonly_userids)

    @property
    def console_key(self) -> bytes | None:
        """The key the web console signs its cookies and sign-in states with: SECRET_KEY, else
        ADMIN_API_TOKEN (whoever holds it is an admin anyway), else the process's own key on a
        fresh machine (`with_session_key`); None: the console is off."""
        secret = self.secret("secret_key") or self.secret("admin_api_token")
        return secret.encode("utf-8") if secret else self._session_key

    def with_session_key(self, key: bytes) -> Settings:
        """A copy whose console signs with `key` when no SECRET_KEY or ADMIN_API_TOKEN is set
        (sessions then last as long as the process)."""
        copy = self.model_copy()
        copy._session_key = key
        return copy

    @property
    def app_callback_enabled(self) -> bool:
        return self.wecom_callback_token is not None

    @property
    def aibot_enabled(self) -> bool:
        return self.wecom_aibot_token is not None

    @property
    def app_messages_enabled(self) -> bool:
        return self.wecom_app_secret is not None

    @property
    def rest_api_enabled(self) -> bool:
        return self.admin_api_token is not None

    @property
    def has_wecom_credentials(self) -> bool:
        """Some channel to WeCom is configured (a callback, app messages, the archive)."""
        return (
            self.app_callback_enabled
            or self.aibot_enabled
            or self.app_messages_enabled
            or self.archive_enabled
        )

    @property
    def sandbox_on(self) -> bool:
        """SANDBOX_ENABLED, or when it is empty: no WeCom credentials are set."""
        if self.sandbox_enabled is not None:
            return self.sandbox_enabled
        return not self.has_wecom_credentials

    def secret_box(self) -> SecretBox | None:
        """The box that seals secrets at rest (webhook keys); None while SECRET_KEY is unset."""
        if self.secret_key is None:
            return None
        return SecretBox(self.secret("secret_key"))

    def secret_values(self) -> list[str]:
        """Every secret set (tokens, keys, secrets): what the log masks wherever it appears."""
        return [_secret(value) for value in vars(self).values() if isinstance(value, SecretStr)]

    def secret(self, name: str) -> str:
        """The plain value of a secret field (for the code that really needs it)."""
        value = getattr(self, name)
        return _secret(value)


_NAMES = {name: name.upper() for name in Settings.model_fields}


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ()
    name = _NAMES.get(str(loc[0]), str(loc[0])) if loc else ""
    message = str(first.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if first.get("type") == "int_parsing":
        message = "must be a whole number"
    elif first.get("type") == "float_parsing":
        message = "must be a number"
    elif first.get("type") == "bool_parsing":
        message = "must be true or false"
    if not name:
        return message
    return f"{name}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and `.env`), with `overrides` taking precedence."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
