"""`cardsmith ids`: give every card without one an explicit, stable id.

Writing ids moves each card's ledger entry from its question to its id, so its GUID (and
so every learner's note and review history) stays with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cardsmith import ledger
from cardsmith.model import Deck, slugify
from cardsmith.options import BuildOptions, clock
from cardsmith.output import write_all
from cardsmith.parse import ATTRS_RE as _ATTRS_RE


@dataclass(frozen=True)
class NewId:
    """An id to add to the question at path:line."""

    path: Path
    line: int
    card_id: str


def plan_ids(decks: list[Deck]) -> list[NewId]:
    """Ids for cards that lack one: a slug of the question, unique in its deck."""
    planned: list[NewId] = []
    for deck in decks:
        taken = {c.explicit_id for f in deck.files for c in f.cards if c.explicit_id}
        for topic_file in deck.files:
            for card in topic_file.cards:
                if card.explicit_id is not None:
                    continue
                base = slugify(card.question) or "card"
                candidate, n = base, 2
                while candidate in taken:
                    candidate, n = f"{base}-{n}", n + 1
                taken.add(candidate)
                planned.append(NewId(card.path, card.line, candidate))
    return planned


def write_ids(paths: list[Path], planned: list[NewId]) -> tuple[list[Path], list[str]]:
    """Write the ids and, in the same all-or-nothing write, each deck's ledger with every
    renamed card's entry (GUID, note id, change time) moved to its new id.

    A deck without a ledger gets one first, recording the identities its cards had
    before (from their questions), which is what learners already have. A card that the
    ledger took for new when a card with the same answer left (a reworded question)
    takes that card's identity (see ledger.rename). Returns the files changed and a
    line for each identity kept that way.
    """
    from cardsmith.build import check, record  # the pipeline builds on this module's peers

    now = clock()
    rendered, report = check(paths)
    updates = record(rendered, report, BuildOptions(), now)
    new_ids = {(new.path, new.line): new.card_id for new in planned}
    ledgers: list[tuple[Path, bytes]] = []
    kept: list[str] = []
    for deck, update in zip(rendered, updates, strict=True):
        renamed = {}
        where = {}
        for _, card in deck.cards:
            spot = (card.card.path, card.card.line)
            if spot in new_ids:
                renamed[card.card.key] = f"id:{new_ids[spot]}"
                where[f"id:{new_ids[spot]}"] = f"{card.card.path}:{card.card.line}"
        entries, adopted = ledger.rename(update, renamed, now)
        kept += [
            f"{where[new]}: keeps the identity (and learners' history) of the reworded {old}"
            for new, old in sorted(adopted.items())
        ]
        text = ledger.render(entries)
        if text != update.old_text:
            ledgers.append((update.path, text.encode()))
    edits = id_edits(planned)
    write_all([*edits, *ledgers])
    return [path for path, _ in edits], kept


def id_edits(planned: list[NewId]) -> list[tuple[Path, bytes]]:
    """Each file's new bytes with the ids in its heading lines, nothing else changed."""
    by_file: dict[Path, list[NewId]] = {}
    for new in planned:
        by_file.setdefault(new.path, []).append(new)
    edits = []
    for path, items in by_file.items():
        data = path.read_bytes()
        bom = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
        # Split exactly where the parser counts lines (CRLF, CR, LF), keeping the endings.
        parts = re.split(r"(\r\n|\r|\n)", data.decode("utf-8").removeprefix(bom))
        for item in items:
            index = 2 * (item.line - 1)
            parts[index] = with_id(parts[index], item.card_id)
        edits.append((path, (bom + "".join(parts)).encode("utf-8")))
    return edits


def with_id(heading: str, card_id: str) -> str:
    """A `## ` heading line with {#card_id} added; markers such as {.reverse} are kept in
    the same attribute block (`{#id .reverse}`), since only the last block is read."""
    heading = re.sub(r"\s+#+\s*$", "", heading.rstrip())
    attrs = _ATTRS_RE.search(heading)
    if attrs:
        return f"{heading[: attrs.start()].rstrip()} {{#{card_id} {attrs['attrs'].strip()}}}"
    return f"{heading} {{#{card_id}}}"
