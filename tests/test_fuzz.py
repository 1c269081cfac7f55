"""Property tests: whatever the Markdown, front matter or deck.toml, check and build either
succeed or print `path:line: error:` lines and exit 1. Never a traceback, never a partial .apkg.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cardsmith.cache import CACHE_DIR
from cardsmith.cli import app

DIAGNOSTIC = re.compile(r"^.+:\d+: (error|warning): .+$")
SUMMARY = re.compile(r"^failed: \d+ error\(s\), \d+ warning\(s\); nothing written$")

MARKDOWN_PIECES = [
    "# ", "## ", "### ", "\n", "\n\n", "\r\n", "\r", "\t", "    ", "```", "```python",
    "```python no-run", "~~~", "{#", "}", "{#a}", "{#b .reverse}", "{.reverse}", "{{c1::",
    "{{c2::x::hint}}", "}}", "::", "$", "$$", "\\(", "\\)", "\\[", "\\]", "![x](", "img.png)",
    "![r](https://example.org/a.png)", "](../../etc/passwd)", "<script>alert(1)</script>",
    "<b>", "</b>", "<p onclick=x>", "|a|b|\n|-|-|\n", "- ", "1. ", "> ", "`", "**", "_",
    "\\", "<", "&", "&amp;", "word ", "[l](javascript:alert(1)) ", "\ufeff", "\x00", "é",
    "\U0001d518", "\u202e", "---\n", "level: basic\n", "level: nope\n", "tags: [a b]\n",
    "reverse: true\n", "topic: T\n",
]  # fmt: skip
FRONT_PIECES = [
    "level: basic\n", "level: advanced\n", "level: [\n", "level: 3\n", "topic: x\n",
    "topic: \n", "tags: [a, b]\n", "tags: a\n", "tags: [a b]\n", "reverse: yes\n",
    "reverse: true\n", "- item\n", "key: {\n", "\t", ":", "'", '"', "é", "\x00",
]  # fmt: skip
TOML_PIECES = [
    'name = "Fuzz"\n', 'name = ""\n', 'name = "A::B"\n', "name = 3\n",
    'levels = ["basic", "advanced"]\n', "levels = []\n", 'levels = ["a b"]\n',
    'levels = ["basic", "basic"]\n', 'default_level = "basic"\n', 'default_level = "x"\n',
    'tags = ["t"]\n', 'tags = ["a b"]\n', 'description = "d"\n', 'id = "k"\n', "[table]\n",
    "= broken\n", '"', "\n", "é",
]  # fmt: skip

markdown_text = st.lists(
    st.one_of(st.sampled_from(MARKDOWN_PIECES), st.text(max_size=6)), max_size=40
).map("".join)
front_matter = st.one_of(
    st.none(),
    st.lists(st.one_of(st.sampled_from(FRONT_PIECES), st.text(max_size=4)), max_size=6).map(
        "".join
    ),
)
deck_toml = st.one_of(
    st.just('name = "Fuzz"\nlevels = ["basic", "advanced"]\n'),
    st.just('name = "Fuzz"\nlevels = ["basic", "advanced"]\ndefault_level = "advanced"\n'),
    st.lists(st.sampled_from(TOML_PIECES), max_size=8).map("".join),
)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])

FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _write(root: Path, toml: str, files: list[tuple[str | None, str, str]]) -> None:
    root.mkdir(parents=True)
    (root / "deck.toml").write_text(toml, encoding="utf-8")
    for n, (front, body, encoding) in enumerate(files):
        text = body if front is None else f"---\n{front}---\n{body}"
        (root / f"f{n}.md").write_bytes(text.encode(encoding, errors="replace"))


def _assert_clean_outcome(args: list[str], out: Path | None) -> None:
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    event(f"{args[0]} exit {result.exit_code}")
    for line in result.stderr.splitlines():
        assert DIAGNOSTIC.match(line) or SUMMARY.match(line), line
    if out is None:
        return
    packages = list(out.glob("*.apkg")) if out.exists() else []
    if result.exit_code == 1:
        assert not packages, "a failed build wrote packages"
        assert ": error: " in result.stderr
    else:
        assert packages
        for package in packages:
            with zipfile.ZipFile(package) as archive:
                assert archive.testzip() is None
                assert "collection.anki2" in archive.namelist()
    leftovers = (
        [p for p in out.iterdir() if not p.name.endswith(".apkg") and p.name != CACHE_DIR]
        if out.exists()
        else []
    )
    assert not leftovers, leftovers


@FUZZ_SETTINGS
@given(
    toml=deck_toml,
    files=st.lists(st.tuples(front_matter, markdown_text, encodings), min_size=1, max_size=3),
)
def test_check_and_build_never_crash(toml: str, files: list[tuple[str | None, str, str]]) -> None:
    work = Path(tempfile.mkdtemp(prefix="cardsmith-fuzz-"))
    try:
        deck = work / "deck"
        _write(deck, toml, files)
        _assert_clean_outcome(["check", str(deck)], None)
        _assert_clean_outcome(["build", str(deck), "--out", str(work / "out")], work / "out")
    finally:
        shutil.rmtree(work)


@FUZZ_SETTINGS
@given(body=markdown_text)
def test_valid_decks_with_any_answer_build(body: str) -> None:
    """A well-formed card whose answer is syntax soup either builds or reports errors."""
    work = Path(tempfile.mkdtemp(prefix="cardsmith-fuzz-"))
    try:
        deck = work / "deck"
        _write(
            deck,
            'name = "Fuzz"\nlevels = ["basic"]\n',
            [("level: basic\n", f"## Question? {{#q}}\n\nAnswer.\n\n{body}", "utf-8")],
        )
        _assert_clean_outcome(["build", str(deck), "--out", str(work / "out")], work / "out")
    finally:
        shutil.rmtree(work)
