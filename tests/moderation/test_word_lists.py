"""Word lists as people have them, from the user's side: a folder of one-file-per-category
lists (the layout of the open Chinese lists: 涉毒.txt, 色情类.txt, 暴恐词库.txt …, GBK or
UTF-8 with a BOM, CRLF, several words on a line) imported with `wecom-mod words import DIR
--category-from-filename`; categories that are a list's own labels; severities written 1–3.
Through the command line on a temporary database, the REST API and a member's message; plus
the tables of the rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from app import migrate
from app.cli import main
from app.db import database_urls
from app.lexicon.files import decode_list
from app.settings import SettingsError
from app.texts import load_texts
from moderation import Category, LexiconEntry, MatchMode, Severity, parse_lexicon
from moderation.lexicon import LexiconFormatError, category_from_filename, category_of
from tests import support
from tests.conftest import Service, make_settings, start_service

CHAT = "wrOgAAAAchat1"
AUTH = {"Authorization": f"Bearer {support.ADMIN_TOKEN}"}


# -- the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "category", "built_in"),
    [
        ("gambling", Category.GAMBLING, True),
        (" Politics ", Category.POLITICS, True),
        ("ADS", Category.ADS, True),
        ("色情", Category.PORN, True),
        ("涉黄", Category.PORN, True),
        ("反动", Category.POLITICS, True),
        ("政治类", Category.POLITICS, True),
        ("广告", Category.ADS, True),
        ("辱骂", Category.ABUSE, True),
        ("脏话", Category.ABUSE, True),
        ("诈骗", Category.FRAUD, True),
        ("赌博", Category.GAMBLING, True),
        ("广告引流", Category.ADS, True),  # the service's own name for it
        ("其他", Category.CUSTOM, True),
        ("涉毒", "涉毒", False),
        ("暴恐", "暴恐", False),
        ("违禁品", "违禁品", False),
        ("Drugs", "Drugs", False),  # a label is kept as written
        ("涉枪 涉爆", "涉枪 涉爆", False),
        ("类" * 32, "类" * 32, False),
    ],
)
def test_a_category_is_a_built_in_one_or_the_label_itself(
    given: str, category: str, built_in: bool
) -> None:
    found = category_of(given)
    assert found == category and found.value == category
    assert isinstance(found, Category) and found.built_in is built_in
    if not built_in:
        assert Category(category) == found  # what the database holds reads back the same
        assert found is not Category.CUSTOM and found != Category.CUSTOM


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", "empty category"),
        ("   ", "empty category"),
        ("类" * 33, "longer than 32 characters"),
        ("涉\u200b毒", "invisible character"),
        ("涉\n毒", "tab, line break"),
        ("3", "is a number"),
        ("12", "is a number"),
    ],
)
def test_labels_that_cannot_be_categories(given: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        category_of(given)


@pytest.mark.parametrize(
    ("stem", "category"),
    [
        ("涉毒", "涉毒"),
        ("暴恐词库", "暴恐"),  # konsheng/Sensitive-lexicon
        ("色情类型", Category.PORN),
        ("政治类型", Category.POLITICS),
        ("反动词库", Category.POLITICS),
        ("色情词库", Category.PORN),
        ("涉枪涉爆", "涉枪涉爆"),
        ("贪腐词库", "贪腐"),
        ("GFW补充词库", "GFW补充"),
        ("COVID-19词库", "COVID-19"),
        ("零时-Tencent", "零时-Tencent"),
        ("网易前端过滤敏感词库", "网易前端过滤"),
        ("政治类", Category.POLITICS),  # fighting41love/funNLP 敏感词库
        ("政治类-反动词库", Category.POLITICS),
        ("广告", Category.ADS),
        ("涉枪涉爆违法信息关键词", "涉枪涉爆违法信息"),
        ("敏感词", Category.CUSTOM),  # nothing left: the generic list
        ("色情类", Category.PORN),
        ("赌博", Category.GAMBLING),
        ("诈骗", Category.FRAUD),
        ("脏话", Category.ABUSE),
        ("违禁品", "违禁品"),
    ],
)
def test_the_category_a_file_name_gives(stem: str, category: str) -> None:
    assert category_from_filename(stem) == category


@pytest.mark.parametrize(
    ("written", "severity"),
    [("1", Severity.LOG), ("2", Severity.REVIEW), ("3", Severity.BLOCK), ("Review", "review")],
)
def test_severities_written_as_numbers(written: str, severity: Severity) -> None:
    (entry,) = parse_lexicon(f"赌博\tgambling\t{written}")
    assert entry.severity == severity


@pytest.mark.parametrize(
    ("text", "entries"),
    [
        ("冰毒\t3\n", [("冰毒", "涉毒", "block")]),  # word<TAB>1–3: a severity
        ("冰毒\t1\n", [("冰毒", "涉毒", "log")]),
        ("冰毒\t色情\t2\n", [("冰毒", "porn", "review")]),  # a line's own category wins
        ("冰毒,摇头丸，K粉,\n", [(w, "涉毒", "block") for w in ("冰毒", "摇头丸", "K粉")]),
        ("\ufeff冰毒\r\n海洛因\r\n", [("冰毒", "涉毒", "block"), ("海洛因", "涉毒", "block")]),
        (",,\n# 注释\n", []),
    ],
)
def test_one_category_lists(text: str, entries: list[tuple[str, str, str]]) -> None:
    parsed = parse_lexicon(text, category=category_of("涉毒"), split_commas=True)
    assert [(e.word, e.category, e.severity) for e in parsed] == entries


def test_commas_split_words_only_in_one_category_lists() -> None:
    assert parse_lexicon("1,000元") == [LexiconEntry("1,000元")]
    with pytest.raises(LexiconFormatError, match="lexicon:1: word longer than 64"):
        parse_lexicon("a," + "字" * 65, split_commas=True)


def test_defaults_for_lines_that_give_none() -> None:
    (entry,) = parse_lexicon("刷单", severity=Severity.REVIEW, mode=MatchMode.EXACT)
    assert (entry.category, entry.severity, entry.mode) == ("custom", "review", "exact")


@pytest.mark.parametrize(
    ("content", "decoded", "encoding"),
    [
        ("冰毒\n".encode(), "冰毒\n", "UTF-8"),
        (b"\xef\xbb\xbf" + "冰毒\r\n".encode(), "冰毒\r\n", "UTF-8 with BOM"),
        ("冰毒\r\n".encode("utf-16"), "冰毒\r\n", "UTF-16"),
        ("冰毒\n海洛因\n".encode("gbk"), "冰毒\n海洛因\n", "GBK/GB18030"),
        ("ok\n冰毒\n".encode("gb18030"), "ok\n冰毒\n", "GBK/GB18030"),
    ],
)
def test_list_files_as_they_are_saved(content: bytes, decoded: str, encoding: str) -> None:
    assert decode_list(content, Path("l.txt"), setting="DIR") == (decoded, encoding)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "冰毒\n海洛因\n".encode() + b"\xff\n",  # UTF-8 Chinese, then a broken byte
            "DIR: l.txt:3: not valid UTF-8 (byte 17); the file is damaged or mixes encodings",
        ),
        (b"ok\n\x81\n", "DIR: l.txt:2: neither UTF-8 nor GBK/GB18030 (byte 3); save it as UTF-8"),
    ],
)
def test_unreadable_list_files_name_file_and_line(content: bytes, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        decode_list(content, Path("l.txt"), setting="DIR")
    assert str(caught.value) == message


def test_messages_may_name_a_label() -> None:
    assert load_texts(None).category("涉毒") == "涉毒"
    assert load_texts(None).category("porn") == "色情低俗"


def test_a_messages_file_may_name_a_label_but_not_nothing(tmp_path: Path) -> None:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps({"category.涉毒": "涉毒违禁"}, ensure_ascii=False), "utf-8")
    assert load_texts(path).category("涉毒") == "涉毒违禁"
    path.write_text(json.dumps({"category.": "x"}), "utf-8")
    with pytest.raises(SettingsError, match=r"unknown text 'category\.'"):
        load_texts(path)
    path.write_text(json.dumps({"category.涉毒": "$word"}), "utf-8")
    with pytest.raises(SettingsError, match="unknown placeholder"):
        load_texts(path)


# -- the command line --------------------------------------------------------------------


def published_lists(folder: Path) -> Path:
    """A folder laid out like the open Chinese word lists, saved in their usual ways."""
    folder.mkdir()
    (folder / "涉毒.txt").write_text("冰毒\n海洛因\n摇头丸\n", encoding="utf-8")
    (folder / "色情类.txt").write_bytes("裸聊\r\n援交\r\n".encode("gbk"))  # GBK, CRLF
    (folder / "广告.txt").write_bytes(b"\xef\xbb\xbf" + "代开发票,刷单，兼职刷单\n".encode())
    (folder / "暴恐词库.txt").write_text("炸药配方\n冰毒\n", encoding="utf-8")  # 冰毒 again
    (folder / "README.md").write_text("# lists\n", encoding="utf-8")
    (folder / "反动词库.docx").write_bytes(b"PK\x03\x04")
    (folder / "old").mkdir()
    return folder


def words_listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[list[str]]:
    capsys.readouterr()
    assert main(["words", "list", *args]) == 0
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()[1:]]


def test_import_a_folder_of_one_category_lists(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    folder = published_lists(tmp_path / "Sensitive-lexicon")
    assert main(["words", "import", str(folder), "--category-from-filename", "--by", "ops"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "广告.txt → ads: 3 word(s): 3 added, 0 updated, 0 unchanged (read as UTF-8 with BOM)",
        "暴恐词库.txt → 暴恐: 2 word(s): 2 added, 0 updated, 0 unchanged",
        "涉毒.txt → 涉毒: 2 word(s): 2 added, 0 updated, 0 unchanged (1 left to an earlier file)",
        "色情类.txt → porn: 2 word(s): 2 added, 0 updated, 0 unchanged (read as GBK/GB18030)",
        "skipped (not .txt word lists): README.md, old/, 反动词库.docx",
        "imported 4 file(s), 9 word(s): 9 added, 0 updated, 0 unchanged (lexicon version 4)",
    ]
    rows = words_listed(capsys, "--limit", "50")
    assert sorted((row[1], row[2], row[3]) for row in rows) == sorted(
        [
            ("代开发票", "ads", "block"),
            ("刷单", "ads", "block"),
            ("兼职刷单", "ads", "block"),
            ("炸药配方", "暴恐", "block"),
            ("冰毒", "暴恐", "block"),  # the first file by name (code point) that lists it
            ("海洛因", "涉毒", "block"),
            ("摇头丸", "涉毒", "block"),
            ("裸聊", "porn", "block"),
            ("援交", "porn", "block"),
        ]
    )
    assert {row[6:] == ["ops", "cli"] for row in rows} == {True}
    assert [row[1] for row in words_listed(capsys, "--category", "涉毒")] == ["摇头丸", "海洛因"]
    assert [row[1] for row in words_listed(capsys, "--category", "色情")] == ["援交", "裸聊"]

    assert main(["words", "export"]) == 0
    exported = capsys.readouterr().out
    assert "海洛因\t涉毒\tblock\tfuzzy\n" in exported  # a label exports as written
    assert main(["check", "有人卖摇头丸吗"]) == 1
    assert capsys.readouterr().out.startswith("摇头丸 [涉毒/block]")

    # Again: nothing changes, each file says so.
    assert main(["words", "import", str(folder), "--category-from-filename"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2] == (
        "涉毒.txt → 涉毒: 2 word(s): 0 added, 0 updated, 2 unchanged (1 left to an earlier file)"
    )
    assert out[-1] == (
        "imported 4 file(s), 9 word(s): 0 added, 0 updated, 9 unchanged (lexicon version 4)"
    )


def test_one_list_file_and_the_severity_of_its_words(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    listed = tmp_path / "违禁品.txt"
    listed.write_text("电击枪\n迷药\t3\n", encoding="utf-8")
    args = ["words", "import", str(listed), "--category-from-filename", "--severity", "2"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "违禁品.txt → 违禁品: 2 word(s): 2 added, 0 updated, 0 unchanged"
    )
    rows = words_listed(capsys)
    assert [(row[1], row[2], row[3]) for row in rows] == [
        ("迷药", "违禁品", "block"),  # its line says 3
        ("电击枪", "违禁品", "review"),  # --severity 2 for the others
    ]
    plain = tmp_path / "plain.txt"
    plain.write_bytes("刷单\tfraud\t1\n".encode("gbk"))
    assert main(["words", "import", str(plain), "--mode", "exact"]) == 0
    assert capsys.readouterr().out.endswith("(lexicon version 2, read as GBK/GB18030)\n")
    assert words_listed(capsys, "--category", "fraud")[0][1:5] == ["刷单", "fraud", "log", "exact"]


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        (
            {"涉毒.txt": "冰毒\n", "色情.txt": "裸聊\n\t色情\n"},
            ["--category-from-filename"],
            "DIR: {dir}/色情.txt:2: empty word before the tab",
        ),
        (
            {"涉毒.txt": "冰毒\n", "赌博.txt": "赌球\t体育\tban\n"},
            ["--category-from-filename"],
            "DIR: {dir}/赌博.txt:1: unknown severity 'ban' (allowed: block, review, log, or "
            "1 = log, 2 = review, 3 = block)",
        ),
        (
            {"涉毒.txt": "冰毒\n", "广告.txt": b"ok\n\xff\xfe\xff\n"},
            ["--category-from-filename"],
            "DIR: {dir}/广告.txt:2: neither UTF-8 nor GBK/GB18030 (byte 3); save it as UTF-8",
        ),
        (
            {"涉毒.txt": "冰毒\n", "12.txt": "x\n"},
            ["--category-from-filename"],
            "DIR: {dir}/12.txt: the file name does not give a category: category '12' is a "
            "number (severities 1–3 go in the column after the category)",
        ),
        ({"涉毒.txt": "冰毒\n"}, [], "FILE: {dir} is a folder: give --category-from-filename"),
        (
            {"涉毒.txt": "冰毒\n"},
            ["--category-from-filename", "--allow"],
            "--category-from-filename reads word lists, not --allow lists",
        ),
        (
            {"涉毒.txt": "冰毒\n"},
            ["--category-from-filename", "--severity", "4"],
            "--severity: unknown severity '4'",
        ),
        (
            {"涉毒.txt": "冰毒\n"},
            ["--category-from-filename", "--mode", "loose"],
            "--mode: unknown mode 'loose' (allowed: fuzzy, folded, exact)",
        ),
        ({"README.md": "x"}, ["--category-from-filename"], "DIR: {dir} has no .txt word lists"),
    ],
)
def test_a_folder_that_cannot_be_imported_changes_nothing(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str | bytes],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    folder = tmp_path / "lists"
    folder.mkdir()
    for name, content in files.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    assert main(["words", "import", str(folder), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wecom-mod: configuration error: " + message.format(dir=folder))
    assert err.count("\n") == 1
    assert words_listed(capsys) == []


def test_labels_survive_a_downgrade_as_custom(database_url: str) -> None:
    urls = database_urls(database_url)
    engine = create_engine(urls.sync_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO lexicon_words (word, folded, category, severity, mode, scope, "
                    "added_by, added_at, source) VALUES "
                    "('冰毒', '冰毒', '涉枪涉爆违法信息的另一个很长的标签', 'block', 'fuzzy', '', "
                    "'t', '2026-11-23 00:00:00', 'api'), "
                    "('赌球', '赌球', 'gambling', 'block', 'fuzzy', '', 't', "
                    "'2026-11-23 00:00:00', 'api')"
                )
            )
        migrate.downgrade(urls, "0007")
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT word, category FROM lexicon_words"))
            assert sorted(rows) == [("冰毒", "custom"), ("赌球", "gambling")]
        migrate.upgrade(urls)
        assert migrate.current_revision(urls) == migrate.head_revision()
    finally:
        engine.dispose()


# -- REST and a member's message ---------------------------------------------------------


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"newcomer_days": 0, "newcomer_messages": 0}), encoding="utf-8")
    settings = make_settings(database_url, tmp_path, policy_path=str(policy))
    async for running in start_service(settings, support.FakeWeCom()):
        yield running


async def post(service: Service, path: str, body: Any) -> httpx.Response:
    return await service.http.post(path, json=body, headers=AUTH)


async def test_labels_and_numbered_severities_over_rest(service: Service) -> None:
    added = await post(
        service, "/api/v1/lexicon/words", {"word": "冰毒", "category": "涉毒", "severity": 3}
    )
    assert added.status_code == 201, added.text
    assert (added.json()["item"]["category"], added.json()["item"]["severity"]) == (
        "涉毒",
        "block",
    )
    bulk = await post(
        service,
        "/api/v1/lexicon/words/bulk",
        {"text": "裸聊\t色情\t2\n海洛因\t涉毒\t1\n迷药\t违禁品\n"},
    )
    assert bulk.json()["added"] == 3, bulk.text
    again = await post(
        service, "/api/v1/lexicon/words", {"word": "冰毒", "category": "涉毒", "severity": "3"}
    )
    assert again.status_code == 200 and again.json()["status"] == "unchanged"

    def listed(response: httpx.Response) -> list[tuple[str, str, str]]:
        return [(i["word"], i["category"], i["severity"]) for i in response.json()["items"]]

    assert listed(await service.api("/api/v1/lexicon/words", category="涉毒")) == [
        ("海洛因", "涉毒", "log"),
        ("冰毒", "涉毒", "block"),
    ]
    assert listed(await service.api("/api/v1/lexicon/words", category="色情")) == [
        ("裸聊", "porn", "review"),
        ("口交", "porn", "log"),  # from LEXICON_PATH at start
    ]
    assert listed(await service.api("/api/v1/lexicon/words", severity="2")) == [
        ("裸聊", "porn", "review"),
        ("加微信", "ads", "review"),
    ]
    exported = (await service.api("/api/v1/lexicon/words/export")).text
    assert "迷药\t违禁品\tblock\tfuzzy\n" in exported


async def test_a_label_names_itself_in_the_warning_and_stays_out_of_metrics(
    service: Service,
) -> None:
    await post(service, "/api/v1/lexicon/words", {"word": "冰毒", "category": "涉毒"})
    await service.settle()
    await service.post_aibot(
        support.aibot_group_text("有人要冰毒吗", msgid="m-1", sender="lisi", chat_id=CHAT)
    )
    await service.settle()
    (warning,) = [
        body["markdown"]["content"] for body in service.wecom.bodies("/cgi-bin/aibot/response")
    ]
    assert "**涉毒**" in warning
    (row,) = (await service.api("/api/v1/moderation-logs")).json()["items"]
    assert row["findings"][0]["category"] == "涉毒"
    stats = (await service.api("/api/v1/stats", chat_id=CHAT)).json()
    assert stats["rules"] == {"word.涉毒": 1}
    strikes = (await service.api(f"/api/v1/groups/{CHAT}/members/lisi/strikes")).json()
    assert [strike["rule"] for strike in strikes["strikes"]] == ["word.涉毒"]
    metrics = (await service.http.get("/metrics")).text
    assert "涉毒" not in metrics  # no metric is labelled by category
