"""The kinds of card: one object each, like genanki's builtin_models.

A kind says everything that depends on it: its Anki note type (id, name, fields,
templates), how a card of this kind is recognised in Markdown and checked, how the
note's fields are filled, and which cards (ordinals) a note makes. Behaviour that
depends on the kind is dispatched here and nowhere else.

Note type ids and field lists are frozen forever: Anki matches note types by id, and a
changed field list makes every existing note `conflicting`. Only CSS and templates may
change, and then NOTE_TYPE_EPOCH must move (see below and docs/note-types.md).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cardsmith import resources
from cardsmith.model import CLOZE_RE, Card, NoteTypeDecl

# When the note types' CSS or templates last changed (Unix time). Anki applies a note
# type from a package only when its time is newer than the learner's copy, so this must
# move forward whenever NOTE_TYPE_DIGEST changes, and never lie in the future: a future
# time blocks every later fix until it has passed. tests/test_note_types.py enforces both
# (the digest must match, and this time may not be later than the commit that sets it).
NOTE_TYPE_EPOCH = 1_795_716_333  # 2026-11-26 18:05 UTC
NOTE_TYPE_DIGEST = "8a04b48fe15370e361934ddf02e70030eaeabc2f25b12c6b063af88084561245"


@dataclass(frozen=True)
class Template:
    """One card template: its name and the package data files of its two sides."""

    name: str
    front_file: str
    back_file: str

    @property
    def front(self) -> str:
        return resources.read(self.front_file).strip()

    @property
    def back(self) -> str:
        return resources.read(self.back_file).strip()


@dataclass(frozen=True)
class CardKind:
    """A kind of card and its Anki note type."""

    name: str
    note_type_id: int
    note_type_name: str
    fields: tuple[str, ...]
    templates: tuple[Template, ...]
    # Does a parsed card belong to this kind? Kinds are tried in KINDS order.
    matches: Callable[[Card], bool]
    # The note's fields, in the note type's order, from the card's HTML and its source line.
    make_fields: Callable[[str, str, str], tuple[str, ...]]
    # The ordinals of the cards a note makes from its fields (as Anki and genanki decide).
    card_ords: Callable[[tuple[str, ...]], list[int]]
    # Problems with a card of this kind, as messages for the card's heading line.
    problems: Callable[[Card], list[str]] = lambda card: []
    cloze: bool = False
    sort_field: int = 0
    # The note type a deck declared (note-types/*.toml), for kinds made at runtime.
    declared: NoteTypeDecl | None = None

    def note_fields(
        self, front: str, back: str, source: str, extra: Sequence[tuple[str, str]] = ()
    ) -> tuple[str, ...]:
        """The note's fields from the card's HTML, its source line and its field sections'
        HTML ((field name, HTML) pairs, only for declared note types)."""
        if self.declared is None:
            return self.make_fields(front, back, source)
        return fill_declared(self.declared, front, back, dict(extra))

    def guid_parts(self, deck_key: str, card_key: str) -> tuple[str, ...]:
        """What a note's GUID hashes. The kind is part of it (except for plain cards)
        because a note cannot change its note type on import."""
        return (deck_key, card_key) if self.name == "basic" else (deck_key, card_key, self.name)


def _has_cloze(card: Card) -> bool:
    return "{{c" in card.answer and CLOZE_RE.search(card.answer) is not None


def _cloze_ords(fields: tuple[str, ...]) -> list[int]:
    numbers = {int(m["n"]) - 1 for m in CLOZE_RE.finditer(fields[0]) if int(m["n"]) > 0}
    return sorted(numbers) or [0]


def _cloze_problems(card: Card) -> list[str]:
    for cloze in CLOZE_RE.finditer(card.answer):
        if int(cloze["n"]) == 0:
            return ["cloze numbers start at c1 ({{c0::...}} found)"]
        if not cloze["answer"].strip():
            return [f"empty cloze {{{{c{cloze['n']}::}}}}"]
    return []


def _front_back(front: str, back: str, source: str) -> tuple[str, ...]:
    return (front, back, source)


CLOZE = CardKind(
    name="cloze",
    note_type_id=1_763_510_003,  # frozen: chosen once (2025-11-19 in ms/1000, + kind)
    note_type_name="cardsmith cloze",
    fields=("Text", "Title", "Source"),
    templates=(Template("Cloze", "cloze-front.html", "cloze-back.html"),),
    matches=_has_cloze,
    make_fields=lambda front, back, source: (back, front, source),
    card_ords=_cloze_ords,
    problems=_cloze_problems,
    cloze=True,
    sort_field=1,
)
REVERSE = CardKind(
    name="reverse",
    note_type_id=1_763_510_002,  # frozen
    note_type_name="cardsmith basic and reversed",
    fields=("Front", "Back", "Source"),
    templates=(
        Template("Forward", "front.html", "back.html"),
        Template("Reverse", "reversed-front.html", "reversed-back.html"),
    ),
    matches=lambda card: card.reverse,
    make_fields=_front_back,
    card_ords=lambda fields: [0, 1],
)
BASIC = CardKind(
    name="basic",
    note_type_id=1_763_510_001,  # frozen
    note_type_name="cardsmith basic",
    fields=("Front", "Back", "Source"),
    templates=(Template("Card 1", "front.html", "back.html"),),
    matches=lambda card: True,
    make_fields=_front_back,
    card_ords=lambda fields: [0],
)

# In the order they are tried: the first kind whose `matches` holds is the card's kind.
KINDS: tuple[CardKind, ...] = (CLOZE, REVERSE, BASIC)
BY_NAME = {kind.name: kind for kind in KINDS}


def kind_of(card: Card) -> CardKind:
    """The kind of a parsed card: its declared note type's, else the first that matches."""
    if card.note_type is not None:
        return declared_kind(card.note_type)
    for kind in KINDS:
        if kind.matches(card):
            return kind
    raise AssertionError("BASIC matches every card")


