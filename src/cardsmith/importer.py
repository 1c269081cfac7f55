"""`cardsmith import`: an Anki deck becomes a cardsmith deck folder that `build` accepts.

ankiread.py reads the deck out of Anki (the only part that uses the backend); this module
decides the folder (the rule is documented in docs/importing.md), converts each field's
HTML to Markdown (unhtml.py), writes every file into a temporary folder, checks that
folder as `build` would, writes its ledger (deck.lock: each note's original GUID and note
id, so the first build updates the learner's notes in place) and only then renames it
into place. Nothing is written on an error, and nothing at all with --dry-run.

The rule, in short: the chosen deck D is the deck (deck.toml `name` and `id`); its
depth-1 subdecks are levels; deeper subdecks are topics (one file each, names joined
with " - "); notes directly in a level deck form a topic named after it, and notes
directly in D a level and topic named after D. Notes of cardsmith's own note types
become cardsmith cards; every other note type is declared under note-types/.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from cardsmith import kinds, ledger
from cardsmith.ankiread import AnkiDeck, Note, NoteType, read_collection, read_package
from cardsmith.diagnostics import one_line, quote_path
from cardsmith.errors import CardsmithError, UsageError
from cardsmith.htmltext import TAG_RE
from cardsmith.model import slugify
from cardsmith.parse import deck_name_part
from cardsmith.push import MissingBackend

MEDIA_DIR = "media"
NOTE_TYPES_DIR = "note-types"
NO_CONTENT = "0" * 16  # the content hash of a foreign note: the first build stamps it newer
CARDSMITH_KINDS = {kind.note_type_id: kind for kind in kinds.KINDS}
_NUMBER_RE = re.compile(r"^\d+\.\s+")  # cardsmith's "1. " prefix on level and topic decks
_ID_RE = re.compile(r"^\w[\w.-]*$")
_GUID_RE = re.compile(r"^[!-~]{1,64}$")
_SOURCE_RE = re.compile(r"^(?P<path>[\w.-]+(?:/[\w.-]+)*\.md)(?:#(?P<id>\w[\w.-]*))?$")
_MEDIA_RE = re.compile(
    r"""<(?:img|audio|video|source)\b[^<>]*?\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"""
    r"|\[sound:([^\[\]]*)\]",
    re.IGNORECASE,
)
_REMOTE_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


class ImportFailure(CardsmithError):
    """The deck cannot be imported as it is: one line, exit 1."""

    def __init__(self, where: Path | str, reason: str) -> None:
        super().__init__(f"{quote_path(where)}: error: {one_line(reason)}")


@dataclass(frozen=True)
class ImportResult:
    out: Path
    files: tuple[str, ...]  # paths inside out, sorted
    notes: int
    note_types: int  # declared (foreign) note types
    media: int
    dry_run: bool
    warnings: tuple[str, ...] = ()


@dataclass
class _Card:
    note: Note
    level: str
    topic: str
    tags: tuple[str, ...]  # the note's own tags (without deck-wide ones), in order
    kind: kinds.CardKind | None  # None: a declared note type
    card_id: str = ""
    hint_path: str | None = None
    path: str = ""


@dataclass
class _Plan:
    files: dict[str, str] = field(default_factory=dict)  # text files: path -> content
    media: dict[str, Path] = field(default_factory=dict)  # path -> source file
    cards: dict[str, _Card] = field(default_factory=dict)  # card id -> card
    declared: dict[int, str] = field(default_factory=dict)  # note type id -> handle
    warnings: list[str] = field(default_factory=list)


def import_package(
    package: Path, out: Path, deck: str | None = None, force: bool = False, dry_run: bool = False
) -> ImportResult:
    """Import an .apkg or .colpkg into the deck folder out."""
    return _import(lambda: read_package(package, deck), package, out, force, dry_run)


def import_collection(
    collection: Path, deck: str, out: Path, force: bool = False, dry_run: bool = False
) -> ImportResult:
    """Import one deck of a local collection (Anki closed) into the deck folder out."""
    if collection.is_dir():
        collection = collection / "collection.anki2"
    return _import(lambda: read_collection(collection, deck), collection, out, force, dry_run)


def _import(
    reader: Callable[[], AbstractContextManager[AnkiDeck]],
    origin: Path,
    out: Path,
    force: bool,
    dry_run: bool,
) -> ImportResult:
    _check_out(out, force, origin)
    try:
        import cardsmith.unhtml  # noqa: F401  (markdownify, of the anki extra)
    except ImportError:
        raise MissingBackend(_NEEDS_EXTRA) from None
    with reader() as source:
        plan = plan_folder(source)
        files = tuple(sorted([*plan.files, *plan.media, ledger.LEDGER_NAME]))
        result = ImportResult(
            out,
            files,
            len(plan.cards),
            len(plan.declared),
            len(plan.media),
            dry_run,
            tuple(plan.warnings),
        )
        if not dry_run:
            _write(plan, out)
    return result


_NEEDS_EXTRA = "cardsmith: error: import needs the Anki backend: pip install 'cardsmith[anki]'"


def _check_out(out: Path, force: bool, origin: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"cardsmith: error: {quote_path(out)}: --out must be a folder")
    if origin.absolute().is_relative_to(out.absolute()) or Path.cwd().is_relative_to(
        out.absolute()
    ):
        raise UsageError(
            f"cardsmith: error: {quote_path(out)}: --out may not hold what is imported or the "
            "current folder (its contents are replaced)"
        )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ImportFailure(
            out, "the folder is not empty: choose a new one, or --force to replace what it holds"
        )


# Planning: what each file holds.


def plan_folder(source: AnkiDeck) -> _Plan:
    """Every file of the deck folder, in memory (media as the files to copy)."""
    plan = _Plan()
    cards = _cards(source)
    if not cards:
        raise ImportFailure(source.origin, f"the deck {source.name!r} holds no notes")
    handles = _declare_note_types(source, cards, plan)
    deck_tags = _deck_tags(cards)
    for card in cards:
        card.tags = tuple(t for t in card.tags if t.casefold() not in _folded(deck_tags))
    _assign_ids(cards)
    levels = list(dict.fromkeys(card.level for card in cards))
    _assign_paths(cards, levels)
    media = _plan_media(source, cards, plan)
    plan.files["deck.toml"] = _deck_toml(source, levels, deck_tags, media)
    by_path: dict[str, list[_Card]] = {}
    for card in cards:
        by_path.setdefault(card.path, []).append(card)
        plan.cards[card.card_id] = card
    for path, members in by_path.items():
        plan.files[path] = _topic_file(source, members, handles, media, path, plan.warnings)
    return plan


def _folded(tags: Sequence[str]) -> set[str]:
    return {t.casefold() for t in tags}


def _strip_number(name: str) -> str:
    return _NUMBER_RE.sub("", name).strip() or name.strip()


def _topic_name(parts: Sequence[str]) -> str:
    return deck_name_part(" - ".join(_strip_number(p) for p in parts)) or "Topic"


def _cards(source: AnkiDeck) -> list[_Card]:
    """Each note's level, topic and own tags, in the order the deck will study them."""
    top = source.name.split("::")
    level_names: dict[str, str] = {}  # level deck (or D itself) -> level slug
    taken: set[str] = set()

    def level_of(deck: str) -> str:
        if deck not in level_names:
            base = _ascii_slug(_strip_number(deck.split("::")[-1])) or "level"
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            taken.add(name)
            level_names[deck] = name
        return level_names[deck]

    order = {name: n for n, name in enumerate(source.decks)}
    everyone_new = all(note.position is not None for note in source.notes)

    def sort_key(note: Note) -> tuple[int, int, int]:
        parts = note.deck.split("::")
        level_deck = "::".join(parts[: len(top) + 1])
        depth_first = order.get(level_deck, -1) if len(parts) > len(top) else -1
        topic_place = order.get(note.deck, 0) if len(parts) > len(top) + 1 else -1
        place = note.position if everyone_new and note.position is not None else note.id
        return (depth_first, topic_place, place)

    cards = []
    for note in sorted(source.notes, key=lambda n: (*sort_key(n), n.id)):
        parts = note.deck.split("::")
        if len(parts) == len(top):  # directly in D
            level = level_of(source.name)
            topic = _topic_name([top[-1]])
        else:
            level = level_of("::".join(parts[: len(top) + 1]))
            below = parts[len(top) + 1 :]
            topic = _topic_name(below or [parts[len(top)]])
        kind = CARDSMITH_KINDS.get(note.note_type)
        if kind is not None and len(note.fields) != len(kind.fields):
            kind = None  # not cardsmith's fields after all: keep it as it is
        # cardsmith's own tags: build adds them again (a note of another note type keeps
        # a level:: or topic:: tag of its own unless it is the one build adds)
        dropped = {f"level::{level}".casefold(), f"topic::{slugify(topic) or 'topic'}".casefold()}
        tags = tuple(
            t
            for t in note.tags
            if t.casefold() not in dropped
            and not (kind is not None and t.casefold().startswith(("level::", "topic::")))
        )
        cards.append(_Card(note, level, topic, tags, kind))
    return cards


