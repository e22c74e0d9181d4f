"""The user guide (README.md and docs/) against the code it describes.

Every table that names something the code defines is read back and compared with the code at
run time, so a setting, command, option, policy key or text added, renamed or removed on one
side fails here until the other side follows:

- docs/settings.md's settings table ⇄ the settings class ⇄ deploy/env.example (names and
  defaults); its texts table ⇄ the texts' placeholders; its MESSAGES_PATH example loads;
- docs/chat-commands.zh.md's command table ⇄ the command registry (names, usage as `/help`
  shows it, who may run it, whether the 1:1 chat must name a group); every command written in
  the page resolves to a registered one;
- every `wecom-mod …` command line in README.md and docs/ ⇄ the command-line parser
  (subcommands and options); every `python -m …` names a module that exists;
- docs/ladder.md's policy tables ⇄ the policy's keys and defaults; its example policy loads;
- every relative link (and its #anchor) and every repository path written in code points at
  something that exists; README.md stays short.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.chat.commands import build_registry
from app.chat.registry import CommandSpec, Role, parse_command, split_first
from app.cli import _parser, main
from app.settings import Settings
from app.texts import DEFAULT_TEXTS, PLACEHOLDERS, load_texts
from moderation import GroupPolicy

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README_MAX_LINES = 200


def _guide() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- markdown ----------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    """The cells of a table row (a `\\|` inside a cell is a `|`)."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _tables(text: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """Every table of a page outside code blocks: (header cells, rows of cells)."""
    lines = _prose_lines(text)
    i = 0
    while i < len(lines):
        if (
            lines[i].lstrip().startswith("|")
            and i + 1 < len(lines)
            and re.fullmatch(r"\s*\|[\s|:-]+\|\s*", lines[i + 1])
        ):
            header = _cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            yield header, rows
        else:
            i += 1


def _table(path: Path, header: list[str]) -> list[list[str]]:
    found = [rows for head, rows in _tables(_read(path)) if head == header]
    assert len(found) == 1, f"{path.name}: expected one table headed {header}, found {len(found)}"
    assert found[0], f"{path.name}: the table headed {header} is empty"
    return found[0]


def _prose_lines(text: str) -> list[str]:
    """The lines of a page with fenced code blocks blanked (kept as empty lines)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else line)
    return out


def _code(text: str) -> list[str]:
    """Every line of every fenced code block, and every inline code span of the prose."""
    pieces, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            pieces.append(line)
    prose = "\n".join(_prose_lines(text))
    pieces += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", prose)]
    return pieces


def _fenced(text: str) -> list[tuple[str, str]]:
    """Every fenced code block of a page: (its language, its text)."""
    blocks: list[tuple[str, str]] = []
    language, body = None, []
    for line in text.splitlines():
        fence = re.match(r"\s*```(\w*)", line)
        if fence and language is None:
            language, body = fence.group(1), []
        elif fence:
            blocks.append((language, "\n".join(body) + "\n"))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


def _code_blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in _fenced(text) if lang == language]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces → hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    lines = _prose_lines(_read(path))
    anchors = {_slug(line.lstrip("#")) for line in lines if re.match(r"#{1,6} ", line)}
    return anchors | set(re.findall(r'<a id="([^"]+)"', "\n".join(lines)))


def _code_value(cell: str) -> str:
    """`x` → x; – (none) → ""."""
    if cell == "–":
        return ""
    match = re.fullmatch(r"`([^`]*)`", cell)
    assert match, f"expected a `value` or –, got {cell!r}"
    return match.group(1)


# -- (a) settings ------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A default as the docs and deploy/env.example write it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _env_example() -> dict[str, str]:
    values = {}
    for line in _read(ROOT / "deploy" / "env.example").splitlines():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def _settings_table() -> dict[str, str]:
    documented: dict[str, str] = {}
    for row in _table(DOCS / "settings.md", ["variable", "default", "meaning"]):
        name = _code_value(row[0])
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"one setting per row: {row[0]!r}"
        assert name not in documented, f"{name} is in the settings table twice"
        documented[name] = _code_value(row[1])
    return documented


def test_settings_table_is_every_setting_with_its_default() -> None:
    documented = _settings_table()
    fields = {name.upper(): field for name, field in Settings.model_fields.items()}
    env = _env_example()
    assert set(documented) == set(fields), (
        f"docs/settings.md misses {sorted(set(fields) - set(documented))} and names "
        f"{sorted(set(documented) - set(fields))}, which are not settings"
    )
    assert set(env) == set(fields), (
        f"deploy/env.example misses {sorted(set(fields) - set(env))} and sets "
        f"{sorted(set(env) - set(fields))}, which are not settings"
    )
    for name, field in fields.items():
        assert documented[name] == _shown(field.default), (
            f"docs/settings.md gives {name} the default {documented[name]!r}, "
            f"the settings class {_shown(field.default)!r}"
        )
        assert env[name] == documented[name], (
            f"deploy/env.example sets {name}={env[name]}, docs/settings.md's default is "
            f"{documented[name]!r}"
        )


