"""The chat-archive Finance SDK (`libWeWorkFinanceSdk_C.so`) bound through ctypes.

Tencent ships the archive client only as a native library (platform notes §2, doc 91774). This
module declares `argtypes`/`restype` for every function it calls, copies every answer out of the
SDK's `Slice_t` before freeing it, and turns every non-zero return code into one typed error
(`bot.errors.error_for_sdk_code`).

The calls block (GetChatData waits on the network up to `timeout` seconds) and the binding is
synchronous on purpose: callers run it in a worker thread (`asyncio.to_thread`). Calls that use
the SDK handle (Init, GetChatData, DestroySdk) are serialised by a lock; DecryptData is a pure
function of its arguments and runs unlocked.

Where the library comes from: the `path` argument (the app's setting), or else the build for
this machine inside the installed `pyweworkfinance` package, found with `importlib.util.find_spec`
without importing it (its Python wrapper logs the archive secret at debug level and adds a
stdout handler to logging at import).

Safety checks done here because the SDK does not do them:
- DecryptData aborts the whole process (an uncaught C++ `std::out_of_range`) when `encrypt_msg`
  is shorter than 13 characters; observed with the x86-64 build in pyweworkfinance 1.1.0. Any
  real message is at least one AES block in base64 (24 characters), so shorter ones are refused
  before the call.
- A NUL character would silently cut a `const char*` argument short, so it is refused.
- `seq`, `limit` and `timeout` are range-checked so that ctypes never wraps them.

Secrets (the archive secret, the proxy password, random keys, plaintexts) are never logged and
never put into exception messages.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
import os
import platform
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bot.errors import (
    FinanceSdkUnavailable,
    MalformedArchiveRecord,
    MalformedChatData,
    RecordDecryptFailed,
    error_for_sdk_code,
)

__all__ = [
    "MAX_LIMIT",
    "EncryptedRecord",
    "FinanceSdk",
    "bundled_library_path",
]

log = logging.getLogger(__name__)

MAX_LIMIT = 1000  # records per GetChatData call; the SDK answers 10000 above it
_MAX_SEQ = 2**64 - 1  # seq is an unsigned long long
_MAX_TIMEOUT = 2**31 - 1  # seconds, a C int
# DecryptData aborts the process below 13 characters (see the module docstring); one AES block
# in base64 is 24 characters.
_MIN_ENCRYPTED_LENGTH = 24

# Where pyweworkfinance keeps the Linux builds, by platform.machine().
_BUNDLE_PACKAGE = "pyweworkfinance"
_BUNDLED_LINUX_BUILDS = {
    "x86_64": "libs/linux/libWeWorkFinanceSdk_C_x86.so",
    "amd64": "libs/linux/libWeWorkFinanceSdk_C_x86.so",
    "aarch64": "libs/linux/libWeWorkFinanceSdk_C_arm.so",
    "arm64": "libs/linux/libWeWorkFinanceSdk_C_arm.so",
}


class _Slice(ctypes.Structure):
    """`Slice_t` from WeWorkFinanceSdk_C.h; read only through GetContentFromSlice/GetSliceLen."""

    _fields_ = [("buf", ctypes.c_void_p), ("len", ctypes.c_int)]


_SlicePointer = ctypes.POINTER(_Slice)


@dataclass(frozen=True, slots=True)
class EncryptedRecord:
    """One entry of GetChatData's `chatdata`, still encrypted.

    `seq` is the archive's sequence number (the cursor advances to the largest one seen);
    `publickey_ver` names the key pair whose private key opens `encrypt_random_key` (0 when the
    entry lacks it). Missing strings are "" so that the record fails alone when it is opened.
    """

    seq: int
    msgid: str
    publickey_ver: int
    encrypt_random_key: str = field(repr=False)
    encrypt_chat_msg: str = field(repr=False)


def bundled_library_path() -> Path | None:
    """The SDK build for this machine inside an installed pyweworkfinance, or None.

    The package is located, not imported (see the module docstring).
    """
    if platform.system() != "Linux":
        return None
    relative = _BUNDLED_LINUX_BUILDS.get(platform.machine().lower())
    if relative is None:
        return None
    try:
        spec = importlib.util.find_spec(_BUNDLE_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    return None


def _check_c_string(name: str, value: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if "\0" in value:
        raise ValueError(f"{name} contains a NUL character")
    return value.encode("utf-8")


class _Library:
    """The SDK's C functions with their declared signatures, typed for the rest of the module."""

    def __init__(self, path: Path) -> None:
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise FinanceSdkUnavailable(f"cannot load the Finance SDK at {path}: {exc}") from exc
        try:
            self._new_sdk = lib.NewSdk
            self._init = lib.Init
            self._get_chat_data = lib.GetChatData
            self._decrypt_data = lib.DecryptData
            self._destroy_sdk = lib.DestroySdk
            self._new_slice = lib.NewSlice
            self._free_slice = lib.FreeSlice
            self._content = lib.GetContentFromSlice
            self._slice_len = lib.GetSliceLen
        except AttributeError as exc:
            raise FinanceSdkUnavailable(
                f"{path} is not the Finance SDK (a function is missing: {exc})"
            ) from exc
        # WeWorkFinanceSdk_t* NewSdk()
        self._new_sdk.argtypes = []
        self._new_sdk.restype = ctypes.c_void_p
        # int Init(WeWorkFinanceSdk_t* sdk, const char* corpid, const char* secret)
        self._init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        self._init.restype = ctypes.c_int
        # int GetChatData(WeWorkFinanceSdk_t* sdk, unsigned long long seq, unsigned int limit,
        #                 const char* proxy, const char* passwd, int timeout, Slice_t* chatDatas)
        self._get_chat_data.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulonglong,
            ctypes.c_uint,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_int,
            _SlicePointer,
        ]
        self._get_chat_data.restype = ctypes.c_int
        # int DecryptData(const char* encrypt_key, const char* encrypt_msg, Slice_t* msg)
        self._decrypt_data.argtypes = [ctypes.c_char_p, ctypes.c_char_p, _SlicePointer]
        self._decrypt_data.restype = ctypes.c_int
        # void DestroySdk(WeWorkFinanceSdk_t* sdk)
        self._destroy_sdk.argtypes = [ctypes.c_void_p]
        self._destroy_sdk.restype = None
        # Slice_t* NewSlice(); void FreeSlice(Slice_t*)
        self._new_slice.argtypes = []
        self._new_slice.restype = _SlicePointer
        self._free_slice.argtypes = [_SlicePointer]
        self._free_slice.restype = None
        # char* GetContentFromSlice(Slice_t*): declared as void* so that ctypes does not cut
        # the content at the first NUL; the length comes from GetSliceLen.
        self._content.argtypes = [_SlicePointer]
        self._content.restype = ctypes.c_void_p
        # int GetSliceLen(Slice_t*)
        self._slice_len.argtypes = [_SlicePointer]
        self._slice_len.restype = ctypes.c_int

    def new_sdk(self) -> int | None:
        handle: int | None = self._new_sdk()
        return handle

    def init(self, sdk: int, corp_id: bytes, secret: bytes) -> int:
        code: int = self._init(sdk, corp_id, secret)
        return code

    def get_chat_data(
        self,
        sdk: int,
        seq: int,
        limit: int,
        proxy: bytes,
        passwd: bytes,
        timeout: int,
        out: Any,
    ) -> int:
        code: int = self._get_chat_data(sdk, seq, limit, proxy, passwd, timeout, out)
        return code

    def decrypt_data(self, key: bytes, message: bytes, out: Any) -> int:
        code: int = self._decrypt_data(key, message, out)
        return code

    def destroy_sdk(self, sdk: int) -> None:
        self._destroy_sdk(sdk)

    def new_slice(self) -> Any:
        out = self._new_slice()
        if not out:
            raise MemoryError("NewSlice returned NULL")
        return out

    def free_slice(self, out: Any) -> None:
        self._free_slice(out)

    def slice_bytes(self, out: Any) -> bytes:
        """A copy of the slice's content, taken before the slice is freed."""
        length: int = self._slice_len(out)
        pointer: int | None = self._content(out)
        if not pointer or length <= 0:
            return b""
        return ctypes.string_at(pointer, length)


