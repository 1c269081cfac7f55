"""Note metadata: what each rendered card becomes in Anki besides its HTML.

Its GUID, note type (via its kind), subdeck, tags, Source field, modification time and
its place in the study order. Pure functions of the parsed and rendered deck.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import quote

from cardsmith import kinds
from cardsmith.apkg import NoteSpec, note_guid
from cardsmith.model import Deck, DeckConfig, TopicFile
from cardsmith.options import source_date_epoch
from cardsmith.render import RenderedCard
from cardsmith.render_all import RenderedDeck


@dataclass(frozen=True)
class PlannedNote:
    """A note and what the package plan needs to know about it."""

    level: str
    spec: NoteSpec
    media: tuple[str, ...]  # packaged media names


def note_mod(deck: Deck, topic_file: TopicFile) -> int:
    """A note's modification time: its sources' newest mtime, clamped to SOURCE_DATE_EPOCH.

    Anki applies an update only when the incoming note is newer, so an edited file must
    give its notes a newer time; untouched files keep theirs.
    """
    mod = int(max(topic_file.mtime, deck.mtime))
    epoch = source_date_epoch()
    return min(mod, epoch) if epoch is not None else mod


def note_tags(config: DeckConfig, topic_file: TopicFile) -> tuple[str, ...]:
    """The deck's tags, the file's, and `level::` and `topic::` tags."""
    tags = [*config.tags, *topic_file.tags, f"level::{topic_file.level}"]
    return tuple(dict.fromkeys([*tags, f"topic::{topic_file.topic_slug}"]))


def topic_numbers(deck: Deck) -> dict[tuple[str, str], int]:
    """(level, topic) -> the topic's place in its level: topics are in file-name order.

    A topic spread over several files takes the place of its first file.
    """
    order: dict[tuple[str, str], int] = {}
    counts: dict[str, int] = {}
    for topic_file in sorted(deck.files, key=lambda f: _relative(deck.config, f)):
        key = (topic_file.level, topic_file.topic)
        if key not in order:
            counts[topic_file.level] = counts.get(topic_file.level, 0) + 1
            order[key] = counts[topic_file.level]
    return order


def subdeck_names(deck: Deck) -> dict[tuple[str, str], str]:
    """(level, topic) -> `Deck::1. Level::01. Topic`, numbered so that Anki's
    alphabetical deck list (and so "Study Now") follows the author's order."""
    numbers = topic_numbers(deck)
    per_level: dict[str, int] = {}
    for level, _ in numbers:
        per_level[level] = per_level.get(level, 0) + 1
    config = deck.config
    return {
        (level, topic): f"{config.name}::{config.level_title(level)}::"
        f"{str(number).zfill(len(str(per_level[level])))}. {topic}"
        for (level, topic), number in numbers.items()
    }


def source_field(config: DeckConfig, topic_file: TopicFile, card: RenderedCard) -> str:
    """The Source field: where the card is written, as escaped text or a link.

    With deck.toml's source_url (e.g. a repository's blob URL with {path} and {line}), a
    reviewer can tap through to the card's source to edit it.
    """
    where = _relative(config, topic_file)
    if card.card.explicit_id:
        where += f"#{card.card.explicit_id}"
    text = html.escape(where, quote=False)
    if not config.source_url:
        return text
    url = config.source_url.replace("{path}", quote(_relative(config, topic_file))).replace(
        "{line}", str(card.card.line)
    )
    return f'<a href="{html.escape(url)}">{text}</a>'


def plan_notes(rendered: RenderedDeck) -> list[PlannedNote]:
    """Every note of a deck, in study order: level, topic (file-name order), card order.

    Each note's position is its first new card's place in that order, so Anki serves
    new cards as the author ordered them.
    """
    deck = rendered.deck
    config = deck.config
    subdecks = subdeck_names(deck)
    numbers = topic_numbers(deck)
    files = {
        f.path: n for n, f in enumerate(sorted(deck.files, key=lambda f: _relative(config, f)))
    }
    mods = {f.path: note_mod(deck, f) for f in deck.files}
    ordered = sorted(
        enumerate(rendered.cards),
        key=lambda item: (
            config.levels.index(item[1][0].level),
            numbers[(item[1][0].level, item[1][0].topic)],
            files[item[1][0].path],
            item[0],
        ),
    )
    notes = []
    for position, (_, (topic_file, card)) in enumerate(ordered):
        kind = kinds.kind_of(card.card)
        spec = NoteSpec(
            guid=note_guid(config.key, card.card.key, kind.name),
            deck=subdecks[(topic_file.level, topic_file.topic)],
            kind=kind.name,
            fields=kind.make_fields(card.front, card.back, source_field(config, topic_file, card)),
            tags=note_tags(config, topic_file),
            mod=mods[topic_file.path],
            position=position,
        )
        notes.append(PlannedNote(topic_file.level, spec, tuple(name for name, _ in card.media)))
    return notes


def _relative(config: DeckConfig, topic_file: TopicFile) -> str:
    return topic_file.path.relative_to(config.root).as_posix()
