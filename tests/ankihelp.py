"""A thin wrapper over Anki's own backend (the `anki` package) for import tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from anki.collection import Collection
from anki.import_export_pb2 import (
    ImportAnkiPackageOptions,
    ImportAnkiPackageRequest,
    ImportAnkiPackageUpdateCondition,
)

IF_NEWER = ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER
LOG_KINDS = ("new", "updated", "duplicate", "conflicting", "missing_notetype", "empty_first_field")


@dataclass(frozen=True)
class ImportLog:
    """How many notes of each kind Anki's importer reported."""

    counts: dict[str, int]

    def __getattr__(self, name: str) -> int:
        return self.counts[name]


@dataclass(frozen=True)
class NoteView:
    guid: str
    fields: dict[str, str]
    tags: list[str]
    decks: list[str]
    mod: int
    note_id: int


class AnkiCollection:
    """A real collection; imports use Anki's default import settings (update if newer)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.col = Collection(str(path))

    def close(self) -> None:
        self.col.close()

    def import_package(self, package: Path) -> ImportLog:
        request = ImportAnkiPackageRequest(
            package_path=str(package),
            options=ImportAnkiPackageOptions(
                update_notes=IF_NEWER,
                update_notetypes=IF_NEWER,
                merge_notetypes=False,
                with_scheduling=False,
            ),
        )
        log = self.col.import_anki_package(request).log
        self.col.models._clear_cache()
        return ImportLog({kind: len(getattr(log, kind)) for kind in LOG_KINDS})

    def deck_names(self) -> list[str]:
        """Every deck name, in the order Anki's deck list shows them (depth first)."""
        names: list[str] = []

        def walk(node: object, prefix: str) -> None:
            for child in node.children:  # type: ignore[attr-defined]
                name = f"{prefix}::{child.name}" if prefix else child.name
                names.append(name)
                walk(child, name)

        walk(self.col.decks.deck_tree(), "")
        return names

    def notes(self) -> list[NoteView]:
        views = []
        for nid in self.col.find_notes(""):
            note = self.col.get_note(nid)
            names = [field["name"] for field in note.note_type()["flds"]]  # type: ignore[index]
            decks = sorted({self.col.decks.name(card.did) for card in note.cards()})
            views.append(
                NoteView(
                    note.guid,
                    dict(zip(names, note.fields, strict=True)),
                    sorted(note.tags),
                    decks,
                    note.mod,
                    nid,
                )
            )
        return views

    def cards_per_deck(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cid in self.col.find_cards(""):
            name = self.col.decks.name(self.col.get_card(cid).did)
            counts[name] = counts.get(name, 0) + 1
        return counts

    def study_now(self, deck: str, count: int) -> list[str]:
        """The questions of the first cards "Study Now" on deck serves (Anki's scheduler)."""
        did = self.col.decks.id_for_name(deck)
        assert did is not None
        self.col.decks.select(did)
        queued = self.col.sched.get_queued_cards(fetch_limit=count).cards
        return [self.col.get_card(c.card.id).note().fields[0] for c in queued]

    def media_files(self) -> list[str]:
        return sorted(p.name for p in Path(self.col.media.dir()).iterdir())

    def rendered(self) -> list[tuple[str, str]]:
        """(question, answer) HTML of every card, as Anki renders them."""
        out = []
        for cid in self.col.find_cards(""):
            card = self.col.get_card(cid)
            out.append((card.question(), card.answer()))
        return out
