"""`cardsmith verify`: import packages into a throwaway collection with the real Anki backend.

Works on any .apkg (ours, genanki's, Anki's own exports in the old and the current format).
The `anki` package is imported here only, and only when a package is verified: it is an
optional extra (`pip install 'cardsmith[anki]'`).
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardsmith.errors import PackageError
from cardsmith.lifeline import scratch_folder

COLLECTION_NAMES = ("collection.anki21b", "collection.anki21", "collection.anki2")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Anki renders a blank front or a broken template as a message linking to this page.
ERRORS_PAGE = "templates/errors.html"
BLANK_FRONT_ANCHOR = "#front-of-card-is-blank"
INSTALL_HINT = "install it with: pip install 'cardsmith[anki]'"

_TAG_RE = re.compile(r"<[^>]*>")
_STYLE_RE = re.compile(r"<(style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_VISIBLE_MEDIA_RE = re.compile(r"<(img|video|audio|svg|object|embed)\b|\[sound:", re.IGNORECASE)


class VerifyError(PackageError):
    """A package that cannot be verified at all (missing, not a package, no Anki backend)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a package; kind is a stable word for machines."""

    kind: str  # duplicate-guid, missing-media, unused-media, blank-front, template-error, ...
    message: str


@dataclass(frozen=True)
class PackageReport:
    """What Anki made of one package."""

    path: Path
    notes: int
    cards: int
    decks: tuple[tuple[str, int], ...]  # (deck name, cards in it and its subdecks)
    note_types: tuple[tuple[str, int], ...]  # (note type name, notes)
    media: tuple[str, ...]  # file names packaged
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "notes": self.notes,
            "cards": self.cards,
            "decks": [{"name": name, "cards": n} for name, n in self.decks],
            "note_types": [{"name": name, "notes": n} for name, n in self.note_types],
            "media": list(self.media),
            "problems": [{"kind": p.kind, "message": p.message} for p in self.problems],
        }

    def summary(self) -> list[str]:
        """Human-readable lines: what the package holds."""
        lines = [
            f"{self.path}: {self.notes} note(s), {self.cards} card(s), "
            f"{len(self.media)} media file(s)"
        ]
        width = max((len(name) for name, _ in self.decks), default=0)
        lines += [f"  deck  {name.ljust(width)}  {n:>5} card(s)" for name, n in self.decks]
        lines += [f"  note type  {name}: {n} note(s)" for name, n in self.note_types]
        return lines

    def problem_lines(self) -> list[str]:
        return [f"{self.path}: error: {p.message}" for p in self.problems]


def check_readable(path: Path) -> None:
    """Raise VerifyError unless path is a zip holding an Anki collection."""
    if not path.exists():
        raise VerifyError(f"{path}: error: no such file")
    if not path.is_file():
        raise VerifyError(f"{path}: error: not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        raise VerifyError(f"{path}: error: not an Anki package (.apkg is a zip): {error}") from None
    if not names & set(COLLECTION_NAMES):
        raise VerifyError(f"{path}: error: not an Anki package: the zip holds no collection")


def verify_packages(paths: Sequence[Path]) -> list[PackageReport]:
    """Import each package into its own throwaway collection and report what Anki made of it."""
    for path in paths:
        check_readable(path)
    anki = _AnkiBackend()
    with scratch_folder("verify") as tmp:
        return [anki.verify(path, tmp / str(n)) for n, path in enumerate(paths)]


def packaged_media(path: Path) -> list[str]:
    """The media file names listed in a package (old JSON list or current zstd+protobuf one)."""
    with zipfile.ZipFile(path) as archive:
        try:
            raw = archive.read("media")
        except KeyError:
            return []
    if not raw.startswith(ZSTD_MAGIC):
        try:
            return sorted(json.loads(raw or b"{}").values())
        except (ValueError, AttributeError) as error:
            raise VerifyError(f"{path}: error: unreadable media list: {error}") from None
    try:
        import zstandard
        from anki.import_export_pb2 import MediaEntries
    except ImportError:
        raise VerifyError(
            f"{path}: error: reading this package's media list needs zstandard; {INSTALL_HINT}"
        ) from None
    entries = MediaEntries()
    try:
        entries.ParseFromString(zstandard.ZstdDecompressor().stream_reader(raw).read())
    except Exception as error:  # zstandard and protobuf raise their own error types
        raise VerifyError(f"{path}: error: unreadable media list: {error}") from None
    return sorted(entry.name for entry in entries.entries)


def _plain(text: str, limit: int = 50) -> str:
    text = " ".join(html.unescape(_TAG_RE.sub(" ", _STYLE_RE.sub("", text))).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _looks_blank(question: str) -> bool:
    """No visible text and no picture or sound: what a learner sees as an empty front."""
    body = _STYLE_RE.sub("", question)
    return not _plain(body) and not _VISIBLE_MEDIA_RE.search(body)


def _error_text(rendered: str) -> str:
    """Anki's template error message as one line of text, without its help link."""
    text = re.sub(r"<a\b.*?</a>", "", rendered, flags=re.DOTALL)
    text = re.sub(r"<br\s*/?>", " ", text)
    return _plain(text.replace("\u2068", "").replace("\u2069", ""), limit=200)


