"""Tests of `bot.finance_sdk`: the ctypes binding against a fake SDK built from C, and against
Tencent's real library when pyweworkfinance is installed.

The fake (tests/finance_fake/fake_sdk.c) has the real header's signatures and counters the
tests read back: live slices and handles, the last seq/limit/timeout/proxy/passwd it was given,
and how often DecryptData ran. A wrong `argtypes` shows up as a truncated seq or a shifted
argument; a missing FreeSlice as a live slice.

Process-level (`slow`): the fake is built with the C compiler on first use, and the real SDK's
checks run in child processes.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import importlib.util
import logging
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bot.archive import ArchiveKeys, ArchiveMessage, ChatKind, RecordError, read_record
from bot.errors import (
    ArchiveError,
    ArchiveKeyMissing,
    FinanceSdkRefused,
    FinanceSdkTransient,
    FinanceSdkUnavailable,
    MalformedArchiveRecord,
    MalformedChatData,
    RecordDecryptFailed,
)
from bot.finance_sdk import EncryptedRecord, FinanceSdk, bundled_library_path

pytestmark = pytest.mark.slow

FAKE_SOURCE = Path(__file__).parent / "finance_fake" / "fake_sdk.c"
CORP_ID = "ww0123456789abcdef"
SECRET = "archive-secret"  # the one secret the fake accepts
CHAT_KEY = "fake-random-key-0123456789abcdef"  # the fake's default record key


def fake_encrypt(key: str, plaintext: str | bytes) -> str:
    """The fake SDK's "encryption": hex( XOR(key, "OK:" + plaintext) )."""
    data = b"OK:" + (plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext)
    raw = key.encode("utf-8")
    return bytes(byte ^ raw[i % len(raw)] for i, byte in enumerate(data)).hex()


@pytest.fixture(scope="session")
def fake_library_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (gcc/cc) to build the fake Finance SDK")
    out = tmp_path_factory.mktemp("finance_fake") / "libfake_finance.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-Wall", "-o", str(out), str(FAKE_SOURCE)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def fake(fake_library_path: Path) -> Iterator[ctypes.CDLL]:
    """The fake's control functions, on the same loaded library the binding uses."""
    lib = ctypes.CDLL(str(fake_library_path))
    lib.fake_last_seq.restype = ctypes.c_ulonglong
    lib.fake_last_limit.restype = ctypes.c_uint
    lib.fake_last_proxy.restype = ctypes.c_char_p
    lib.fake_last_passwd.restype = ctypes.c_char_p
    lib.fake_set_available_seq.argtypes = [ctypes.c_ulonglong]
    lib.fake_configure_records.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    lib.fake_set_answer.argtypes = [ctypes.c_char_p]
    lib.fake_reset()
    slices, sdks = lib.fake_live_slices(), lib.fake_live_sdks()
    yield lib
    assert lib.fake_live_slices() == slices, "a Slice_t was not freed"
    assert lib.fake_live_sdks() == sdks, "an SDK handle was not destroyed"


@pytest.fixture
def sdk(fake: ctypes.CDLL, fake_library_path: Path) -> Iterator[FinanceSdk]:
    with FinanceSdk(fake_library_path) as handle:
        handle.init(CORP_ID, SECRET)
        yield handle


def set_answer(fake: ctypes.CDLL, answer: str) -> None:
    fake.fake_set_answer(answer.encode("utf-8"))


# --- marshalling ------------------------------------------------------------------------------


def test_get_chat_data_returns_the_records_after_seq(sdk: FinanceSdk) -> None:
    records = sdk.get_chat_data(0)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].msgid == "msg-1"
    assert records[0].publickey_ver == 2
    assert records[0].encrypt_chat_msg == fake_encrypt(
        CHAT_KEY,
        '{"msgid":"msg-1","action":"send","from":"zhangsan",'
        '"tolist":["lisi","wmExternalCustomer0001"],"roomid":"wrRoom01",'
        '"msgtime":1700000000000,"msgtype":"text","text":{"content":"第1条消息"}}',
    )


