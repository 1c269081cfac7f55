"""`cardsmith stats`: card counts per deck, level and topic."""

from __future__ import annotations

from dataclasses import dataclass

from cardsmith.model import Deck


@dataclass(frozen=True)
class Row:
    deck: str
    level: str
    topic: str
    cards: int


def count_cards(decks: list[Deck]) -> list[Row]:
    """One row per deck, level and topic, in level order, then topic order."""
    rows: list[Row] = []
    for deck in decks:
        counts: dict[tuple[str, str], int] = {}
        for topic_file in deck.files:
            key = (topic_file.level, topic_file.topic)
            counts[key] = counts.get(key, 0) + len(topic_file.cards)
        order = {level: i for i, level in enumerate(deck.config.levels)}
        for (level, topic), n in sorted(counts.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
            rows.append(Row(deck.config.name, level, topic, n))
    return rows