class _AnkiBackend:
    """The real Anki backend, imported on first use."""

    def __init__(self) -> None:
        try:
            from anki.collection import Collection
            from anki.errors import AnkiException
            from anki.import_export_pb2 import (
                ImportAnkiPackageOptions,
                ImportAnkiPackageRequest,
                ImportAnkiPackageUpdateCondition,
            )
        except ImportError:
            raise VerifyError(
                f"error: cardsmith verify needs the Anki backend (the anki package); {INSTALL_HINT}"
            ) from None
        self.collection = Collection
        self.anki_exception = AnkiException
        self.request = ImportAnkiPackageRequest
        update = ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER
        self.options = ImportAnkiPackageOptions(
            update_notes=update,
            update_notetypes=update,
            merge_notetypes=False,
            with_scheduling=False,
        )

    def verify(self, path: Path, folder: Path) -> PackageReport:
        media = packaged_media(path)
        folder.mkdir(parents=True)
        col = self.collection(str(folder / "collection.anki2"))
        try:
            try:
                col.import_anki_package(
                    self.request(package_path=str(path.resolve()), options=self.options)
                )
            except self.anki_exception as error:
                raise VerifyError(f"{path}: error: Anki could not import it: {error}") from None
            return _inspect(col, path, media)
        finally:
            col.close()


def _inspect(col: Any, path: Path, packaged: list[str]) -> PackageReport:
    problems: list[Problem] = []
    note_ids = list(col.find_notes(""))
    notes = {nid: col.get_note(nid) for nid in note_ids}

    def describe(note: Any) -> str:
        return f"note {_plain(note.fields[0]) or '(blank first field)'!r} (guid {note.guid!r})"

    guids = Counter(note.guid for note in notes.values())
    for guid, count in sorted(guids.items()):
        if count > 1:
            fronts = [repr(_plain(n.fields[0])) for n in notes.values() if n.guid == guid]
            problems.append(
                Problem(
                    "duplicate-guid",
                    f"duplicate GUID {guid!r} on {count} notes ({', '.join(fronts)}): "
                    "Anki matches notes by GUID, so later imports cannot tell them apart",
                )
            )

    with_cards = {nid for (nid,) in col.db.all("SELECT DISTINCT nid FROM cards")}
    for nid, note in notes.items():
        if nid not in with_cards:
            problems.append(
                Problem(
                    "note-without-cards",
                    f"{describe(note)} has no cards (its front is empty?); "
                    "Anki's Check Database deletes it",
                )
            )

    referenced: dict[str, list[Any]] = {}
    for note in notes.values():
        for name in col.media.files_in_str(note.mid, "\x1f".join(note.fields)):
            referenced.setdefault(name, []).append(note)
    for name in sorted(set(col.media.check().missing)):
        users = referenced.get(name, [])
        where = f"used by {describe(users[0])}" if users else "referenced by a note"
        more = f" and {len(users) - 1} more" if len(users) > 1 else ""
        problems.append(
            Problem("missing-media", f"missing media {name!r}: {where}{more}, not in the package")
        )
    for name in packaged:
        if name not in referenced and not name.startswith("_"):
            problems.append(
                Problem(
                    "unused-media",
                    f"unused media {name!r}: packaged but no note uses it "
                    "(Anki does not import it; prefix a name with _ to keep it for templates)",
                )
            )

    template_errors: dict[tuple[str, str, str], int] = {}
    card_ids = list(col.find_cards(""))
    for cid in card_ids:
        card = col.get_card(cid)
        note = notes[card.nid]
        output = card.render_output()
        question, answer = output.question_text, output.answer_text
        note_type = card.note_type()
        template = note_type["tmpls"][0 if note_type["type"] == 1 else card.ord]["name"]
        if BLANK_FRONT_ANCHOR in question or (
            ERRORS_PAGE not in question and _looks_blank(question)
        ):
            problems.append(
                Problem(
                    "blank-front",
                    f"blank front: card {template!r} of {describe(note)} "
                    f"in deck {col.decks.name(card.did)!r}",
                )
            )
        elif ERRORS_PAGE in question or ERRORS_PAGE in answer:
            text = _error_text(question if ERRORS_PAGE in question else answer)
            key = (note_type["name"], template, text)
            template_errors[key] = template_errors.get(key, 0) + 1
    for (type_name, template, text), count in template_errors.items():
        problems.append(
            Problem(
                "template-error",
                f"template error in note type {type_name!r}, card {template!r} "
                f"({count} card(s)): {text}",
            )
        )

    counts = dict(col.db.all("SELECT did, count() FROM cards GROUP BY did"))
    decks = []
    for entry in sorted(col.decks.all_names_and_ids(), key=lambda d: d.name.casefold()):
        total = sum(
            n
            for did, n in counts.items()
            if (name := col.decks.name(did)) == entry.name or name.startswith(entry.name + "::")
        )
        if total or entry.id != 1:  # leave out Anki's own empty Default deck
            decks.append((entry.name, total))
    types = [
        (col.models.get(mid)["name"], n)
        for mid, n in col.db.all("SELECT mid, count() FROM notes GROUP BY mid")
    ]
    return PackageReport(
        path=path,
        notes=len(notes),
        cards=len(card_ids),
        decks=tuple(decks),
        note_types=tuple(sorted(types)),
        media=tuple(packaged),
        problems=tuple(problems),
    )
