"""Every failure the WeCom protocol layer can report, rooted in one class.

```
WeComError
├── CallbackError              a callback request we refuse (answered 4xx, nothing stored)
│   ├── PayloadTooLarge        body over the configured cap (413)
│   ├── MalformedRequest       missing query parameter, envelope not XML/JSON, no Encrypt (400)
│   ├── SignatureMismatch      msg_signature does not match (403)
│   ├── StaleTimestamp         timestamp not a number or outside the window (403)
│   ├── DecryptionFailed       bad base64, length, PKCS#7 padding or inner length (400)
│   ├── ReceiveIdMismatch      plaintext addressed to another corp / bot (403)
│   └── MalformedMessage       decrypted plaintext is not the XML/JSON it should be (400)
├── WeComApiError              an outbound call failed
│   ├── ApiTransportError      network failure, timeout or HTTP 5xx: retry later
│   ├── RefusedUrl             a response_url that does not point at WeCom: never called
│   └── ApiErrcodeError        WeCom answered errcode != 0 (see `error_for_errcode`)
│       ├── TokenExpired       40001 / 40014 / 42001: refresh the token once and retry
│       ├── RateLimited        45009 / 45033 / 130101: back off
│       └── ConfigurationError 60020 (IP not trusted) and other errors a retry cannot fix
│       (any other errcode, -1 "busy" included, is retryable)
└── ArchiveError               the chat archive failed; `retryable`: may a retry help
    ├── FinanceSdkUnavailable  the SDK library is missing, not loadable or lacks a function
    ├── ArchiveKeysInvalid     a private-key file or PEM is unusable (never shows the key)
    ├── MalformedChatData      GetChatData answered 0 but its JSON is not the documented shape
    ├── FinanceSdkError        Init/GetChatData returned a code, or errcode != 0 in the JSON
    │   ├── FinanceSdkTransient 10001 network, 10002 parse, 10003 system, -1 busy: retry later
    │   └── FinanceSdkRefused  10000 parameters, 10009 IP, 10010 expired, 10011 certificate, …
    └── ArchiveRecordError     one record cannot be read; the rest of the batch goes on
        ├── ArchiveKeyMissing      no private key for the record's publickey_ver
        ├── RandomKeyUndecryptable encrypt_random_key not base64, or RSA gives no usable key
        ├── RecordDecryptFailed    DecryptData refused the record (its code) or it was unsafe
        └── MalformedArchiveRecord the record or its plaintext is not the documented shape
```

`error_for_errcode` is the one place where an errcode becomes an exception class;
`error_for_sdk_code` is the same for the Finance SDK's return codes.
"""

from __future__ import annotations

__all__ = [
    "ApiErrcodeError",
    "ApiTransportError",
    "ArchiveError",
    "ArchiveKeyMissing",
    "ArchiveKeysInvalid",
    "ArchiveRecordError",
    "CallbackError",
    "ConfigurationError",
    "DecryptionFailed",
    "FinanceSdkError",
    "FinanceSdkRefused",
    "FinanceSdkTransient",
    "FinanceSdkUnavailable",
    "MalformedArchiveRecord",
    "MalformedChatData",
    "MalformedMessage",
    "MalformedRequest",
    "NotExternalContact",
    "PayloadTooLarge",
    "RandomKeyUndecryptable",
    "RateLimited",
    "ReceiveIdMismatch",
    "RecordDecryptFailed",
    "RefusedUrl",
    "SignatureMismatch",
    "StaleTimestamp",
    "TokenExpired",
    "WeComApiError",
    "WeComError",
    "error_for_errcode",
    "error_for_sdk_code",
]


class WeComError(Exception):
    """Root of every error raised by the `bot` package."""