def _ascii_slug(text: str) -> str:
    """A slug of ASCII letters, digits and `-` (level names and note type handles)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return slugify(text).replace("_", "-").strip("-")


def _deck_tags(cards: Sequence[_Card]) -> tuple[str, ...]:
    """The tags every note has (deck.toml's `tags`), in the first note's order."""
    common = _folded(cards[0].tags)
    for card in cards[1:]:
        common &= _folded(card.tags)
    return tuple(t for t in cards[0].tags if t.casefold() in common)


def _question_field(note_type: NoteType) -> tuple[str, str]:
    """(question, answer) field names for a declared note type ("" = a heading label)."""
    fields = note_type.fields
    if note_type.cloze:
        used = re.findall(r"\{\{cloze:([^}]+)\}\}", " ".join(t.front for t in note_type.templates))
        answer = next((f for f in used if f in fields), fields[0])
        return "", answer
    if len(fields) == 1:
        return "", fields[0]
    return fields[0], fields[1]


def _declare_note_types(source: AnkiDeck, cards: Sequence[_Card], plan: _Plan) -> dict[int, str]:
    """note-types/<handle>.toml for every note type that is not cardsmith's."""
    handles: dict[int, str] = {}
    for card in cards:
        mid = card.note.note_type
        if card.kind is not None or mid in handles:
            continue
        note_type = source.note_types[mid]
        base = _ascii_slug(note_type.name) or "note-type"
        handle, n = base, 1
        while handle in handles.values():
            n += 1
            handle = f"{base}-{n}"
        handles[mid] = handle
        plan.declared[mid] = handle
        plan.files[f"{NOTE_TYPES_DIR}/{handle}.toml"] = _note_type_toml(note_type)
    return handles


def _source_hint(card: _Card) -> tuple[str | None, str | None]:
    """(path, id) from a cardsmith note's Source field (`level/01-topic.md#card-id`)."""
    if card.kind is None:
        return None, None
    text = html.unescape(TAG_RE.sub("", card.note.fields[card.kind.fields.index("Source")]))
    match = _SOURCE_RE.match(text.strip())
    if match is None:
        return None, None
    path = match["path"]
    parts = path.split("/")
    if any(p.startswith(".") for p in parts) or parts[0] in (MEDIA_DIR, NOTE_TYPES_DIR):
        path = None
    return path, match["id"]


def _assign_ids(cards: Sequence[_Card]) -> None:
    """Every card an explicit id: the one its Source field names, else a slug of its
    question, made unique in the deck."""
    taken: set[str] = set()
    hinted: list[str | None] = []
    for card in cards:
        path, card_id = _source_hint(card)
        card.hint_path = path
        hinted.append(card_id if card_id and _ID_RE.match(card_id) else None)
    counts: dict[str, int] = {}
    for card_id in hinted:
        if card_id is not None:
            counts[card_id.casefold()] = counts.get(card_id.casefold(), 0) + 1
    for card, card_id in zip(cards, hinted, strict=True):
        if card_id is not None and counts[card_id.casefold()] == 1:
            card.card_id = card_id
            taken.add(card_id.casefold())
    for card in cards:
        if card.card_id:
            continue
        base = slugify(_plain(_question_html(card)), max_length=50) or "card"
        candidate, n = base, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{base}-{n}"
        card.card_id = candidate
        taken.add(candidate.casefold())


def _plain(text: str) -> str:
    text = re.sub(r"\{\{c\d+::([^{}]*?)(?:::[^{}]*)?\}\}", r"\1", text)
    return " ".join(html.unescape(TAG_RE.sub(" ", text)).split())


def _question_html(card: _Card) -> str:
    fields = card.note.fields
    if card.kind is not None:
        return fields[card.kind.fields.index("Title" if card.kind.cloze else "Front")]
    return fields[0] if fields[0].strip() else " ".join(fields)


def _assign_paths(cards: Sequence[_Card], levels: Sequence[str]) -> None:
    """Each card's file: the paths its Source fields name when every card has one and
    they agree with the levels, topics and tags; else `<level>/<NN>-<topic>.md`, a topic
    whose notes have different tags split into `-1`, `-2`... files."""
    groups: dict[str, set[tuple[str, str, frozenset[str]]]] = {}
    for card in cards:
        if card.hint_path is None:
            break
        key = (card.level, card.topic, frozenset(_folded(card.tags)))
        groups.setdefault(card.hint_path.casefold(), set()).add(key)
    else:
        if all(len(keys) == 1 for keys in groups.values()):
            for card in cards:
                assert card.hint_path is not None
                card.path = card.hint_path
            return
    for level in levels:
        members = [c for c in cards if c.level == level]
        topics = list(dict.fromkeys(c.topic for c in members))
        width = max(2, len(str(len(topics))))
        used: set[str] = set()
        for number, topic in enumerate(topics, start=1):
            in_topic = [c for c in members if c.topic == topic]
            tag_sets = list(dict.fromkeys(frozenset(_folded(c.tags)) for c in in_topic))
            slug = slugify(topic, max_length=50) or "topic"
            stem = f"{str(number).zfill(width)}-{slug}"
            while stem.casefold() in used:
                stem += "-x"
            used.add(stem.casefold())
            for n, tags in enumerate(tag_sets, start=1):
                name = (
                    stem
                    if len(tag_sets) == 1
                    else f"{stem}-{str(n).zfill(len(str(len(tag_sets))))}"
                )
                for card in in_topic:
                    if frozenset(_folded(card.tags)) == tags:
                        card.path = f"{level}/{name}.md"


# Media.


def _media_names(text: str) -> Iterator[str]:
    """The media file names a field refers to (pictures, sounds, videos; not remote ones)."""
    for match in _MEDIA_RE.finditer(text):
        name = next(g for g in match.groups() if g is not None)
        name = html.unescape(name).strip()
        if name and not _REMOTE_RE.match(name):
            yield name


def _leaves_folder(name: str) -> bool:
    parts = re.split(r"[/\\]", name)
    return (
        name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name) is not None
    )


