"""The ledger file (deck.lock): its format, its errors, --locked, and identity rules."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cardsmith.apkg import read_package

from .conftest import Tree

DECK: Tree = {
    "deck.toml": 'name = "Led"\nlevels = ["basic"]\n',
    "t.md": """\
        ---
        level: basic
        ---
        ## First? {#first}

        One.

        ## Second?

        Two.
        """,
}


@pytest.fixture
def deck(tree: Callable[[Tree], Path], cli: Callable[..., object], tmp_path: Path) -> Path:
    """The deck, built once (so it has a ledger)."""
    src = tree(DECK)
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
    try:
        assert cli("build", src, "--out", tmp_path / "first").exit_code == 0  # type: ignore[attr-defined]
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    return src


def guids(out: Path) -> dict[str, str]:
    """Front -> GUID in the deck's all-levels package."""
    contents = read_package((out / "led.apkg").read_bytes())
    return {dict(c.fields)["Front"]: c.guid for c in contents.cards}


def test_the_ledger_is_sorted_versioned_text_with_a_line_per_card(deck: Path) -> None:
    lines = (deck / "deck.lock").read_text().splitlines()
    rows = [line for line in lines if not line.startswith("#")]
    assert rows[0] == "cardsmith-ledger 1"
    assert [r.split(" ")[0] for r in rows[1:]] == ["card", "card"]
    assert [r.split(" ", 8)[8] for r in rows[1:]] == ["id:first", "q:second?"]
    assert all(r.split(" ")[1] == "2023-11-14T22:13:20Z" for r in rows[1:])


# (what is done to the ledger, the line reported, a fragment of the message)
BAD: dict[str, tuple[Callable[[str], str], int, str]] = {
    "hand-edited line": (
        lambda text: text.replace(" basic ", " basic extra ", 1),
        5,
        "malformed ledger line",
    ),
    "merge conflict": (
        lambda text: (
            text.replace("card ", "<<<<<<< HEAD\ncard ", 1).replace(
                "\ncard ", "\n=======\ncard ", 1
            )
            + ">>>>>>> other\n"
        ),
        5,
        "unresolved merge conflict",
    ),
    "duplicate GUID": (
        lambda text: text + text.splitlines()[4].replace("id:first", "id:copied") + "\n",
        7,
        "duplicate GUID",
    ),
    "unknown version": (
        lambda text: text.replace("cardsmith-ledger 1", "cardsmith-ledger 7"),
        4,
        "unknown ledger version '7'",
    ),
    "no version line": (
        lambda text: text.replace("cardsmith-ledger 1\n", ""),
        4,
        "expected `cardsmith-ledger 1` here",
    ),
    "not UTF-8": (lambda text: text + "\udcff", 1, "not UTF-8"),
}


@pytest.mark.parametrize("name", list(BAD))
@pytest.mark.parametrize("command", ["build", "check", "push"])
def test_a_bad_ledger_is_one_error_at_its_line_and_nothing_is_written(
    name: str, command: str, deck: Path, cli: Callable[..., object], tmp_path: Path
) -> None:
    damage, line, fragment = BAD[name]
    ledger = deck / "deck.lock"
    ledger.write_bytes(damage(ledger.read_text()).encode("utf-8", "surrogateescape"))
    before = ledger.read_bytes()
    out = tmp_path / "out"
    args = {
        "build": ("build", deck, "--out", out),
        "check": ("check", deck),
        "push": ("push", deck, "--collection", tmp_path / "none.anki2"),
    }[command]
    result = cli(*args)
    assert result.exit_code == 1
    stderr = result.stderr  # type: ignore[attr-defined]
    assert f"{ledger}:{line}: error: " in stderr and fragment in stderr, stderr
    assert "Traceback" not in stderr
    assert not out.exists() and ledger.read_bytes() == before


