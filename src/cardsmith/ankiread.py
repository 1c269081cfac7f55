"""Reading decks out of Anki for `cardsmith import`: the one module that uses the `anki`
backend to read (push.py and verify.py use it to write and to check).

A package is imported into a throwaway collection (an .apkg with Anki's package import,
a .colpkg with its collection-package import); a local collection is copied first, so
the user's files are never modified. What comes out is plain data (`AnkiDeck`): the
chosen deck's tree, the notes with a card in it, their note types, and where each media
file they use lies. Nothing here knows about Markdown.

The `anki` package (`pip install 'cardsmith[anki]'`) is imported only on use.
"""

from __future__ import annotations

import shutil
import sqlite3
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardsmith.diagnostics import one_line, quote_path
from cardsmith.errors import CardsmithError
from cardsmith.lifeline import scratch_folder
from cardsmith.model import NoteTypeTemplate
from cardsmith.push import MissingBackend, preflight

# The collection files a package may hold, in the order Anki prefers them.
COLLECTION_NAMES = ("collection.anki21b", "collection.anki21", "collection.anki2")
# Anki's PackageMetadata versions this backend reads (LEGACY_1, LEGACY_2, LATEST).
KNOWN_PACKAGE_VERSIONS = (1, 2, 3)


class ReadError(CardsmithError):
    """A package or collection that cannot be read: one line, exit 1."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{quote_path(path)}: error: {reason}")


@dataclass(frozen=True)
class NoteType:
    """A note type as Anki stores it."""

    id: int
    name: str
    cloze: bool
    fields: tuple[str, ...]
    sort_field: int  # index into fields
    templates: tuple[NoteTypeTemplate, ...]
    css: str
    latex_pre: str
    latex_post: str
    modified: int  # Unix seconds


@dataclass(frozen=True)
class Note:
    """A note with a card in the chosen deck."""

    id: int
    guid: str
    note_type: int
    fields: tuple[str, ...]
    tags: tuple[str, ...]  # in the package's own order where it has one (else Anki's)
    mod: int
    deck: str  # the deck of its first card inside the chosen deck's tree
    position: int | None  # a new card's place in the new-card order (None: no new card)


@dataclass(frozen=True)
class AnkiDeck:
    """The chosen deck's tree, as plain data."""

    origin: Path
    name: str  # the chosen deck's full name
    decks: tuple[str, ...]  # full names of the deck and every subdeck, in Anki's order
    description: str  # the chosen deck's description (HTML)
    note_types: dict[int, NoteType]
    notes: tuple[Note, ...]
    media_dir: Path  # the collection's media folder (files are read, never written)

    def media_path(self, name: str) -> Path | None:
        """The file of a media name, if it is a plain file name present in the folder."""
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            return None
        path = self.media_dir / name
        return path if path.is_file() else None


def _backend() -> Any:
    try:
        import anki.collection
        import anki.errors
        import anki.import_export_pb2
    except ImportError:
        raise MissingBackend(
            "cardsmith: error: import needs the Anki backend: pip install 'cardsmith[anki]'"
        ) from None
    return anki


@contextmanager
def read_package(path: Path, deck: str | None = None) -> Iterator[AnkiDeck]:
    """An .apkg or .colpkg, imported into a throwaway collection (kept while in use)."""
    raw_tags = _check_package(path)
    anki = _backend()
    with scratch_folder("import") as scratch:
        target = scratch / "collection.anki2"
        try:
            if path.suffix.lower() == ".colpkg":
                from anki._backend import RustBackend

                RustBackend().import_collection_package(
                    col_path=str(target),
                    backup_path=str(path.resolve()),
                    media_folder=str(scratch / "collection.media"),
                    media_db=str(scratch / "collection.media.db2"),
                )
                col = anki.collection.Collection(str(target))
            else:
                col = anki.collection.Collection(str(target))
                _import_apkg(anki, col, path)
        except anki.errors.AnkiException as error:
            raise ReadError(path, f"Anki cannot read it: {_first_line(error)}") from None
        try:
            yield _snapshot(col, path, deck, raw_tags)
        finally:
            col.close()


