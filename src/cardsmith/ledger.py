"""The ledger: each deck's committed record of its cards' Anki identities and change times.

`deck.lock` beside deck.toml, one line per card, sorted by the card's key:

    # comments
    cardsmith-ledger 1
    card 2026-11-26T16:49:03Z 1795711743000 iOEGPk*IKt basic 3f9a0c1e2b4d5a6c 1a2b3c4d
      5e6f7a8b id:closures    (one line)
    removed 2026-11-27T10:00:00Z ...

Columns: state (`card` or `removed`), changed-at (UTC, when the content Anki receives
last changed, or when the card was removed), note id, GUID, kind, a hash of the note's
content (fields, kind, tags, deck), a hash of the question and a sketch of the
answer's words (they recognise a card whose key changed), and the key (`id:<id>` or
`q:<normalized question>`; the rest of the line). See docs/updating.md.

A GUID and a note id, once in the ledger, stay with their card for ever.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cardsmith import kinds
from cardsmith.diagnostics import Report

LEDGER_NAME = "deck.lock"
VERSION = 1
HEADER = (
    "# cardsmith ledger: each card's Anki identity and when its content last changed.\n"
    "# Written by `cardsmith build`; commit it with the deck. Format: docs/updating.md\n"
    "# state changed-at note-id guid kind content question answer key\n"
)
_VERSION_RE = re.compile(r"cardsmith-ledger (\S+)")
_ROW_RE = re.compile(
    r"(?P<state>card|removed) (?P<changed>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (?P<nid>[1-9]\d{0,15}) "
    r"(?P<guid>[!-~]{1,64}) (?P<kind>[a-z]+|nt[1-9]\d{0,18}) (?P<content>[0-9a-f]{16}) "
    r"(?P<question>[0-9a-f]{8}) (?P<answer>[0-9a-f]{32}) "
    r"(?P<key>(?:id|q):[^\x00-\x20\x7f][^\x00-\x1f\x7f]*)"
)
_CONFLICT_RE = re.compile(r"(<{7}|={7}|>{7}|\|{7})( |$)")


@dataclass(frozen=True)
class Entry:
    """One card as the ledger records it."""

    key: str
    guid: str
    note_id: int
    kind: str
    content: str
    question: str
    answer: str
    changed: int  # Unix time: content last changed, or the card was removed
    removed: bool = False

    def line(self) -> str:
        state = "removed" if self.removed else "card"
        return (
            f"{state} {format_time(self.changed)} {self.note_id} {self.guid} {self.kind} "
            f"{self.content} {self.question} {self.answer} {self.key}"
        )


@dataclass(frozen=True)
class CardFacts:
    """What the ledger needs to know of a card in the sources."""

    key: str
    kind: str
    content: str
    question: str
    answer: str  # the answer as written (its sketch is made only when needed)
    explicit_id: bool
    path: Path
    line: int


@dataclass(frozen=True)
class Ledger:
    """A deck's ledger as read from disk; `text` is None when there is no file yet."""

    path: Path
    entries: tuple[Entry, ...]
    text: str | None


@dataclass(frozen=True)
class Update:
    """A deck's ledger after this build: what each current card is and what changed."""

    path: Path
    old_text: str | None
    entries: tuple[Entry, ...]
    current: dict[str, Entry]  # card key -> its entry
    added: tuple[Entry, ...]
    changed: tuple[Entry, ...]
    newly_removed: tuple[Entry, ...]

    @functools.cached_property
    def text(self) -> str:
        return render(self.entries)

    @property
    def stale(self) -> bool:
        """True if the file on disk is not what this build would write."""
        return self.old_text != self.text

    @property
    def removed(self) -> tuple[Entry, ...]:
        """Every card ever removed from the deck."""
        return tuple(e for e in self.entries if e.removed)


