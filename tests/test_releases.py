"""A deck's life over many releases, imported release after release into ONE real Anki
collection that has review history, the way a learner keeps a deck for years."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .ankihelp import AnkiCollection
from .conftest import Tree

TOML = 'name = "Life"\nlevels = ["basic"]\n'


def four_cards() -> Tree:
    """A deck of four cards without ids, as many decks start."""
    return {
        "deck.toml": TOML,
        "a.md": """\
            ---
            level: basic
            ---
            ## What is A?

            Alpha.

            ## What is B?

            Beta.
            """,
        "b.md": """\
            ---
            level: basic
            ---
            ## What is C?

            Gamma.

            ## What is D?

            Delta.
            """,
    }


class Author:
    """Builds releases of one deck folder, each with its own out folder and clock."""

    def __init__(self, cli: Callable[..., object], src: Path, tmp: Path) -> None:
        self.cli, self.src, self.tmp, self.count = cli, src, tmp, 0

    def release(self, when: int | None = None, *extra: str) -> Path:
        """Build the deck (SOURCE_DATE_EPOCH = when, else the real clock); its package."""
        self.count += 1
        if when is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = str(when)
        out = self.tmp / f"release{self.count}"
        result = self.cli("build", self.src, "--out", out, *extra)
        os.environ.pop("SOURCE_DATE_EPOCH", None)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        self.output = str(result.stdout)  # type: ignore[attr-defined]
        return out / "life.apkg"

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.src / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")


def counts(log: object) -> tuple[int, int, int]:
    return (log.new, log.updated, log.duplicate)  # type: ignore[attr-defined]


def by_front(col: AnkiCollection) -> dict[str, object]:
    return {n.fields["Front"]: n for n in col.notes()}


def review(col: AnkiCollection, front: str) -> int:
    """Answer the card of the note with this front once ("Good"); its card id."""
    note = by_front(col)[front]
    (cid,) = col.col.find_cards(f"nid:{note.note_id}")  # type: ignore[attr-defined]
    card = col.col.get_card(cid)
    card.start_timer()
    col.col.sched.answerCard(card, 3)
    return int(cid)


def reps(col: AnkiCollection, cid: int) -> int:
    return int(col.col.get_card(cid).reps)


def learner_edits(col: AnkiCollection, front: str, field: str, text: str) -> None:
    note = col.col.get_note(by_front(col)[front].note_id)  # type: ignore[attr-defined]
    note[field] = text
    col.col.update_note(note)


@pytest.fixture
def author(cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path) -> Author:
    return Author(cli, tree(four_cards()), tmp_path / "builds")


@pytest.mark.parametrize("ledger_before", [True, False], ids=["with-ledger", "no-ledger-yet"])
def test_ids_write_after_a_first_import_adds_no_note(
    ledger_before: bool, author: Author, cli: Callable[..., object], collection: AnkiCollection
) -> None:
    """Freezing ids keeps every GUID: 0 new, 0 duplicates; notes and history stay.

    no-ledger-yet: the deck was published by a cardsmith without ledgers (GUIDs from the
    questions); `ids --write` records those before moving them to the ids.
    """
    assert counts(collection.import_package(author.release())) == (4, 0, 0)
    cid = review(collection, "What is A?")
    before = {n.guid: n.note_id for n in collection.notes()}
    if not ledger_before:
        (author.src / "deck.lock").unlink()

    result = cli("ids", author.src, "--write")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "{#what-is-a}" in (author.src / "a.md").read_text()
    log = collection.import_package(author.release())
    # Each Source field gains its `#id`, so every note is updated in place, none added.
    assert counts(log) == (0, 4, 0)
    assert {n.guid: n.note_id for n in collection.notes()} == before
    assert reps(collection, cid) == 1

    # Now the question may be reworded under its id: still the same note.
    author.edit("a.md", "What is A?", "What does A stand for?")
    log = collection.import_package(author.release())
    assert counts(log) == (0, 1, 3)
    assert "What does A stand for?" in by_front(collection)
    assert reps(collection, cid) == 1 and len(collection.notes()) == 4


def test_an_authors_edit_updates_its_card_and_keeps_a_learners_edit_of_another(
    author: Author, collection: AnkiCollection
) -> None:
    """Card A edited by the author, card B by the learner: A updated, B keeps the learner's
    text (B's time in the ledger did not move), both keep their review history."""
    first = collection.import_package(author.release(1_700_000_000))
    assert counts(first) == (4, 0, 0)
    cid_a, cid_b = review(collection, "What is A?"), review(collection, "What is B?")
    learner_edits(collection, "What is B?", "Back", "Beta, as my teacher says.")

    author.edit("a.md", "Alpha.", "Alpha, the first letter.")
    log = collection.import_package(author.release(1_700_100_000))
    assert counts(log) == (0, 1, 3)
    notes = by_front(collection)
    assert "Alpha, the first letter." in notes["What is A?"].fields["Back"]  # type: ignore[attr-defined]
    assert notes["What is B?"].fields["Back"] == "Beta, as my teacher says."  # type: ignore[attr-defined]
    assert (reps(collection, cid_a), reps(collection, cid_b)) == (1, 1)

    # Editing a file's other card or deck.toml's description re-stamps nothing else.
    author.edit("deck.toml", 'levels = ["basic"]', 'levels = ["basic"]\ndescription = "New."')
    log = collection.import_package(author.release(1_700_200_000))
    assert counts(log) == (0, 0, 4)
    assert by_front(collection)["What is B?"].fields["Back"] == "Beta, as my teacher says."  # type: ignore[attr-defined]


def test_a_fresh_clone_builds_byte_identical_packages(
    author: Author, cli: Callable[..., object], tmp_path: Path
) -> None:
    """Different file times and a later clock: the same packages, byte for byte."""
    author.release(1_700_000_000)
    author.edit("a.md", "Alpha.", "Alpha!")
    first = author.release(1_700_100_000)
    clone = Path(shutil.copytree(author.src, tmp_path / "clone", copy_function=shutil.copy))
    for n, path in enumerate(sorted(clone.rglob("*"))):
        os.utime(path, (1_800_000_000 + n * 977, 1_800_000_000 + n * 977))
    clone_author = Author(cli, clone, tmp_path / "clone-builds")
    again = clone_author.release(1_900_000_000, "--locked")  # years later, in CI
    assert again.read_bytes() == first.read_bytes()
    unset = clone_author.release(None, "--locked")  # no SOURCE_DATE_EPOCH at all
    assert unset.read_bytes() == first.read_bytes()
    assert (clone / "deck.lock").read_bytes() == (author.src / "deck.lock").read_bytes()


def test_a_removed_card_is_found_by_one_search_and_never_reaches_a_new_learner(
    author: Author, collection: AnkiCollection, tmp_path: Path
) -> None:
    collection.import_package(author.release(1_700_000_000))
    cids = {front: review(collection, front) for front in ("What is A?", "What is C?")}
    learner_edits(collection, "What is B?", "Back", "Beta, mine.")
    before = {n.guid: n for n in collection.notes()}

    author.edit("b.md", "## What is C?\n\nGamma.\n", "")
    author.edit("a.md", "## What is A?\n\nAlpha.\n", "")
    release = author.release(1_700_100_000)
    assert "removed since the last release" in author.output
    search = author.output.split("Anki's browser with: ")[1].split()[0]
    assert search.startswith("nid:")

    # The existing learner: nothing of their other cards changes.
    log = collection.import_package(release)
    assert counts(log) == (0, 0, 2)
    after = {n.guid: n for n in collection.notes()}
    assert after == before
    # One search finds exactly the removed notes (Anki's search, as on desktop and phone).
    found = sorted(collection.col.find_notes(search))
    removed = sorted(n.note_id for n in before.values() if n.fields["Front"] in cids)  # type: ignore[attr-defined]
    assert found == removed
    collection.col.remove_notes(found)  # the learner drops them
    left = {n.guid: n for n in collection.notes()}
    assert {g: before[g] for g in left} == left and len(left) == 2
    assert by_front(collection)["What is B?"].fields["Back"] == "Beta, mine."  # type: ignore[attr-defined]

    # Later releases keep finding them (a learner who skipped a release).
    author.edit("b.md", "Delta.", "Delta!")
    later = author.release(1_700_200_000)
    assert author.output.split("Anki's browser with: ")[1].split()[0] == search

    # A new learner never gets removed cards, from either release.
    newcomer = AnkiCollection(tmp_path / "newcomer" / "collection.anki2")
    try:
        assert counts(newcomer.import_package(release)) == (2, 0, 0)
        assert counts(newcomer.import_package(later)) == (0, 1, 1)
        assert sorted(by_front(newcomer)) == ["What is B?", "What is D?"]
        assert newcomer.col.find_notes(search) == []
    finally:
        newcomer.close()


def test_moving_a_card_and_renaming_its_id_keep_its_note(
    author: Author, cli: Callable[..., object], collection: AnkiCollection
) -> None:
    """A card moved to another file and an id renamed: updated in place, no new note."""
    assert cli("ids", author.src, "--write").exit_code == 0  # type: ignore[attr-defined]
    collection.import_package(author.release(1_700_000_000))
    cid = review(collection, "What is A?")
    author.edit("a.md", "## What is A? {#what-is-a}\n\nAlpha.\n", "")
    author.edit("b.md", "## What is D?", "## What is A? {#letter-a}\n\nAlpha.\n\n## What is D?")
    log = collection.import_package(author.release(1_700_100_000))
    assert counts(log) == (0, 1, 3)  # A's Source field names its new file and id
    assert len(collection.notes()) == 4 and reps(collection, cid) == 1
    assert "b.md#letter-a" in by_front(collection)["What is A?"].fields["Source"]  # type: ignore[attr-defined]


LONG_GAMMA = "Gamma is the third letter of the Greek alphabet, written as a small g."


@pytest.mark.parametrize(
    ("answer", "warned"),
    [
        (LONG_GAMMA, "with the same answer leaves the deck"),
        (
            "Gamma: the third letter of the Greek alphabet, written as a small g.",
            "with nearly the same",
        ),
        ("C is a programming language from Bell Labs.", None),
    ],
    ids=["same-answer", "nearly-the-same", "another-answer"],
)
def test_a_reworded_question_without_id_is_a_warning_at_its_line(
    answer: str, warned: str | None, author: Author, cli: Callable[..., object]
) -> None:
    author.edit("b.md", "Gamma.", LONG_GAMMA)
    author.release(1_700_000_000)
    author.edit("b.md", "What is C?", "What is the letter C?")
    author.edit("b.md", LONG_GAMMA, answer)
    result = cli("check", author.src)
    assert result.exit_code == 0
    stderr = result.stderr  # type: ignore[attr-defined]
    if warned is None:
        assert stderr == ""
        return
    line = f'{author.src / "b.md"}:4: warning: reworded question? the card "what is c?"'
    assert line in stderr
    assert warned in stderr and "run `cardsmith ids --write`" in stderr


@pytest.mark.parametrize("published", [False, True], ids=["caught-by-check", "already-released"])
def test_ids_write_keeps_the_history_of_a_reworded_question(
    published: bool, author: Author, cli: Callable[..., object], collection: AnkiCollection
) -> None:
    """The warning's advice: `ids --write` gives the reworded card an id and the old card's
    identity. Caught before a release: the learner's note is updated in place. Already
    released (the learner got a second note): the old note is updated in place, and the
    stray one is listed with the removed cards."""
    collection.import_package(author.release(1_700_000_000))
    cid = review(collection, "What is C?")
    author.edit("b.md", "What is C?", "What is the letter C?")
    if published:
        log = collection.import_package(author.release(1_700_100_000))
        assert counts(log) == (1, 0, 3)  # a new note: the warning's case
    result = cli("ids", author.src, "--write")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (
        f"{author.src / 'b.md'}:4: keeps the identity (and learners' history) of the "
        "reworded q:what is c?" in result.stdout  # type: ignore[attr-defined]
    )
    log = collection.import_package(author.release(1_700_200_000))
    assert (log.new, log.updated) == (0, 4)  # every Source field gains its id
    fronts = by_front(collection)
    assert reps(collection, cid) == 1
    kept = collection.col.get_note(collection.col.get_card(cid).nid)
    assert kept["Front"] == "What is the letter C?"
    assert "What is C?" not in fronts
    if published:
        search = author.output.split("Anki's browser with: ")[1].split()[0]
        (stray,) = collection.col.find_notes(search)
        assert stray != kept.id and len(collection.notes()) == 5
    else:
        assert "Anki's browser" not in author.output and len(collection.notes()) == 4