class CallbackError(WeComError):
    """A callback request that is refused. `status` is the HTTP status to answer."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayloadTooLarge(CallbackError):
    status = 413


class MalformedRequest(CallbackError):
    status = 400


class SignatureMismatch(CallbackError):
    status = 403


class StaleTimestamp(CallbackError):
    status = 403


class DecryptionFailed(CallbackError):
    status = 400


class ReceiveIdMismatch(CallbackError):
    status = 403


class MalformedMessage(CallbackError):
    status = 400


class WeComApiError(WeComError):
    """An outbound call to WeCom failed. `retryable` says whether trying later can help."""

    retryable = True


class ApiTransportError(WeComApiError):
    """No usable answer: connection error, timeout, HTTP 5xx or a body that is not JSON.

    `cause` names which, in one word: `timeout`, `network`, `http_5xx`, `http_429`,
    `http_4xx` or `bad_answer` (not JSON, or not the documented shape)."""

    def __init__(self, message: str, *, cause: str = "bad_answer") -> None:
        super().__init__(message)
        self.cause = cause


class RefusedUrl(WeComApiError):
    """A URL from a callback (response_url) that is not on a WeCom host; it is not called."""

    retryable = False


class ApiErrcodeError(WeComApiError):
    """WeCom answered with a non-zero errcode. One not known to be permanent may be retried
    (up to the outbox's attempt limit): WeCom documents few errcodes as final."""

    retryable = True

    def __init__(self, errcode: int, errmsg: str, api: str) -> None:
        super().__init__(f"{api}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api


class TokenExpired(ApiErrcodeError):
    retryable = True


class RateLimited(ApiErrcodeError):
    retryable = True


class ConfigurationError(ApiErrcodeError):
    """A setting is wrong on our side or in the WeCom admin console; retrying cannot help.
    The message says what the operator must fix."""

    retryable = False


class NotExternalContact(ApiErrcodeError):
    """`externalcontact/get` for someone no member of the corp has as a contact (84061): an
    answer, not a failure. Only the group's own view of them (their name) is known."""

    retryable = False


NOT_EXTERNAL_CONTACT = 84061
_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
_RATE_ERRCODES = frozenset({45009, 45033, 130101})
# Errcodes that mean a setting is wrong, with what the operator must fix. Only codes whose
# meaning WeCom documents as a setting are here; any other errcode is retried.
_CONFIGURATION_HINTS = {
    60020: "fix: add this server's public IP to the app's trusted IPs (企业可信IP) in the "
    "WeCom admin console",
    40013: "fix: WECOM_CORP_ID is not a valid corp id",
    40056: "fix: WECOM_AGENT_ID is not a valid agent id for this corp",
    301002: "fix: the app may not message these users; widen its visibility range (可见范围)",
    48002: "fix: this API is not allowed for the app; grant it in the WeCom admin console",
    93000: "fix: the group's webhook robot key is wrong or the robot was removed; set "
    "webhook_key again (PATCH /api/v1/groups/{chat_id})",
    81013: "fix: none of the recipients exists or is visible to the app (check "
    "WECOM_ADMIN_USERIDS and the app's visibility range)",
}


def error_for_errcode(errcode: int, errmsg: str, api: str) -> ApiErrcodeError:
    """Map one WeCom errcode to the exception class that says what to do about it.

    Token errors: refresh once and retry (`TokenExpired`); rate errors: back off
    (`RateLimited`); a wrong setting: give up and report (`ConfigurationError`); anything
    else, -1 "system busy" included: retry later (`ApiErrcodeError`, retryable).
    A token error from `gettoken` itself means the secret is wrong, not that a token expired.
    """
    if errcode in _TOKEN_ERRCODES and api == "gettoken":
        return ConfigurationError(
            errcode, f"{errmsg} (fix: WECOM_CORP_ID or WECOM_APP_SECRET is wrong)", api
        )
    if errcode in _TOKEN_ERRCODES:
        return TokenExpired(errcode, errmsg, api)
    if errcode in _RATE_ERRCODES:
        return RateLimited(errcode, errmsg, api)
    if errcode == NOT_EXTERNAL_CONTACT:
        return NotExternalContact(errcode, errmsg, api)
    hint = _CONFIGURATION_HINTS.get(errcode)
    if hint is not None:
        return ConfigurationError(errcode, f"{errmsg} ({hint})", api)
    return ApiErrcodeError(errcode, errmsg, api)


class ArchiveError(WeComError):
    """The chat archive failed: the Finance SDK itself, or one record it returned.

    `retryable` says whether trying the same call later can help.
    """

    retryable = False


class FinanceSdkUnavailable(ArchiveError):
    """The SDK library is not where the setting says, cannot be loaded, or lacks a function."""


class ArchiveKeysInvalid(ArchiveError):
    """A private-key file or PEM cannot be used. The message names the file, never the key."""


class MalformedChatData(ArchiveError):
    """GetChatData returned 0 but its answer is not the documented JSON (possibly truncated)."""

    retryable = True


class FinanceSdkError(ArchiveError):
    """`Init` or `GetChatData` returned a non-zero code, or GetChatData's JSON had errcode != 0.

    `code` is the SDK's return code (10000–10011) or the WeCom errcode from the JSON; `call` is
    the SDK function ("Init", "GetChatData").
    """

    def __init__(self, code: int, message: str, call: str) -> None:
        super().__init__(f"{call}: code {code}: {message}")
        self.code = code
        self.call = call


class FinanceSdkTransient(FinanceSdkError):
    """A network, parse or system failure on the SDK's side: retry the same call later."""

    retryable = True


class FinanceSdkRefused(FinanceSdkError):
    """Wrong parameters or configuration (IP, certificate, secret) or expired data: a retry of
    the same call cannot help."""


class ArchiveRecordError(ArchiveError):
    """One archive record cannot be read. The batch goes on; the record is reported and skipped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ArchiveKeyMissing(ArchiveRecordError):
    """No private key is loaded for the record's `publickey_ver` (an old or a new key pair)."""

    def __init__(self, publickey_ver: int, known: tuple[int, ...]) -> None:
        shown = ", ".join(str(ver) for ver in known) or "none"
        super().__init__(f"no private key for publickey_ver {publickey_ver} (loaded: {shown})")
        self.publickey_ver = publickey_ver


class RandomKeyUndecryptable(ArchiveRecordError):
    """`encrypt_random_key` is not base64, does not fit the key, or decrypts to no usable key."""


class RecordDecryptFailed(ArchiveRecordError):
    """DecryptData refused the record (`code` is its return code), or the record was refused
    before the call because it would crash the SDK (`code` is None)."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code


class MalformedArchiveRecord(ArchiveRecordError):
    """The record, or its decrypted plaintext, is not the documented shape (no msgid, not an
    object, not JSON, a time that is not a number)."""


# The SDK's own return codes, from the comment at the top of WeWorkFinanceSdk_C.h (the header
# Tencent ships with the SDK; the copy in pyweworkfinance 1.1.0 was read), with the docs'
# advice that 10001–10003 are worth retrying.
_SDK_CODE_MEANINGS = {
    10000: "参数错误 (a parameter is invalid: empty corp id or secret, limit outside 1..1000)",
    10001: "网络错误 (network error: WeCom unreachable, DNS, proxy, timeout)",
    10002: "数据解析失败 (the SDK could not parse the server's answer)",
    10003: "系统失败 (system failure inside the SDK)",
    10004: "密钥错误导致加密失败 (encryption failed because of a key error)",
    10005: "fileid错误 (invalid sdkfileid)",
    10006: "解密失败 (decryption failed)",
    10007: "找不到消息加密版本的私钥 (no private key for the message's key version)",
    10008: "解析encrypt_key出错 (the random key could not be parsed: wrong key or version)",
    10009: "ip非法 (this server's IP is not allowed in the archive settings)",
    10010: "数据过期 (the data has expired: older than the archive keeps)",
    10011: "证书错误 (certificate error)",
}
_SDK_TRANSIENT_CODES = frozenset({10001, 10002, 10003})
# WeCom errcodes seen inside GetChatData's JSON. -1 is "system busy" for every WeCom API.
# 48002 is what the archive answers when Init was given an app secret instead of the archive
# secret (reported in binarywang/WxJava#2833); 40001 is WeCom's "invalid secret"; 60020 is
# WeCom's "IP not trusted". Other errcodes are reported with WeCom's own errmsg.
_ARCHIVE_TRANSIENT_ERRCODES = frozenset({-1})
_ARCHIVE_ERRCODE_HINTS = {
    40001: "the archive secret is wrong",
    48002: "not allowed: use the chat archive secret (会话内容存档 Secret), not an app secret",
    60020: "this server's IP is not in the archive's trusted IP list",
}


def error_for_sdk_code(code: int, call: str, errmsg: str = "") -> ArchiveError:
    """Map one Finance SDK return code (or GetChatData JSON errcode) to its exception.

    `call` is the SDK function that returned it. A DecryptData failure concerns only that one
    record (the call is local, no network), so it always becomes `RecordDecryptFailed`.
    """
    meaning = _SDK_CODE_MEANINGS.get(code) or _ARCHIVE_ERRCODE_HINTS.get(code) or ""
    message = "; ".join(part for part in (errmsg, meaning) if part) or "unknown code"
    if call == "DecryptData":
        return RecordDecryptFailed(f"DecryptData: code {code}: {message}", code=code)
    if code in _SDK_TRANSIENT_CODES or code in _ARCHIVE_TRANSIENT_ERRCODES:
        return FinanceSdkTransient(code, message, call)
    return FinanceSdkRefused(code, message, call)