class FinanceSdk:
    """One SDK handle: `init` once, then `get_chat_data` and `decrypt`; `close` (or `with`).

    Synchronous and blocking; run calls in a thread. `path` is the library file; None means the
    build bundled in an installed pyweworkfinance.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            found = bundled_library_path()
            if found is None:
                raise FinanceSdkUnavailable(
                    "no Finance SDK path is set and no pyweworkfinance build for "
                    f"{platform.system()} {platform.machine()} is installed"
                )
            library_path = found
        else:
            library_path = Path(path)
            if not library_path.is_file():
                raise FinanceSdkUnavailable(f"no Finance SDK library at {library_path}")
        self.library_path = library_path
        self._lib = _Library(library_path)
        self._lock = threading.Lock()
        self._initialised = False
        self._closed = False
        handle = self._lib.new_sdk()
        if not handle:
            raise FinanceSdkUnavailable(f"NewSdk returned NULL ({library_path})")
        self._sdk: int = handle
        log.debug("Finance SDK loaded from %s", library_path)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "ready" if self._initialised else "not initialised"
        return f"<FinanceSdk {self.library_path} {state}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the Finance SDK handle is closed")

    def init(self, corp_id: str, secret: str) -> None:
        """Give the SDK the corp id and the chat-archive secret (not an app secret).

        Raises `FinanceSdkRefused` (10000 for an empty value) or `FinanceSdkTransient`. The real
        SDK does not check the secret here; a wrong one shows in `get_chat_data`.
        """
        corp = _check_c_string("corp_id", corp_id)
        key = _check_c_string("secret", secret)
        with self._lock:
            self._check_open()
            if self._initialised:
                raise RuntimeError("init() was already called on this handle")
            code = self._lib.init(self._sdk, corp, key)
            if code != 0:
                raise error_for_sdk_code(code, "Init")
            self._initialised = True
        log.debug("Finance SDK initialised for corp %s", corp_id)

    def get_chat_data(
        self,
        seq: int,
        limit: int = MAX_LIMIT,
        *,
        proxy: str = "",
        passwd: str = "",
        timeout: int = 10,
    ) -> list[EncryptedRecord]:
        """The records after `seq` (exclusive), at most `limit` (1..1000), oldest first.

        `proxy` is e.g. "socks5://10.0.0.1:8081" or "http://10.0.0.1:8081" ("" for none),
        `passwd` its "user:password"; `timeout` is in seconds. Raises `FinanceSdkTransient`
        (retry later), `FinanceSdkRefused` or `MalformedChatData`.
        """
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= _MAX_SEQ:
            raise ValueError(f"seq must be an integer in 0..2**64-1, got {seq!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be an integer in 1..{MAX_LIMIT}, got {limit!r}")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int)
            or not 1 <= timeout <= _MAX_TIMEOUT
        ):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        proxy_bytes = _check_c_string("proxy", proxy)
        passwd_bytes = _check_c_string("passwd", passwd)
        with self._lock:
            self._check_open()
            if not self._initialised:
                raise RuntimeError("call init() before get_chat_data()")
            out = self._lib.new_slice()
            try:
                code = self._lib.get_chat_data(
                    self._sdk, seq, limit, proxy_bytes, passwd_bytes, timeout, out
                )
                body = self._lib.slice_bytes(out) if code == 0 else b""
            finally:
                self._lib.free_slice(out)
        if code != 0:
            raise error_for_sdk_code(code, "GetChatData")
        records = _parse_chat_data(body)
        log.debug("GetChatData after seq %d: %d records", seq, len(records))
        return records

    def decrypt(self, random_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        """Decrypt one record's `encrypt_chat_msg` with its random key, already RSA-decrypted.

        Returns the plaintext JSON object. Raises `RecordDecryptFailed` (with the SDK's code,
        or code None when the input was refused before the call) or `MalformedArchiveRecord`.
        Needs no `init`.
        """
        self._check_open()
        try:
            key = _check_c_string("random_key", random_key)
            message = _check_c_string("encrypt_chat_msg", encrypt_chat_msg)
        except ValueError as exc:
            raise RecordDecryptFailed(str(exc)) from None
        if len(message) < _MIN_ENCRYPTED_LENGTH:
            raise RecordDecryptFailed(
                f"encrypt_chat_msg is {len(message)} characters, shorter than any real message "
                f"({_MIN_ENCRYPTED_LENGTH}); not passed to the SDK, which would abort"
            )
        out = self._lib.new_slice()
        try:
            code = self._lib.decrypt_data(key, message, out)
            body = self._lib.slice_bytes(out) if code == 0 else b""
        finally:
            self._lib.free_slice(out)
        if code != 0:
            raise error_for_sdk_code(code, "DecryptData")
        try:
            plaintext = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise MalformedArchiveRecord("decrypted message is not UTF-8 JSON") from None
        if not isinstance(plaintext, dict):
            raise MalformedArchiveRecord("decrypted message is not a JSON object")
        return plaintext

    def close(self) -> None:
        """Destroy the SDK handle. Idempotent; the object cannot be used afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lib.destroy_sdk(self._sdk)