def test_locked_build_fails_on_a_stale_ledger_and_writes_nothing(
    deck: Path, cli: Callable[..., object], tmp_path: Path
) -> None:
    before = (deck / "deck.lock").read_bytes()
    (deck / "t.md").write_text((deck / "t.md").read_text().replace("Two.", "Two!"))
    out = tmp_path / "ci"
    result = cli("build", "--locked", deck, "--out", out)
    assert result.exit_code == 1
    assert (
        f"{deck / 'deck.lock'}:1: error: the ledger is out of date (--locked): "
        "1 changed (q:second?)" in result.stderr  # type: ignore[attr-defined]
    )
    assert not out.exists() and (deck / "deck.lock").read_bytes() == before
    assert cli("build", deck, "--out", out).exit_code == 0  # type: ignore[attr-defined]
    assert cli("build", "--locked", deck, "--out", out).exit_code == 0  # type: ignore[attr-defined]
    (deck / "deck.lock").unlink()
    result = cli("build", "--locked", deck, "--out", out)
    assert result.exit_code == 1 and "no ledger (--locked)" in result.stderr  # type: ignore[attr-defined]


def test_a_content_error_writes_no_ledger(
    deck: Path, cli: Callable[..., object], tmp_path: Path
) -> None:
    before = (deck / "deck.lock").read_bytes()
    (deck / "t.md").write_text((deck / "t.md").read_text() + "\n## New?\n")  # empty answer
    assert cli("build", deck, "--out", tmp_path / "o").exit_code == 1  # type: ignore[attr-defined]
    assert (deck / "deck.lock").read_bytes() == before


def test_identity_rules(deck: Path, cli: Callable[..., object], tmp_path: Path) -> None:
    """An id renamed or dropped keeps the GUID; a card brought back gets its old GUID; a
    card whose kind changes is a new note (Anki cannot change a note's type on import)."""
    first = guids(tmp_path / "first")
    source = deck / "t.md"
    text = source.read_text()

    def build(new_text: str, name: str) -> dict[str, str]:
        source.write_text(new_text)
        result = cli("build", deck, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        return guids(tmp_path / name)

    assert build(text.replace("{#first}", "{#renamed}"), "renamed") == first
    assert build(text.replace(" {#first}", ""), "dropped") == first
    without = build(text.replace("## Second?\n\nTwo.\n", ""), "removed")
    assert without == {"First?": first["First?"]}
    assert build(text, "back") == first
    reversed_ = build(text.replace("## Second?", "## Second? {.reverse}"), "kind")
    assert reversed_["First?"] == first["First?"]
    assert reversed_["Second?"] != first["Second?"]
    lock = (deck / "deck.lock").read_text()
    assert lock.count(" q:second?") == 2 and "\nremoved " in lock


def test_check_lists_removed_cards_and_the_search_that_finds_them(
    deck: Path, cli: Callable[..., object]
) -> None:
    (deck / "t.md").write_text((deck / "t.md").read_text().replace("## Second?\n\nTwo.\n", ""))
    result = cli("check", deck)
    assert result.exit_code == 0
    out = result.stdout  # type: ignore[attr-defined]
    assert f"removed since the last release ({deck / 'deck.lock'}): q:second?" in out
    nid = next(
        line.split(" ")[2]
        for line in (deck / "deck.lock").read_text().splitlines()
        if line.endswith("q:second?")
    )
    assert f"learners find them in Anki's browser with: nid:{nid}" in out


def test_note_ids_are_unique_across_decks_built_together_and_kept_by_anki(
    tree: Callable[[Tree], Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    """Two decks with the same cards, built in the same second: no note id is shared, so
    every note keeps its id in a learner's collection and `nid:` searches find them."""
    from .ankihelp import AnkiCollection

    root = tree(
        {
            "one/deck.toml": 'name = "One"\nlevels = ["basic"]\n',
            "one/t.md": DECK["t.md"],
            "two/deck.toml": 'name = "Two"\nlevels = ["basic"]\n',
            "two/t.md": DECK["t.md"],
        }
    )
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
    try:
        assert cli("build", root, "--out", tmp_path / "out").exit_code == 0  # type: ignore[attr-defined]
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    ids = [
        int(line.split(" ")[2])
        for name in ("one", "two")
        for line in (root / name / "deck.lock").read_text().splitlines()
        if line.startswith("card ")
    ]
    assert len(ids) == len(set(ids)) == 4
    col = AnkiCollection(tmp_path / "anki" / "collection.anki2")
    try:
        for package in ("one.apkg", "two.apkg"):
            col.import_package(tmp_path / "out" / package)
        assert sorted(n.note_id for n in col.notes()) == sorted(ids)
    finally:
        col.close()


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda line: line.replace(" basic ", " basik "), "malformed ledger line"),
        (lambda line: line.replace("id:first", "id:fi\x1b[31mrst"), "malformed ledger line"),
        (lambda line: line.replace("2023-11-14T22:13:20Z", "2023-13-14T22:13:20Z"), "malformed"),
    ],
    ids=["unknown-kind", "control-character", "impossible-date"],
)
def test_a_hand_edited_field_is_refused(
    damage: Callable[[str], str], fragment: str, deck: Path, cli: Callable[..., object]
) -> None:
    ledger = deck / "deck.lock"
    lines = ledger.read_text().split("\n")
    lines[4] = damage(lines[4])
    ledger.write_text("\n".join(lines))
    result = cli("check", deck)
    assert result.exit_code == 1
    assert f"{ledger}:5: error: {fragment}" in result.stderr  # type: ignore[attr-defined]
    assert "\x1b" not in result.stderr  # type: ignore[attr-defined]