@contextmanager
def read_collection(path: Path, deck: str) -> Iterator[AnkiDeck]:
    """A local collection (Anki closed), read from a copy; its media folder is read in place."""
    wal = path.with_name(path.name + "-wal")
    if path.is_file() and wal.exists():
        # Anki keeps its collection in write-ahead-log mode while it is open (a lock of
        # its own, which SQLite readers elsewhere do not see) and removes the log on close.
        raise ReadError(
            path,
            f"the collection is open in Anki or another program ({wal.name} is there): "
            "close it and try again (if Anki is closed, open and close it once)",
        )
    preflight(path)  # not there, not a collection, or locked by another program: one line
    anki = _backend()
    with scratch_folder("import") as scratch:
        copy = scratch / "collection.anki2"
        try:
            # A plain copy: Anki closed leaves no write-ahead log, and an SQLite reader
            # (even a read-only one) would leave -wal and -shm files beside the collection.
            shutil.copyfile(path, copy)
        except OSError as error:
            raise ReadError(path, f"cannot copy it: {error.strerror or error}") from None
        try:
            col = anki.collection.Collection(str(copy))
        except anki.errors.AnkiException as error:
            raise ReadError(path, f"Anki cannot open it: {_first_line(error)}") from None
        try:
            media = path.parent / (path.stem + ".media")
            yield _snapshot(col, path, deck, {}, media)
        finally:
            col.close()


def _first_line(error: BaseException) -> str:
    return one_line(str(error).strip().splitlines()[0] if str(error).strip() else repr(error))


def _import_apkg(anki: Any, col: Any, path: Path) -> None:
    # A new collection holds Anki's stock note types; an incoming note type with the same
    # name (another id) would be renamed "Basic+": move them out of the way first.
    for n, entry in enumerate(col.models.all_names_and_ids()):
        model = col.models.get(entry.id)
        model["name"] = f"cardsmith scratch {n} {entry.id}"
        col.models.update_dict(model)
    pb = anki.import_export_pb2
    always = pb.ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_ALWAYS
    col.import_anki_package(
        pb.ImportAnkiPackageRequest(
            package_path=str(path.resolve()),
            options=pb.ImportAnkiPackageOptions(
                update_notes=always,
                update_notetypes=always,
                merge_notetypes=False,
                with_scheduling=True,  # keeps each new card's position
            ),
        )
    )
    col.models._clear_cache()