def test_limit_is_honoured_and_passed(sdk: FinanceSdk, fake: ctypes.CDLL) -> None:
    fake.fake_set_available_seq(100)
    records = sdk.get_chat_data(3, 4)
    assert [r.seq for r in records] == [4, 5, 6, 7]
    assert fake.fake_last_limit() == 4
    assert len(sdk.get_chat_data(0, 1000)) == 100
    assert fake.fake_last_limit() == 1000


def test_a_seq_above_2_to_the_32_reaches_the_sdk_whole(sdk: FinanceSdk, fake: ctypes.CDLL) -> None:
    start = 2**40 + 7
    fake.fake_set_available_seq(start + 3)
    records = sdk.get_chat_data(start, 10)
    assert fake.fake_last_seq() == start
    assert [r.seq for r in records] == [start + 1, start + 2, start + 3]
    sdk.get_chat_data(2**64 - 1, 1)
    assert fake.fake_last_seq() == 2**64 - 1


def test_timeout_proxy_and_passwd_reach_the_sdk(sdk: FinanceSdk, fake: ctypes.CDLL) -> None:
    sdk.get_chat_data(0, 2, proxy="socks5://10.0.0.1:8081", passwd="user:pa55", timeout=7)
    assert fake.fake_last_timeout() == 7
    assert fake.fake_last_limit() == 2
    assert fake.fake_last_proxy() == b"socks5://10.0.0.1:8081"
    assert fake.fake_last_passwd() == b"user:pa55"
    sdk.get_chat_data(0)
    assert fake.fake_last_timeout() == 10
    assert fake.fake_last_proxy() == b""
    assert fake.fake_last_passwd() == b""


def test_every_slice_is_freed_on_success_and_on_error(
    fake: ctypes.CDLL, fake_library_path: Path
) -> None:
    with FinanceSdk(fake_library_path) as handle:
        handle.init("network-down", SECRET)
        with pytest.raises(FinanceSdkTransient):
            handle.get_chat_data(0)
    with FinanceSdk(fake_library_path) as handle:
        handle.init(CORP_ID, SECRET)
        handle.get_chat_data(0)
        handle.decrypt(CHAT_KEY, fake_encrypt(CHAT_KEY, '{"msgid":"m"}'))
        with pytest.raises(RecordDecryptFailed):
            handle.decrypt("wrong-key", fake_encrypt(CHAT_KEY, '{"msgid":"m"}'))
        set_answer(fake, "not json")
        with pytest.raises(MalformedChatData):
            handle.get_chat_data(0)
        assert fake.fake_live_slices() == 0
        assert fake.fake_live_sdks() == 1
    assert fake.fake_live_sdks() == 0


def test_close_destroys_the_handle_once_and_ends_its_use(
    fake: ctypes.CDLL, fake_library_path: Path
) -> None:
    handle = FinanceSdk(fake_library_path)
    assert fake.fake_live_sdks() == 1
    handle.init(CORP_ID, SECRET)
    handle.close()
    handle.close()
    assert fake.fake_live_sdks() == 0
    with pytest.raises(RuntimeError, match="closed"):
        handle.get_chat_data(0)
    with pytest.raises(RuntimeError, match="closed"):
        handle.decrypt(CHAT_KEY, fake_encrypt(CHAT_KEY, "{}"))