def test_texts_table_names_real_texts_and_their_placeholders() -> None:
    rows = _table(DOCS / "settings.md", ["text", "placeholders"])
    for row in rows:
        names = re.findall(r"`([a-z][\w.]*)`", row[0].split("(")[0])
        shown = set(re.findall(r"\$(\w+)", row[1]))
        assert names, f"no text name in {row[0]!r}"
        for name in names:
            assert name in DEFAULT_TEXTS, f"docs/settings.md names an unknown text {name!r}"
            assert shown == set(PLACEHOLDERS.get(name, ())), (
                f"docs/settings.md gives {name} the placeholders {sorted(shown)}, "
                f"the code {sorted(PLACEHOLDERS.get(name, ()))}"
            )


def test_messages_file_example_loads(tmp_path: Path) -> None:
    text = _read(DOCS / "settings.md")
    examples = _code_blocks(text[text.index("## Texts") :], "json")
    assert examples, "docs/settings.md has no MESSAGES_PATH example"
    for example in examples:
        path = tmp_path / "messages.json"
        path.write_text(example, encoding="utf-8")
        texts = load_texts(path)
        for key, value in json.loads(example).items():
            assert texts.templates[key] == value


# -- (b) chat commands -------------------------------------------------------------------

CHAT_COMMANDS = DOCS / "chat-commands.zh.md"
ROLES = {"所有人": Role.ANYONE, "审核员": Role.MODERATOR}
WHERE = {"须指定群": True, "可不指定群": False}


def _registered() -> dict[str, CommandSpec]:
    return {spec.name: spec for spec in build_registry().specs}


def _command_name(usage: str) -> str:
    """`/words add 敏感词 [类别]` → "words add": the lower-case words after the slash."""
    words = usage.removeprefix("/").split()
    name = []
    for word in words:
        if not re.fullmatch(r"[a-z]+", word):
            break
        name.append(word)
    return " ".join(name)


def _resolve(text: str, registered: dict[str, CommandSpec]) -> str:
    """The registered command a written command line runs (after a `#group` argument)."""
    invocation = parse_command(text)
    assert invocation is not None, f"{text!r} is not a command"
    first, rest = split_first(invocation.args)
    if first.startswith(("#", "＃")):
        first, rest = split_first(rest)
    sub = f"{invocation.name} {first.lower()}"
    if first and sub in registered:
        return sub
    if invocation.name in registered:
        return invocation.name
    forms = [name for name in registered if name.startswith(invocation.name + " ")]
    assert forms and not first, f"{text!r}: /{invocation.name} is not a command"
    return invocation.name  # `/words` alone: the command with its subcommands


def test_chat_commands_page_is_the_registry() -> None:
    registered = _registered()
    header = ["用法", "谁可以用", "单聊中", "示例", "作用"]
    documented: dict[str, list[str]] = {}
    for row in _table(CHAT_COMMANDS, header):
        usage = _code_value(row[0])
        name = _command_name(usage)
        assert name not in documented, f"/{name} is in the table twice"
        documented[name] = row
    assert set(documented) == set(registered), (
        f"docs/chat-commands.zh.md misses {sorted(set(registered) - set(documented))} and "
        f"lists {sorted(set(documented) - set(registered))}, which are not registered"
    )
    for name, (usage, who, where, examples, _what) in documented.items():
        spec = registered[name]
        assert _code_value(usage) == DEFAULT_TEXTS[f"usage./{name}"], (
            f"/{name}: the page's usage {usage} is not what /help shows, "
            f"{DEFAULT_TEXTS[f'usage./{name}']!r}"
        )
        role = next((ROLES[word] for word in ROLES if who.startswith(word)), None)
        assert role == spec.role, f"/{name}: the page says {who!r}, the registry {spec.role!r}"
        assert WHERE.get(where) == spec.needs_group, (
            f"/{name}: the page says {where!r}, the registry needs_group={spec.needs_group}"
        )
        spans = re.findall(r"`([^`]+)`", examples)
        assert spans, f"/{name} has no example"
        for span in spans:
            assert _resolve(span, registered) == name, f"the example {span!r} is not /{name}"


def test_every_command_written_in_the_chat_page_is_registered() -> None:
    registered = _registered()
    written = [
        piece
        for piece in _code(_read(CHAT_COMMANDS))
        if re.match(r"(?:[@＠]\S+\s+)?[/／][a-z]+(?:\s|$)", piece)
    ]
    assert len(written) > len(registered), "expected the page to write its commands in code"
    for piece in written:
        _resolve(piece, registered)


# -- (c) the command line ----------------------------------------------------------------


