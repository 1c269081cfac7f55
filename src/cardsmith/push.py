"""`cardsmith push`: a deck straight into a local Anki collection, while Anki is closed.

It builds the decks as `build` does, compares each note with the collection (by GUID,
under Anki's "update if newer" rule), and, unless it is a dry run, updates each deck's
ledger as a build does (so the times pushed are the times recorded), makes a backup the
way Anki does, imports the all-levels package through the backend's own package import
(the rules of File > Import), and then suspends and tags (or, on request, deletes) the
notes of cards removed from the deck. No .apkg file is written.

The `anki` package (`pip install 'cardsmith[anki]'`) is imported only here, on use.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardsmith import apkg
from cardsmith.build import check, identities, record
from cardsmith.errors import CardsmithError, UsageError
from cardsmith.ledger import Entry
from cardsmith.options import BuildOptions
from cardsmith.output import write_all
from cardsmith.plan import plan_packages
from cardsmith.render import code_css

REMOVED_TAG = "cardsmith::removed"
COLLECTION_FILE = "collection.anki2"


class PushError(CardsmithError):
    """The collection cannot be written: open in Anki, locked, or not a collection."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cardsmith: error: {path}: {reason}")


class MissingBackend(CardsmithError):
    """The `anki` package is not installed: exit 2, as for verify."""

    exit_code = 2


def anki_base(platform: str = sys.platform, env: dict[str, str] | None = None) -> Path:
    """Anki's default data folder (the one holding a folder per profile)."""
    env = dict(os.environ) if env is None else env
    home = Path(env.get("HOME", str(Path.home())))
    if platform.startswith("win"):
        return Path(env.get("APPDATA", str(home / "AppData" / "Roaming"))) / "Anki2"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Anki2"
    data = env.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(data) / "Anki2"


def collection_path(profile: str | None, collection: Path | None, base: Path | None) -> Path:
    """The collection file named by --collection (a file or a profile folder) or by
    --profile (a profile of Anki's data folder); the only profile if neither is given."""
    if collection is not None:
        return collection / COLLECTION_FILE if collection.is_dir() else collection
    base = base or anki_base()
    if profile is None:
        profiles = sorted(p.parent.name for p in base.glob(f"*/{COLLECTION_FILE}"))
        if len(profiles) != 1:
            found = ", ".join(profiles) if profiles else "none"
            raise UsageError(
                f"cardsmith: error: name a profile with --profile or a collection with "
                f"--collection (profiles in {base}: {found})"
            )
        profile = profiles[0]
    return base / profile / COLLECTION_FILE


