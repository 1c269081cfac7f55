"""docs/cli.md documents the CLI as it is (in the manner of sqlite-utils' test_docs.py):
every command has a section and help text, every option is named in its command's section,
and every option a section names exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from cardsmith.cli import app

CLI_MD = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
GROUP: Any = typer.main.get_command(app)  # a Click group (Typer vendors its own Click)
COMMANDS = sorted(GROUP.commands)
OPTIONS = [
    (name, opt)
    for name in COMMANDS
    for param in GROUP.commands[name].params
    if param.param_type_name == "option"
    for opt in [*param.opts, *param.secondary_opts]
]


def sections() -> dict[str, str]:
    """The text of each `## cardsmith COMMAND ...` section of docs/cli.md, by command."""
    text = CLI_MD.read_text(encoding="utf-8")
    parts = re.split(r"^## cardsmith (\S+)", text, flags=re.MULTILINE)
    return {parts[n]: parts[n + 1].split("\n## ")[0] for n in range(1, len(parts), 2)}


def heading_options(section: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", section.split("\n", 1)[0]))


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_are_documented(command: str) -> None:
    assert command in sections()


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_and_their_options_have_help(command: str) -> None:
    assert GROUP.commands[command].help
    for param in GROUP.commands[command].params:
        assert getattr(param, "help", None), f"{command} {param.name}"


@pytest.mark.parametrize(("command", "option"), OPTIONS, ids=[f"{c} {o}" for c, o in OPTIONS])
def test_options_are_documented(command: str, option: str) -> None:
    """Named in the heading of the command's section: `## cardsmith build ... [--out DIR]`."""
    assert option in heading_options(sections()[command])


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_options_exist(command: str) -> None:
    options = {opt for cmd, opt in OPTIONS if cmd == command}
    assert heading_options(sections()[command]) <= options


def test_top_level_options_are_documented() -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    assert GROUP.help
    for param in GROUP.params:
        for opt in param.opts:
            assert f"## cardsmith {opt}" in text, opt