def short_hash(*parts: str, size: int = 16) -> str:
    """A hex digest of parts (joined by a separator no field or tag holds)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:size]


def content_hash(kind: str, deck: str, fields: Sequence[str], tags: Sequence[str]) -> str:
    """A hash of everything a note puts into Anki."""
    return short_hash(kind, deck, *fields, "\x1e", *tags)


def text_hash(text: str) -> str:
    """A short hash of text with whitespace runs collapsed and case ignored."""
    return short_hash(" ".join(text.split()).casefold(), size=8)


SKETCH_SIZE = 16
# A new card whose answer's sketch agrees with a removed card's in this share of places
# has (nearly) the same answer: about 60 % of their distinct words in common.
NEARLY = 0.6


def answer_sketch(text: str) -> str:
    """A b-bit MinHash of the answer's distinct words (case ignored): SKETCH_SIZE bytes,
    each the low byte of the smallest of one hash function over the words (the 16 hash
    functions are the 16 four-byte parts of a word's SHA-512). Two sketches agree in a
    place with probability J + (1 - J) / 256, J the share of words the answers share."""
    words = set(re.findall(r"\w+", text.casefold()))
    if not words:
        return "ff" * SKETCH_SIZE
    values = [_WORD_PARTS.get(word) or _word_parts(word) for word in words]
    return bytes(min(place) & 0xFF for place in zip(*values, strict=True)).hex()


_PARTS = struct.Struct(f">{SKETCH_SIZE}I")
# Each word's hash parts, worked out once: a deck's answers share most of their words,
# and hashing every word of every new card was most of a new deck's first build.
_WORD_PARTS: dict[str, tuple[int, ...]] = {}


def _word_parts(word: str) -> tuple[int, ...]:
    if len(_WORD_PARTS) >= 100_000:
        _WORD_PARTS.clear()
    parts: tuple[int, ...] = _PARTS.unpack(hashlib.sha512(word.encode()).digest())
    _WORD_PARTS[word] = parts
    return parts


def similarity(one: str, other: str) -> float:
    """The share of places in which two answer sketches agree (1.0: the same words)."""
    a, b = bytes.fromhex(one), bytes.fromhex(other)
    return sum(x == y for x, y in zip(a, b, strict=True)) / SKETCH_SIZE


@functools.lru_cache(maxsize=1024)
def format_time(when: int) -> str:
    """A time as the ledger writes it (cached: a deck's cards share few change times)."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=1024)
def _parse_time(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())  # the `Z` form (Python 3.11+)


def render(entries: Iterable[Entry]) -> str:
    rows = sorted(entries, key=lambda e: (e.key, e.removed, e.guid))
    return HEADER + f"cardsmith-ledger {VERSION}\n" + "".join(e.line() + "\n" for e in rows)


def ledger_path(deck_root: Path) -> Path:
    return deck_root / LEDGER_NAME


# The ledgers this process last read without problems or wrote, by path: a long-lived
# process (`build --watch`) parses a ledger again only when its text changed.
_KNOWN: dict[Path, Ledger] = {}


def read(path: Path, report: Report) -> Ledger:
    """Read a ledger; every problem goes into report as an error with its line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Ledger(path, (), None)
    except OSError as error:
        report.error(path, 1, f"cannot read the ledger: {error.strerror or error}")
        return Ledger(path, (), None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        report.error(path, 1, "the ledger is not UTF-8 text; " + _RESTORE)
        return Ledger(path, (), "")
    known = _KNOWN.get(path)
    if known is not None and known.text == text:
        return known
    errors = len(report.errors)
    ledger = _parse(path, text, report)
    if len(report.errors) == errors:
        _KNOWN[path] = ledger
    return ledger


def remember(update: Update) -> None:
    """Note that update's ledger is now on disk (read gives the same entries)."""
    _KNOWN[update.path] = Ledger(update.path, update.entries, update.text)


def _parse(path: Path, text: str, report: Report) -> Ledger:
    entries: list[Entry] = []
    version_seen = False
    guids: dict[str, int] = {}
    note_ids: dict[int, int] = {}
    keys: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if _CONFLICT_RE.match(line):
            report.error(
                path,
                number,
                "unresolved merge conflict in the ledger: keep the lines of both sides "
                "(each card once), delete the conflict markers, then run `cardsmith build`",
            )
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if not version_seen:
            match = _VERSION_RE.fullmatch(line.rstrip("\r"))
            if match is None:
                expected = f"expected `cardsmith-ledger {VERSION}` here"
                report.error(path, number, f"{expected}; {_RESTORE}")
                return Ledger(path, (), text)
            if match[1] != str(VERSION):
                report.error(
                    path,
                    number,
                    f"unknown ledger version {match[1]!r} (this cardsmith reads version "
                    f"{VERSION}): upgrade cardsmith",
                )
                return Ledger(path, (), text)
            version_seen = True
            continue
        entry = _parse_row(line.rstrip("\r"))
        if entry is None:
            report.error(
                path,
                number,
                "malformed ledger line (expected: state changed-at note-id guid kind "
                f"content question answer key); {_RESTORE}",
            )
            continue
        first_guid = guids.setdefault(entry.guid, number)
        if first_guid != number:
            report.error(
                path,
                number,
                f"duplicate GUID {entry.guid} (also on line {first_guid}): keep one of the "
                f"two lines, or {_RESTORE}",
            )
        first_id = note_ids.setdefault(entry.note_id, number)
        if first_id != number:
            report.error(
                path,
                number,
                f"duplicate note id {entry.note_id} (also on line {first_id}): keep one of the "
                f"two lines, or {_RESTORE}",
            )
        if not entry.removed:
            first = keys.setdefault(entry.key, number)
            if first != number:
                report.error(
                    path, number, f"card {entry.key} is listed twice (also on line {first})"
                )
        entries.append(entry)
    if not version_seen:
        report.error(path, 1, f"the ledger has no `cardsmith-ledger {VERSION}` line; {_RESTORE}")
    return Ledger(path, tuple(entries), text)


_RESTORE = "restore it from version control (git checkout -- <ledger>) rather than edit it"


def is_kind(name: str) -> bool:
    """Is name a kind the ledger can record: one of cardsmith's own kinds, or a declared
    note type as `nt<id>` (whether the deck declares it is checked by `check_kinds`)."""
    return name in kinds.BY_NAME or _DECLARED_KIND_RE.fullmatch(name) is not None


def declared_kind(name: str) -> int | None:
    """The note type id of a kind `nt<id>`, or None for cardsmith's own kinds."""
    return int(name[2:]) if _DECLARED_KIND_RE.fullmatch(name) else None


_DECLARED_KIND_RE = re.compile(r"nt[1-9]\d{0,18}")


def _parse_row(line: str) -> Entry | None:
    match = _ROW_RE.fullmatch(line)
    if match is None:
        return None
    # The groups at once, in the pattern's order (one call, not nine lookups by name).
    state, changed_at, nid, guid, kind, content, question, answer, key = match.groups()
    if not is_kind(kind):
        return None
    try:
        changed = _parse_time(changed_at)
    except ValueError:
        return None
    return Entry(key, guid, int(nid), kind, content, question, answer, changed, state == "removed")


def check_kinds(
    ledger: Ledger, declared: Iterable[str], keys: Iterable[str], report: Report
) -> None:
    """An error for each card of the sources (by key) that the ledger records under a
    declared note type (`nt<id>`) the deck no longer declares: the card would become a new
    note, and learners would lose its history. (Cards removed with their note type are not
    in keys, and their lines are fine.)"""
    known, present = set(declared), set(keys)
    lines: dict[str, int] | None = None
    for entry in ledger.entries:
        note_type_id = declared_kind(entry.kind)
        if note_type_id is None or entry.removed or entry.kind in known:
            continue
        if entry.key not in present:
            continue
        if lines is None:
            lines = {}
            for number, text in enumerate((ledger.text or "").split("\n"), start=1):
                lines.setdefault(text.rstrip("\r"), number)
        report.error(
            ledger.path,
            lines.get(entry.line(), 1),
            f"card {entry.key} is recorded under note type id {note_type_id}, which no "
            "note-types/*.toml of the deck declares: restore that note type (its file with "
            f"`id = {note_type_id}`), or the card becomes a new note and learners lose its "
            "review history",
        )


def update(
    ledger: Ledger,
    cards: Sequence[CardFacts],
    new_guid: Callable[[str, str, int], str],
    now: int,
    report: Report,
    taken_ids: set[int] | None = None,
) -> Update:
    """Match every card of the sources to its ledger entry and record what changed.

    A card keeps its entry (GUID, note id) when its key is in the ledger; when its key is
    new, it takes the entry of a card that left the ledger in this same build with the
    same question (an id added, renamed or dropped), or of a removed card with its key
    (brought back). Other cards are new: new_guid(key, kind, attempt) gives their GUID
    and new_note_id their note id (unique in taken_ids, shared by the decks of a build).
    A card whose content hash changed gets changed-at `now` (always later than before).
    Entries no card matched are marked removed at `now`.
    """
    active = {e.key: e for e in ledger.entries if not e.removed}
    removed_by_key: dict[str, Entry] = {}
    for entry in ledger.entries:
        if entry.removed and (
            entry.key not in removed_by_key or entry.changed > removed_by_key[entry.key].changed
        ):
            removed_by_key[entry.key] = entry
    matched: dict[str, Entry] = {}  # card key -> old entry
    for card in cards:
        old = active.get(card.key)
        if old is not None and old.kind == card.kind:
            matched[card.key] = old
    taken = {m.guid for m in matched.values()}
    left = {e.guid: e for e in active.values() if e.guid not in taken}
    by_question: dict[tuple[str, str], list[Entry]] = {}
    for entry in left.values():
        by_question.setdefault((entry.question, entry.kind), []).append(entry)
    for card in cards:
        if card.key in matched:
            continue
        candidates = [e for e in by_question.get((card.question, card.kind), []) if e.guid in left]
        if len(candidates) == 1:
            matched[card.key] = candidates[0]
            del left[candidates[0].guid]
            continue
        back = removed_by_key.get(card.key)
        if back is not None and back.kind == card.kind:
            matched[card.key] = back
    used_guids = {e.guid for e in ledger.entries}
    used_ids = set() if taken_ids is None else taken_ids
    used_ids.update(e.note_id for e in ledger.entries)
    current: dict[str, Entry] = {}
    added: list[Entry] = []
    changed: list[Entry] = []
    for card in cards:
        old = matched.get(card.key)
        # The answer's sketch costs a little: an unchanged card keeps the one it has.
        same = old is not None and old.content == card.content
        sketch = old.answer if old is not None and same else answer_sketch(card.answer)
        if old is not None:
            stamp = old.changed
            if old.removed or old.content != card.content:
                stamp = max(now, old.changed + 1)
            unchanged = same and not old.removed and (old.key, old.kind, old.question) == (
                card.key, card.kind, card.question)  # fmt: skip
            entry = old if unchanged else Entry(
                card.key, old.guid, old.note_id, card.kind, card.content, card.question, sketch,
                stamp)  # fmt: skip
            if stamp != old.changed:
                changed.append(entry)
        else:
            attempt = 0
            guid = new_guid(card.key, card.kind, attempt)
            while guid in used_guids:
                attempt += 1
                guid = new_guid(card.key, card.kind, attempt)
            note_id = new_note_id(guid, now)
            while note_id in used_ids:
                note_id -= 1
            used_guids.add(guid)
            used_ids.add(note_id)
            entry = Entry(card.key, guid, note_id, card.kind, card.content,
                          card.question, sketch, now)  # fmt: skip
            added.append(entry)
        current[card.key] = entry
    reused = {e.guid for e in current.values()}
    newly_removed = [
        replace(e, removed=True, changed=max(now, e.changed))
        for e in active.values()
        if e.guid not in reused
    ]
    kept = [e for e in ledger.entries if e.removed and e.guid not in reused]
    _warn_reworded(cards, added, newly_removed, ledger.path, report)
    entries = (*current.values(), *newly_removed, *kept)
    return Update(
        ledger.path,
        ledger.text,
        tuple(sorted(entries, key=lambda e: (e.key, e.removed, e.guid))),
        current,
        tuple(added),
        tuple(changed),
        tuple(newly_removed),
    )


def rename(
    update: Update, renamed: Mapping[str, str], now: int
) -> tuple[list[Entry], dict[str, str]]:
    """The entries with cards' keys renamed (old key -> new key), for `ids --write`.

    A renamed card that the ledger took for new in the same build that removed a card
    with the same answer and kind (a reworded question, which check and build warn
    about) takes that card's GUID and note id instead, unless the pairing is ambiguous;
    its own entry is dropped, or marked removed if it was already in the ledger on disk
    (a release may have carried it). Returns the entries and {new key: old card's key}.
    """
    removed = [e for e in update.entries if e.removed]
    claims: dict[str, list[str]] = {}  # removed GUID -> card keys that match it
    twin_of: dict[str, Entry] = {}
    for key in renamed:
        entry = update.current[key]
        twins = [
            r
            for r in removed
            if (r.kind, r.changed) == (entry.kind, entry.changed)
            and similarity(r.answer, entry.answer) >= NEARLY
        ]
        if len(twins) == 1:
            twin_of[key] = twins[0]
            claims.setdefault(twins[0].guid, []).append(key)
    adopted = {key: twin for key, twin in twin_of.items() if len(claims[twin.guid]) == 1}
    revived = {twin.guid for twin in adopted.values()}
    added = {e.guid for e in update.added}
    entries: list[Entry] = []
    for entry in update.entries:
        if entry.removed:
            if entry.guid not in revived:
                entries.append(entry)
        elif entry.key in adopted:
            old = adopted[entry.key]
            entries.append(
                replace(entry, key=renamed[entry.key], guid=old.guid, note_id=old.note_id,
                        changed=max(entry.changed, old.changed + 1))
            )  # fmt: skip
            if entry.guid not in added:
                entries.append(replace(entry, removed=True, changed=max(now, entry.changed)))
        else:
            entries.append(replace(entry, key=renamed.get(entry.key, entry.key)))
    return entries, {renamed[key]: twin.key for key, twin in adopted.items()}


# Note ids are Anki's creation times in ms. A new note's id lies in the NOTE_ID_SPREAD ms
# (about 28 hours) before it entered the ledger, at a place chosen by its GUID: notes of
# other decks, built at the same second, then rarely take the same id (Anki gives a note
# whose id is taken another one on import, and the `nid:` search would miss it).
NOTE_ID_SPREAD = 100_000_000


def new_note_id(guid: str, now: int) -> int:
    offset = int(hashlib.sha256(guid.encode()).hexdigest()[:12], 16) % NOTE_ID_SPREAD
    return now * 1000 - offset


def _warn_reworded(
    cards: Sequence[CardFacts],
    added: Sequence[Entry],
    removed: Sequence[Entry],
    path: Path,
    report: Report,
) -> None:
    """A new card without an id whose answer is (nearly) a removed card's: probably a
    rewording."""
    sketches = {e.key: e.answer for e in added}
    for card in cards:
        if card.explicit_id or card.key not in sketches:
            continue
        sketch = sketches[card.key]
        twins = sorted(
            (
                (similarity(e.answer, sketch), e.key)
                for e in removed
                if e.kind == card.kind and similarity(e.answer, sketch) >= NEARLY
            ),
            reverse=True,
        )
        if not twins:
            continue
        share, key = twins[0]
        old = key.removeprefix("q:").removeprefix("id:")
        same = "the same answer" if share == 1 else "nearly the same answer"
        report.warning(
            card.path,
            card.line,
            f'reworded question? the card "{old}" with {same} leaves the deck, and '
            "Anki will treat this one as a new card, so learners lose its review history. "
            "To keep it, run `cardsmith ids --write` before the next release: this card "
            "then gets an id and the old card's identity",
        )


def removed_search(entries: Iterable[Entry]) -> str:
    """The Anki search (browser, desktop and AnkiDroid) that finds these notes."""
    return "nid:" + ",".join(str(e.note_id) for e in sorted(entries, key=lambda e: e.note_id))
