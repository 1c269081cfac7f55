"""`cardsmith verify`: import packages into a throwaway collection with the real Anki backend.

Works on any .apkg (ours, genanki's, Anki's own exports in the old and the current format).
The `anki` package is imported here only, and only when a package is verified: it is an
optional extra (`pip install 'cardsmith[anki]'`).
"""

from __future__ import annotations

import html
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardsmith import lifeline
from cardsmith.diagnostics import one_line, quote_path
from cardsmith.errors import PackageError
from cardsmith.htmltext import TAG_RE, without_styles
from cardsmith.lifeline import scratch_folder
from cardsmith.options import seconds_from_env

COLLECTION_NAMES = ("collection.anki21b", "collection.anki21", "collection.anki2")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Anki renders a blank front or a broken template as a message linking to this page.
ERRORS_PAGE = "templates/errors.html"
BLANK_FRONT_ANCHOR = "#front-of-card-is-blank"
INSTALL_HINT = "install it with: pip install 'cardsmith[anki]'"

# Every pattern here runs in linear time on any field: no lazy `.*?` that a field of
# 50,000 unclosed `<style>` tags would make quadratic.
_LINK_RE = re.compile(r"<a\b[^<]*</a>", re.IGNORECASE)
# Zip compression methods Python and Anki both read: stored and deflated.
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
# Documented limits (docs/format.md): what a package may unpack to, and how much more
# than its compressed size an entry of over 64 MB may claim (a zip bomb claims 1000x).
MAX_UNPACKED_BYTES = 8 << 30
MAX_RATIO = 200
_RATIO_FROM = 64 << 20
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
    """Raise VerifyError unless path is a sound zip holding an Anki collection.

    Every entry is checked before Anki sees the package: not encrypted, compressed with
    a method both Python and Anki read, and with the checksum it claims.
    """
    shown = quote_path(path)
    if not path.exists():
        raise VerifyError(f"{shown}: error: no such file")
    if not path.is_file():
        raise VerifyError(f"{shown}: error: not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            for info in infos:
                name = one_line(repr(info.filename))
                if info.flag_bits & 0x1:
                    raise VerifyError(f"{shown}: error: zip entry {name} is encrypted")
                if info.compress_type not in _ZIP_METHODS:
                    raise VerifyError(
                        f"{shown}: error: zip entry {name} uses compression method "
                        f"{info.compress_type}, not stored or deflated"
                    )
            total = sum(info.file_size for info in infos)
            if total > MAX_UNPACKED_BYTES:
                raise VerifyError(
                    f"{shown}: error: unpacks to {total >> 20} MB, over the limit of "
                    f"{MAX_UNPACKED_BYTES >> 20} MB"
                )
            for info in infos:
                if info.file_size > _RATIO_FROM and info.file_size > MAX_RATIO * max(
                    info.compress_size, 1
                ):
                    raise VerifyError(
                        f"{shown}: error: zip entry {one_line(repr(info.filename))} unpacks to "
                        f"{info.file_size // max(info.compress_size, 1)} times its size "
                        "(a zip bomb?)"
                    )
            names = {info.filename for info in infos}
            if not names & set(COLLECTION_NAMES):
                raise VerifyError(
                    f"{shown}: error: not an Anki package: the zip holds no collection"
                )
            bad = archive.testzip()
            if bad is not None:
                raise VerifyError(
                    f"{shown}: error: zip entry {one_line(repr(bad))} is damaged (bad checksum)"
                )
            _check_collection(path, archive, names)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as error:
        reason = one_line(str(error))
        raise VerifyError(
            f"{shown}: error: not an Anki package (.apkg is a zip): {reason}"
        ) from None


def _check_collection(path: Path, archive: zipfile.ZipFile, names: set[str]) -> None:
    """Raise VerifyError unless the collection Anki would import is an SQLite database
    with Anki's tables (a legacy collection; a current one is checked by Anki itself)."""
    name = next(n for n in COLLECTION_NAMES if n in names)
    if name == "collection.anki21b":
        with archive.open(name) as handle:
            if handle.read(4) != ZSTD_MAGIC:
                raise VerifyError(
                    f"{quote_path(path)}: error: not an Anki package: {name} is not zstd-compressed"
                )
        return
    with scratch_folder("verify") as folder:
        database = folder / "collection"
        with archive.open(name) as source, database.open("wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        with database.open("rb") as handle:
            magic = handle.read(len(_SQLITE_MAGIC))
        tables: set[str] = set()
        if magic == _SQLITE_MAGIC:
            try:
                conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
                try:
                    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
                finally:
                    conn.close()
            except sqlite3.Error:
                tables = set()
    missing = {"col", "notes", "cards"} - tables
    if missing:
        raise VerifyError(
            f"{quote_path(path)}: error: not an Anki package: {name} is not an Anki "
            f"collection (no {', '.join(sorted(missing))} table)"
        )


# Limits documented in docs/format.md ("Limits and odd input"): Anki's own import takes
# minutes on some hostile packages (a field of 50,000 <style> tags), in Rust code no
# signal interrupts, so it runs in a child process that is killed when a package takes
# longer than this.
DEFAULT_VERIFY_TIME_LIMIT = 60.0
_STARTUP_SECONDS = 120.0


def verify_time_limit() -> float:
    """Seconds Anki may take over one package (CARDSMITH_VERIFY_TIME_LIMIT, else 60)."""
    return seconds_from_env("CARDSMITH_VERIFY_TIME_LIMIT", DEFAULT_VERIFY_TIME_LIMIT)


def verify_packages(paths: Sequence[Path]) -> list[PackageReport]:
    """Import each package into its own throwaway collection and report what Anki made of it.

    Anki works in a child process, each package with a time limit; a package that takes
    longer, or crashes the backend, is one error line.
    """
    for path in paths:
        check_readable(path)
    _AnkiBackend()  # no backend: say so here, before starting a process
    limit = verify_time_limit()
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_verify_in_child, args=(list(paths), sender, os.getpid()), daemon=True
    )
    child.start()
    sender.close()
    reports: list[PackageReport] = []
    try:
        if not receiver.poll(_STARTUP_SECONDS):
            raise VerifyError("error: the Anki backend did not start")
        receiver.recv()
        for path in paths:
            if not receiver.poll(limit):
                raise VerifyError(
                    f"{quote_path(path)}: error: Anki took longer than {limit:g} s to import "
                    "and check it (a hostile package?)"
                )
            kind, value = receiver.recv()
            if kind == "error":
                raise VerifyError(value)
            reports.append(value)
    except EOFError:
        where = quote_path(paths[len(reports)]) if len(reports) < len(paths) else "verify"
        raise VerifyError(f"{where}: error: the Anki backend crashed on it") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    return reports


def _verify_in_child(paths: list[Path], sender: Any, parent: int) -> None:
    """The child's side: a report or an error line per package, sent in order."""
    lifeline.watch(parent)
    anki = _AnkiBackend()
    sender.send(("ready", None))
    with scratch_folder("verify") as tmp:
        for n, path in enumerate(paths):
            try:
                sender.send(("ok", anki.verify(path, tmp / str(n))))
            except VerifyError as error:
                sender.send(("error", str(error)))
                return
            except Exception as error:  # the backend's own failure, as one line
                reason = one_line(f"{type(error).__name__}: {error}")
                sender.send(
                    ("error", f"{quote_path(path)}: error: Anki could not check it: {reason}")
                )
                return


def packaged_media(path: Path) -> list[str]:
    """The media file names listed in a package (old JSON list or current zstd+protobuf one)."""
    with zipfile.ZipFile(path) as archive:
        try:
            raw = archive.read("media")
        except KeyError:
            return []
    if not raw.startswith(ZSTD_MAGIC):
        try:
            index = json.loads(raw or b"{}")
        except (ValueError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else error
            raise VerifyError(
                f"{quote_path(path)}: error: unreadable media list: {one_line(str(reason))}"
            ) from None
        if not isinstance(index, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in index.items()
        ):
            raise VerifyError(
                f"{quote_path(path)}: error: unreadable media list: not a mapping of "
                "entry numbers to file names"
            )
        return sorted(index.values())
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
    text = " ".join(html.unescape(TAG_RE.sub(" ", without_styles(text))).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _looks_blank(question: str) -> bool:
    """No visible text and no picture or sound: what a learner sees as an empty front."""
    body = without_styles(question)
    return not _plain(body) and not _VISIBLE_MEDIA_RE.search(body)


def _error_text(rendered: str) -> str:
    """Anki's template error message as one line of text, without its help link."""
    text = _LINK_RE.sub("", rendered)
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
