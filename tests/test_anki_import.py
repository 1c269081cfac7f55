"""Built packages imported into a real Anki collection, the way a learner imports them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .ankihelp import AnkiCollection
from .conftest import Tree

FIXTURE = Path(__file__).parent / "fixtures" / "sample"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the sample deck that a test may edit."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "sample"))


def build(cli: Callable[..., object], src: Path, out: Path) -> dict[str, Path]:
    result = cli("build", src, "--out", out)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return {p.name: p for p in out.glob("*.apkg")}


def test_build_writes_all_levels_package_and_one_per_level(
    cli: Callable[..., object], sample: Path, tmp_path: Path
) -> None:
    """Per deck: <slug>.apkg with every level and <slug>-<level>.apkg for each level."""
    packages = build(cli, sample, tmp_path / "out")
    assert sorted(packages) == [
        "sample-deck-advanced.apkg",
        "sample-deck-basic.apkg",
        "sample-deck-intermediate.apkg",
        "sample-deck.apkg",
    ]


def test_decks_levels_in_study_order_and_cards_per_subdeck(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    """Subdecks are Deck::Level::Topic and Anki's alphabetical list shows levels in order."""
    packages = build(cli, sample, tmp_path / "out")
    log = collection.import_package(packages["sample-deck.apkg"])
    assert (log.new, log.conflicting, log.missing_notetype) == (6, 0, 0)
    names = [n for n in collection.deck_names() if n.startswith("Sample Deck")]
    assert names == [
        "Sample Deck",
        "Sample Deck::1. Basic",
        "Sample Deck::1. Basic::1. Lists and tuples",
        "Sample Deck::2. Intermediate",
        "Sample Deck::2. Intermediate::1. Scripts of the world",
        "Sample Deck::3. Advanced",
        "Sample Deck::3. Advanced::1. Generators",
    ]
    assert collection.cards_per_deck() == {
        "Sample Deck::1. Basic::1. Lists and tuples": 3,
        "Sample Deck::2. Intermediate::1. Scripts of the world": 2,
        "Sample Deck::3. Advanced::1. Generators": 1,
    }


ORDERED_TOML = """\
name = "Ordered"
levels = ["basic", "advanced"]
description = "Cards in **the author's** order. <script>alert(1)</script>"
"""


def test_study_now_serves_new_cards_in_the_authors_order(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path,
    collection: AnkiCollection,
) -> None:  # fmt: skip
    """Level, then topic by file name, then card order in the file: not alphabetical.

    Every deck of the tree arrives expanded, the top deck with its rendered description.
    """
    root = tree(
        {
            "deck.toml": ORDERED_TOML,
            "advanced/01-a.md": (
                "---\nlevel: advanced\ntopic: Aardvark\n---\n## Zeta first?\n\nA.\n"
            ),
            "basic/02-later.md": "---\nlevel: basic\ntopic: Apples\n---\n## Beta\n\nB.\n",
            "basic/01-first.md": (
                "---\nlevel: basic\ntopic: Zebras\n---\n"
                "## Zulu comes first\n\nZ.\n\n## Alpha comes second\n\nA.\n"
            ),
        }
    )
    packages = build(cli, root, tmp_path / "out")
    log = collection.import_package(packages["ordered.apkg"])
    assert log.new == 4
    assert [n for n in collection.deck_names() if n.startswith("Ordered")] == [
        "Ordered",
        "Ordered::1. Basic",
        "Ordered::1. Basic::1. Zebras",
        "Ordered::1. Basic::2. Apples",
        "Ordered::2. Advanced",
        "Ordered::2. Advanced::1. Aardvark",
    ]
    assert collection.study_now("Ordered", 10) == [
        "Zulu comes first",
        "Alpha comes second",
        "Beta",
        "Zeta first?",
    ]
    top = collection.col.decks.by_name("Ordered")
    assert top is not None
    assert top["desc"] == "<p>Cards in <strong>the author's</strong> order. </p>"
    for name in ("Ordered", "Ordered::1. Basic", "Ordered::2. Advanced"):
        deck = collection.col.decks.by_name(name)
        assert deck is not None and not deck["collapsed"] and not deck["browserCollapsed"]


