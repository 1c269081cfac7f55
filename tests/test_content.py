"""The shipped Python interview deck: clean, atomic, and every code example really runs."""

from __future__ import annotations

import doctest
import functools
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path

import pytest

from cardsmith.load import load
from cardsmith.model import CLOZE_RE, Card, CodeBlock
from cardsmith.notes import subdeck_names

CONTENT = Path(__file__).parent.parent / "content"
DECK = CONTENT / "python-interview"
DECKS, REPORT = load([CONTENT])
BLOCKS = [
    block
    for deck in DECKS
    for f in deck.files
    for card in f.cards
    for block in card.code_blocks
    if block.language in ("python", "pycon")
]
CLAIM_RE = re.compile(r"^#\s*(?:Output:|->)\s?(.*)$")
MIN_RE = re.compile(r"^min=(\d+)\.(\d+)$")
Version = tuple[int, int]


def block_id(block: CodeBlock) -> str:
    return f"{block.path.relative_to(CONTENT)}:{block.line}"


def claimed_output(code: str) -> list[str] | None:
    """The output a block claims in `# Output: ...` / `# -> ...` comments, or None."""
    claims = []
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            match = CLAIM_RE.match(token.string)
            if match:
                claims.append(match[1])
    return claims or None


def output_matches(stdout: str, claims: list[str]) -> bool:
    """One claim per printed line, compared without surrounding whitespace."""
    printed = [line.strip() for line in stdout.rstrip("\n").split("\n")]
    return printed == [claim.strip() for claim in claims]


def required_version(block: CodeBlock) -> Version | None:
    """The oldest Python a block needs, from its `min=3.14` fence directive, or None."""
    for flag in block.flags:
        if flag.startswith("min="):
            match = MIN_RE.match(flag)
            assert match, f"{block.path}:{block.line}: bad directive {flag!r}, write e.g. min=3.14"
            return int(match[1]), int(match[2])
    return None


