"""`cardsmith ids`: give every card without one an explicit, stable id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cardsmith.errors import OutputError
from cardsmith.model import Deck, slugify
from cardsmith.output import write_atomic
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


def apply_ids(planned: list[NewId]) -> list[Path]:
    """Write the ids into the heading lines, changing nothing else; the files changed."""
    by_file: dict[Path, list[NewId]] = {}
    for new in planned:
        by_file.setdefault(new.path, []).append(new)
    for path, items in by_file.items():
        data = path.read_bytes()
        bom = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
        # Split exactly where the parser counts lines (CRLF, CR, LF), keeping the endings.
        parts = re.split(r"(\r\n|\r|\n)", data.decode("utf-8").removeprefix(bom))
        for item in items:
            index = 2 * (item.line - 1)
            parts[index] = with_id(parts[index], item.card_id)
        try:
            write_atomic(path, (bom + "".join(parts)).encode("utf-8"))
        except OSError as error:
            raise OutputError.from_os_error(error, path) from None
    return list(by_file)


def with_id(heading: str, card_id: str) -> str:
    """A `## ` heading line with {#card_id} added; markers such as {.reverse} are kept in
    the same attribute block (`{#id .reverse}`), since only the last block is read."""
    heading = re.sub(r"\s+#+\s*$", "", heading.rstrip())
    attrs = _ATTRS_RE.search(heading)
    if attrs:
        return f"{heading[: attrs.start()].rstrip()} {{#{card_id} {attrs['attrs'].strip()}}}"
    return f"{heading} {{#{card_id}}}"
