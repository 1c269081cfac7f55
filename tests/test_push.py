"""`cardsmith push` into a real Anki collection that has review history."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cardsmith.push import anki_base

from .ankihelp import AnkiCollection
from .conftest import Tree
from .test_releases import by_front, four_cards, learner_edits, review


@pytest.fixture
def setup(
    tree: Callable[[Tree], Path], cli: Callable[..., object], tmp_path: Path
) -> Iterator[tuple[Path, Path, dict[str, int]]]:
    """(deck, Anki data folder with one profile, card ids reviewed): the deck pushed once,
    A and C reviewed, B edited by the learner; then the author edits A, removes C and
    adds E."""
    src = tree(four_cards())
    base = tmp_path / "Anki2"
    target = base / "User 1" / "collection.anki2"
    col = AnkiCollection(target)  # a profile as Anki creates it
    col.close()
    result = cli("push", src, "--base", base)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "4 new, 0 updated, 0 unchanged, 0 removed" in result.stdout  # type: ignore[attr-defined]
    assert "imported: 4 new" in result.stdout  # type: ignore[attr-defined]
    assert (src / "deck.lock").is_file()  # push records identities as build does
    col = AnkiCollection(target)
    cids = {front: review(col, front) for front in ("What is A?", "What is C?")}
    learner_edits(col, "What is B?", "Back", "Beta, mine.")
    col.close()
    text = (src / "a.md").read_text()
    (src / "a.md").write_text(text.replace("Alpha.", "Alpha, edited.") + "\n## What is E?\n\nE.\n")
    text = (src / "b.md").read_text()
    (src / "b.md").write_text(text.replace("## What is C?\n\nGamma.\n", ""))
    yield src, base, cids


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dry_run_shows_each_change_and_writes_nothing(
    setup: tuple[Path, Path, dict[str, int]], cli: Callable[..., object]
) -> None:
    src, base, _ = setup
    target = base / "User 1" / "collection.anki2"
    before = digest(target)
    backups = sorted((base / "User 1" / "backups").glob("*"))
    ledger = (src / "deck.lock").read_bytes()
    result = cli("push", src, "--base", base, "--profile", "User 1", "--dry-run")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    lines = result.stdout.splitlines()  # type: ignore[attr-defined]
    assert lines[1:] == [
        "new: q:what is e?",
        "updated: q:what is a?",
        "removed: q:what is c?",
        "1 new, 1 updated, 2 unchanged, 1 removed",
        "dry run: nothing written",
    ]
    assert digest(target) == before
    assert sorted((base / "User 1" / "backups").glob("*")) == backups
    assert (src / "deck.lock").read_bytes() == ledger


def test_push_backs_up_updates_in_place_and_suspends_removed_cards(
    setup: tuple[Path, Path, dict[str, int]], cli: Callable[..., object]
) -> None:
    src, base, cids = setup
    target = base / "User 1" / "collection.anki2"
    col = AnkiCollection(target)
    ids_before = {n.guid: n.note_id for n in col.notes()}
    col.close()
    result = cli("push", src, "--base", base)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    backup = Path(out.split("backup: ")[1].split("\n")[0])
    assert backup.parent == base / "User 1" / "backups" and backup.suffix == ".colpkg"
    assert backup.stat().st_size > 0
    assert "imported: 1 new, 1 updated, 2 duplicate" in out
    assert "removed cards: suspended and tagged cardsmith::removed" in out

    col = AnkiCollection(target)
    try:
        notes = by_front(col)
        assert notes["What is A?"].fields["Back"].startswith("<p>Alpha, edited.")  # type: ignore[attr-defined]
        assert notes["What is B?"].fields["Back"] == "Beta, mine."  # type: ignore[attr-defined]
        assert {g: ids_before[g] for g in ids_before} == {
            n.guid: n.note_id for n in col.notes() if n.guid in ids_before
        }
        assert len(col.notes()) == 5
        assert [col.col.get_card(cid).reps for cid in cids.values()] == [1, 1]
        removed = col.col.get_card(cids["What is C?"])
        assert removed.queue == -1  # suspended
        assert "cardsmith::removed" in notes["What is C?"].tags  # type: ignore[attr-defined]
        assert col.col.find_notes("tag:cardsmith::removed") == [notes["What is C?"].note_id]  # type: ignore[attr-defined]
        assert col.col.get_card(cids["What is A?"]).queue != -1
    finally:
        col.close()

    again = cli("push", src, "--base", base, "--dry-run")
    assert "0 new, 0 updated, 4 unchanged, 0 removed" in again.stdout  # type: ignore[attr-defined]


def test_delete_removed_deletes_only_the_removed_notes(
    setup: tuple[Path, Path, dict[str, int]], cli: Callable[..., object]
) -> None:
    src, base, cids = setup
    result = cli("push", src, "--base", base, "--delete-removed")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "removed cards: deleted" in result.stdout  # type: ignore[attr-defined]
    col = AnkiCollection(base / "User 1" / "collection.anki2")
    try:
        assert sorted(by_front(col)) == ["What is A?", "What is B?", "What is D?", "What is E?"]
        assert col.col.get_card(cids["What is A?"]).reps == 1
    finally:
        col.close()


def refused(cli: Callable[..., object], src: Path, target: Path, fragment: str) -> None:
    before = target.read_bytes() if target.is_file() else None
    result = cli("push", src, "--collection", target)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith(f"cardsmith: error: {target}: "), lines
    assert fragment in lines[0]
    assert not (target.parent / "backups").exists()
    if before is not None:
        assert target.read_bytes() == before


def test_a_collection_open_in_anki_is_refused(
    setup: tuple[Path, Path, dict[str, int]], cli: Callable[..., object]
) -> None:
    src, base, _ = setup
    target = base / "User 1" / "collection.anki2"
    for backup in (base / "User 1" / "backups").glob("*"):
        backup.unlink()
    (base / "User 1" / "backups").rmdir()
    col = AnkiCollection(target)  # Anki has the profile open
    try:
        refused(cli, src, target, "is open in Anki")
    finally:
        col.close()


def test_a_locked_collection_is_refused(
    setup: tuple[Path, Path, dict[str, int]], cli: Callable[..., object], tmp_path: Path
) -> None:
    src, base, _ = setup
    target = tmp_path / "locked" / "collection.anki2"
    target.parent.mkdir()
    target.write_bytes((base / "User 1" / "collection.anki2").read_bytes())
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")  # another program holds it
    try:
        refused(cli, src, target, "locked by another program")
    finally:
        conn.close()


def test_not_a_collection_is_refused(
    tree: Callable[[Tree], Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    src = tree(four_cards())
    text = tmp_path / "text" / "collection.anki2"
    text.parent.mkdir()
    text.write_text("hello")
    refused(cli, src, text, "not an Anki collection")
    other = tmp_path / "other" / "collection.anki2"
    other.parent.mkdir()
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    refused(cli, src, other, "without Anki's tables")
    missing = tmp_path / "missing" / "collection.anki2"
    missing.parent.mkdir()
    refused(cli, src, missing, "no such collection")
    assert not missing.exists()


def test_profiles_are_found_in_ankis_data_folder(
    tree: Callable[[Tree], Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    src = tree(four_cards())
    base = tmp_path / "Anki2"
    for name in ("Alice", "Bob"):
        AnkiCollection(base / name / "collection.anki2").close()
    result = cli("push", src, "--base", base, "--dry-run")
    assert result.exit_code == 2
    assert "name a profile with --profile" in result.stderr and "Alice, Bob" in result.stderr  # type: ignore[attr-defined]
    result = cli("push", src, "--base", base, "--profile", "Bob", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"collection: {base / 'Bob' / 'collection.anki2'}")  # type: ignore[attr-defined]


def test_ankis_default_data_folder_per_platform() -> None:
    assert anki_base("linux", {"HOME": "/home/u"}) == Path("/home/u/.local/share/Anki2")
    assert anki_base("linux", {"HOME": "/h", "XDG_DATA_HOME": "/x"}) == Path("/x/Anki2")
    assert anki_base("darwin", {"HOME": "/Users/u"}) == Path(
        "/Users/u/Library/Application Support/Anki2"
    )
    assert anki_base("win32", {"HOME": "C:/u", "APPDATA": "C:/u/AppData/Roaming"}) == Path(
        "C:/u/AppData/Roaming/Anki2"
    )


def test_without_the_anki_backend_push_says_how_to_install_it(
    tree: Callable[[Tree], Path], cli: Callable[..., object], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    src = tree(four_cards())
    target = tmp_path / "p" / "collection.anki2"
    AnkiCollection(target).close()
    monkeypatch.setitem(sys.modules, "anki.collection", None)
    result = cli("push", src, "--collection", target)
    assert result.exit_code == 2
    assert result.stderr == (  # type: ignore[attr-defined]
        "cardsmith: error: push needs the Anki backend: pip install 'cardsmith[anki]'\n"
    )
