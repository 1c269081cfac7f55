"""The catalogue of bad and hostile inputs (tests/bad_inputs/), and generated extreme cases."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Tree

CATALOGUE = Path(__file__).parent / "bad_inputs"
DECK_TOML = 'name = "Hostile"\nlevels = ["basic", "advanced"]\n'
UPDATE = os.environ.get("CARDSMITH_UPDATE_EXPECTED") == "1"


def cases() -> list[tuple[str, Path, Path]]:
    """(name, input file or folder, expected file) for every case of the catalogue."""
    found = []
    for entry in sorted(CATALOGUE.iterdir()):
        if entry.is_dir():
            found.append((entry.name, entry, entry / "expected.txt"))
        elif entry.suffix == ".md" and entry.name != "README.md":
            found.append((entry.stem, entry, entry.with_suffix(".expected")))
    return found


def diagnostics(stderr: str, deck: Path) -> list[str]:
    """Diagnostic lines with paths made relative to the case's deck folder."""
    prefix = f"{deck}{os.sep}"
    return [
        line.replace(prefix, "")
        for line in stderr.splitlines()
        if ": error: " in line or ": warning: " in line
    ]


@pytest.mark.parametrize(("name", "source", "expected"), cases(), ids=[c[0] for c in cases()])
def test_catalogue_case(
    name: str, source: Path, expected: Path, cli: Callable[..., object], tmp_path: Path
) -> None:
    deck = tmp_path / "deck"
    if source.is_dir():
        shutil.copytree(source, deck, ignore=shutil.ignore_patterns("expected.txt"))
    else:
        deck.mkdir()
        shutil.copy(source, deck / source.name)
    if not (deck / "deck.toml").exists():
        (deck / "deck.toml").write_text(DECK_TOML, encoding="utf-8")

    result = cli("check", deck)
    stderr: str = result.stderr  # type: ignore[attr-defined]
    got = diagnostics(stderr, deck)
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    if UPDATE:
        expected.write_text("".join(f"{line}\n" for line in got), encoding="utf-8")
    want = expected.read_text(encoding="utf-8").splitlines()
    assert got == want
    has_errors = any(": error: " in line for line in want)
    assert result.exit_code == (1 if has_errors else 0)  # type: ignore[attr-defined]

    out = tmp_path / "out"
    built = cli("build", deck, "--out", out)
    assert built.exit_code == (1 if has_errors else 0)  # type: ignore[attr-defined]
    packages = sorted(p.name for p in out.glob("*.apkg")) if out.exists() else []
    assert bool(packages) is not has_errors  # a failed build writes nothing


def test_catalogue_is_complete() -> None:
    """Every case has its expected output beside it."""
    names = {name for name, _, expected in cases() if expected.exists()}
    assert len(names) == len(cases()) >= 20


def _deck(tree: Callable[[Tree], Path], body: str) -> Path:
    return tree({"deck.toml": DECK_TOML, "t.md": f"---\nlevel: basic\n---\n{body}"})


@pytest.mark.slow
def test_ten_thousand_cards_in_one_file(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    body = "".join(f"## Question {i}? {{#q{i}}}\n\nAnswer {i}.\n\n" for i in range(10_000))
    root = _deck(tree, body)
    result = cli("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "wrote" in result.stdout and "(10000 notes, 10000 cards)" in result.stdout  # type: ignore[attr-defined]


@pytest.mark.slow
def test_one_megabyte_code_block(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    code = "".join(f"value_{i} = {i} * 2  # line {i}\n" for i in range(40_000))
    assert len(code) > 1_000_000
    root = _deck(tree, f"## Big code? {{#big}}\n\n```python\n{code}```\n")
    result = cli("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]


def test_symlink_pointing_outside_is_refused(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes((CATALOGUE / "media-case-names" / "pic.png").read_bytes())
    root = _deck(tree, "## Q? {#q}\n\n![sneaky](img/link.png)\n")
    (root / "img").mkdir()
    (root / "img" / "link.png").symlink_to(secret)
    result = cli("check", root)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert (
        f"{root / 't.md'}:6: error: image outside the deck folder: img/link.png (refused)"
        in result.stderr  # type: ignore[attr-defined]
    )


@pytest.mark.slow
def test_five_megabyte_hostile_file_checks_quickly(tmp_path: Path) -> None:
    """No hang: 5 MB of Markdown syntax soup is checked in well under 10 s (not a benchmark)."""
    import random

    pieces = [
        "# ", "## ", "### ", "```", "```python", "~~~", "{#", "}", "{#a}", "{.reverse}",
        "{{c1::", "}}", "::", "$", "$$", "\\(", "\\)", "\\[", "\\]", "![x](", "img.png)",
        "<script>alert(1)</script>", "<b>", "|a|b|\n|-|-|\n", "- ", "1. ", "    ", "\n",
        "\n\n", "\r\n", "\t", "é", "\U0001d518", "`", "**", "_", "\\", "<", "&", "word ",
        "[l](http://x) ", "&amp;",
    ]  # fmt: skip
    rng = random.Random(5)
    chunks: list[str] = []
    size = 0
    while size < 5_000_000:
        piece = rng.choice(pieces)
        chunks.append(piece)
        size += len(piece.encode())
    deck = tmp_path / "deck"
    deck.mkdir()
    (deck / "deck.toml").write_text(DECK_TOML, encoding="utf-8")
    (deck / "soup.md").write_text("---\nlevel: basic\n---\n" + "".join(chunks), encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cardsmith", "check", str(deck)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode in (0, 1)
    assert "Traceback" not in done.stderr
    assert elapsed < 10, f"checking 5 MB took {elapsed:.1f} s"