@dataclass
class Change:
    """What pushing does to the collection, card keys (`id:...` or `q:...`) per outcome."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PushResult:
    collection: Path
    change: Change
    dry_run: bool
    backup: Path | None = None
    imported: dict[str, int] = field(default_factory=dict)  # Anki's own import log counts
    removed_action: str = ""  # "suspended and tagged cardsmith::removed" or "deleted"


def push(
    paths: list[Path],
    target: Path,
    options: BuildOptions | None = None,
    dry_run: bool = False,
    delete_removed: bool = False,
) -> PushResult:
    """Build, compare, back up, import, handle removed cards. Nothing written on errors."""
    options = options or BuildOptions()
    rendered, report = check(paths, options)
    updates = record(rendered, report, options)
    planned = plan_packages(rendered, report, identities(rendered, updates))
    plans = [plan for plan in planned if plan.everything]
    keys = {e.guid: e.key for u in updates for e in u.entries}
    removed = [e for u in updates for e in u.removed]
    preflight(target)
    backend = _backend()
    col = _open(backend, target)
    try:
        change = _compare(col, [n for p in plans for n in p.notes], removed, keys)
        if dry_run:
            return PushResult(target, change, True)
        write_all([(u.path, u.text.encode()) for u in updates if u.stale])
        backup = _backup(col, target)
        with tempfile.TemporaryDirectory(prefix="cardsmith-push-") as scratch:
            imported: dict[str, int] = {}
            for n, plan in enumerate(plans):
                package = Path(scratch) / f"{n}.apkg"
                media = {name: plan.deck.media.files[name] for name in plan.media}
                package.write_bytes(
                    apkg.package_bytes(plan.notes, media, dict(plan.descriptions), code_css())
                )
                for kind, count in _import(backend, col, package).items():
                    imported[kind] = imported.get(kind, 0) + count
        action = _handle_removed(col, removed, delete_removed)
        return PushResult(target, change, False, backup, imported, action)
    finally:
        col.close()


def preflight(path: Path) -> None:
    """Refuse, before the backend touches it, a path that is not an Anki collection."""
    try:
        with path.open("rb") as handle:
            header = handle.read(16)
    except FileNotFoundError:
        raise PushError(path, "no such collection (is the profile name right?)") from None
    except OSError as error:
        raise PushError(path, f"cannot read it: {error.strerror or error}") from None
    if header != b"SQLite format 3\x00":
        raise PushError(path, "not an Anki collection (not an SQLite database)")
    try:
        # Anki holds its open collection's write lock: ask for it (and give it back) at once.
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.OperationalError as error:
        if "locked" in str(error):
            raise PushError(path, _OPEN_IN_ANKI) from None
        raise PushError(path, f"not an Anki collection ({error})") from None
    except sqlite3.DatabaseError as error:
        raise PushError(path, f"not an Anki collection ({error})") from None
    if not {"col", "notes", "cards"} <= tables:
        raise PushError(path, "not an Anki collection (an SQLite database without Anki's tables)")


_OPEN_IN_ANKI = (
    "the collection is open in Anki (or locked by another program): close Anki and try again"
)


def _backend() -> Any:
    try:
        import anki.collection
        import anki.errors
        import anki.import_export_pb2
    except ImportError:
        raise MissingBackend(
            "cardsmith: error: push needs the Anki backend: pip install 'cardsmith[anki]'"
        ) from None
    return anki


def _open(backend: Any, path: Path) -> Any:
    try:
        return backend.collection.Collection(str(path))
    except backend.errors.DBError as error:
        if "already open" in str(error) or "locked" in str(error).lower():
            raise PushError(path, _OPEN_IN_ANKI) from None
        raise PushError(path, f"Anki cannot open it: {str(error).splitlines()[0]}") from None


def _compare(
    col: Any, notes: Sequence[apkg.NoteSpec], removed: Sequence[Entry], keys: dict[str, str]
) -> Change:
    """Each note's fate under Anki's "update if newer" rule, matched by GUID."""
    change = Change()
    for note in notes:
        row = col.db.first("SELECT mod FROM notes WHERE guid = ?", note.guid)
        key = keys.get(note.guid, note.guid)
        if row is None:
            change.new.append(key)
        elif note.mod > row[0]:
            change.updated.append(key)
        else:
            change.unchanged.append(key)
    for entry in removed:
        nid = col.db.scalar("SELECT id FROM notes WHERE guid = ?", entry.guid)
        if nid is not None and REMOVED_TAG not in col.get_note(nid).tags:
            change.removed.append(entry.key)
    return change


def _backup(col: Any, target: Path) -> Path | None:
    """A backup as Anki makes it (a .colpkg in the profile's backups folder)."""
    folder = target.parent / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    if not col.create_backup(backup_folder=str(folder), force=True, wait_for_completion=True):
        return None  # Anki: nothing changed since its last backup
    # Anki names backups by the second (a second backup within it replaces the first).
    return max(folder.glob("*.colpkg"), key=lambda p: (p.stat().st_mtime, p.name))


def _import(backend: Any, col: Any, package: Path) -> dict[str, int]:
    pb = backend.import_export_pb2
    if_newer = pb.ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER
    request = pb.ImportAnkiPackageRequest(
        package_path=str(package),
        options=pb.ImportAnkiPackageOptions(
            update_notes=if_newer,
            update_notetypes=if_newer,
            merge_notetypes=False,
            with_scheduling=False,
        ),
    )
    log = col.import_anki_package(request).log
    kinds = ("new", "updated", "duplicate", "conflicting", "missing_notetype")
    return {kind: len(getattr(log, kind)) for kind in kinds}


def _handle_removed(col: Any, removed: Sequence[Entry], delete: bool) -> str:
    """Suspend and tag the notes of removed cards (or delete them)."""
    nids = [
        nid
        for entry in removed
        if (nid := col.db.scalar("SELECT id FROM notes WHERE guid = ?", entry.guid)) is not None
    ]
    if delete and nids:
        col.remove_notes(nids)
        return "deleted"
    nids = [nid for nid in nids if REMOVED_TAG not in col.get_note(nid).tags]
    if not nids:
        return ""
    cids = [cid for nid in nids for cid in col.card_ids_of_note(nid)]
    col.sched.suspend_cards(cids)
    col.tags.bulk_add(nids, REMOVED_TAG)
    return f"suspended and tagged {REMOVED_TAG}"