def _safe_media_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = re.sub(r"[^\w.-]+", "-", stem).strip(".-") or "file"
    ext = re.sub(r"[^\w]+", "", ext)
    return f"{stem}.{ext}" if ext else stem


def _plan_media(source: AnkiDeck, cards: Sequence[_Card], plan: _Plan) -> dict[str, str]:
    """Copy every media file the notes use to media/ under a readable name; returns the
    name as written in the fields -> its path inside the deck folder."""
    paths: dict[str, str] = {}
    taken: set[str] = set()
    for card in cards:
        for name in (n for text in card.note.fields for n in _media_names(text)):
            if name in paths:
                continue
            shown = f"note {card.note.id} ({_plain(_question_html(card))[:40]!r})"
            if _leaves_folder(name):
                raise ImportFailure(
                    source.origin, f"{shown} uses media {name!r}, a path leaving the media folder"
                )
            file = source.media_path(name) or source.media_path(unquote(name))
            if file is None:
                raise ImportFailure(
                    source.origin,
                    f"{shown} uses media {name!r}, which is not in the collection's media "
                    "(Anki: Tools > Check Media)",
                )
            base = _safe_media_name(file.name)
            stem, dot, ext = base.rpartition(".")
            candidate, n = base, 1
            while candidate.casefold() in taken:
                n += 1
                candidate = f"{stem}-{n}.{ext}" if dot else f"{base}-{n}"
            taken.add(candidate.casefold())
            paths[name] = f"{MEDIA_DIR}/{candidate}"
            plan.media[paths[name]] = file
    return paths


