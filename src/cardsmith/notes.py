"""Note metadata: what each rendered card becomes in Anki besides its HTML.

Its note type (via its kind), subdeck, tags, Source field and its place in the study
order: pure functions of the parsed and rendered deck. Its GUID, note id and
modification time come from the deck's ledger (ledger.py), through `Identity`.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cardsmith import kinds
from cardsmith.apkg import NoteSpec, note_guid
from cardsmith.ledger import CardFacts, content_hash, text_hash
from cardsmith.model import Deck, DeckConfig, TopicFile
from cardsmith.render import RenderedCard
from cardsmith.render_all import RenderedDeck


@dataclass(frozen=True)
class PlannedNote:
    """A note and what the package plan needs to know about it."""

    level: str
    spec: NoteSpec
    media: tuple[str, ...]  # packaged media names


@dataclass(frozen=True)
class Identity:
    """What the ledger says of a card: its GUID, note id and modification time.

    The modification time is the card's changed-at: Anki applies an update only when the
    incoming note is newer, so a changed card carries a newer time and an unchanged card
    keeps its own, whatever the clock or SOURCE_DATE_EPOCH of the build (capping it by
    SOURCE_DATE_EPOCH would re-stamp unchanged cards whose time lies after the epoch).
    """

    guid: str
    note_id: int
    mod: int


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
    return _source(config, _relative(config, topic_file), card)


def _source(config: DeckConfig, where: str, card: RenderedCard) -> str:
    """source_field with the file's path inside the deck already worked out."""
    text = where + f"#{card.card.explicit_id}" if card.card.explicit_id else where
    text = html.escape(text, quote=False)
    if not config.source_url:
        return text
    url = config.source_url.replace("{path}", quote(where)).replace("{line}", str(card.card.line))
    return f'<a href="{html.escape(url)}">{text}</a>'


@dataclass(frozen=True)
class _Content:
    topic_file: TopicFile
    card: RenderedCard
    kind: kinds.CardKind
    deck: str
    fields: tuple[str, ...]
    tags: tuple[str, ...]
    content: str  # ledger.content_hash of the four above
    question: str  # ledger.text_hash of the card's question


# Each topic file's notes as last made: (the parsed file, what else they came from, notes).
_FILE_CONTENTS: dict[
    Path,
    tuple[
        TopicFile, tuple[DeckConfig, str, tuple[str, ...], str, list[RenderedCard]], list[_Content]
    ],
] = {}

# The last decks' contents: the ledger stage and the package plan both read them.
_MEMO: dict[int, tuple[RenderedDeck, list[_Content]]] = {}


def _contents(rendered: RenderedDeck) -> list[_Content]:
    """Every note's content (no identity yet), in study order: level, topic (file-name
    order), card order."""
    memo = _MEMO.get(id(rendered))
    if memo is not None and memo[0] is rendered:
        return memo[1]
    if len(_MEMO) >= 8:
        _MEMO.clear()
    contents = list(_make_contents(rendered))
    _MEMO[id(rendered)] = (rendered, contents)
    return contents


def _make_contents(rendered: RenderedDeck) -> Iterator[_Content]:
    deck = rendered.deck
    config = deck.config
    subdecks = subdeck_names(deck)
    numbers = topic_numbers(deck)
    # Worked out once per file, not per card; cards are grouped by their file's object
    # (hashing a Path or a TopicFile per card was a good part of a 5k-card rebuild).
    by_file: dict[int, tuple[TopicFile, list[RenderedCard]]] = {}
    for topic_file, card in rendered.cards:
        group = by_file.get(id(topic_file))
        if group is None:
            group = by_file[id(topic_file)] = (topic_file, [])
        group[1].append(card)
    relative = {key: _relative(config, f) for key, (f, _) in by_file.items()}
    ordered = sorted(
        by_file,
        key=lambda key: (
            config.levels.index(by_file[key][0].level),
            numbers[(by_file[key][0].level, by_file[key][0].topic)],
            relative[key],
        ),
    )
    for key in ordered:
        topic_file, cards = by_file[key]
        tags = note_tags(config, topic_file)
        subdeck = subdecks[(topic_file.level, topic_file.topic)]
        where = relative[key]
        # A long-lived process (`build --watch`) reuses a file's notes while the file, its
        # place in the deck and its cards' HTML are what they were (equal, mostly the same
        # objects: parse and the cache hand them back).
        inputs = (config, subdeck, tags, where, cards)
        last = _FILE_CONTENTS.get(topic_file.path)
        if last is not None and last[0] is topic_file and last[1] == inputs:
            yield from last[2]
            continue
        made = []
        for card in cards:
            kind = kinds.kind_of(card.card)
            source = "" if kind.declared else _source(config, where, card)
            fields = kind.note_fields(card.front, card.back, source, card.sections)
            content = content_hash(kind.name, subdeck, fields, tags)
            question = text_hash(card.card.question)
            made.append(_Content(topic_file, card, kind, subdeck, fields, tags, content, question))
        _FILE_CONTENTS[topic_file.path] = (topic_file, inputs, made)
        yield from made


def card_facts(rendered: RenderedDeck) -> list[CardFacts]:
    """What the ledger records of each card: its key and hashes of what it puts into Anki."""
    return [
        CardFacts(
            key=c.card.card.key,
            kind=c.kind.name,
            content=c.content,
            question=c.question,
            answer=c.card.card.answer,
            explicit_id=c.card.card.explicit_id is not None,
            path=c.card.card.path,
            line=c.card.card.line,
        )
        for c in _contents(rendered)
    ]


def unrecorded_identity(config: DeckConfig, key: str, kind: str) -> Identity:
    """The identity of a card outside any ledger (previews): its GUID from its key."""
    return Identity(note_guid(config.key, key, kind), 0, kinds.NOTE_TYPE_EPOCH)


def plan_notes(
    rendered: RenderedDeck, identities: Mapping[str, Identity] | None = None
) -> list[PlannedNote]:
    """Every note of a deck, in study order: level, topic (file-name order), card order.

    Each note's position is its first new card's place in that order, so Anki serves
    new cards as the author ordered them. identities: card key -> its ledger identity
    (None: GUIDs from the keys, for a preview).
    """
    config = rendered.deck.config
    notes = []
    for position, content in enumerate(_contents(rendered)):
        key = content.card.card.key
        identity = (
            identities[key]
            if identities is not None
            else unrecorded_identity(config, key, content.kind.name)
        )
        spec = NoteSpec(
            guid=identity.guid,
            deck=content.deck,
            kind=content.kind.name,
            fields=content.fields,
            tags=content.tags,
            mod=identity.mod,
            position=position,
            note_id=identity.note_id,
            note_type=content.kind.declared,
            content=content.content,
        )
        media = tuple(name for name, _ in content.card.media) if content.card.media else ()
        notes.append(PlannedNote(content.topic_file.level, spec, media))
    return notes


def _relative(config: DeckConfig, topic_file: TopicFile) -> str:
    return _relative_path(config.root, topic_file.path)


@functools.lru_cache(maxsize=4096)
def _relative_path(root: Path, path: Path) -> str:
    """path inside root, with '/' (asked once per card: Path.relative_to is slow)."""
    return path.relative_to(root).as_posix()