def test_build_watch_does_not_rebuild_for_the_ledger_it_wrote(tmp_path: Path) -> None:
    """The ledger is the build's own output: writing it must not trigger another build."""
    import watchfiles

    from cardsmith.watch import _source_filter

    accept = _source_filter(tmp_path / "out")
    modified = watchfiles.Change.modified
    assert not accept(modified, str(tmp_path / "deck" / "deck.lock"))
    assert accept(modified, str(tmp_path / "deck" / "t.md"))
    assert accept(modified, str(tmp_path / "deck" / "deck.toml"))


def test_ids_write_pairs_a_reworded_question_whose_answer_was_touched_up(
    tree: Callable[[Tree], Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    answer = "A list keeps its items in order and can change after it is made."
    src = tree(
        {"deck.toml": DECK["deck.toml"], "t.md": f"---\nlevel: basic\n---\n## Lists?\n\n{answer}\n"}
    )
    assert cli("build", src, "--out", tmp_path / "one").exit_code == 0  # type: ignore[attr-defined]
    before = guids(tmp_path / "one")["Lists?"]
    touched = answer.replace("can change", "may change")
    (src / "t.md").write_text(f"---\nlevel: basic\n---\n## What is a list?\n\n{touched}\n")
    result = cli("ids", src, "--write")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "keeps the identity (and learners' history) of the reworded q:lists?" in result.stdout  # type: ignore[attr-defined]
    assert cli("build", src, "--out", tmp_path / "two").exit_code == 0  # type: ignore[attr-defined]
    assert guids(tmp_path / "two") == {"What is a list?": before}
    assert "\nremoved " not in (src / "deck.lock").read_text()


def test_a_declared_note_type_kind_reads_and_writes_back_unchanged(tmp_path: Path) -> None:
    """`nt<id>` (a deck's declared note type) is a kind the ledger records as it is."""
    from cardsmith.diagnostics import Report
    from cardsmith.ledger import read, render

    line = (
        "card 2026-11-26T16:49:03Z 1795711743000 iOEGPk*IKt nt1342697561419 3f9a0c1e2b4d5a6c "
        "1a2b3c4d 5e6f7a8b5e6f7a8b5e6f7a8b5e6f7a8b id:closures"
    )
    path = tmp_path / "deck.lock"
    path.write_text(f"cardsmith-ledger 1\n{line}\n")
    report = Report()
    ledger = read(path, report)
    assert not report.errors
    assert [e.kind for e in ledger.entries] == ["nt1342697561419"]
    assert render(ledger.entries).splitlines()[-1] == line
    for bad in ("nt", "nt0123", "ntx1", "n1"):
        path.write_text(f"cardsmith-ledger 1\n{line.replace('nt1342697561419', bad)}\n")
        report = Report()
        read(path, report)
        assert [d.message[:22] for d in report.errors] == ["malformed ledger line "], bad