def test_init_is_needed_once_and_may_be_retried_after_a_failure(
    fake: ctypes.CDLL, fake_library_path: Path
) -> None:
    with FinanceSdk(fake_library_path) as handle:
        with pytest.raises(RuntimeError, match="init"):
            handle.get_chat_data(0)
        with pytest.raises(FinanceSdkRefused) as refused:
            handle.init("", SECRET)
        assert refused.value.code == 10000
        assert refused.value.call == "Init"
        assert not refused.value.retryable
        handle.init(CORP_ID, SECRET)
        with pytest.raises(RuntimeError, match="already"):
            handle.init(CORP_ID, SECRET)
        assert handle.get_chat_data(0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seq": -1}, "seq"),
        ({"seq": 2**64}, "seq"),
        ({"seq": True}, "seq"),
        ({"seq": 0, "limit": 0}, "limit"),
        ({"seq": 0, "limit": 1001}, "limit"),
        ({"seq": 0, "limit": 10.0}, "limit"),
        ({"seq": 0, "timeout": 0}, "timeout"),
        ({"seq": 0, "timeout": 2**31}, "timeout"),
        ({"seq": 0, "proxy": "http://a\0b"}, "proxy"),
        ({"seq": 0, "passwd": "u:\0p"}, "passwd"),
    ],
)
def test_arguments_ctypes_would_wrap_or_cut_are_refused_before_the_call(
    sdk: FinanceSdk, fake: ctypes.CDLL, kwargs: dict[str, object], message: str
) -> None:
    fake.fake_reset()
    with pytest.raises(ValueError, match=message):
        sdk.get_chat_data(**kwargs)  # type: ignore[arg-type]
    assert fake.fake_last_limit() == 0, "the SDK was called"


async def test_calls_run_in_a_worker_thread(sdk: FinanceSdk) -> None:
    records = await asyncio.to_thread(sdk.get_chat_data, 0, 2)
    assert [r.seq for r in records] == [1, 2]


# --- error mapping ----------------------------------------------------------------------------


def test_network_down_is_retryable(fake: ctypes.CDLL, fake_library_path: Path) -> None:
    with FinanceSdk(fake_library_path) as handle:
        handle.init("network-down", SECRET)
        with pytest.raises(FinanceSdkTransient) as caught:
            handle.get_chat_data(0)
    assert caught.value.code == 10001
    assert caught.value.retryable
    assert caught.value.call == "GetChatData"
    assert "网络错误" in str(caught.value)


def test_a_wrong_secret_is_the_errcode_inside_the_json(
    fake: ctypes.CDLL, fake_library_path: Path
) -> None:
    with FinanceSdk(fake_library_path) as handle:
        handle.init(CORP_ID, "an-app-secret")
        with pytest.raises(FinanceSdkRefused) as caught:
            handle.get_chat_data(0)
    assert caught.value.code == 48002
    assert not caught.value.retryable
    assert "archive secret" in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        ('{"errcode":-1,"errmsg":"system busy","chatdata":[]}', FinanceSdkTransient, -1),
        ('{"errcode":10001,"errmsg":"network"}', FinanceSdkTransient, 10001),
        ('{"errcode":10009,"errmsg":"ip"}', FinanceSdkRefused, 10009),
        ('{"errcode":10010,"errmsg":"expired"}', FinanceSdkRefused, 10010),
        ('{"errcode":60020,"errmsg":"not allow to access from your ip"}', FinanceSdkRefused, 60020),
        ('{"errcode":301099,"errmsg":"something new"}', FinanceSdkRefused, 301099),
    ],
)
def test_errcodes_inside_the_json_map_to_typed_errors(
    sdk: FinanceSdk, fake: ctypes.CDLL, answer: str, error: type[Exception], code: int
) -> None:
    set_answer(fake, answer)
    with pytest.raises(error) as caught:
        sdk.get_chat_data(0)
    assert caught.value.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "answer",
    [
        "not json",
        "[]",
        '{"errcode":"0","chatdata":[]}',
        '{"errcode":0,"chatdata":{}}',
        '{"errcode":0,"chatdata":["x"]}',
        '{"errcode":0,"chatdata":[{"msgid":"no-seq"}]}',
        '{"errcode":0,"chatdata":[{"seq":-3}]}',
    ],
)
def test_an_answer_that_is_not_the_documented_json_is_malformed_chat_data(
    sdk: FinanceSdk, fake: ctypes.CDLL, answer: str
) -> None:
    set_answer(fake, answer)
    with pytest.raises(MalformedChatData) as caught:
        sdk.get_chat_data(0)
    assert caught.value.retryable