def interpreter_version(executable: str) -> Version | None:
    """The version an interpreter reports, or None if it does not run (e.g. a dead shim)."""
    try:
        done = subprocess.run(
            [executable, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    words = done.stdout.split()
    if done.returncode != 0 or len(words) != 2 or not all(w.isdigit() for w in words):
        return None
    return int(words[0]), int(words[1])


@functools.cache
def interpreter_for(version: Version) -> str | None:
    """This interpreter if new enough, else a working `python3.N` on PATH that is, else None."""
    if sys.version_info[:2] >= version:
        return sys.executable
    # pyenv's shims run only the versions that are switched on; its installs run as they are.
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in range(version[1], version[1] + 10):
        name = f"python{version[0]}.{minor}"
        candidates = [shutil.which(name), *map(str, sorted(pyenv.glob(f"*/bin/{name}")))]
        for executable in filter(None, candidates):
            found = interpreter_version(executable)
            if found is not None and found >= version:
                return executable
    return None


def run_script(
    code: str, cwd: Path, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    script = cwd / "snippet.py"
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        [python, "-I", script.name],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def anki_cards(card: Card) -> int:
    """How many Anki cards a note makes: one per cloze number, two for reversed, else one."""
    if card.kind == "cloze":
        return len({match["n"] for match in CLOZE_RE.finditer(card.answer)})
    return 2 if card.reverse else 1


def test_deck_checks_clean_under_strict(cli: Callable[..., object]) -> None:
    result = cli("check", "--strict", CONTENT)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert not REPORT.items


def test_deck_shape() -> None:
    """Three levels, >= 120 cards, front matter on every file, an explicit id on every card."""
    (deck,) = [d for d in DECKS if d.config.toml_path.parent == DECK]
    assert deck.config.name == "Python Interview"
    assert deck.config.levels == ("basic", "intermediate", "advanced")
    assert deck.card_count >= 120
    for topic_file in deck.files:
        text = topic_file.path.read_text(encoding="utf-8")
        front = text.split("---")[1]
        for key in ("level:", "topic:", "tags:"):
            assert key in front, f"{topic_file.path}: front matter lacks {key}"
        for card in topic_file.cards:
            assert card.explicit_id, f"{card.path}:{card.line}: card without an explicit id"
            assert len(card.code_blocks) <= 1, f"{card.path}:{card.line}: more than one example"
    levels = {f.level for f in deck.files}
    assert levels == set(deck.config.levels)


def test_few_blocks_are_not_run() -> None:
    """Blocks marked no-run stay under 10 % of the Python blocks."""
    skipped = [b for b in BLOCKS if "no-run" in b.flags]
    print(f"{len(BLOCKS)} python/pycon blocks, {len(skipped)} marked no-run")
    assert len(BLOCKS) >= 50
    assert len(skipped) < 0.10 * len(BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_code_block_runs_and_prints_what_it_claims(block: CodeBlock, tmp_path: Path) -> None:
    if "no-run" in block.flags:
        pytest.skip("marked no-run (needs a package, the network or input)")
    where = block_id(block)
    python = sys.executable
    needed = required_version(block)
    if needed is not None:
        found = interpreter_for(needed)
        if found is None:
            pytest.skip(f"needs Python {needed[0]}.{needed[1]}+; none found on PATH")
        python = found
    if block.language == "pycon" and python != sys.executable:
        path = tmp_path / "session.txt"
        path.write_text(block.code, encoding="utf-8")
        done = subprocess.run(
            [python, "-m", "doctest", "-o", "NORMALIZE_WHITESPACE", path.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{where} ({python}):\n{done.stdout}{done.stderr}"
        return
    if block.language == "pycon":
        path = tmp_path / "session.txt"
        path.write_text(block.code, encoding="utf-8")
        out = io.StringIO()
        saved = sys.stdout
        sys.stdout = out
        try:
            result = doctest.testfile(
                str(path),
                module_relative=False,
                optionflags=doctest.NORMALIZE_WHITESPACE,
                verbose=False,
            )
        finally:
            sys.stdout = saved
        assert result.attempted > 0, f"{where}: pycon block without >>> examples"
        assert result.failed == 0, f"{where}:\n{out.getvalue()}"
        return

    raises = [f.split("=", 1)[1] for f in block.flags if f.startswith("raises=")]
    done = run_script(block.code, tmp_path, python)
    if raises:
        assert done.returncode != 0, f"{where}: expected {raises[0]}, but it ran"
        # The exception line may be followed by more lines of its message.
        assert re.search(rf"^{re.escape(raises[0])}(:|$)", done.stderr, re.MULTILINE), (
            f"{where}: expected {raises[0]}:\n{done.stderr}"
        )
        return
    assert done.returncode == 0, f"{where}:\n{done.stderr}"
    claims = claimed_output(block.code)
    if claims is not None:
        assert output_matches(done.stdout, claims), (
            f"{where}: prints {done.stdout!r}, claims {claims!r}"
        )


def test_claims_checker_catches_wrong_output() -> None:
    """The checker itself: wrong values, and several lines claimed as one, do not pass."""
    assert output_matches("2\n", claimed_output("print(1 + 1)  # -> 2\n") or [])
    assert not output_matches("2\n", claimed_output("print(1 + 1)  # -> 3\n") or [])
    assert not output_matches("1\n2\n", ["1 2"])
    assert output_matches("1\n2\n", ["1", "2"])


def test_version_directive_picks_a_new_enough_interpreter(tmp_path: Path) -> None:
    """`min=X.Y` is parsed strictly; the interpreter chosen for it really is that new."""
    here = sys.version_info[:2]
    block = CodeBlock(tmp_path / "t.md", 1, "python", (f"min={here[0]}.{here[1]}",), "")
    assert required_version(block) == here
    assert interpreter_for(here) == sys.executable
    assert required_version(CodeBlock(tmp_path / "t.md", 1, "python", ("no-run",), "")) is None
    with pytest.raises(AssertionError, match="bad directive"):
        required_version(CodeBlock(tmp_path / "t.md", 1, "python", ("min=3",), ""))
    newer = interpreter_for((here[0], here[1] + 1))
    if newer is not None:
        found = interpreter_version(newer)
        assert found is not None and found > here
    assert interpreter_version(str(tmp_path / "no-such-python")) is None


@pytest.mark.anki
def test_shipped_deck_imports_into_anki_as_a_learner_sees_it(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    """The built deck in a real collection: every card in Deck::N. Level::Topic, rendered."""
    from .ankihelp import AnkiCollection

    result = cli("build", "--locked", CONTENT, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    (deck,) = DECKS
    col = AnkiCollection(tmp_path / "anki" / "c.anki2")
    try:
        log = col.import_package(tmp_path / "out" / "python-interview.apkg")
        assert (log.new, log.conflicting, log.missing_notetype) == (deck.card_count, 0, 0)
        for level in ("basic", "intermediate", "advanced"):
            level_log = col.import_package(tmp_path / "out" / f"python-interview-{level}.apkg")
            assert level_log.new == 0  # same GUIDs in the level packages
        per_deck = col.cards_per_deck()
        expected: dict[str, int] = {}
        for topic_file in deck.files:
            name = subdeck_names(deck)[(topic_file.level, topic_file.topic)]
            expected[name] = expected.get(name, 0) + sum(map(anki_cards, topic_file.cards))
        assert per_deck == expected
        for question, answer in col.rendered():
            front = question.split("</style>")[-1]
            assert 'class="cs-front"' in front and "{#" not in front
            # Anki links a broken or blank card to its template help page; prose may say "template".
            assert "templates/errors.html" not in front + answer
            assert "front-of-card-is-blank" not in front
            assert 'class="cs-back' in answer  # cloze backs are "cs-back cs-cloze"
    finally:
        col.close()