def fill_declared(
    decl: NoteTypeDecl, front: str, back: str, extra: Mapping[str, str]
) -> tuple[str, ...]:
    """A declared note type's fields: the question field from the heading (unless the
    heading is only a label), the answer field from the body, the others from the card's
    field sections; a field no section gives is empty."""
    values = dict(extra)
    if decl.question is not None:
        values[decl.question] = front
    values[decl.answer] = back
    return tuple(values.get(name, "") for name in decl.fields)


# `{{cloze:Field}}`, also behind other filters (`{{type:cloze:Field}}`): filters are
# separated by ':' and the field's name comes last.
_REPLACEMENT_RE = re.compile(r"\{\{([^{}]*)\}\}")


def cloze_fields(decl: NoteTypeDecl) -> tuple[int, ...]:
    """The indexes of the fields a cloze note type's card fronts use with `cloze:`."""
    names: set[str] = set()
    for template in decl.templates:
        for match in _REPLACEMENT_RE.finditer(template.front):
            *filters, name = (part.strip() for part in match[1].split(":"))
            if "cloze" in filters:
                names.add(name)
    return tuple(i for i, name in enumerate(decl.fields) if name in names)


def _declared_ords(decl: NoteTypeDecl, fields: tuple[str, ...]) -> list[int]:
    """The cards of a note of a declared type, as Anki makes them: for a cloze type, one
    per cloze number in the fields its template uses with `cloze:` (c1 is card 0; no
    cloze: card 0); for a standard type, one per template whose front shows a field the
    note fills (apkg.py asks genanki, which implements Anki's rule)."""
    if decl.cloze:
        numbers = {
            int(m["n"]) - 1
            for index in cloze_fields(decl)
            for m in CLOZE_RE.finditer(fields[index])
            if int(m["n"]) > 0
        }
        return sorted(numbers) or [0]
    from cardsmith import apkg  # apkg (genanki's module) builds on this one

    return apkg.template_ords(decl, fields)


@functools.cache
def declared_kind(decl: NoteTypeDecl) -> CardKind:
    """The kind of the cards of a declared note type (made at runtime, one per type)."""
    return CardKind(
        name=decl.kind,
        note_type_id=decl.id,
        note_type_name=decl.name,
        fields=decl.fields,
        templates=(),  # the declared templates are decl.templates, passed through as written
        matches=lambda card: card.note_type == decl,
        make_fields=lambda front, back, source: fill_declared(decl, front, back, {}),
        card_ords=functools.partial(_declared_ords, decl),
        cloze=decl.cloze,
        sort_field=decl.sort_field,
        declared=decl,
    )


def declared_digest(decl: NoteTypeDecl) -> str:
    """A hash of everything of a declared note type that goes into a package."""
    parts = [str(decl.id), decl.name, str(decl.cloze), *decl.fields, "\x1e",
             str(decl.sort_field), str(decl.modified), decl.css,
             str(decl.latex_pre), str(decl.latex_post)]  # fmt: skip
    for template in decl.templates:
        parts += [template.name, template.front, template.back]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def card_css() -> str:
    """The CSS every note type ships (code highlighting CSS is appended by the caller)."""
    return resources.read("card.css")


@functools.cache
def note_type_digest() -> str:
    """A hash of what cardsmith itself puts into the note types: ids, names, fields,
    templates and card CSS (the Pygments CSS appended to it follows the Pygments version)."""
    digest = hashlib.sha256(card_css().encode())
    for kind in KINDS:
        digest.update(f"{kind.note_type_id}{kind.note_type_name}{kind.fields}".encode())
        for template in kind.templates:
            digest.update(f"{template.name}\0{template.front}\0{template.back}\0".encode())
    return digest.hexdigest()