def test_missing_record_fields_read_as_empty_so_the_record_fails_alone(
    sdk: FinanceSdk, fake: ctypes.CDLL
) -> None:
    set_answer(fake, '{"errcode":0,"errmsg":"ok","sdk":0,"chatdata":[{"seq":"9"},{"seq":10}]}')
    assert sdk.get_chat_data(0) == [
        EncryptedRecord(9, "", 0, "", ""),
        EncryptedRecord(10, "", 0, "", ""),
    ]
    set_answer(fake, '{"errcode":0,"errmsg":"ok"}')
    assert sdk.get_chat_data(0) == []


# --- DecryptData ------------------------------------------------------------------------------


def test_decrypt_returns_the_plaintext_object(sdk: FinanceSdk) -> None:
    plaintext = '{"msgid":"m1","msgtype":"text","text":{"content":"加微信领红包"}}'
    assert sdk.decrypt(CHAT_KEY, fake_encrypt(CHAT_KEY, plaintext)) == {
        "msgid": "m1",
        "msgtype": "text",
        "text": {"content": "加微信领红包"},
    }


def test_decrypt_needs_no_init(fake: ctypes.CDLL, fake_library_path: Path) -> None:
    with FinanceSdk(fake_library_path) as handle:
        assert handle.decrypt("k" * 32, fake_encrypt("k" * 32, '{"msgid":"x"}')) == {"msgid": "x"}


@pytest.mark.parametrize(
    ("key", "code"),
    [("another-key-0123456789abcdef0123", 10006), ("", 10008)],
)
def test_a_key_the_sdk_refuses_is_a_record_error_with_its_code(
    sdk: FinanceSdk, key: str, code: int
) -> None:
    with pytest.raises(RecordDecryptFailed) as caught:
        sdk.decrypt(key, fake_encrypt(CHAT_KEY, '{"msgid":"m1"}'))
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (CHAT_KEY, ""),
        (CHAT_KEY, "abcdef"),
        (CHAT_KEY, "0123456789abcdef01234"),  # 21: over the real SDK's 13, under one AES block
        (CHAT_KEY, fake_encrypt(CHAT_KEY, '{"msgid":"m1"}')[:20] + "\0" + "00" * 20),
        ("k\0ey", fake_encrypt(CHAT_KEY, '{"msgid":"m1"}')),
    ],
)
def test_inputs_that_would_crash_or_be_cut_never_reach_decrypt_data(
    sdk: FinanceSdk, fake: ctypes.CDLL, key: str, message: str
) -> None:
    with pytest.raises(RecordDecryptFailed) as caught:
        sdk.decrypt(key, message)
    assert caught.value.code is None
    assert fake.fake_decrypt_calls() == 0


@pytest.mark.parametrize(
    "plaintext",
    [b"not json at all", b"[1, 2]", b'"a string"', b"\xff\xfe{}"],
)
def test_a_plaintext_that_is_not_a_json_object_is_a_malformed_record(
    sdk: FinanceSdk, plaintext: bytes
) -> None:
    with pytest.raises(MalformedArchiveRecord):
        sdk.decrypt(CHAT_KEY, fake_encrypt(CHAT_KEY, plaintext + b" " * 16))


# --- loading the library ----------------------------------------------------------------------


def test_a_missing_library_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FinanceSdkUnavailable, match="no Finance SDK library at"):
        FinanceSdk(tmp_path / "libWeWorkFinanceSdk_C.so")


def test_a_file_that_is_not_a_library_is_reported(tmp_path: Path) -> None:
    not_a_library = tmp_path / "libWeWorkFinanceSdk_C.so"
    not_a_library.write_text("hello", encoding="utf-8")
    with pytest.raises(FinanceSdkUnavailable, match="cannot load"):
        FinanceSdk(not_a_library)