def test_fields_tags_and_highlighting(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    """Fields hold rendered HTML with Pygments classes; tags carry deck, file, level, topic."""
    packages = build(cli, sample, tmp_path / "out")
    collection.import_package(packages["sample-deck.apkg"])
    notes = {n.fields["Front"]: n for n in collection.notes()}
    append = notes["How do you add an item to the end of a list?"]
    back = append.fields["Back"]
    assert '<div class="highlight">' in back
    assert '<span class="nb">print</span>' in back
    assert "style=" not in back  # colours come from the note type's CSS, not inline
    assert append.tags == ["collections", "level::basic", "sample", "topic::lists-and-tuples"]
    assert append.fields["Source"] == "basic/lists.md#list-append"
    assert "{#" not in "".join(notes)  # ids never show
    assert "<table>" in notes["Lists vs tuples?"].fields["Back"]
    nested = notes["Which comes first: ordered or unordered?"].fields["Back"]
    assert "<ol>" in nested and "<ul>" in nested and "<blockquote>" in nested
    assert '<a href="https://example.org">link</a>' in nested
    russian = notes["Что такое словарь?"]
    assert "辞書" in russian.fields["Back"] and "قاموس" in russian.fields["Back"]
    assert russian.tags == ["level::intermediate", "sample", "topic::scripts-of-the-world"]
    heading = notes["What does <code>### Heading</code> inside an answer do?"]
    assert "<h3>It stays in the answer</h3>" in heading.fields["Back"]
    assert "## also not a card" in heading.fields["Back"]


def test_media_named_by_content_and_present(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    """Two different diagram.png files become two media files named by their content."""
    packages = build(cli, sample, tmp_path / "out")
    collection.import_package(packages["sample-deck.apkg"])
    media = collection.media_files()
    assert len(media) == 2
    assert all(m.startswith("cs-") and m.endswith(".png") for m in media)
    backs = " ".join(n.fields["Back"] for n in collection.notes())
    for name in media:
        assert f'src="{name}"' in backs
    assert "diagram.png" not in backs
    check = collection.col.media.check()
    assert not check.missing and not check.unused


def test_guids_unique_and_shared_between_packages(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    """Importing the all-levels package and a level package adds no duplicate notes."""
    packages = build(cli, sample, tmp_path / "out")
    first = collection.import_package(packages["sample-deck.apkg"])
    second = collection.import_package(packages["sample-deck-basic.apkg"])
    third = collection.import_package(packages["sample-deck-advanced.apkg"])
    assert first.new == 6
    assert (second.new, second.duplicate) == (0, 3)
    assert (third.new, third.duplicate) == (0, 1)
    guids = [n.guid for n in collection.notes()]
    assert len(guids) == len(set(guids)) == 6


def test_level_package_alone_holds_only_that_level(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    packages = build(cli, sample, tmp_path / "out")
    log = collection.import_package(packages["sample-deck-intermediate.apkg"])
    assert log.new == 2
    assert set(collection.cards_per_deck()) == {
        "Sample Deck::2. Intermediate::1. Scripts of the world"
    }


def _edit(path: Path, old: str, new: str) -> None:
    """Edit a source file and move its mtime forward, as a later save would."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 60))


def test_edited_answer_updates_note_in_place_keeping_history(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    """Rebuild after editing one answer: same note (same id), new text, others untouched."""
    out = tmp_path / "out"
    collection.import_package(build(cli, sample, out)["sample-deck.apkg"])
    before = {n.guid: n for n in collection.notes()}
    # Review history: answer the card once so we can see it survive the update.
    target = next(
        n for n in before.values() if n.fields["Front"] == "What does <code>yield</code> make?"
    )
    card = collection.col.get_card(collection.col.find_cards(f"nid:{target.note_id}")[0])
    card.start_timer()
    collection.col.sched.answerCard(card, 3)
    reps_before = collection.col.get_card(card.id).reps

    _edit(sample / "advanced" / "generators.md", "A generator function", "A generator object")
    log = collection.import_package(build(cli, sample, out)["sample-deck.apkg"])

    after = {n.guid: n for n in collection.notes()}
    assert set(after) == set(before)
    assert log.updated == 1 and log.new == 0
    edited = after[target.guid]
    assert edited.note_id == target.note_id
    assert "A generator object" in edited.fields["Back"]
    assert collection.col.get_card(card.id).reps == reps_before == 1
    for guid, note in before.items():
        if guid != target.guid:
            assert after[guid].fields == note.fields


def test_reworded_question_with_explicit_id_updates_in_place(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    """Under an explicit id the question itself may change without making a new note."""
    out = tmp_path / "out"
    collection.import_package(build(cli, sample, out)["sample-deck.apkg"])
    _edit(
        sample / "basic" / "lists.md",
        "## How do you add an item to the end of a list? {#list-append}",
        "## How do you append to a list? {#list-append}",
    )
    log = collection.import_package(build(cli, sample, out)["sample-deck.apkg"])
    fronts = [n.fields["Front"] for n in collection.notes()]
    assert log.new == 0 and log.updated >= 1
    assert "How do you append to a list?" in fronts
    assert "How do you add an item to the end of a list?" not in fronts
    assert len(fronts) == 6


def test_unchanged_rebuild_updates_nothing(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    """Re-importing an unchanged build leaves every note alone (a learner's own edits too)."""
    out = tmp_path / "out"
    collection.import_package(build(cli, sample, out)["sample-deck.apkg"])
    log = collection.import_package(build(cli, sample, out)["sample-deck.apkg"])
    assert (log.new, log.updated, log.duplicate) == (0, 0, 6)


def test_rendered_cards_show_front_and_back_without_template_errors(
    cli: Callable[..., object], sample: Path, tmp_path: Path, collection: AnkiCollection
) -> None:
    packages = build(cli, sample, tmp_path / "out")
    collection.import_package(packages["sample-deck.apkg"])
    for question, answer in collection.rendered():
        assert 'class="cs-front"' in question
        assert 'class="cs-back"' in answer
        assert "template" not in question.lower().split("</style>")[-1]
