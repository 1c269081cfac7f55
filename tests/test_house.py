"""Behaviour that came with the pipeline's stage modules: the cache key, output folders,
package names, the Source link, messages that stay one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import cardsmith
from cardsmith.apkg import read_package

from .conftest import SAMPLE_TOML, Tree

CARD = "---\nlevel: basic\n---\n## What is 1 + 1? {#one}\n\nTwo.\n"


def _build_with_copy(package: Path, src: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """`cardsmith build` run from a copy of the package (so the test may edit its code)."""
    env = {**os.environ, "PYTHONPATH": str(package.parent), "SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run(
        [sys.executable, "-m", "cardsmith", "build", str(src), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_change_to_any_module_misses_the_cache(
    tmp_path: Path, tree: Callable[[Tree], Path]
) -> None:
    """Rendering code moved to a module the cache never heard of still invalidates it."""
    package = Path(
        shutil.copytree(Path(cardsmith.__file__).parent, tmp_path / "copy" / "cardsmith")
    )
    src = tree({"deck.toml": SAMPLE_TOML, "t.md": CARD})
    out = tmp_path / "out"
    first = _build_with_copy(package, src, out)
    assert first.returncode == 0, first.stderr
    # The same build again is served from the cache ...
    again = _build_with_copy(package, src, out)
    assert "unchanged" in again.stdout, again.stdout
    # ... until the code that shapes a card's HTML changes, in any module.
    module = package / "render_all.py"
    code = module.read_text()
    assert "                done.front,\n" in code
    module.write_text(
        code.replace(
            "                done.front,\n", '                done.front + "<b>new</b>",\n'
        )
    )
    changed = _build_with_copy(package, src, out)
    assert changed.returncode == 0, changed.stderr
    assert "the build cache was stale" in changed.stdout
    cards = read_package((out / "sample-deck.apkg").read_bytes()).cards
    assert dict(cards[0].fields)["Front"].endswith("<b>new</b>")


def test_a_folder_named_build_inside_a_deck_is_read(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    """Only the build's own output folder is skipped, not every folder called `build`."""
    root = tree({"deck.toml": SAMPLE_TOML, "build/t.md": CARD})
    result = cli("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "(1 note, 1 card)" in result.stdout  # type: ignore[attr-defined]


def test_the_output_folder_inside_the_deck_is_not_read(
    cli: Callable[..., object], tree: Callable[[Tree], Path]
) -> None:
    """Building into a folder inside the deck twice reads no Markdown from the output."""
    root = tree(
        {
            "deck.toml": SAMPLE_TOML,
            "t.md": CARD,
            "out/notes.md": "---\nlevel: basic\n---\n## stray\n\nx\n",
        }
    )
    result = cli("check", root)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "2 notes" in result.stdout  # type: ignore[attr-defined]
    built = cli("build", root, "--out", root / "out")
    assert built.exit_code == 0, built.output  # type: ignore[attr-defined]
    assert "(1 note, 1 card)" in built.stdout  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("first", "second"),
    [("C Interview", "C++ Interview"), ("Foo Bar", "foo-bar"), ("Deck", "deck"), ("Ünï", "ünï")],
)
def test_decks_whose_packages_would_clash_are_an_error(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    tmp_path: Path,
    first: str,
    second: str,
) -> None:
    """Two decks never silently overwrite each other's packages; `slug` settles it."""
    one = f'name = "{first}"\nlevels = ["basic"]\n'
    two = f'name = "{second}"\nlevels = ["basic"]\n'
    root = tree({"a/deck.toml": one, "a/t.md": CARD, "b/deck.toml": two, "b/t.md": CARD})
    out = tmp_path / "out"
    result = cli("build", root, "--out", out)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"{root / 'b' / 'deck.toml'}:1: error: package " in result.stderr  # type: ignore[attr-defined]
    assert "slug" in result.stderr  # type: ignore[attr-defined]
    assert not out.exists() or not list(out.glob("*.apkg"))
    (root / "b" / "deck.toml").write_text(two + 'slug = "second"\n')
    fixed = cli("build", root, "--out", out)
    assert fixed.exit_code == 0, fixed.output  # type: ignore[attr-defined]
    assert len(list(out.glob("*.apkg"))) == 4


@pytest.mark.parametrize("level", ["../up", "a/b", "..", "x/../../y", "a\\\\b"])
def test_level_names_never_become_paths(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path, level: str
) -> None:
    toml = f'name = "Deck"\nlevels = ["{level}"]\ndefault_level = "{level}"\n'
    root = tree({"deck.toml": toml, "t.md": "## Q\n\nA.\n"})
    out = tmp_path / "deep" / "out"
    result = cli("build", root, "--out", out)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.apkg")}
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert len(written) == 2
    assert all(name.startswith("deep/out/") and name.count("/") == 2 for name in written), written


def test_source_url_links_each_card_to_its_line(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    toml = SAMPLE_TOML + 'source_url = "https://example.org/blob/main/{path}#L{line}"\n'
    root = tree({"deck.toml": toml, "my notes/<b>x</b>.md": CARD})
    assert cli("build", root, "--out", tmp_path / "out").exit_code == 0  # type: ignore[attr-defined]
    card = read_package((tmp_path / "out" / "sample-deck.apkg").read_bytes()).cards[0]
    assert dict(card.fields)["Source"] == (
        '<a href="https://example.org/blob/main/my%20notes/%3Cb%3Ex%3C/b%3E.md#L4">'
        "my notes/&lt;b&gt;x&lt;/b&gt;.md#one</a>"
    )


@pytest.mark.parametrize(
    "bad", ["javascript:alert(1)//{path}", "https://x.org/", 'https://x/{path}"']
)
def test_source_url_must_be_an_http_link_with_a_path(
    cli: Callable[..., object], tree: Callable[[Tree], Path], bad: str
) -> None:
    root = tree({"deck.toml": SAMPLE_TOML + f"source_url = '{bad}'\n", "t.md": CARD})
    result = cli("check", root)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"{root / 'deck.toml'}:5: error: 'source_url' must be" in result.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize("breaker", ["\u2028", "\u2029", "\x85"])
def test_every_message_is_one_line(
    cli: Callable[..., object], tree: Callable[[Tree], Path], breaker: str
) -> None:
    """A question holding a line separator cannot split (or forge) an error line."""
    body = f"---\nlevel: basic\n---\n## Empty{breaker}answer\n\n## Other\n\nB.\n"
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": body})
    result = cli("check", root)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{root / 't.md'}:4: error: question has an empty answer: Empty")


def test_ids_write_keeps_markers_in_one_attribute_block(
    cli: Callable[..., object], tree: Callable[[Tree], Path]
) -> None:
    """`{.reverse}` stays a marker after ids --write, so the card stays two-way."""
    root = tree(
        {"deck.toml": SAMPLE_TOML, "t.md": "---\nlevel: basic\n---\n## Ping {.reverse}\n\nPong.\n"}
    )
    assert cli("ids", root, "--write").exit_code == 0  # type: ignore[attr-defined]
    text = (root / "t.md").read_text()
    assert "## Ping {#ping .reverse}\n" in text
    checked = cli("check", root)
    assert "1 note, 2 cards" in checked.stdout  # type: ignore[attr-defined]
