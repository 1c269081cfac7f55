"""Anki packages: the one module that talks to genanki (note types, GUIDs, the .apkg zip)."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
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

from cardsmith import kinds, lifeline
from cardsmith.errors import OutputError
from cardsmith.model import NoteTypeDecl

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Speed over a few percent of size: the collection is most of a package's bytes.
ZIP_LEVEL = 1
# genanki's schema, its indexes made after the rows are in: building an index once is
# cheaper than keeping it up to date row by row (~10% of a 5k-card package).
_INDEXES = re.findall(r"CREATE INDEX [^;]*;", APKG_SCHEMA)
_TABLES = re.sub(r"CREATE INDEX [^;]*;", "", APKG_SCHEMA)
# What this module (and so every package it makes) looks like; part of package fingerprints.
_CODE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@dataclass(frozen=True)
class NoteSpec:
    """Everything one Anki note needs; `fields` in the order of its kind's note type."""

    guid: str
    deck: str
    kind: str
    fields: tuple[str, ...]
    tags: tuple[str, ...]
    mod: int
    # Where the note's first new card stands in the deck's study order (Anki's "due" of a
    # new card); its other cards follow it.
    position: int = 0
    # The note's id, fixed by the deck's ledger (0: numbered in package order). Anki keeps
    # it on import, so removed cards can be found by `nid:` (docs/updating.md).
    note_id: int = 0
    # The deck's declared note type of the note (kind `nt<id>`), None for cardsmith's own.
    note_type: NoteTypeDecl | None = None
    # ledger.content_hash of kind, deck, fields and tags, when the caller has it: the
    # package fingerprint then hashes it instead of every field again.
    content: str = ""


def note_guid(deck_key: str, card_key: str, kind: str = "basic") -> str:
    """A GUID from the deck's identity, the card's and its kind; never from the answer.

    A declared note type's kind is `nt<id>`: its cards hash (deck, card, `nt<id>`)."""
    own = kinds.BY_NAME.get(kind)
    parts = own.guid_parts(deck_key, card_key) if own else (deck_key, card_key, kind)
    return str(genanki.guid_for(*parts))


def deck_id(full_name: str) -> int:
    """A stable Anki deck id for a deck name (never 1, Anki's Default deck)."""
    digest = int.from_bytes(hashlib.sha256(full_name.encode()).digest()[:8], "big")
    return (1 << 40) + digest % (1 << 50)


def note_types(code_css: str) -> dict[str, Any]:
    """The note type of each kind of card (see kinds.py), as genanki models."""
    css = kinds.card_css() + code_css
    return {
        kind.name: genanki.Model(
            kind.note_type_id,
            kind.note_type_name,
            fields=[{"name": name} for name in kind.fields],
            templates=[{"name": t.name, "qfmt": t.front, "afmt": t.back} for t in kind.templates],
            css=css,
            model_type=genanki.Model.CLOZE if kind.cloze else genanki.Model.FRONT_BACK,
            sort_field_index=kind.sort_field,
        )
        for kind in kinds.KINDS
    }


class _DeclaredModel(genanki.Model):  # type: ignore[misc]
    """A declared note type. genanki works out which fields each template needs (Anki's
    legacy `req`) and gives up on a template that shows no field (and on cloze
    templates): such a template needs nothing and makes no card of its own."""

    @functools.cached_property
    def _req(self) -> list[list[Any]]:
        req: list[list[Any]] = []
        for ord_, template in enumerate(self.templates):
            if self.model_type == genanki.Model.CLOZE:
                req.append([ord_, "any", [0]])
                continue
            alone = genanki.Model(fields=self.fields, templates=[template])
            try:
                _, how, needed = alone._req[0]
            except Exception:  # genanki raises a bare Exception for a template without fields
                how, needed = "none", []
            req.append([ord_, how, needed])
        return req


@functools.cache
def declared_model(decl: NoteTypeDecl, code_css: str) -> Any:
    """A declared note type as a genanki model: passed through as its author wrote it,
    with cardsmith's card CSS and the code highlighting CSS appended to its CSS."""
    extra: dict[str, Any] = {}
    if decl.latex_pre is not None:
        extra["latex_pre"] = decl.latex_pre
    if decl.latex_post is not None:
        extra["latex_post"] = decl.latex_post
    return _DeclaredModel(
        decl.id,
        decl.name,
        fields=[{"name": name} for name in decl.fields],
        templates=[{"name": t.name, "qfmt": t.front, "afmt": t.back} for t in decl.templates],
        # Only the code highlighting's classes are added: cardsmith's card CSS would
        # restyle the author's cards (its `.card` rules come last and win).
        css=f"{decl.css.rstrip()}\n\n{code_css}",
        model_type=genanki.Model.CLOZE if decl.cloze else genanki.Model.FRONT_BACK,
        sort_field_index=decl.sort_field,
        **extra,
    )


def template_ords(decl: NoteTypeDecl, fields: tuple[str, ...]) -> list[int]:
    """The cards a note of a declared standard note type makes: one per template whose
    front shows a field the note fills, as Anki (and genanki) decide; card 0 if none."""
    ords = [
        ord_
        for ord_, how, needed in declared_model(decl, "")._req
        if how != "none" and (any if how == "any" else all)(fields[i].strip() for i in needed)
    ]
    return ords or [0]


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
        if note.content:
            what = [note.content]
        else:
            what = [note.deck, note.kind, *note.fields, "\x1e", *note.tags]
        parts = [note.guid, *what, str(note.mod), str(note.position), str(note.note_id)]
        if note.note_type is not None:
            parts.append(kinds.declared_digest(note.note_type))
        digest.update(("\x1f".join(parts) + "\x1e\x1e").encode())
    digest.update(kinds.note_type_digest().encode() + code_css.encode())
    digest.update(json.dumps([sorted(media), sorted(descriptions.items())]).encode())
    return digest.hexdigest()