def _relative(media: Mapping[str, str], path: str) -> dict[str, str]:
    """Media names -> their paths relative to the Markdown file at path."""
    up = "../" * path.count("/")
    mapping = {}
    for name, target in media.items():
        mapping[name] = up + target
        mapping[html.escape(name, quote=False)] = up + target
    return mapping


# Writing the text files.


def _toml_str(text: str) -> str:
    """A TOML string: a multi-line literal for text with line breaks, else a basic one."""
    if "\n" in text and "'''" not in text and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text):
        return "'''\n" + text + "'''" if not text.endswith("'") else json.dumps(text)
    return json.dumps(text, ensure_ascii=False)


def _toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def _deck_toml(
    source: AnkiDeck, levels: Sequence[str], tags: Sequence[str], media: Mapping[str, str]
) -> str:
    from cardsmith.unhtml import field_to_markdown

    name = _strip_number(source.name.split("::")[-1])
    lines = [
        "# Written by `cardsmith import` (docs/importing.md); edit it as you like.",
        f"name = {_toml_str(name)}",
        f"id = {_toml_str(name)}",
        f"levels = {_toml_list(levels)}",
    ]
    description = field_to_markdown(source.description, media=_relative(media, "deck.toml"))
    if description.strip():
        lines.append(f"description = {_toml_str(description.strip())}")
    if tags:
        lines.append(f"tags = {_toml_list(tags)}")
    return "\n".join(lines) + "\n"


