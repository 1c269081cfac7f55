"""The commands a user types: help, version, stats, ids, and the default paths."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer.main

from cardsmith import __version__
from cardsmith.cli import app

from .conftest import SAMPLE_TOML, Tree

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_the_commands() -> None:
    """Each has help text and a section in docs/cli.md: see test_docs.py."""
    assert COMMANDS == ["build", "check", "ids", "import", "preview", "push", "stats", "verify"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_runs(command: str, cli: Callable[..., object]) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "Usage:" in result.output  # type: ignore[attr-defined]


def test_version(cli: Callable[..., object]) -> None:
    result = cli("--version")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert result.output.strip() == f"cardsmith {__version__}"  # type: ignore[attr-defined]


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cardsmith", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("cardsmith ")


def test_unknown_option_is_a_usage_error(cli: Callable[..., object]) -> None:
    result = cli("build", "--no-such-option")
    assert result.exit_code == 2  # type: ignore[attr-defined]


STATS_TREE: Tree = {
    "deck.toml": SAMPLE_TOML,
    "a.md": "---\nlevel: basic\ntopic: Alpha\n---\n## A1?\n\nx\n\n## A2?\n\ny\n",
    "b.md": "---\nlevel: advanced\n---\n# Beta\n\n## B1?\n\nz\n",
}


def test_stats_counts_per_deck_level_topic(
    cli: Callable[..., object], tree: Callable[[Tree], Path]
) -> None:
    root = tree(STATS_TREE)
    result = cli("stats", root)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    rows = [line.split() for line in result.stdout.splitlines()]  # type: ignore[attr-defined]
    assert ["Sample", "Deck", "basic", "Alpha", "2"] in rows
    assert ["Sample", "Deck", "advanced", "Beta", "1"] in rows
    assert "Sample Deck: 3 notes" in result.stdout  # type: ignore[attr-defined]


def test_ids_write_adds_unique_ids_and_changes_nothing_else(
    cli: Callable[..., object], tree: Callable[[Tree], Path]
) -> None:
    source = (
        "---\r\nlevel: basic\r\n---\r\n"
        "## What is a closure?\r\n\r\nA function.\r\n\r\n"
        "## What is a closure ? ##\r\n\r\nAgain, differently.\r\n\r\n"
        "## Kept {#what-is-a-closure}\r\n\r\nAlready has one.\r\n"
        "```md\r\n## not a card\r\n```\r\n"
    )
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": source.encode()})
    dry = cli("ids", root)
    assert dry.exit_code == 0  # type: ignore[attr-defined]
    assert (root / "t.md").read_bytes() == source.encode()
    assert "2 card(s) without an id" in dry.stdout  # type: ignore[attr-defined]

    result = cli("ids", root, "--write")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    expected = source.replace(
        "## What is a closure?\r\n", "## What is a closure? {#what-is-a-closure-2}\r\n"
    ).replace("## What is a closure ? ##\r\n", "## What is a closure ? {#what-is-a-closure-3}\r\n")
    assert (root / "t.md").read_bytes() == expected.encode()
    again = cli("ids", root)
    assert "every card has an id" in again.stdout  # type: ignore[attr-defined]
    assert cli("check", root).exit_code == 0  # type: ignore[attr-defined]


def test_default_paths_are_content_and_build(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import write_tree

    write_tree(tmp_path, {f"content/deck/{k}": v for k, v in STATS_TREE.items()})
    monkeypatch.chdir(tmp_path)
    result = cli("build")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (tmp_path / "build" / "sample-deck.apkg").is_file()
    assert (tmp_path / "build" / "sample-deck-basic.apkg").is_file()
    # no package for a level without cards
    assert not (tmp_path / "build" / "sample-deck-intermediate.apkg").exists()