def package_bytes(
    notes: Sequence[NoteSpec],
    media: Mapping[str, bytes],
    descriptions: Mapping[str, str],
    code_css: str,
) -> bytes:
    """The .apkg bytes for notes: the same input always gives the same bytes."""
    models = note_types(code_css)
    for note in notes:
        if note.note_type is not None and note.kind not in models:
            models[note.kind] = declared_model(note.note_type, code_css)
    timestamp = max([kinds.NOTE_TYPE_EPOCH, *(n.mod for n in notes)])
    buffer = BytesIO()
    # The collection goes through a file, not memory: a serialized in-memory database is
    # one more copy of every card's HTML, and large decks must build in little memory.
    try:
        with lifeline.scratch_folder() as scratch:
            database = scratch / "collection.anki2"
            conn = sqlite3.connect(database)
            try:
                conn.execute("PRAGMA journal_mode = OFF")
                # Bigger pages: fewer page splits while ~10 MB of fields go in (-13% time).
                conn.execute("PRAGMA page_size = 16384")
                conn.execute("PRAGMA synchronous = OFF")
                _write_collection(conn.cursor(), notes, descriptions, models, timestamp)
                conn.commit()
            finally:
                conn.close()
            with zipfile.ZipFile(
                buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL
            ) as archive:
                _add_file(archive, "collection.anki2", database)
                _write_media(archive, media)
    except (sqlite3.Error, OSError) as error:  # a full or read-only temporary folder, mostly
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise OutputError(
            Path(tempfile.gettempdir()), f"cannot make the package's database: {reason}"
        ) from None
    return buffer.getvalue()


def _write_media(archive: zipfile.ZipFile, media: Mapping[str, bytes]) -> None:
    """The media index (number -> name) and the files, in name order."""
    ordered = sorted(media)
    index = {str(i): name for i, name in enumerate(ordered)}
    _add(archive, "media", json.dumps(index, sort_keys=True).encode())
    for i, name in enumerate(ordered):
        _add(archive, str(i), media[name])


def card_ords(spec: NoteSpec) -> list[int]:
    """The cards a note makes, as genanki's Note decides them (every field is non-empty;
    a declared note type's as Anki decides them)."""
    if spec.note_type is not None:
        return kinds.declared_kind(spec.note_type).card_ords(spec.fields)
    return kinds.BY_NAME[spec.kind].card_ords(spec.fields)


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
    cursor.executescript(_TABLES)
    cursor.executescript(APKG_COL)
    # Every deck of the tree, parents too: a parent missing from the package is made by
    # Anki's importer as a default deck (collapsed, no description).
    names = sorted({parent for name in {n.deck for n in notes} | set(descriptions)
                    for parent in _ancestors(name)})  # fmt: skip
    fixed = {spec.note_id for spec in notes if spec.note_id}
    ids = (n for n in itertools.count(timestamp * 1000) if n not in fixed)
    card_rows: list[tuple[Any, ...]] = []
    model_deck: dict[str, int] = {}
    model_mod: dict[str, int] = {}
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
                if spec.note_type is not None:  # its author's time (docs/format.md)
                    model_mod[spec.kind] = spec.note_type.modified
                nid = spec.note_id or next(ids)
                yield (nid, spec.guid, model.model_id, spec.mod, -1,
                       f" {' '.join(spec.tags)} ", "\x1f".join(spec.fields),
                       spec.fields[model.sort_field_index], 0, 0, "")  # fmt: skip
                for ord_ in card_ords(spec):
                    card_rows.append(
                        (next(ids), nid, did, ord_, spec.mod, -1, 0, 0, spec.position, 0, 0, 0,
                         0, 0, 0, 0, 0, "")
                    )  # fmt: skip

    cursor.executemany("INSERT INTO notes VALUES(?,?,?,?,?,?,?,?,?,?,?)", note_rows())
    cursor.executemany("INSERT INTO cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", card_rows)
    cursor.executescript("\n".join(_INDEXES))

    (decks_json,) = cursor.execute("SELECT decks FROM col").fetchone()
    deck_table = json.loads(decks_json)
    for name in names:
        deck = genanki.Deck(deck_id(name), name, descriptions.get(name, ""))
        deck_table[str(deck.deck_id)] = {**deck.to_json(), "browserCollapsed": False}
    (models_json,) = cursor.execute("SELECT models FROM col").fetchone()
    model_table = json.loads(models_json)
    for kind in sorted(model_deck):
        model = models[kind]
        model_table[str(model.model_id)] = model.to_json(
            model_mod.get(kind, timestamp), model_deck[kind]
        )
    cursor.execute(
        "UPDATE col SET decks = ?, models = ?", (json.dumps(deck_table), json.dumps(model_table))
    )


def _ancestors(name: str) -> list[str]:
    """A deck and its parents: "A::B::C" -> ["A", "A::B", "A::B::C"]."""
    parts = name.split("::")
    return ["::".join(parts[: n + 1]) for n in range(len(parts))]


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