def _note_type_toml(note_type: NoteType) -> str:
    question, answer = _question_field(note_type)
    css = _without_cardsmith_css(note_type.css)
    lines = [
        "# A note type of the imported deck, as Anki had it (docs/importing.md). Raise",
        "# `modified` when you change css or templates, or learners keep the old ones.",
        f"name = {_toml_str(note_type.name)}",
        f"id = {note_type.id}",
        f'kind = "{"cloze" if note_type.cloze else "standard"}"',
        f"fields = {_toml_list(note_type.fields)}",
        f"sort_field = {_toml_str(note_type.fields[note_type.sort_field])}",
        f"question = {_toml_str(question)}",
        f"answer = {_toml_str(answer)}",
        f"modified = {note_type.modified}",
        f"css = {_toml_str(css)}",
        f"latex_pre = {_toml_str(note_type.latex_pre)}",
        f"latex_post = {_toml_str(note_type.latex_post)}",
    ]
    for template in note_type.templates:
        lines += [
            "",
            "[[templates]]",
            f"name = {_toml_str(template.name)}",
            f"front = {_toml_str(template.front)}",
            f"back = {_toml_str(template.back)}",
        ]
    return "\n".join(lines) + "\n"


def _without_cardsmith_css(css: str) -> str:
    """A declared note type's CSS without what `build` appends (the code highlighting
    CSS; earlier builds also cardsmith's card CSS), so that importing a build gives back
    what was declared; trailing white space is dropped (build drops it too)."""
    from cardsmith.render import code_css

    for appended in (kinds.card_css() + code_css(), code_css()):  # the longer first
        if appended.strip() and css.endswith(appended):
            css = css[: -len(appended)]
            break
    css = css.rstrip()
    return css + "\n" if css else ""


_YAML_PLAIN = re.compile("^[\\w][\\w ,.()'\u2019!?&+-]*$")


def _yaml_str(text: str) -> str:
    plain = _YAML_PLAIN.match(text) and not text.endswith(" ")
    reserved = text.casefold() in ("true", "false", "yes", "no", "on", "off", "null", "~")
    return text if plain and not reserved else json.dumps(text, ensure_ascii=False)


