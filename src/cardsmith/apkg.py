"""Anki packages: the one module that talks to genanki (note types, GUIDs, the .apkg zip)."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

from cardsmith.model import CLOZE_RE

# Ids and fields are frozen forever: Anki matches note types by id, and a changed field
# list orphans notes. Only the CSS and templates may change; bump NOTE_TYPE_EPOCH when
# they do, so that Anki (which applies note-type changes only when newer) takes them.
BASIC_NOTE_TYPE_ID = 1_763_510_001
REVERSE_NOTE_TYPE_ID = 1_763_510_002
CLOZE_NOTE_TYPE_ID = 1_763_510_003
BASIC_FIELDS = ("Front", "Back", "Source")
CLOZE_FIELDS = ("Text", "Title", "Source")
NOTE_TYPE_EPOCH = 1_795_996_800  # 2026-11-24

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Speed over a few percent of size: the collection is most of a package's bytes.
ZIP_LEVEL = 1
# What this module (and so every package it makes) looks like; part of package fingerprints.
_CODE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

FRONT_TEMPLATE = '<div class="cs-front">{{Front}}</div>'
BACK_TEMPLATE = (
    '<div class="cs-front">{{Front}}</div>\n<hr id="answer">\n'
    '<div class="cs-back">{{Back}}</div>\n<div class="cs-source">{{Source}}</div>'
)
REVERSED_FRONT_TEMPLATE = '<div class="cs-front cs-reversed">{{Back}}</div>'
REVERSED_BACK_TEMPLATE = (
    '<div class="cs-front cs-reversed">{{Back}}</div>\n<hr id="answer">\n'
    '<div class="cs-back">{{Front}}</div>\n<div class="cs-source">{{Source}}</div>'
)
CLOZE_FRONT_TEMPLATE = (
    '<div class="cs-front">{{Title}}</div>\n<div class="cs-back cs-cloze">{{cloze:Text}}</div>'
)
CLOZE_BACK_TEMPLATE = CLOZE_FRONT_TEMPLATE + '\n<div class="cs-source">{{Source}}</div>'

BASE_CSS = """\
.card {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  font-size: 18px; line-height: 1.45; text-align: left;
  color: #1b1b1b; background: #ffffff;
  margin: 0; padding: 12px 14px; overflow-wrap: break-word;
}
.card.nightMode, .card.night_mode, .nightMode .card, .night_mode .card {
  color: #e6e6e6; background: #2c2c2c;
}
.cs-front { font-weight: 600; }
.cs-back > :first-child { margin-top: 0; }
hr#answer {
  height: 0; background: none; border: 0; border-top: 1px solid rgba(127, 127, 127, 0.45);
  margin: 0.8em 0;
}
code, pre, kbd {
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono",
    "DejaVu Sans Mono", monospace;
}
:not(pre) > code {
  font-size: 0.9em; padding: 0.05em 0.3em; border-radius: 4px;
  background: rgba(127, 127, 127, 0.16); overflow-wrap: break-word;
}
.highlight { text-align: left; border-radius: 6px; margin: 0.6em 0; max-width: 100%; }
.highlight pre {
  margin: 0; padding: 0.6em 0.75em; overflow-x: auto; white-space: pre;
  font-size: 15px; line-height: 1.4; text-align: left; overflow-wrap: normal;
  -webkit-overflow-scrolling: touch;
}
.highlight pre code { background: transparent; padding: 0; font-size: inherit; }
table { border-collapse: collapse; display: block; max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid rgba(127, 127, 127, 0.5); padding: 0.3em 0.5em;
  text-align: left; vertical-align: top; overflow-wrap: normal; }
