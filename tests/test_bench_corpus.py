"""The benchmark's corpus generator (bench/corpus.py) builds cleanly: what `make bench` times
is a valid deck, and the edit the benchmark makes reaches Anki in place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bench.corpus import CARDS_PER_FILE, edit_card, generate_corpus, marker

from .ankihelp import AnkiCollection


def test_corpus_is_deterministic_and_grows_by_whole_files(tmp_path: Path) -> None:
    small = generate_corpus(tmp_path / "small", 2 * CARDS_PER_FILE)
    large = generate_corpus(tmp_path / "large", 4 * CARDS_PER_FILE)
    assert len(small) == 2 and len(large) == 4
    for a, b in zip(small, large, strict=False):
        assert a.read_bytes() == b.read_bytes()  # the small corpus is the start of the large
    text = small[0].read_text(encoding="utf-8")
    assert text.startswith("# Topic 0001\n") and text.count("\n## ") == CARDS_PER_FILE
    assert "```" in text
    with pytest.raises(ValueError, match="multiples of 50"):
        generate_corpus(tmp_path / "odd", 75)


def test_corpus_builds_and_its_edit_updates_the_note_in_anki(
    cli: Callable[..., object], collection: AnkiCollection, tmp_path: Path
) -> None:
    cards = 2 * CARDS_PER_FILE
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, cards)
    out = tmp_path / "out"
    result = cli("build", corpus, "--out", out, "--strict")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert sorted(p.name for p in out.glob("*.apkg")) == [
        f"bench-{cards}-basic.apkg",
        f"bench-{cards}.apkg",
    ]
    log = collection.import_package(out / f"bench-{cards}.apkg")
    assert (log.new, log.conflicting) == (cards, 0)
    assert collection.cards_per_deck() == {
        f"Bench {cards}::1. Basic::1. Topic 0001": CARDS_PER_FILE,
        f"Bench {cards}::1. Basic::2. Topic 0002": CARDS_PER_FILE,
    }

    old, new = edit_card(corpus, cards, 1)
    assert (old, new) == (marker(75, 0), marker(75, 1))
    edited = corpus / "topic-0002.md"
    assert new in edited.read_text(encoding="utf-8")
    result = cli("build", corpus, "--out", out)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    log = collection.import_package(out / f"bench-{cards}.apkg")
    assert (log.new, log.updated) == (0, 1)  # only the edited card is newer (the ledger)
    backs = [note.fields["Back"] for note in collection.notes()]
    assert sum(new in back for back in backs) == 1
    assert not any(old in back for back in backs)