def _topic_file(
    source: AnkiDeck,
    cards: Sequence[_Card],
    handles: Mapping[int, str],
    media: Mapping[str, str],
    path: str,
    warnings: list[str],
) -> str:
    from cardsmith.unhtml import field_to_markdown, question_to_markdown

    first = cards[0]
    relative = _relative(media, path)
    types = {handles.get(c.note.note_type) if c.kind is None else None for c in cards}
    file_type = types.pop() if len(types) == 1 else None
    head = ["---", f"level: {first.level}", f"topic: {_yaml_str(first.topic)}"]
    if first.tags:
        head.append("tags: [" + ", ".join(_yaml_str(t) for t in first.tags) + "]")
    if file_type is not None:
        head.append(f"note-type: {file_type}")
    head += ["---", f"# {first.topic}", ""]
    parts = ["\n".join(head)]
    for card in cards:
        fields = card.note.fields
        attrs = [f"#{card.card_id}"]
        sections: list[tuple[str, str]] = []
        if card.kind is not None:
            names = card.kind.fields
            if card.kind.cloze:
                question, answer = fields[names.index("Title")], fields[names.index("Text")]
            else:
                question, answer = fields[names.index("Front")], fields[names.index("Back")]
            if card.kind is kinds.REVERSE:
                attrs.append(".reverse")
            heading = question_to_markdown(question, media=relative)
        else:
            note_type = source.note_types[card.note.note_type]
            question_name, answer_name = _question_field(note_type)
            if file_type is None:
                attrs.append(f"type={handles[note_type.id]}")
            by_name = dict(zip(note_type.fields, fields, strict=True))
            answer = by_name[answer_name]
            if question_name:
                heading = question_to_markdown(by_name[question_name], media=relative)
            else:
                heading = _label(answer)
            sections = [
                (name, value)
                for name, value in by_name.items()
                if name not in (question_name, answer_name) and value.strip()
            ]
        if not heading.strip():
            heading = _label(answer) or card.card_id
            warnings.append(
                f"{path}: warning: note {card.note.id} has an empty question field; its "
                f"heading {heading!r} fills it from now on"
            )
        body = field_to_markdown(answer, media=relative).strip("\n")
        text = f"## {heading} {{{' '.join(attrs)}}}\n"
        if body:
            text += f"\n{body}\n"
        for name, value in sections:
            text += f"\n### {name} {{.field}}\n"
            value_md = field_to_markdown(value, media=relative).strip("\n")
            if value_md:
                text += f"\n{value_md}\n"
        parts.append(text)
    return "\n".join(parts)


def _label(html_text: str) -> str:
    """A heading that only labels a card (a cloze note type's): the start of its text."""
    words = re.findall("[\\w'\u2019,.?!-]+", _plain(html_text))
    label = ""
    for word in words:
        if len(label) + len(word) + 1 > 60:
            break
        label = f"{label} {word}".strip()
    return label.rstrip(",.- ") or "Card"


# Writing the folder.


def _write(plan: _Plan, out: Path) -> None:
    """Everything into a temporary folder beside out, checked as `build` checks it and
    given its ledger, then renamed into place."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.import-", dir=out.parent))
    try:
        for path, text in plan.files.items():
            target = temp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for path, file in plan.media.items():
            target = temp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
        (temp / ledger.LEDGER_NAME).write_text(_ledger_text(plan, temp), encoding="utf-8")
        _replace(temp, out)
    except OSError as error:
        shutil.rmtree(temp, ignore_errors=True)
        raise ImportFailure(error.filename or out, error.strerror or str(error)) from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _ledger_text(plan: _Plan, folder: Path) -> str:
    """deck.lock: each card's original GUID and note id, changed-at its note's mod.

    A cardsmith note gets the content hash its build computes (an unchanged note keeps
    its time, so the shipped deck rebuilds byte for byte); a note of a declared note
    type gets none, so that the first build stamps it newer and Anki updates it in place.
    """
    from cardsmith.build import check
    from cardsmith.errors import ContentError
    from cardsmith.notes import card_facts

    try:
        rendered, _report = check([folder])
    except ContentError as error:
        errors = error.report.errors
        first = next((str(e) for e in error.report.sorted() if e in errors), str(error))
        first = first.replace(str(folder) + os.sep, "")
        raise ImportFailure(
            folder.name, f"the imported deck does not build (please report this): {first}"
        ) from None
    facts = [fact for deck in rendered for fact in card_facts(deck)]
    if len(facts) != len(plan.cards):
        raise ImportFailure(
            folder.name,
            f"the imported deck has {len(facts)} cards for {len(plan.cards)} notes "
            "(please report this)",
        )
    entries = []
    for fact in facts:
        card = plan.cards[fact.key.removeprefix("id:")]
        note = card.note
        if not _GUID_RE.match(note.guid):
            raise ImportFailure(
                folder.name, f"note {note.id} has a GUID the ledger cannot record: {note.guid!r}"
            )
        content = fact.content if card.kind is not None else NO_CONTENT
        entries.append(
            ledger.Entry(
                key=fact.key,
                guid=note.guid,
                note_id=note.id,
                kind=fact.kind,
                content=content,
                question=fact.question,
                answer=ledger.answer_sketch(fact.answer),
                changed=note.mod,
            )
        )
    return ledger.render(entries)


def _replace(temp: Path, out: Path) -> None:
    """Rename the finished folder into place (an old one is removed only afterwards)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old.rmdir()
        out.rename(old)
    try:
        temp.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