def _check_package(path: Path) -> dict[str, tuple[str, ...]]:
    """Refuse what is not an Anki package before the backend sees it; return the tags of
    each note (by GUID) in the package's own order, where the package has them legibly
    (a legacy collection: Anki sorts tags on import, cardsmith writes the deck's first)."""
    if not path.exists():
        raise ReadError(path, "no such file")
    if not path.is_file():
        raise ReadError(path, "not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            collection = next((n for n in COLLECTION_NAMES if n in names), None)
            if collection is None:
                raise ReadError(path, "not an Anki package: the zip holds no Anki collection")
            if "meta" in names:
                _check_version(path, archive.read("meta"))
            if collection == "collection.anki21b":
                return {}
            with scratch_folder("import") as scratch:
                database = scratch / "collection"
                with archive.open(collection) as source, database.open("wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
                return _raw_tags(path, database)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as error:
        raise ReadError(
            path, f"not an Anki package (not a zip file: {one_line(str(error))})"
        ) from None
    except OSError as error:
        raise ReadError(path, f"cannot read it: {error.strerror or error}") from None


def _check_version(path: Path, meta: bytes) -> None:
    try:
        from anki.import_export_pb2 import PackageMetadata
    except ImportError:
        return  # _backend() says what is missing
    message = PackageMetadata()
    try:
        message.ParseFromString(meta)
    except Exception:  # protobuf's DecodeError
        raise ReadError(path, "not an Anki package: its metadata is unreadable") from None
    if message.version not in KNOWN_PACKAGE_VERSIONS:
        raise ReadError(
            path,
            f"the package uses a newer format (version {message.version}) than this Anki "
            "backend reads: upgrade the anki package (pip install -U 'cardsmith[anki]')",
        )


def _raw_tags(path: Path, database: Path) -> dict[str, tuple[str, ...]]:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT guid, tags FROM notes").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise ReadError(
            path, f"not an Anki package: its collection is unreadable ({error})"
        ) from None
    return {str(guid): tuple(str(tags).split()) for guid, tags in rows}


def _snapshot(
    col: Any,
    origin: Path,
    deck: str | None,
    raw_tags: dict[str, tuple[str, ...]],
    media_dir: Path | None = None,
) -> AnkiDeck:
    names = {entry.id: entry.name for entry in col.decks.all_names_and_ids()}
    top = _choose_deck(col, origin, deck, names)
    top_id = col.decks.id_for_name(top)
    tree = set(col.decks.deck_and_child_ids(top_id))
    in_tree = ",".join(str(did) for did in sorted(tree))
    rows = col.db.all(
        "SELECT nid, ord, CASE WHEN odid != 0 THEN odid ELSE did END, type, "
        "CASE WHEN odid != 0 THEN odue ELSE due END FROM cards "
        f"WHERE (CASE WHEN odid != 0 THEN odid ELSE did END) IN ({in_tree}) ORDER BY nid, ord"
    )
    first: dict[int, tuple[int, int | None]] = {}  # nid -> (deck id, new position)
    for nid, _ord, did, kind, due in rows:
        deck_id, position = first.get(nid, (did, None))
        if kind == 0:
            position = due if position is None else min(position, due)
        first[nid] = (deck_id, position)
    notes: list[Note] = []
    note_types: dict[int, NoteType] = {}
    for nid, (did, position) in first.items():
        note = col.get_note(nid)
        if note.mid not in note_types:
            note_types[note.mid] = _note_type(col.models.get(note.mid))
        tags = tuple(note.tags)
        raw = raw_tags.get(note.guid)
        if raw is not None and {t.casefold() for t in raw} == {t.casefold() for t in tags}:
            tags = tuple(dict.fromkeys(raw))
        notes.append(
            Note(nid, note.guid, note.mid, tuple(note.fields), tags, note.mod, names[did], position)
        )
    decks = sorted(
        (names[did] for did in tree), key=lambda name: [p.casefold() for p in name.split("::")]
    )
    description = str(col.decks.get(top_id).get("desc", "") or "")
    folder = media_dir if media_dir is not None else Path(col.media.dir())
    return AnkiDeck(origin, top, tuple(decks), description, note_types, tuple(notes), folder)


def _choose_deck(col: Any, origin: Path, deck: str | None, names: dict[int, str]) -> str:
    if deck is not None:
        found = [name for name in names.values() if name.casefold() == deck.casefold()]
        if not found:
            known = sorted({name.split("::")[0] for name in names.values()})
            raise ReadError(
                origin, f"no deck named {deck!r} (top-level decks: {', '.join(known) or 'none'})"
            )
        return found[0]
    used = {
        names[did].split("::")[0]
        for (did,) in col.db.all(
            "SELECT DISTINCT CASE WHEN odid != 0 THEN odid ELSE did END FROM cards"
        )
        if did in names
    }
    if not used:
        raise ReadError(origin, "it holds no cards")
    if len(used) > 1:
        raise ReadError(
            origin,
            f"it holds several decks ({', '.join(sorted(used))}): choose one with --deck NAME",
        )
    return used.pop()


def _note_type(model: dict[str, Any]) -> NoteType:
    fields = tuple(f["name"] for f in sorted(model["flds"], key=lambda f: f["ord"]))
    templates = tuple(
        NoteTypeTemplate(t["name"], t["qfmt"], t["afmt"])
        for t in sorted(model["tmpls"], key=lambda t: t["ord"])
    )
    return NoteType(
        id=int(model["id"]),
        name=str(model["name"]),
        cloze=model.get("type", 0) == 1,
        fields=fields,
        sort_field=int(model.get("sortf", 0)),
        templates=templates,
        css=str(model.get("css", "")),
        latex_pre=str(model.get("latexPre", "")),
        latex_post=str(model.get("latexPost", "")),
        modified=int(model.get("mod", 0)),
    )