def _int_field(entry: dict[str, Any], name: str) -> int | None:
    value = entry.get(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _str_field(entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    return value if isinstance(value, str) else ""


def _parse_chat_data(body: bytes) -> list[EncryptedRecord]:
    """GetChatData's JSON → records. A non-zero errcode inside it is an error like a return code.

    Each entry needs an integer `seq` (without it the cursor could not move past the entry);
    any other missing field is left empty so that the record fails alone when it is opened.
    """
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedChatData("GetChatData answer is not UTF-8 JSON") from None
    if not isinstance(answer, dict):
        raise MalformedChatData("GetChatData answer is not a JSON object")
    errcode = answer.get("errcode", 0)
    if isinstance(errcode, bool) or not isinstance(errcode, int):
        raise MalformedChatData("GetChatData errcode is not an integer")
    if errcode != 0:
        errmsg = answer.get("errmsg")
        raise error_for_sdk_code(errcode, "GetChatData", errmsg if isinstance(errmsg, str) else "")
    entries = answer.get("chatdata", [])
    if not isinstance(entries, list):
        raise MalformedChatData("GetChatData chatdata is not a list")
    records = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise MalformedChatData(f"GetChatData chatdata[{index}] is not an object")
        seq = _int_field(entry, "seq")
        if seq is None or seq < 0:
            raise MalformedChatData(f"GetChatData chatdata[{index}] has no integer seq")
        records.append(
            EncryptedRecord(
                seq=seq,
                msgid=_str_field(entry, "msgid"),
                publickey_ver=_int_field(entry, "publickey_ver") or 0,
                encrypt_random_key=_str_field(entry, "encrypt_random_key"),
                encrypt_chat_msg=_str_field(entry, "encrypt_chat_msg"),
            )
        )
    return records