def _command_lines() -> Iterator[tuple[str, list[str]]]:
    """(page, the words after `wecom-mod`) of every command line written in code."""
    for path in _guide():
        for piece in _code(_read(path)):
            for match in re.finditer(r"(?<![\w/.-])wecom-mod\s+(.*)", piece):
                words = []
                for word in match.group(1).split():
                    if word.startswith("#") or word in {"|", "&&", ";", "\\"}:
                        break
                    words.append(word)
                yield path.name, words


def test_every_wecom_mod_command_in_the_docs_exists() -> None:
    seen = set()
    for page, words in _command_lines():
        parser = _parser()
        chosen = []
        for word in words:
            choices = _subcommands(parser)
            if not choices or not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            assert word in choices, (
                f"{page}: `wecom-mod {' '.join([*chosen, word])}`: no such command "
                f"(there are {sorted(choices)})"
            )
            chosen.append(word)
            parser = choices[word]
        options = set(parser._option_string_actions)
        for word in words[len(chosen) :]:
            option = re.match(r"\[?(--?[a-z][a-z-]*)", word)
            if option:
                assert option.group(1) in options, (
                    f"{page}: `wecom-mod {' '.join(chosen)}` has no option {option.group(1)} "
                    f"(it has {sorted(options)})"
                )
        seen.add(" ".join(chosen))
    assert {"serve", "migrate", "check", "words import", "archive import"} <= seen


def _subcommands(parser: Any) -> dict[str, Any]:
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            return dict(action.choices)
    return {}


def test_python_modules_named_in_the_docs_exist() -> None:
    for path in _guide():
        for piece in _code(_read(path)):
            for module in re.findall(r"python\S* -m ([\w.]+)", piece):
                assert importlib.util.find_spec(module) is not None, (
                    f"{path.name}: `python -m {module}`: no such module"
                )


# -- policy ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _documented_default(cell: str) -> Any:
    raw = _code_value(cell)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def test_policy_tables_are_the_policy_keys_and_defaults() -> None:
    ladder = DOCS / "ladder.md"
    defaults = GroupPolicy().as_dict()
    tables = [
        rows for header, rows in _tables(_read(ladder)) if header == ["key", "default", "what"]
    ]
    assert len(tables) == 3, "docs/ladder.md: expected the policy, flood and promo tables"
    for rows, expected, where in (
        (tables[0], defaults, "policy"),
        (tables[1], defaults["flood"], "flood"),
        (tables[2], defaults["promo"], "promo"),
    ):
        documented = {_code_value(row[0]): row[1] for row in rows}
        assert set(documented) == set(expected), (
            f"docs/ladder.md {where}: misses {sorted(set(expected) - set(documented))}, "
            f"names {sorted(set(documented) - set(expected))}"
        )
        for key, cell in documented.items():
            if isinstance(expected[key], dict):
                assert cell == "", f"{where}.{key} is a table of its own"
                continue
            assert _documented_default(cell) == _plain(expected[key]), (
                f"docs/ladder.md gives {where}.{key} the default {cell}, the code {expected[key]!r}"
            )


def test_policy_example_loads() -> None:
    examples = _code_blocks(_read(DOCS / "ladder.md"), "json")
    assert examples
    for example in examples:
        GroupPolicy.from_mapping(json.loads(example))


# -- (d) links and paths -----------------------------------------------------------------


def test_relative_links_point_at_files() -> None:
    broken = []
    for path in _guide():
        prose = "\n".join(_prose_lines(_read(path)))
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_repository_paths_written_in_code_exist() -> None:
    pattern = (
        r"(?<![\w./-])((?:app|deploy|benchmarks|moderation|tests|scripts|migrations|bot)/[\w.*/-]*)"
    )
    for path in _guide():
        for piece in _code(_read(path)):
            for name in re.findall(pattern, piece):
                assert list(ROOT.glob(name.rstrip("/"))), f"{path.name}: {name} does not exist"


# -- (e) README --------------------------------------------------------------------------


def test_readme_is_short_and_points_into_docs() -> None:
    lines = _read(ROOT / "README.md").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    text = "\n".join(lines)
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "README.md":
            assert f"docs/{page.name}" in text, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("command", ["make run", "make test"])
def test_readme_quick_start_is_the_two_make_targets(command: str) -> None:
    text = _read(ROOT / "README.md")
    quick = text[text.index("## Quick start") :]
    block = _code_blocks(quick, "sh")[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == [
        "make run",
        "make test",
    ]
    target = command.split()[1]
    assert re.search(rf"^{target}:", _read(ROOT / "Makefile"), re.MULTILINE)


def test_check_example_is_what_the_command_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _read(DOCS / "cli.md")
    block = next(body for _, body in _fenced(text) if body.startswith("$ wecom-mod check"))
    command, *expected = block.strip().splitlines()
    args = [arg.strip('"') for arg in re.findall(r'"[^"]*"|\S+', command)][2:]
    monkeypatch.chdir(ROOT)  # the example names deploy/lexicon.example.txt
    assert main(args) == 1
    assert capsys.readouterr().out.splitlines() == expected
