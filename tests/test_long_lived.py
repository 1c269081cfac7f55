"""One process building again and again (`build --watch`) keeps parsed files, ledgers,
the build cache and each file's notes from its last build. Whatever changed in between,
in the sources, the ledger or the output folder, its packages and ledger must be exactly
what a fresh process builds from the same files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cardsmith import ledger
from cardsmith.build import build
from cardsmith.cache import CACHE_DIR, CARDS_PREFIX
from cardsmith.diagnostics import Report
from cardsmith.options import BuildOptions

FIXTURE = Path(__file__).parent / "fixtures" / "sample"
EPOCH = "1700000000"


@pytest.fixture
def deck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    src = Path(shutil.copytree(FIXTURE, tmp_path / "sample"))
    toml = src / "deck.toml"
    toml.write_text(toml.read_text().replace("tags = ", 'default_level = "basic"\ntags = '))
    (src / "basic" / "more.md").write_text(
        "# More\n\nStray text no card shows.\n\n"
        + "".join(f"## Question {i}?\n\nAnswer {i} with `code`.\n\n" for i in range(8))
    )
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    return src


def fresh_process(src: Path, out: Path) -> tuple[dict[str, bytes], str]:
    """Packages and ledger of a build by a new process with no cache."""
    lock = (src / "deck.lock").read_text()
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    if out.exists():
        shutil.rmtree(out)
    done = subprocess.run(
        [sys.executable, "-m", "cardsmith", "build", str(src), "--out", str(out), "--no-cache"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    built = {p.name: p.read_bytes() for p in sorted(out.glob("*.apkg"))}
    after = (src / "deck.lock").read_text()
    (src / "deck.lock").write_text(lock)  # as the long-lived process left it
    return built, after


def in_process(src: Path, out: Path) -> tuple[dict[str, bytes], str, Report]:
    result = build([src], out, BuildOptions(jobs=1))
    built = {p.name: p.read_bytes() for p in sorted(out.glob("*.apkg"))}
    return built, (src / "deck.lock").read_text(), result.report


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_one_process_rebuilding_after_every_kind_of_change_builds_what_a_fresh_one_does(
    deck: Path, tmp_path: Path
) -> None:
    out, reference = tmp_path / "out", tmp_path / "reference"
    first_lock = None
    steps: list[tuple[str, Callable[[], None]]] = [
        ("first build", lambda: None),
        ("an answer edited", lambda: edit(deck / "basic" / "more.md", "Answer 3", "Answer three")),
        ("nothing changed", lambda: None),
        (
            "a file renamed (the topics after it get new numbers and subdecks)",
            lambda: (deck / "basic" / "more.md").rename(deck / "basic" / "a-more.md"),
        ),
        ("deck tags changed", lambda: edit(deck / "deck.toml", '["sample"]', '["sample", "x"]')),
        (
            "source links added (every Source field)",
            lambda: (deck / "deck.toml").write_text(
                (deck / "deck.toml").read_text()
                + 'source_url = "https://example.org/{path}#L{line}"\n'
            ),
        ),
        (
            "another default level (the file without front matter moves)",
            lambda: edit(deck / "deck.toml", '"basic"\ntags', '"intermediate"\ntags'),
        ),
        ("a card removed", lambda: edit(deck / "basic" / "a-more.md", "## Question 5?", "5?")),
        (
            "the ledger put back to the first build's (a git checkout)",
            lambda: (deck / "deck.lock").write_text(first_lock or ""),
        ),
    ]
    for what, change in steps:
        change()
        built, lock, report = in_process(deck, out)
        if first_lock is None:
            first_lock = lock
        expected, expected_lock = fresh_process(deck, reference)
        assert built == expected, what
        assert lock == expected_lock, what
        # What parsing reports comes again with every build, read from the file or not.
        assert any("not on any card" in d.message for d in report.warnings), what


def test_cache_written_by_another_process_meanwhile_is_read_again(
    deck: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    in_process(deck, out)
    more = deck / "basic" / "more.md"
    edit(more, "Answer 2 ", "Answer two ")
    fresh = subprocess.run(
        [sys.executable, "-m", "cardsmith", "build", str(deck), "--out", str(out)],
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH},
        capture_output=True,
        check=True,
    )
    assert fresh.returncode == 0
    # The other process replaced the cache files, and then somebody changed one: this
    # process must read them again (and find the changed one), not trust its memory.
    shards = sorted((out / CACHE_DIR).glob(f"{CARDS_PREFIX}*.json"))
    changed = next(s for s in shards if b"Answer two" not in s.read_bytes())
    changed.write_bytes(changed.read_bytes().replace(b"</", b"<script>x()</script></", 1))
    result = build([deck], out, BuildOptions(jobs=1))
    assert result.cache_status == "corrupt"
    built = {p.name: p.read_bytes() for p in sorted(out.glob("*.apkg"))}
    expected, expected_lock = fresh_process(deck, tmp_path / "reference")
    assert built == expected
    assert (deck / "deck.lock").read_text() == expected_lock
    assert not any(b"<script>" in s.read_bytes() for s in (out / CACHE_DIR).iterdir())


def test_a_ledger_the_build_wrote_reads_back_as_it_remembers_it(deck: Path, tmp_path: Path) -> None:
    in_process(deck, tmp_path / "out")
    edit(deck / "basic" / "more.md", "## Question 1?", "## Question one?")
    in_process(deck, tmp_path / "out")
    path = ledger.ledger_path(deck)
    remembered = ledger.read(path, Report())
    ledger._KNOWN.clear()
    report = Report()
    assert ledger.read(path, report) == remembered
    assert not report.items
