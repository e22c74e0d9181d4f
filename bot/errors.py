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
└── WeComApiError              an outbound call failed
    ├── ApiTransportError      network failure, timeout or HTTP 5xx: retry later
    ├── RefusedUrl             a response_url that does not point at WeCom: never called
    └── ApiErrcodeError        WeCom answered errcode != 0 (see `error_for_errcode`)
        ├── TokenExpired       40001 / 40014 / 42001: refresh the token once and retry
        ├── RateLimited        45009 / 45033 / 130101: back off
        └── ConfigurationError 60020 (IP not trusted) and other errors a retry cannot fix
```

`error_for_errcode` is the one place where an errcode becomes an exception class.
"""

from __future__ import annotations

__all__ = [
    "ApiErrcodeError",
    "ApiTransportError",
    "CallbackError",
    "ConfigurationError",
    "DecryptionFailed",
    "MalformedMessage",
    "MalformedRequest",
    "PayloadTooLarge",
    "RateLimited",
    "ReceiveIdMismatch",
    "RefusedUrl",
    "SignatureMismatch",
    "StaleTimestamp",
    "TokenExpired",
    "WeComApiError",
    "WeComError",
    "error_for_errcode",
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
    """No usable answer: connection error, timeout, HTTP 5xx or a body that is not JSON."""


class RefusedUrl(WeComApiError):
    """A URL from a callback (response_url) that is not on a WeCom host; it is not called."""

    retryable = False


class ApiErrcodeError(WeComApiError):
    """WeCom answered with a non-zero errcode."""

    retryable = False

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
    """A setting is wrong on our side or in the WeCom admin console; retrying cannot help."""

    retryable = False


_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
_RATE_ERRCODES = frozenset({45009, 45033, 130101})
# -1 is "system busy": documented as transient.
_TRANSIENT_ERRCODES = frozenset({-1})
_CONFIGURATION_HINTS = {
    60020: "the server's IP is not in the app's trusted IP list (企业可信IP)",
    40013: "WECOM_CORP_ID is not a valid corp id",
    40056: "WECOM_AGENT_ID is not a valid agent id",
    301002: "the app may not message these users (visibility range)",
    48002: "the API is not allowed for this app",
    81013: "none of the recipients exists or is visible to the app",
}


def error_for_errcode(errcode: int, errmsg: str, api: str) -> ApiErrcodeError:
    """Map one WeCom errcode to the exception class that says what to do about it.

    A token error from `gettoken` itself means the secret is wrong, not that a token expired.
    """
    if errcode in _TOKEN_ERRCODES and api == "gettoken":
        return ConfigurationError(
            errcode, f"{errmsg} (WECOM_CORP_ID or WECOM_APP_SECRET is wrong)", api
        )
    if errcode in _TOKEN_ERRCODES:
        return TokenExpired(errcode, errmsg, api)
    if errcode in _RATE_ERRCODES:
        return RateLimited(errcode, errmsg, api)
    if errcode in _TRANSIENT_ERRCODES:
        err = ApiErrcodeError(errcode, errmsg, api)
        err.retryable = True
        return err
    hint = _CONFIGURATION_HINTS.get(errcode)
    if hint is not None:
        return ConfigurationError(errcode, f"{errmsg} ({hint})", api)
    return ApiErrcodeError(errcode, errmsg, api)
