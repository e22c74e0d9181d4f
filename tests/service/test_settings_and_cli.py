"""Settings from the environment, and the `wecom-mod` command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import migrate
from app.cli import main
from app.settings import Settings, SettingsError, load_settings
from tests import support

AES = support.APP_AES_KEY


def test_defaults_start_with_every_channel_off() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite:///./wecom-mod.db"
    assert settings.wecom_api_base == "https://qyapi.weixin.qq.com"
    assert not settings.app_callback_enabled
    assert not settings.aibot_enabled
    assert not settings.app_messages_enabled
    assert not settings.rest_api_enabled


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"WECOM_AIBOT_TOKEN=tok\nWECOM_AIBOT_AES_KEY={AES}\n", encoding="utf-8"
    )
    monkeypatch.setenv("WECOM_ADMIN_USERIDS", " alice, bob ,,")
    settings = load_settings()
    assert settings.aibot_enabled
    assert settings.admin_userids == ["alice", "bob"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WECOM_AGENT_ID": "abc"}, "WECOM_AGENT_ID: must be a whole number"),
        (
            {"WECOM_CALLBACK_AES_KEY": "short", "WECOM_CALLBACK_TOKEN": "t", "WECOM_CORP_ID": "c"},
            "WECOM_CALLBACK_AES_KEY: must be 43 characters, got 5",
        ),
        (
            {"WECOM_AIBOT_AES_KEY": "!" * 43, "WECOM_AIBOT_TOKEN": "t"},
            "WECOM_AIBOT_AES_KEY: is not base64",
        ),
        ({"WECOM_AIBOT_TOKEN": "t"}, "WECOM_AIBOT_AES_KEY: missing (WECOM_AIBOT_TOKEN set"),
        ({"WECOM_CALLBACK_TOKEN": "t", "WECOM_CALLBACK_AES_KEY": AES}, "WECOM_CORP_ID: missing"),
        ({"WECOM_APP_SECRET": "s", "WECOM_CORP_ID": "c"}, "WECOM_AGENT_ID: missing"),
        ({"WECOM_API_BASE": "ftp://x"}, "WECOM_API_BASE: must be an http(s) URL"),
        ({"ADMIN_API_TOKEN": "short"}, "ADMIN_API_TOKEN: must be at least 16 characters"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL: unsupported database 'mysql'"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL: not a database URL"),
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL: SQLite needs a file path"),
        ({"CALLBACK_TIMESTAMP_WINDOW_SECONDS": "0"}, "CALLBACK_TIMESTAMP_WINDOW_SECONDS:"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL: must be one of"),
        # the chat archive
        ({"ARCHIVE_ENABLED": "maybe"}, "ARCHIVE_ENABLED: must be true or false"),
        ({"ARCHIVE_ENABLED": "true"}, "WECOM_CORP_ID: missing (ARCHIVE_ENABLED is true"),
        (
            {"ARCHIVE_ENABLED": "1", "WECOM_CORP_ID": "ww1", "ARCHIVE_KEYS_DIR": "/k"},
            "ARCHIVE_SECRET: missing",
        ),
        (
            {"ARCHIVE_ENABLED": "true", "WECOM_CORP_ID": "ww1", "ARCHIVE_SECRET": "s"},
            "ARCHIVE_KEYS_DIR: missing",
        ),
        ({"ARCHIVE_BATCH": "0"}, "ARCHIVE_BATCH:"),
        ({"ARCHIVE_BATCH": "1001"}, "ARCHIVE_BATCH:"),
        ({"ARCHIVE_POLL_SECONDS": "0"}, "ARCHIVE_POLL_SECONDS: must be more than 0"),
        ({"ARCHIVE_LEASE_SECONDS": "5"}, "ARCHIVE_LEASE_SECONDS: must be at least 10"),
        (
            {
                "ARCHIVE_ENABLED": "true",
                "WECOM_CORP_ID": "ww1",
                "ARCHIVE_SECRET": "s",
                "ARCHIVE_KEYS_DIR": "/k",
                "ARCHIVE_POLL_SECONDS": "60",
            },
            "ARCHIVE_LEASE_SECONDS: must be longer than ARCHIVE_POLL_SECONDS",
        ),
        (
            # A slow success was sent again by another replica once the lease ran out.
            {"OUTBOX_LEASE_SECONDS": "30"},
            "OUTBOX_LEASE_SECONDS: must be longer than a send can take, "
            "4 x WECOM_TIMEOUT_SECONDS + 5 = 45 s (got 30)",
        ),
        (
            {"OUTBOX_LEASE_SECONDS": "20", "WECOM_TIMEOUT_SECONDS": "4"},
            "OUTBOX_LEASE_SECONDS: must be longer than a send can take",
        ),
        ({"WECOM_TIMEOUT_SECONDS": "0"}, "WECOM_TIMEOUT_SECONDS: "),
    ],
)
def test_bad_settings_stop_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql+psycopg"),
        ("postgres://u:p@db/wecom", "postgresql+psycopg"),
        ("postgresql+asyncpg://u@db/wecom", "postgresql+psycopg"),
    ],
)
def test_database_urls_as_users_write_them(url: str, driver: str) -> None:
    from app.db import database_urls

    assert database_urls(url).async_url.drivername == driver


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECOM_AIBOT_TOKEN", "very-secret-token")
    monkeypatch.setenv("WECOM_AIBOT_AES_KEY", AES)
    settings = load_settings(_env_file=None)
    assert "very-secret-token" not in repr(settings)
    assert AES not in repr(settings)


# -- command line ------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "LEXICON"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
        cwd=os.getcwd(),
    )


@pytest.mark.slow
def test_help_explains_each_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "check", "words"):
        assert command in result.stdout
    serve = run_cli("serve", "--help")
    assert "--host" in serve.stdout and "--port" in serve.stdout and "--no-migrate" in serve.stdout


def word_file(folder: Path, words: str) -> Path:
    """A word file for `wecom-mod check --lexicon`."""
    path = folder / "words.txt"
    path.write_text(words, encoding="utf-8")
    return path


def test_check_prints_each_finding_and_the_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lexicon = word_file(tmp_path, support.LEXICON)
    assert main(["check", "--lexicon", str(lexicon), "来赌博吗，私聊加微信"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("赌博 [gambling/block] at 1:3 '赌博'")
    assert out[1].startswith("加微信 [ads/review] at 7:10 '加微信'")
    assert out[2].startswith("decision: warn (warn_sender, alert_moderators); 2 lexicon hit(s)")
    assert main(["check", "--lexicon", str(lexicon), "好的 谢谢"]) == 0
    assert "no findings (3 word(s) in" in capsys.readouterr().out


def test_check_shows_an_abuse_word_dropped_as_part_of_a_term(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lexicon = word_file(tmp_path, "杂种\tabuse\tblock\n")
    assert main(["check", "--lexicon", str(lexicon), "水稻利用了杂种优势"]) == 0
    assert capsys.readouterr().out.startswith(
        "杂种 at 5:7 '杂种' via exact: not counted, part of the term 杂种优势, its literal sense\n"
        "no findings"
    )
    assert main(["check", "--lexicon", str(lexicon), "你个杂种，滚"]) == 1
    assert capsys.readouterr().out.startswith("杂种 [abuse/block] at 2:4 '杂种'")


def test_check_without_lexicon_needs_a_migrated_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["check", "赌博"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL:" in err and "run `wecom-mod migrate` first" in err


def test_check_with_a_broken_word_file_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lexicon = word_file(tmp_path, "赌博\tgambling\n博彩\t12\treview\n")
    assert main(["check", "--lexicon", str(lexicon), "x"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"wecom-mod: configuration error: --lexicon: {lexicon}:2: category '12' is a number "
        "(severities 1–3 go in the column after the category)"
    )


@pytest.mark.slow
def test_config_error_is_one_line_and_exit_2() -> None:
    result = run_cli("migrate", env={"WECOM_AGENT_ID": "x"})
    assert result.returncode == 2
    assert (
        result.stderr == "wecom-mod: configuration error: WECOM_AGENT_ID: must be a whole number\n"
    )


@pytest.mark.slow
def test_serve_stops_on_unreadable_lexicon_before_touching_the_database(tmp_path: Path) -> None:
    result = run_cli(
        "serve",
        env={
            "LEXICON_PATH": str(tmp_path / "missing.txt"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        },
    )
    assert result.returncode == 2
    assert "LEXICON_PATH: cannot read" in result.stderr
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.slow
def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    result = run_cli("migrate", env={"DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert f"migrated from empty to {migrate.head_revision()}" in result.stderr
    again = run_cli("migrate", env={"DATABASE_URL": f"sqlite:///{db}"})
    assert f"is up to date (revision {migrate.head_revision()})" in again.stderr


def test_every_setting_is_in_the_example_env_file_and_the_settings_page() -> None:
    root = Path(__file__).resolve().parents[2]
    example = (root / "deploy" / "env.example").read_text(encoding="utf-8")
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line[:40]}
    listed = {name for name in listed if name.isupper() and not name.startswith("#")}
    settings_page = (root / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in (field.upper() for field in Settings.model_fields):
        assert name in listed, f"{name} is not in deploy/env.example"
        assert f"`{name}`" in settings_page, f"{name} is not in the docs/settings.md table"
