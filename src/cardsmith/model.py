"""The values that flow through a build: decks, topic files and cards."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# A cloze's text may not hold "{{" or "}}": no nesting, and an unclosed marker stops the
# search at the next one. The answer ends at the first "::" (as in Anki), so only the
# hint is searched for the closing "}}": matching stays linear on hostile input.
_ANSWER = r"(?:(?!\{\{|\}\}|::).)*"
_HINT = r"(?:(?!\{\{|\}\}).)*?"
CLOZE_RE = re.compile(
    rf"\{{\{{c(?P<n>\d+)::(?P<answer>{_ANSWER})(?:::(?P<hint>{_HINT}))?\}}\}}",
    re.DOTALL,
)


def normalize_question(text: str) -> str:
    """The form of a question used for identity and duplicate checks."""
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split()).casefold()


def slugify(text: str, max_length: int = 60) -> str:
    """A lowercase, hyphenated slug; letters of any script are kept."""
    text = unicodedata.normalize("NFKC", text).casefold()
    words = re.findall(r"\w+", text)
    slug = ""
    for word in (w.strip("_") for w in words):
        if not word:
            continue
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_length and slug:
            break
        slug = candidate[:max_length]
    return slug


@dataclass(frozen=True)
class NoteTypeTemplate:
    """One card template of a declared note type, as its author wrote it."""

    name: str
    front: str
    back: str


@dataclass(frozen=True)
class NoteTypeDecl:
    """A note type declared by a deck in `note-types/<handle>.toml` (docs/format.md,
    "Declared note types"): an Anki note type cardsmith passes through as written."""

    path: Path
    handle: str
    name: str
    id: int
    cloze: bool
    fields: tuple[str, ...]
    sort_field: int  # index into fields
    question: str | None  # the field the `## ` heading fills; None: the heading is a label
    answer: str  # the field the card's body (up to its first field section) fills
    modified: int  # the note type's `mod` in packages (Unix time)
    css: str
    templates: tuple[NoteTypeTemplate, ...]
    latex_pre: str | None = None
    latex_post: str | None = None

    @property
    def kind(self) -> str:
        """The name of its kind in the ledger and in notes: `nt<id>`."""
        return f"nt{self.id}"


@dataclass(frozen=True)
class FieldSection:
    """A `### Name {.field}` section of a card of a declared note type."""

    name: str
    line: int  # the heading's line
    markdown: str
    markdown_line: int  # the line its Markdown starts on


@dataclass(frozen=True)
class DeckConfig:
    """A deck folder and the settings of its deck.toml."""

    toml_path: Path
    name: str
    key: str
    levels: tuple[str, ...]
    default_level: str | None
    description: str
    tags: tuple[str, ...]
    source_url: str | None = None
    file_slug: str | None = None  # deck.toml's `slug`: the packages' file name
    note_types: tuple[NoteTypeDecl, ...] = ()  # declared in note-types/*.toml, by handle

    def note_type(self, handle: str) -> NoteTypeDecl | None:
        return next((t for t in self.note_types if t.handle == handle), None)

    @property
    def root(self) -> Path:
        return self.toml_path.parent

    @property
    def slug(self) -> str:
        """The packages' file name: deck.toml's `slug`, else made from the name."""
        return slugify(self.file_slug or self.name) or "deck"

    def level_title(self, level: str) -> str:
        """The level's subdeck name, numbered so Anki's alphabetical list keeps study order."""
        width = len(str(len(self.levels)))
        number = str(self.levels.index(level) + 1).zfill(width)
        return f"{number}. {level[:1].upper()}{level[1:]}"


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block inside an answer."""

    path: Path
    line: int
    language: str
    flags: tuple[str, ...]
    code: str


@dataclass(frozen=True)
class Card:
    """One `## ` question and the answer below it."""

    path: Path
    line: int
    question: str
    explicit_id: str | None
    answer: str
    answer_line: int
    code_blocks: tuple[CodeBlock, ...]
    reverse: bool = False
    note_type: NoteTypeDecl | None = None  # a declared note type chosen for this card
    extra_fields: tuple[FieldSection, ...] = ()  # its field sections, in source order

    @property
    def kind(self) -> str:
        """The name of the card's kind (see kinds.py): "basic", "reverse" or "cloze", or
        `nt<id>` for a declared note type."""
        from cardsmith.kinds import kind_of  # kinds builds on this module

        return kind_of(self).name

    @functools.cached_property
    def key(self) -> str:
        """What identifies the card inside its deck: the explicit id, else the question
        (worked out once: every stage asks)."""
        if self.explicit_id is not None:
            return f"id:{self.explicit_id}"
        return f"q:{normalize_question(self.question)}"


@dataclass(frozen=True)
class TopicFile:
    """One Markdown file: the cards of one topic at one level."""

    path: Path
    level: str
    topic: str
    tags: tuple[str, ...]
    cards: tuple[Card, ...]

    @property
    def topic_slug(self) -> str:
        return slugify(self.topic) or "topic"


@dataclass(frozen=True)
class Deck:
    """A deck.toml and every topic file below it."""

    config: DeckConfig
    files: tuple[TopicFile, ...]

    @property
    def card_count(self) -> int:
        return sum(len(f.cards) for f in self.files)