def test_a_library_without_the_sdk_functions_is_reported(
    tmp_path: Path, fake_library_path: Path
) -> None:
    source = tmp_path / "other.c"
    source.write_text("void *NewSdk(void) { return 0; }\n", encoding="utf-8")
    other = tmp_path / "libother.so"
    subprocess.run(
        [shutil.which("gcc") or "cc", "-shared", "-fPIC", "-o", str(other), str(source)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(FinanceSdkUnavailable, match="is not the Finance SDK"):
        FinanceSdk(other)


def test_without_a_path_or_an_installed_bundle_the_sdk_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert bundled_library_path() is None
    with pytest.raises(FinanceSdkUnavailable, match="pyweworkfinance"):
        FinanceSdk()


def test_the_bundle_is_located_without_importing_its_python_wrapper() -> None:
    """pyweworkfinance logs the archive secret at debug level: it must never be imported."""
    script = textwrap.dedent(
        """
        import sys
        from bot.finance_sdk import bundled_library_path
        path = bundled_library_path()
        print(path is not None and path.is_file(), "pyweworkfinance" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    found, imported = result.stdout.split()
    assert imported == "False"
    if found == "False":
        pytest.skip("pyweworkfinance is not installed: nothing to locate")


# --- records end to end: fake GetChatData → RSA → fake DecryptData → ArchiveMessage ---------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_records_from_the_sdk_open_into_messages(
    sdk: FinanceSdk, fake: ctypes.CDLL, rsa_key: rsa.RSAPrivateKey
) -> None:
    random_key = "0Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0K"
    wrapped = base64.b64encode(
        rsa_key.public_key().encrypt(random_key.encode(), padding.PKCS1v15())
    )
    fake.fake_configure_records(random_key.encode(), 3, wrapped)
    keys = ArchiveKeys({3: rsa_key})
    results = [read_record(sdk, keys, record) for record in sdk.get_chat_data(0, 2)]
    assert all(isinstance(result, ArchiveMessage) for result in results)
    first = results[0]
    assert isinstance(first, ArchiveMessage)
    assert (first.msgid, first.text, first.sender) == ("msg-1", "第1条消息", "zhangsan")
    assert first.chat_kind is ChatKind.EXTERNAL_GROUP

    fake.fake_configure_records(random_key.encode(), 9, wrapped)
    missing = read_record(sdk, keys, sdk.get_chat_data(0, 1)[0])
    assert isinstance(missing, RecordError)
    assert isinstance(missing.error, ArchiveKeyMissing)
    assert (missing.seq, missing.msgid, missing.publickey_ver) == (1, "msg-1", 9)


# --- secrets stay out of logs and messages ----------------------------------------------------


def test_no_secret_reaches_a_log_record_or_an_error_message(
    fake: ctypes.CDLL,
    fake_library_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    pem_body = "".join(pem.splitlines()[1:-1])
    passwd = "proxy-user:proxy-pa55w0rd"
    random_key = "0Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0K"
    wrapped = base64.b64encode(
        rsa_key.public_key().encrypt(random_key.encode(), padding.PKCS1v15())
    )
    fake.fake_configure_records(random_key.encode(), 2, wrapped)
    messages: list[str] = []

    with FinanceSdk(fake_library_path) as handle:
        handle.init(CORP_ID, SECRET)
        records = handle.get_chat_data(0, 3, proxy="http://10.0.0.1:8081", passwd=passwd)
        keys = ArchiveKeys.from_pem({2: pem})
        messages += [repr(handle), repr(keys), repr(records)]
        messages += [repr(read_record(handle, keys, record)) for record in records]
        for error_case in (
            lambda: handle.decrypt("wrong-key-9876543210", records[0].encrypt_chat_msg),
            lambda: handle.decrypt(random_key, "short"),
            lambda: keys.decrypt_random_key(2, "%%%"),
            lambda: keys.decrypt_random_key(7, records[0].encrypt_random_key),
            lambda: ArchiveKeys.from_pem({2: pem[:-40]}),
            lambda: ArchiveKeys.from_pem({2: pem.replace("RSA PRIVATE", "EC PRIVATE")}),
        ):
            with pytest.raises(ArchiveError) as e:
                error_case()
            messages += [str(e.value), repr(e.value)]
    with FinanceSdk(fake_library_path) as handle:
        handle.init("network-down", SECRET)
        with pytest.raises(FinanceSdkTransient) as transient:
            handle.get_chat_data(0, passwd=passwd)
        messages.append(str(transient.value))
    with FinanceSdk(fake_library_path) as handle:
        handle.init(CORP_ID, "wrong-" + SECRET)
        with pytest.raises(FinanceSdkRefused) as refused:
            handle.get_chat_data(0, passwd=passwd)
        messages.append(str(refused.value))

    logged = [record.getMessage() for record in caplog.records]
    assert logged, "the binding logs something at debug level"
    everything = "\n".join(logged + messages)
    for secret in (SECRET, passwd, random_key, pem_body[:64], pem_body[-64:]):
        assert secret not in everything


# --- the real SDK (pyweworkfinance's bundled build) -------------------------------------------

REAL_SDK = bundled_library_path()
needs_real_sdk = pytest.mark.skipif(
    REAL_SDK is None,
    reason="Tencent's Finance SDK is not installed (pip install pyweworkfinance bundles it)",
)
# Tencent's own example encrypt_chat_msg from WeWorkFinanceSdk_C.h: the right shape, no key.
EXAMPLE_ENCRYPTED = (
    "898WSfGMnIeytTsea7Rc0WsOocs0bIAerF6de0v2cFwqo9uOxrW9wYe5rCjCHHH5bDrNvLxBE/xOoFfcwOTYX0HQ"
    "xTJaH0ES9OHDZ61p8gcbfGdJKnq2UU4tAEgGb8H+Q9n8syRXIjaI3KuVCqGIi4QGHFmxWenPFfjF/vRuPd0EpzUN"
    "wmqfUxLBWLpGhv+dLnqiEOBW41Zdc0OO0St6E+JeIeHlRZAR+E13Isv9eS09xNbF0qQXWIyNUi+ucLr5VuZnPGXB"
    "rSfvwX8f0QebTwpy1tT2zvQiMM2MBugKH6NuMzzuvEsXeD+6+3VRqL"
)


@needs_real_sdk
def test_real_sdk_accepts_any_credentials_at_init_and_refuses_empty_ones() -> None:
    with FinanceSdk() as handle:
        handle.init(CORP_ID, "not-a-real-archive-secret")
    with FinanceSdk() as handle, pytest.raises(FinanceSdkRefused) as caught:
        handle.init("", "")
    assert caught.value.code == 10000


@needs_real_sdk
def test_real_sdk_unreachable_network_is_a_retryable_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "not-a-real-archive-secret"
    with FinanceSdk() as handle:
        handle.init(CORP_ID, secret)
        # A proxy on the discard port: refused at once, with or without internet access.
        with pytest.raises(FinanceSdkTransient) as caught:
            handle.get_chat_data(2**40, 10, proxy="http://127.0.0.1:9", passwd="u:p", timeout=3)
    assert caught.value.code == 10001
    assert caught.value.retryable
    assert secret not in caplog.text


@needs_real_sdk
def test_real_sdk_refuses_a_wrong_random_key() -> None:
    with FinanceSdk() as handle, pytest.raises(RecordDecryptFailed) as caught:
        handle.decrypt("0123456789abcdef0123456789abcdef", EXAMPLE_ENCRYPTED)
    assert caught.value.code == 10008


@needs_real_sdk
def test_real_sdk_is_never_given_a_message_it_would_abort_on() -> None:
    """DecryptData aborts the process (uncaught std::out_of_range) below 13 characters: run in
    a child process so that a regression fails this test instead of killing the suite."""
    script = textwrap.dedent(
        """
        from bot.errors import RecordDecryptFailed
        from bot.finance_sdk import FinanceSdk
        with FinanceSdk() as handle:
            for message in ("", "aGVsbG8=", "aaaaaaaaaaaa"):
                try:
                    handle.decrypt("0123456789abcdef0123456789abcdef", message)
                except RecordDecryptFailed as exc:
                    assert exc.code is None, exc
                else:
                    raise AssertionError("no error")
        print("alive")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "alive"
