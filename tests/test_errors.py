"""Every content problem is reported as `path:line: error: message`, exit 1, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import SAMPLE_TOML, Tree

GOOD = """\
---
level: basic
---
## A question? {#q1}

An answer.
"""

# (files, the file reported, line, message fragment)
CASES: dict[str, tuple[Tree, str, int, str]] = {
    "invalid yaml front matter": (
        {"t.md": "---\nlevel: basic\ntags: [a, b\n---\n## Q?\n\nA.\n"},
        "t.md",
        3,
        "invalid YAML front matter",
    ),
    "front matter is a list": (
        {"t.md": "---\n- a\n- b\n---\n## Q?\n\nA.\n"},
        "t.md",
        2,
        "front matter must be a mapping",
    ),
    "unknown level": (
        {"t.md": "---\nlevel: expert\n---\n## Q?\n\nA.\n"},
        "t.md",
        2,
        "unknown level 'expert'",
    ),
    "missing level": (
        {"t.md": "## Q?\n\nA.\n"},
        "t.md",
        1,
        "no level",
    ),
    "empty answer": (
        {"t.md": "---\nlevel: basic\n---\n## Q one?\n\n## Q two?\n\nA.\n"},
        "t.md",
        4,
        "empty answer",
    ),
    "duplicate id across files": (
        {"a.md": GOOD, "b.md": GOOD.replace("A question?", "Another question?")},
        "b.md",
        4,
        "duplicate id 'q1'",
    ),
    "duplicate question": (
        {"a.md": GOOD, "b.md": GOOD.replace("{#q1}", "{#q2}").replace("A question", "a  QUESTION")},
        "b.md",
        4,
        "duplicate question",
    ),
    "image not found": (
        {"t.md": GOOD + "\nSee:\n\n![x](img/missing.png)\n"},
        "t.md",
        10,
        "image not found: img/missing.png",
    ),
    "file not utf-8": (
        {"t.md": b"---\nlevel: basic\n---\n## Q?\n\nA caf\xe9.\n"},
        "t.md",
        6,
        "not valid UTF-8",
    ),
    "invalid deck.toml": (
        {"deck.toml": 'name = "X"\nlevels = ["a"\n'},
        "deck.toml",
        2,
        "invalid TOML",
    ),
    "deck.toml without levels": (
        {"deck.toml": 'name = "X"\n'},
        "deck.toml",
        1,
        "needs 'levels'",
    ),
    "no cards found": (
        {"t.md": "---\nlevel: basic\n---\n# Only a title\n"},
        "deck.toml",
        1,
        "no cards found",
    ),
    "id with spaces": (
        {"t.md": "---\nlevel: basic\n---\n## Q? {#has space}\n\nA.\n"},
        "t.md",
        4,
        "invalid id",
    ),
    "heading that is only an id": (
        {"t.md": "---\nlevel: basic\n---\n## {#lonely}\n\nA.\n"},
        "t.md",
        4,
        "no question text",
    ),
    "default_level not a level": (
        {"deck.toml": SAMPLE_TOML + 'default_level = "expert"\n', "t.md": GOOD},
        "deck.toml",
        5,
        "default_level 'expert' is not in 'levels'",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["check", "build"])
def test_content_error_reported_with_location(
    case: str,
    command: str,
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    tmp_path: Path,
) -> None:
    files, reported, line, fragment = CASES[case]
    root = tree({"deck.toml": SAMPLE_TOML, **files})
    out = tmp_path / "out"
    args = ["build", root, "--out", out] if command == "build" else ["check", root]
    result = cli(*args)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    expected = f"{root / reported}:{line}: error: "
    lines = [ln for ln in stderr.splitlines() if ln.startswith(expected)]
    assert lines, stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert not out.exists()


def test_all_problems_reported_in_one_run(
    cli: Callable[..., object], tree: Callable[[Tree], Path]
) -> None:
    root = tree(
        {
            "deck.toml": SAMPLE_TOML,
            "a.md": "---\nlevel: nope\n---\n## Q?\n\nA.\n",
            "b.md": "---\nlevel: basic\n---\n## Empty?\n",
            "c.md": b"\xff\xfe",
        }
    )
    result = cli("check", root)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    errors = [ln for ln in result.stderr.splitlines() if ": error: " in ln]  # type: ignore[attr-defined]
    assert len(errors) == 3


def test_missing_deck_toml(cli: Callable[..., object], tree: Callable[[Tree], Path]) -> None:
    root = tree({"t.md": GOOD})
    result = cli("check", root)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"{root / 'deck.toml'}:1: error: no deck.toml found" in result.stderr  # type: ignore[attr-defined]


def test_missing_path(cli: Callable[..., object], tmp_path: Path) -> None:
    result = cli("check", tmp_path / "nowhere")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"{tmp_path / 'nowhere'}:1: error: no such file or folder" in result.stderr  # type: ignore[attr-defined]


def test_warnings_fail_only_with_strict(
    cli: Callable[..., object], tree: Callable[[Tree], Path]
) -> None:
    root = tree(
        {
            "deck.toml": SAMPLE_TOML,
            "t.md": GOOD.replace("level: basic", "level: basic\ncolour: red"),
        }
    )
    relaxed = cli("check", root)
    assert relaxed.exit_code == 0  # type: ignore[attr-defined]
    assert f"{root / 't.md'}:3: warning: unknown front matter key 'colour'" in relaxed.stderr  # type: ignore[attr-defined]
    strict = cli("check", "--strict", root)
    assert strict.exit_code == 1  # type: ignore[attr-defined]


def test_failed_build_leaves_earlier_outputs_untouched(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": GOOD})
    out = tmp_path / "out"
    assert cli("build", root, "--out", out).exit_code == 0  # type: ignore[attr-defined]
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (root / "t.md").write_text(GOOD + "\n## Broken?\n", encoding="utf-8")
    assert cli("build", root, "--out", out).exit_code == 1  # type: ignore[attr-defined]
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_out_that_is_a_file_is_a_usage_error(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": GOOD})
    (tmp_path / "taken").write_text("not a folder")
    result = cli("build", root, "--out", tmp_path / "taken")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "Invalid value for '--out'" in result.output  # type: ignore[attr-defined]


def test_disk_failure_is_one_line_not_a_traceback(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cardsmith import output

    def full(path: Path, data: object) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(output, "write_temp", full)
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": GOOD})
    result = cli("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert result.stderr.strip() == (  # type: ignore[attr-defined]
        f"cardsmith: error: cannot write {tmp_path / 'out' / 'sample-deck.apkg'}: "
        "No space left on device"
    )


def test_a_file_that_is_not_a_deck(cli: Callable[..., object], tmp_path: Path) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    result = cli("check", stray)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"{stray}:1: error: not a deck" in result.stderr  # type: ignore[attr-defined]


def test_a_hidden_markdown_file_is_named_not_silently_skipped(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": GOOD, ".draft.md": GOOD})
    result = cli("check", root)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert f"{root / '.draft.md'}:1: warning: hidden file" in result.stderr  # type: ignore[attr-defined]