th code, td code { overflow-wrap: normal; }
blockquote {
  margin: 0.6em 0; padding-left: 0.8em; border-left: 3px solid rgba(127, 127, 127, 0.5);
}
img { max-width: 100%; height: auto; }
ul, ol { padding-left: 1.4em; }
a { color: #0b57d0; }
.nightMode a, .night_mode a { color: #8ab4f8; }
.cs-source { margin-top: 1.6em; font-size: 12px; opacity: 0.6; }
.cs-cloze { margin-top: 0.8em; }
.cloze { font-weight: 700; color: #0b57d0; }
.nightMode .cloze, .night_mode .cloze { color: #8ab4f8; }
"""


@dataclass(frozen=True)
class NoteSpec:
    """Everything one Anki note needs; `fields` in the order of its kind's note type."""

    guid: str
    deck: str
    kind: str
    fields: tuple[str, ...]
    tags: tuple[str, ...]
    mod: int


def note_guid(deck_key: str, card_key: str, kind: str = "basic") -> str:
    """A GUID from the deck's identity, the card's and its kind; never from the answer.

    The kind is part of it (except for plain cards) because a note cannot change its note
    type on import: a card made two-way or cloze becomes a new note.
    """
    if kind == "basic":
        return str(genanki.guid_for(deck_key, card_key))
    return str(genanki.guid_for(deck_key, card_key, kind))


def deck_id(full_name: str) -> int:
    """A stable Anki deck id for a deck name (never 1, Anki's Default deck)."""
    digest = int.from_bytes(hashlib.sha256(full_name.encode()).digest()[:8], "big")
    return (1 << 40) + digest % (1 << 50)


def note_types(code_css: str) -> dict[str, Any]:
    """The note type of each kind of card, with their frozen ids and fields."""
    css = BASE_CSS + code_css
    return {
        "basic": genanki.Model(
            BASIC_NOTE_TYPE_ID,
            "cardsmith basic",
            fields=[{"name": name} for name in BASIC_FIELDS],
            templates=[{"name": "Card 1", "qfmt": FRONT_TEMPLATE, "afmt": BACK_TEMPLATE}],
            css=css,
        ),
        "reverse": genanki.Model(
            REVERSE_NOTE_TYPE_ID,
            "cardsmith basic and reversed",
            fields=[{"name": name} for name in BASIC_FIELDS],
            templates=[
                {"name": "Forward", "qfmt": FRONT_TEMPLATE, "afmt": BACK_TEMPLATE},
                {
                    "name": "Reverse",
                    "qfmt": REVERSED_FRONT_TEMPLATE,
                    "afmt": REVERSED_BACK_TEMPLATE,
                },
            ],
            css=css,
        ),
        "cloze": genanki.Model(
            CLOZE_NOTE_TYPE_ID,
            "cardsmith cloze",
            fields=[{"name": name} for name in CLOZE_FIELDS],
            templates=[
                {"name": "Cloze", "qfmt": CLOZE_FRONT_TEMPLATE, "afmt": CLOZE_BACK_TEMPLATE}
            ],
            css=css,
            model_type=genanki.Model.CLOZE,
            sort_field_index=1,
        ),
    }


def package_fingerprint(
    notes: Sequence[NoteSpec],
    media: Mapping[str, bytes],
    descriptions: Mapping[str, str],
    code_css: str,
) -> str:
    """A hash of everything package_bytes puts into a package (media by their hashed names)."""
    digest = hashlib.sha256(_CODE_HASH.encode())
    for note in notes:
        # U+001E/U+001F cannot occur in fields or tags (control characters are refused).
        parts = [note.guid, note.deck, note.kind, *note.fields, "\x1e", *note.tags, str(note.mod)]
        digest.update(("\x1f".join(parts) + "\x1e\x1e").encode())
    digest.update(json.dumps([sorted(media), sorted(descriptions.items()), code_css]).encode())
    return digest.hexdigest()


def package_bytes(
    notes: Sequence[NoteSpec],
    media: Mapping[str, bytes],
    descriptions: Mapping[str, str],
    code_css: str,
) -> bytes:
    """The .apkg bytes for notes: the same input always gives the same bytes."""
    models = note_types(code_css)
    timestamp = max([NOTE_TYPE_EPOCH, *(n.mod for n in notes)])
    buffer = BytesIO()
    # The collection goes through a file, not memory: a serialized in-memory database is
    # one more copy of every card's HTML, and large decks must build in little memory.
    with tempfile.TemporaryDirectory(prefix="cardsmith-") as scratch:
        database = Path(scratch) / "collection.anki2"
        conn = sqlite3.connect(database)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            _write_collection(conn.cursor(), notes, descriptions, models, timestamp)
            conn.commit()
        finally:
            conn.close()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as archive:
            _add_file(archive, "collection.anki2", database)
            _write_media(archive, media)
    return buffer.getvalue()


def _write_media(archive: zipfile.ZipFile, media: Mapping[str, bytes]) -> None:
    """The media index (number -> name) and the files, in name order."""
    ordered = sorted(media)
    index = {str(i): name for i, name in enumerate(ordered)}
    _add(archive, "media", json.dumps(index, sort_keys=True).encode())
    for i, name in enumerate(ordered):
        _add(archive, str(i), media[name])


def card_ords(spec: NoteSpec) -> list[int]:
    """The cards a note makes, as genanki's Note decides them (every field is non-empty).

    Plain: one card; reversed: both directions; cloze: one per cloze number (c1 is 0).
    """
    if spec.kind == "cloze":
        numbers = {int(m["n"]) - 1 for m in CLOZE_RE.finditer(spec.fields[0]) if int(m["n"]) > 0}
        return sorted(numbers) or [0]
    return [0, 1] if spec.kind == "reverse" else [0]


def _write_collection(
    cursor: sqlite3.Cursor,
    notes: Sequence[NoteSpec],
    descriptions: Mapping[str, str],
    models: Mapping[str, Any],
    timestamp: int,
) -> None:
    """Fill an empty database with genanki's schema, decks, note types, notes and cards.

    genanki's own Package.write_to_db re-reads and rewrites the whole deck and note-type
    JSON once per deck and inserts row by row; with a subdeck per topic that was most of
    a rebuild's time. The rows are the ones genanki writes (the same cards for
    each note, see card_ords), with each note's own modification time, inserted in bulk.
    """
    cursor.executescript(APKG_SCHEMA)
    cursor.executescript(APKG_COL)
    names = sorted({n.deck for n in notes} | set(descriptions))
    ids = itertools.count(timestamp * 1000)
    card_rows: list[tuple[Any, ...]] = []
    model_deck: dict[str, int] = {}
    by_deck: dict[str, list[NoteSpec]] = {name: [] for name in names}
    for spec in notes:
        by_deck[spec.deck].append(spec)

    def note_rows() -> Iterator[tuple[Any, ...]]:
        # A generator, so that each note's joined fields exist only until inserted.
        for name in names:
            did = deck_id(name)
            for spec in by_deck[name]:
                model = models[spec.kind]
                model_deck.setdefault(spec.kind, did)
                nid = next(ids)
                yield (nid, spec.guid, model.model_id, spec.mod, -1,
                       f" {' '.join(spec.tags)} ", "\x1f".join(spec.fields),
                       spec.fields[model.sort_field_index], 0, 0, "")  # fmt: skip
                for ord_ in card_ords(spec):
                    card_rows.append(
                        (next(ids), nid, did, ord_, spec.mod, -1, 0, 0, 0, 0, 0, 0, 0, 0,
                         0, 0, 0, "")
                    )  # fmt: skip

    cursor.executemany("INSERT INTO notes VALUES(?,?,?,?,?,?,?,?,?,?,?)", note_rows())
    cursor.executemany("INSERT INTO cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", card_rows)

    (decks_json,) = cursor.execute("SELECT decks FROM col").fetchone()
    deck_table = json.loads(decks_json)
    for name in names:
        deck = genanki.Deck(deck_id(name), name, descriptions.get(name, ""))
        deck_table[str(deck.deck_id)] = deck.to_json()
    (models_json,) = cursor.execute("SELECT models FROM col").fetchone()
    model_table = json.loads(models_json)
    for kind in sorted(model_deck):
        model = models[kind]
        model_table[str(model.model_id)] = model.to_json(timestamp, model_deck[kind])
    cursor.execute(
        "UPDATE col SET decks = ?, models = ?", (json.dumps(deck_table), json.dumps(model_table))
    )


def _zip_info(name: str) -> zipfile.ZipInfo:
    """Entry metadata fixed, so that the same content always zips to the same bytes."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    # ZipFile.open(info, "w") takes the level from the entry, not the archive (the
    # attribute is named so in 3.11 and 3.12, an alias of compress_level from 3.13).
    info._compresslevel = ZIP_LEVEL  # type: ignore[attr-defined]
    return info


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    archive.writestr(_zip_info(name), data, compresslevel=ZIP_LEVEL)


def _add_file(archive: zipfile.ZipFile, name: str, path: Path) -> None:
    """Stream a file into the archive."""
    with path.open("rb") as source, archive.open(_zip_info(name), "w") as target:
        shutil.copyfileobj(source, target, 1 << 20)


# Reading a package back (used by `cardsmith preview`, which shows exactly what was packed).


@dataclass(frozen=True)
class PackedNoteType:
    """A note type as stored in a package: its fields, card templates and CSS."""

    id: int
    name: str
    is_cloze: bool
    fields: tuple[str, ...]
    templates: tuple[tuple[str, str, str], ...]  # (name, front template, back template)
    css: str


@dataclass(frozen=True)
class PackedCard:
    """One card of a package with its note's fields, deck and tags."""

    note_type: PackedNoteType
    ord: int
    deck: str
    guid: str
    fields: tuple[tuple[str, str], ...]  # (field name, HTML) in the note type's order
    tags: tuple[str, ...]


@dataclass(frozen=True)
class PackageContents:
    """The cards (in package order) and media files of a package written by package_bytes."""

    cards: tuple[PackedCard, ...]
    media: dict[str, bytes]


def read_package(data: bytes) -> PackageContents:
    """Read back a package written by package_bytes (the legacy collection.anki2 layout)."""
    with zipfile.ZipFile(BytesIO(data)) as archive:
        database = archive.read("collection.anki2")
        index: dict[str, str] = json.loads(archive.read("media"))
        media = {name: archive.read(number) for number, name in index.items()}
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(database)
        models_json, decks_json = conn.execute("SELECT models, decks FROM col").fetchone()
        rows = conn.execute(
            "SELECT n.mid, c.ord, c.did, n.guid, n.flds, n.tags FROM cards c"
            " JOIN notes n ON n.id = c.nid ORDER BY c.id"
        ).fetchall()
    finally:
        conn.close()
    types: dict[int, PackedNoteType] = {}
    for key, model in json.loads(models_json).items():
        types[int(key)] = PackedNoteType(
            id=int(key),
            name=model["name"],
            is_cloze=model.get("type", 0) == 1,
            fields=tuple(f["name"] for f in sorted(model["flds"], key=lambda f: f["ord"])),
            templates=tuple(
                (t["name"], t["qfmt"], t["afmt"])
                for t in sorted(model["tmpls"], key=lambda t: t["ord"])
            ),
            css=model["css"],
        )
    deck_names = {int(key): deck["name"] for key, deck in json.loads(decks_json).items()}
    cards = []
    for mid, ord_, did, guid, flds, tags in rows:
        note_type = types[int(mid)]
        values = flds.split("\x1f")
        cards.append(
            PackedCard(
                note_type=note_type,
                ord=ord_,
                deck=deck_names[did],
                guid=guid,
                fields=tuple(zip(note_type.fields, values, strict=False)),
                tags=tuple(tags.split()),
            )
        )
    return PackageContents(tuple(cards), media)
