"""Read deck.toml and topic Markdown files into values, reporting every problem found."""

from __future__ import annotations

import hashlib
import itertools
import re
import reprlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardsmith.diagnostics import Diagnostic, Report
from cardsmith.files import MAX_MARKDOWN_BYTES, MAX_TOML_BYTES, FileProblem, read_regular
from cardsmith.kinds import KINDS, kind_of
from cardsmith.model import (
    CLOZE_RE,
    Card,
    CodeBlock,
    DeckConfig,
    FieldSection,
    NoteTypeDecl,
    NoteTypeTemplate,
    TopicFile,
    slugify,
)

DECK_KEYS = {"name", "id", "levels", "default_level", "description", "tags", "source_url", "slug"}
FRONT_MATTER_KEYS = {"level", "topic", "tags", "reverse", "note-type"}
CARD_MARKERS = {"reverse"}

# A fence line, the one definition: the card splitter below and the renderer's block
# normalizer (cardsmith.blocks) both read fences with it. A backtick fence's info may not
# hold a backtick; a closing fence repeats the opening character at least as often.
_FENCE = r"(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)"
FENCE_RE = re.compile(rf"^{_FENCE}$")
ATTRS_RE = re.compile(r"\{(?P<attrs>(?:[#.]|type=)[^{}]*)\}\s*$")
_ATTRS_RE = ATTRS_RE
_VALID_ID_RE = re.compile(r"^\w[\w.-]*$")
# The lines that give a body its structure: fences, and `#`, `##` or `###` headings (a
# `###` heading matters only as a field section, `### Name {.field}`).
_EVENT_LINE = (
    rf"(?P<line>{_FENCE}"
    rf"|(?P<hindent> {{0,3}})(?P<hashes>#{{1,3}})(?:[ \t]+(?P<rest>[^\n]*))?[ \t]*)$"
)
# The first line, then every line after a newline: a pattern that starts with a literal
# "\n" is searched for that character (5x faster over a large deck than `^` with
# re.MULTILINE, which is tried at every offset).
_FIRST_EVENT_RE = re.compile(rf"(?:{_EVENT_LINE})", re.MULTILINE)
_NEXT_EVENT_RE = re.compile(rf"\n(?:{_EVENT_LINE})", re.MULTILINE)
_FIELD_HEAD_RE = re.compile(r"(?P<name>.*?)[ \t]*\{[ \t]*\.field[ \t]*\}")
_NON_BLANK_RE = re.compile(r"\S")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same characters as UTF-8 bytes (each is one byte, which no other character uses):
# deleting them from a file's bytes and comparing lengths is 5x quicker than the search.
_CONTROL_BYTES = bytes(c for c in range(0x80) if _CONTROL_RE.match(chr(c)))
_TAG_RE = re.compile(r"^[^\s\"]+$")
_KEY_LINE_RE = re.compile(r"^[ \t]*[\"']?([^\s=:\"']+)[\"']?[ \t]*[=:]", re.MULTILINE)
_HUGE_INT_RE = re.compile(r"[0-9_]{4300,}")
# Limits documented in docs/format.md ("Limits and odd input"): how deeply config values
# may nest, and how many unknown keys are named one by one before the rest are counted.
MAX_CONFIG_DEPTH = 50
MAX_NAMED_UNKNOWN = 20
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


def short(value: object) -> str:
    """A bounded repr for messages: a value from an alias bomb or a 5,000-digit number
    must not expand (or fail to convert) in an error message."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**60:
        return "a very large number"
    return _SHORT.repr(value)


def _config_problem(value: object) -> str | None:
    """Why a parsed config value is unusable (too deep, control characters), or None.

    Walked with a stack, not recursion, so any depth is handled.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    seen: set[int] = set()
    while stack:
        item, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            return f"values nest more than {MAX_CONFIG_DEPTH} levels deep"
        if isinstance(item, str):
            control = _CONTROL_RE.search(item)
            if control:
                return f"a value contains control character U+{ord(control[0]):04X}"
        elif isinstance(item, (list, dict)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def _name_problem(name: str) -> str | None:
    """Why name cannot be part of an Anki deck name, or None.

    Anki splits deck names at '::': a name with '::', or starting or ending with ':',
    makes blank or merged subdecks. And a deck name is text, not HTML: '<' and '>'
    are refused rather than trusted to every program that shows deck names.
    """
    if "::" in name or name.startswith(":") or name.endswith(":"):
        return "may not contain '::' nor start or end with ':' (Anki splits deck names at '::')"
    if "<" in name or ">" in name:
        return "may not contain '<' or '>' (deck names are shown as HTML by some programs)"
    return None


def _key_lines(text: str, first_line: int = 1) -> dict[str, int]:
    """The line of each top-level-looking `key =` or `key:` in text, found in one pass."""
    lines: dict[str, int] = {}
    line, last = first_line, 0
    for match in _KEY_LINE_RE.finditer(text):
        line += text.count("\n", last, match.start())
        last = match.start()
        lines.setdefault(match[1], line)
    return lines


def read_text(path: Path, report: Report, limit: int = MAX_MARKDOWN_BYTES) -> str | None:
    """A file's text as UTF-8 (BOM dropped, line endings made `\\n`), or None after reporting."""
    try:
        data = read_regular(path, limit)
    except FileProblem as problem:
        report.error(path, 1, f"cannot read file: {problem}")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        report.error(path, line, f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x})")
        return None
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_toml(path: Path, report: Report, what: str) -> tuple[dict[str, Any], str] | None:
    """A TOML file's table and its text, or None after reporting why it is unusable
    (what: the file's kind in messages, e.g. "deck.toml")."""
    text = read_text(path, report, MAX_TOML_BYTES)
    if text is None:
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        if match:
            line = int(match[1])
        elif "end of document" in str(exc):
            line = len(text.rstrip("\n").split("\n"))
        else:
            line = 1
        message = re.sub(r"\s*\((at line \d+, column \d+|at end of document)\)", "", str(exc))
        report.error(path, line, f"invalid TOML: {message}")
        return None
    except RecursionError:
        report.error(path, 1, "invalid TOML: values nest too deeply")
        return None
    except ValueError:  # an integer longer than Python converts (4,300 digits)
        huge = _HUGE_INT_RE.search(text)
        line = text.count("\n", 0, huge.start()) + 1 if huge else 1
        report.error(path, line, "invalid TOML: a number has more than 4,300 digits")
        return None
    problem = _config_problem(data)
    if problem:
        line = _line_of_problem(data, _key_lines(text), 1)
        report.error(path, line, f"invalid {what}: {problem}")
        return None
    return data, text


def parse_deck_toml(path: Path, report: Report) -> DeckConfig | None:
    """The settings of one deck.toml, or None after reporting why it is unusable."""
    loaded = _read_toml(path, report, "deck.toml")
    if loaded is None:
        return None
    data, text = loaded
    key_lines = _key_lines(text)

    def line_of(key: str) -> int:
        return key_lines.get(key, 1)

    ok = True
    unknown_keys = [k for k in data if k not in DECK_KEYS]  # in file order
    for unknown in unknown_keys[:MAX_NAMED_UNKNOWN]:
        report.warning(path, line_of(unknown), f"unknown key {short(unknown)} in deck.toml")
    if len(unknown_keys) > MAX_NAMED_UNKNOWN:
        more = len(unknown_keys) - MAX_NAMED_UNKNOWN
        report.warning(path, 1, f"and {more} more unknown keys in deck.toml")

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        report.error(path, line_of("name"), "deck.toml needs 'name', a non-empty string")
        ok = False
    elif (problem := _name_problem(name.strip())) is not None:
        report.error(path, line_of("name"), f"deck name {problem}")
        ok = False

    key: Any = data.get("id", name)
    if not isinstance(key, str) or not key.strip():
        report.error(path, line_of("id"), "'id' must be a non-empty string")
        ok = False

    levels = data.get("levels")
    if (
        not isinstance(levels, list)
        or not levels
        or not all(isinstance(v, str) and _TAG_RE.match(v) and _name_problem(v) is None
                   for v in levels)
    ):  # fmt: skip
        report.error(
            path,
            line_of("levels"),
            "deck.toml needs 'levels', a list of level names without spaces, '<', '>' "
            "or '::' and not starting or ending with ':', "
            'e.g. levels = ["basic", "advanced"]',
        )
        ok = False
    elif len(set(levels)) != len(levels):
        report.error(path, line_of("levels"), "'levels' lists a level twice")
        ok = False

    default_level = data.get("default_level")
    if default_level is not None and (not isinstance(levels, list) or default_level not in levels):
        report.error(
            path,
            line_of("default_level"),
            f"default_level {short(default_level)} is not in 'levels'",
        )
        ok = False

    description = data.get("description", "")
    if not isinstance(description, str):
        report.error(path, line_of("description"), "'description' must be a string")
        ok = False

    source_url = data.get("source_url")
    if source_url is not None and (
        not isinstance(source_url, str)
        or not re.match(r"https?://[^\s\"'<>]+\Z", source_url)
        or "{path}" not in source_url
    ):
        report.error(
            path,
            line_of("source_url"),
            "'source_url' must be an http(s) URL with {path} (and optionally {line}), e.g. "
            '"https://github.com/you/deck/blob/main/{path}#L{line}"',
        )
        ok = False

    slug = data.get("slug")
    if slug is not None and (not isinstance(slug, str) or not slugify(slug)):
        report.error(path, line_of("slug"), "'slug' must be a string with letters or digits")
        ok = False

    tags = _check_tags(data.get("tags", []), path, line_of("tags"), report)
    if not ok or tags is None:
        return None
    assert isinstance(name, str) and isinstance(key, str) and isinstance(levels, list)
    return DeckConfig(
        toml_path=path,
        name=name.strip(),
        key=key.strip(),
        levels=tuple(levels),
        default_level=default_level,
        description=description,
        tags=tags,
        source_url=source_url,
        file_slug=slug,
    )


NOTE_TYPES_DIR = "note-types"
NOTE_TYPE_KEYS = {
    "name", "id", "kind", "fields", "sort_field", "question", "answer", "modified", "css",
    "latex_pre", "latex_post", "templates",
}  # fmt: skip
TEMPLATE_KEYS = {"name", "front", "back"}
_HANDLE_RE = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_OWN_NOTE_TYPES = {kind.note_type_id: kind.note_type_name for kind in KINDS}
_TEMPLATES_HEADER_RE = re.compile(r"^[ \t]*\[\[[ \t]*[\"']?templates[\"']?[ \t]*\]\]", re.MULTILINE)
_TABLE_HEADER_RE = re.compile(
    r"^[ \t]*\[\[?[ \t]*[\w\"'.-]+[ \t]*\]\]?[ \t]*(?:#.*)?$", re.MULTILINE
)
# Anki reads field names inside templates' {{...}}: these would break them.
_BAD_FIELD_RE = re.compile(r"[:{}\"]|^[#/^]")


def parse_note_types(root: Path, report: Report) -> tuple[NoteTypeDecl, ...] | None:
    """The note types a deck declares in note-types/<handle>.toml beside its deck.toml
    (docs/format.md, "Declared note types"), sorted by handle; None after reporting."""
    folder = root / NOTE_TYPES_DIR
    if folder.is_symlink():
        report.error(folder, 1, "note-types is a link: it must be a folder of the deck")
        return None
    if not folder.is_dir():
        return ()
    declared: list[NoteTypeDecl] = []
    ok = True
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix in (".md", ".txt"):
            continue  # notes for authors (a README), never topics
        if path.suffix != ".toml" or path.is_dir():
            report.warning(
                path, 1, "not read: note-types/ holds only note types, as <handle>.toml files"
            )
            continue
        if not _HANDLE_RE.match(path.stem):
            report.error(
                path,
                1,
                f"note type file name {short(path.name)}: the name before .toml is the note "
                "type's handle: lowercase letters, digits and '-', starting with a letter or "
                "digit (e.g. basic.toml)",
            )
            ok = False
            continue
        decl = parse_note_type(path, report)
        if decl is None:
            ok = False
            continue
        declared.append(decl)
    first_of: dict[int, NoteTypeDecl] = {}
    for decl in declared:
        first = first_of.setdefault(decl.id, decl)
        if first is not decl:
            line = _key_lines(read_text(decl.path, report, MAX_TOML_BYTES) or "").get("id", 1)
            report.error(decl.path, line, f"id {decl.id} is also the id of {first.path}")
            ok = False
    return tuple(declared) if ok else None


def parse_note_type(path: Path, report: Report) -> NoteTypeDecl | None:
    """One note-types/<handle>.toml, or None after reporting every problem in it."""
    loaded = _read_toml(path, report, "note type")
    if loaded is None:
        return None
    data, text = loaded
    first_table = _TABLE_HEADER_RE.search(text)  # top-level keys come before any table
    key_lines = _key_lines(text[: first_table.start()] if first_table else text)
    headers = [text.count("\n", 0, m.start()) + 1 for m in _TEMPLATES_HEADER_RE.finditer(text)]
    errors_before = len(report.errors)

    def line_of(key: str) -> int:
        return key_lines.get(key, 1)

    def error(key: str, message: str) -> None:
        report.error(path, line_of(key), message)

    unknown_keys = [k for k in data if k not in NOTE_TYPE_KEYS]
    for unknown in unknown_keys[:MAX_NAMED_UNKNOWN]:
        report.warning(path, line_of(unknown), f"unknown key {short(unknown)} in a note type")

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        error("name", "a note type needs 'name', a non-empty string (its name in Anki)")
    note_type_id = data.get("id")
    if (
        not isinstance(note_type_id, int)
        or isinstance(note_type_id, bool)
        or not 1 <= note_type_id < 2**63
    ):
        error("id", "a note type needs 'id', its Anki note type id: an integer from 1 to 2**63-1")
    elif (own := _OWN_NOTE_TYPES.get(note_type_id)) is not None:
        error(
            "id",
            f"id {note_type_id} is the id of cardsmith's own note type {own!r}: a declared "
            "note type needs its own id",
        )
    kind = data.get("kind", "standard")
    if kind not in ("standard", "cloze"):
        error("kind", f'\'kind\' must be "standard" or "cloze", not {short(kind)}')

    fields = data.get("fields")
    field_names: tuple[str, ...] = ()
    if (
        not isinstance(fields, list)
        or not fields
        or not all(isinstance(f, str) and f.strip() for f in fields)
    ):
        error("fields", "a note type needs 'fields', a list of field names (non-empty strings)")
    elif len(set(fields)) != len(fields):
        twice = next(f for f in fields if fields.count(f) > 1)
        error("fields", f"field {short(twice)} is listed twice in 'fields'")
    elif bad := next((f for f in fields if f != f.strip() or _BAD_FIELD_RE.search(f)), None):
        error(
            "fields",
            f"field name {short(bad)} may not contain ':', '{{', '}}' or '\"', start with "
            "'#', '/' or '^', nor start or end with a space (Anki reads field names in templates)",
        )
    else:
        field_names = tuple(fields)

    def field_index(key: str, default: int) -> int | None:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, str) and value in field_names:
            return field_names.index(value)
        if field_names:
            error(
                key, f"'{key}' {short(value)} is not one of the fields ({', '.join(field_names)})"
            )
        return None

    sort_field = field_index("sort_field", 0)
    question: str | None = field_names[0] if field_names else None
    if data.get("question") == "":
        question = None
    elif (index := field_index("question", 0)) is not None and field_names:
        question = field_names[index]
    answer_default = next((f for f in field_names if f != question), None)
    answer: str | None = answer_default
    if "answer" in data:
        index = field_index("answer", 0)
        answer = field_names[index] if index is not None and field_names else None
    if field_names and answer is None and "answer" not in data:
        error("fields", "a note type with a question field needs a second field for the answer")
    elif field_names and answer is not None and answer == question:
        error("answer", f"'answer' and 'question' are the same field ({answer}): they must differ")

    modified = data.get("modified")
    if not isinstance(modified, int) or isinstance(modified, bool) or not 0 <= modified < 2**63:
        error(
            "modified",
            "a note type needs 'modified', when its css or templates last changed (Unix "
            "seconds): Anki updates a learner's copy of the note type only when it is newer",
        )
    css = data.get("css", "")
    if not isinstance(css, str):
        error("css", "'css' must be a string")
    latex: dict[str, str | None] = {}
    for key in ("latex_pre", "latex_post"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            error(key, f"'{key}' must be a string")
        latex[key] = value if isinstance(value, str) else None

    templates: list[NoteTypeTemplate] = []
    raw = data.get("templates")
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        error("templates", "a note type needs at least one [[templates]] (name, front, back)")
    else:
        if kind == "cloze" and len(raw) != 1:
            line = headers[1] if len(headers) > 1 else line_of("templates")
            report.error(path, line, "a cloze note type has exactly one template")
        for number, template in enumerate(raw):
            line = headers[number] if number < len(headers) else line_of("templates")
            extra = [k for k in template if k not in TEMPLATE_KEYS]
            for unknown in extra[:MAX_NAMED_UNKNOWN]:
                report.warning(path, line, f"unknown key {short(unknown)} in a template")
            parts = [template.get(k) for k in ("name", "front", "back")]
            if not all(isinstance(p, str) for p in parts) or not str(parts[0]).strip():
                report.error(
                    path,
                    line,
                    "a template needs 'name' (non-empty), 'front' and 'back', all strings",
                )
                continue
            if any(t.name == parts[0] for t in templates):
                report.error(path, line, f"template name {short(parts[0])} is used twice")
                continue
            templates.append(NoteTypeTemplate(str(parts[0]), str(parts[1]), str(parts[2])))

    if len(report.errors) > errors_before:
        return None
    assert isinstance(name, str) and isinstance(note_type_id, int) and isinstance(modified, int)
    assert sort_field is not None and answer is not None and isinstance(css, str)
    return NoteTypeDecl(
        path=path,
        handle=path.stem,
        name=name.strip(),
        id=note_type_id,
        cloze=kind == "cloze",
        fields=field_names,
        sort_field=sort_field,
        question=question,
        answer=answer,
        modified=modified,
        css=css,
        templates=tuple(templates),
        latex_pre=latex["latex_pre"],
        latex_post=latex["latex_post"],
    )


def _check_tags(value: Any, path: Path, line: int, report: Report) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        report.error(path, line, "'tags' must be a list of strings")
        return None
    bad = [t for t in value if not _TAG_RE.match(t)]
    if bad:
        report.error(path, line, f"tag {short(bad[0])} is empty or contains a space or quote")
        return None
    bad = [t for t in value if t.startswith(":") or t.endswith(":") or "::::" in t]
    if bad:
        report.error(
            path, line, f"tag {short(bad[0])} starts or ends with ':' (an empty part in Anki)"
        )
        return None
    return tuple(value)


def split_front_matter(text: str) -> tuple[str | None, int, str, int]:
    """(front matter or None, its first line, body, the body's first line)."""
    lines = text.split("\n")
    if lines and lines[0].rstrip() == "---":
        for index in range(1, len(lines)):
            if lines[index].rstrip() in ("---", "..."):
                front = "\n".join(lines[1:index])
                return front, 2, "\n".join(lines[index + 1 :]), index + 2
    return None, 1, text, 1


# The last parse of each file: (deck, digest of its text, result, what it reported). A
# long-lived process (`build --watch`) re-parses only the files whose text or deck changed.
_PARSED: dict[Path, tuple[DeckConfig, bytes, TopicFile | None, tuple[Diagnostic, ...]]] = {}


def parse_topic_file(path: Path, deck: DeckConfig, report: Report) -> TopicFile | None:
    """The cards of one Markdown file, or None after reporting why it is unusable."""
    text = read_text(path, report)
    if text is None:
        _PARSED.pop(path, None)
        return None
    data = text.encode()
    digest = hashlib.blake2b(data, digest_size=16).digest()
    last = _PARSED.get(path)
    if last is not None and last[1] == digest and last[0] == deck:
        report.items.extend(last[3])
        return last[2]
    own = Report()
    has_control = len(data.translate(None, _CONTROL_BYTES)) != len(data)
    parsed = _parse_topic_text(path, text, deck, own, has_control)
    report.items.extend(own.items)
    _PARSED[path] = (deck, digest, parsed, tuple(own.items))
    return parsed


def _parse_topic_text(
    path: Path, text: str, deck: DeckConfig, report: Report, has_control: bool
) -> TopicFile | None:
    control = _CONTROL_RE.search(text) if has_control else None
    if control:
        # Anki separates fields with U+001F, and HTML forbids these characters anyway.
        line = text.count("\n", 0, control.start()) + 1
        report.error(path, line, f"file contains control character U+{ord(control[0]):04X}")
        return None

    front, front_line, body, body_line = split_front_matter(text)
    if text.startswith("---\n") and front is None:
        report.error(path, 1, "front matter starts with '---' but is never closed")
        return None
    meta: dict[str, Any] = {}
    if front is not None and front.strip():
        loaded = _load_yaml(path, front, front_line, report)
        if loaded is False:
            return None
        if loaded is not None and not isinstance(loaded, dict):
            report.error(path, front_line, "front matter must be a mapping of keys to values")
            return None
        meta = loaded or {}
    key_lines = _key_lines(front, front_line) if front is not None else {}

    def meta_line(key: str) -> int:
        return key_lines.get(key, front_line)

    ok = True
    unknown_keys = [k for k in meta if k not in FRONT_MATTER_KEYS]  # in file order
    for key in unknown_keys[:MAX_NAMED_UNKNOWN]:
        report.warning(path, meta_line(str(key)), f"unknown front matter key {short(key)}")
    if len(unknown_keys) > MAX_NAMED_UNKNOWN:
        more = len(unknown_keys) - MAX_NAMED_UNKNOWN
        report.warning(path, front_line, f"and {more} more unknown front matter keys")

    level = meta.get("level", deck.default_level)
    if level is None:
        report.error(
            path,
            meta_line("level"),
            f"no level: add 'level: ...' front matter (one of {', '.join(deck.levels)}) "
            "or set default_level in deck.toml",
        )
        ok = False
    elif level not in deck.levels:
        report.error(
            path,
            meta_line("level"),
            f"unknown level {short(level)}; {deck.toml_path} allows {', '.join(deck.levels)}",
        )
        ok = False

    tags = _check_tags(meta.get("tags", []), path, meta_line("tags"), report)
    topic_value = meta.get("topic")
    if topic_value is not None and (not isinstance(topic_value, str) or not topic_value.strip()):
        report.error(path, meta_line("topic"), "'topic' must be a non-empty string")
        ok = False
    elif isinstance(topic_value, str) and (problem := _name_problem(topic_value.strip())):
        report.error(path, meta_line("topic"), f"'topic' {problem}")
        ok = False

    reverse = meta.get("reverse", False)
    if not isinstance(reverse, bool):
        report.error(path, meta_line("reverse"), "'reverse' must be true or false")
        ok = False

    note_type = meta.get("note-type")
    if note_type is not None:
        declared = deck.note_type(note_type) if isinstance(note_type, str) else None
        if declared is None:
            report.error(path, meta_line("note-type"), _unknown_note_type(note_type, deck))
            ok = False
        elif reverse is True:
            report.error(
                path,
                meta_line("note-type"),
                "'reverse' and 'note-type' do not go together: a declared note type has "
                "its own card templates",
            )
            ok = False
        note_type = declared

    errors_before = len(report.errors)
    title, cards = parse_cards(
        path,
        body,
        body_line,
        report,
        reverse=reverse is True,
        deck=deck,
        note_type=note_type if isinstance(note_type, NoteTypeDecl) else None,
    )
    if isinstance(topic_value, str):
        topic = topic_value.strip()
    else:  # from the title or the file name: made safe for a deck name, not refused
        topic = deck_name_part(title or "") or deck_name_part(path.stem) or "Topic"
    if not cards and len(report.errors) == errors_before:
        report.warning(path, body_line, "no cards in this file (a card starts with '## ')")
    if not ok or tags is None:
        return None
    assert isinstance(level, str)
    return TopicFile(path=path, level=level, topic=topic, tags=tags, cards=cards)


def _unknown_note_type(handle: object, deck: DeckConfig | None) -> str:
    known = ", ".join(t.handle for t in deck.note_types) if deck else ""
    where = f"{deck.root / NOTE_TYPES_DIR}/" if deck else f"{NOTE_TYPES_DIR}/"
    return f"unknown note type {short(handle)}: " + (
        f"{where} declares {known}" if known else f"declare it in {where}<handle>.toml"
    )


def _load_yaml(path: Path, front: str, front_line: int, report: Report) -> Any:
    """The front matter's value, or False after reporting why it is unusable.

    Aliases are refused (front matter needs none, and an alias bomb of a few lines
    stands for billions of values); depth, huge numbers and control characters are
    errors, not tracebacks.
    """
    import yaml  # only files with front matter need it (a tenth of start-up otherwise)

    try:
        for event in yaml.parse(front, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = front_line + (event.start_mark.line if event.start_mark else 0)
                report.error(
                    path, line, "invalid YAML front matter: aliases (*name) are not allowed"
                )
                return False
        loaded = yaml.load(front, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as fast_error:
        # libyaml is fast; PyYAML's own parser words its errors better: ask it again.
        try:
            yaml.load(front, Loader=yaml.SafeLoader)
            exc = fast_error
        except yaml.YAMLError as slow_error:
            exc = slow_error
        except RecursionError:
            exc = fast_error
        mark = getattr(exc, "problem_mark", None)
        line = front_line + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        report.error(path, line, f"invalid YAML front matter: {problem}")
        return False
    except ValueError:  # an integer longer than Python converts (4,300 digits)
        huge = _HUGE_INT_RE.search(front)
        line = front_line + (front.count("\n", 0, huge.start()) if huge else 0)
        report.error(path, line, "invalid YAML front matter: a number has more than 4,300 digits")
        return False
    problem = _config_problem(loaded)
    if problem:
        line = _line_of_problem(loaded, _key_lines(front, front_line), front_line)
        report.error(path, line, f"invalid YAML front matter: {problem}")
        return False
    return loaded


def _line_of_problem(data: object, key_lines: dict[str, int], default: int) -> int:
    """The line of the first top-level key whose value (or name) has a problem."""
    if isinstance(data, dict):
        for key, value in data.items():
            if _config_problem(key) or _config_problem(value):
                return key_lines.get(str(key), default)
    return default


def deck_name_part(text: str) -> str:
    """A title or file name as one part of an Anki deck name: runs of ':' become one and
    none are left at the ends; '<' and '>' become the look-alike U+2039 and U+203A."""
    text = text.replace("<", "\u2039").replace(">", "\u203a")
    return re.sub(r":{2,}", ":", text).strip(" :")


@dataclass
class _Fence:
    """A fenced code block found in a body: offsets of its lines, and its info string."""

    line: int
    start: int  # offset of the opening line
    open_end: int  # offset of the end of the opening line
    indent: str
    marks: str
    info: str
    close_start: int | None = None  # offset of the closing line, None if never closed


def parse_cards(
    path: Path,
    body: str,
    first_line: int,
    report: Report,
    reverse: bool = False,
    deck: DeckConfig | None = None,
    note_type: NoteTypeDecl | None = None,
) -> tuple[str | None, tuple[Card, ...]]:
    """The `# ` title and the `## ` cards of a Markdown body.

    Only fence lines and `#`/`##`/`###` headings matter for the structure, so one regular
    expression finds those and everything else is sliced, not walked line by line.
    note_type: the file's declared note type (front matter `note-type:`); deck: where a
    heading's `type=<handle>` is looked up.
    """
    fences: list[_Fence] = []
    heads: list[tuple[int, int, int, str]] = []  # (line, start offset, end offset, text)
    field_heads: list[tuple[int, int, int, str]] = []  # `### Name {.field}`: the same
    title: tuple[int, str] | None = None  # (line, text) of the `# ` before the first card
    open_fence: _Fence | None = None
    line, last = first_line, 0
    first_event = _FIRST_EVENT_RE.match(body)
    events = _NEXT_EVENT_RE.finditer(body)
    for event in itertools.chain([first_event] if first_event else [], events):
        start = event.start("line")
        line += body.count("\n", last, start)
        last = start
        marks = event["fence"]
        if open_fence is not None:
            if (
                marks
                and marks[0] == open_fence.marks[0]
                and len(marks) >= len(open_fence.marks)
                and not event["info"].strip()
            ):
                open_fence.close_start = start
                open_fence = None
        elif marks:
            if marks[0] == "`" and "`" in event["info"]:
                continue  # not a fence: an inline code span at the start of a line
            open_fence = _Fence(line, start, event.end(), event["indent"], marks, event["info"])
            fences.append(open_fence)
        elif event["hashes"] == "###":
            field = _FIELD_HEAD_RE.fullmatch((event["rest"] or "").strip())
            if field is not None and heads:
                field_heads.append((line, start, event.end(), field["name"]))
        elif event["hashes"] == "##":
            heads.append((line, start, event.end(), _strip_closing_hashes(event["rest"] or "")))
        elif not heads and title is None:
            title = (line, _strip_closing_hashes(event["rest"] or ""))

    first_card = heads[0][1] if heads else len(body)
    _warn_stray(path, body, first_line, first_card, title, report)
    if open_fence is not None:
        report.warning(
            path,
            open_fence.line,
            "code fence is never closed: everything after it, later '## ' headings too, is code",
        )

    cards: list[Card] = []
    next_fence = 0  # fences and headings are both in body order: walk them together
    next_field = 0
    for n, (line_no, _, head_end, heading) in enumerate(heads):
        end = heads[n + 1][1] if n + 1 < len(heads) else len(body)
        while next_fence < len(fences) and fences[next_fence].start < head_end:
            next_fence += 1  # before this card: text no card shows (warned about above)
        first_fence = next_fence
        while next_fence < len(fences) and fences[next_fence].start < end:
            next_fence += 1
        inside = fences[first_fence:next_fence]
        first_field = next_field
        while next_field < len(field_heads) and field_heads[next_field][1] < end:
            next_field += 1
        sections = field_heads[first_field:next_field]
        question, explicit_id, card_reverse, card_type = heading, None, reverse, note_type
        match = _ATTRS_RE.search(heading)
        if match:
            question = heading[: match.start()].strip()
            attrs = _heading_attrs(match["attrs"], path, line_no, report)
            if attrs is None:
                continue
            explicit_id, markers, handle = attrs
            card_reverse = card_reverse or "reverse" in markers
            if handle is not None:
                card_type = deck.note_type(handle) if deck is not None else None
                if card_type is None:
                    report.error(path, line_no, _unknown_note_type(handle, deck))
                    continue
        if not question:
            report.error(path, line_no, "card has no question text")
            continue
        if card_type is not None and card_reverse:
            report.error(
                path,
                line_no,
                "'.reverse' and a declared note type do not go together: the note type "
                "has its own card templates",
            )
            continue
        if sections and card_type is None:
            report.error(
                path,
                sections[0][0],
                "'{.field}' sections belong to cards of a declared note type (choose one "
                "with front matter 'note-type:' or the heading's {type=...})",
            )
            continue
        answer_end = sections[0][1] if sections else end
        content = _NON_BLANK_RE.search(body, head_end, answer_end)
        if content is None and card_type is None:
            report.error(path, line_no, f"question has an empty answer: {question}")
            continue
        answer, blocks = _answer_and_blocks(
            path, body, head_end, answer_end, [f for f in inside if f.start < answer_end]
        )
        extra: list[FieldSection] = []
        if card_type is not None:
            parsed = _field_sections(path, body, sections, end, inside, card_type, report)
            if parsed is None:
                continue
            extra, more_blocks = parsed
            blocks += more_blocks
        cards.append(
            Card(
                path=path,
                line=line_no,
                question=question,
                explicit_id=explicit_id,
                answer=answer if content is not None else "",
                answer_line=line_no + body.count("\n", head_end, content.start())
                if content is not None
                else line_no + 1,
                code_blocks=blocks,
                reverse=card_reverse,
                note_type=card_type,
                extra_fields=tuple(extra),
            )
        )
        if card_type is not None:
            continue  # clozes may be in any field of a declared note type
        if "{{c" in question and CLOZE_RE.search(question):
            report.error(path, line_no, "cloze markers belong in the answer, not the question")
            cards.pop()
        else:
            problems = kind_of(cards[-1]).problems(cards[-1])
            for message in problems:
                report.error(path, line_no, message)
            if problems:
                cards.pop()
    return title[1] or None if title else None, tuple(cards)


def _field_sections(
    path: Path,
    body: str,
    sections: list[tuple[int, int, int, str]],
    end: int,
    fences: list[_Fence],
    note_type: NoteTypeDecl,
    report: Report,
) -> tuple[list[FieldSection], tuple[CodeBlock, ...]] | None:
    """A card's `### Name {.field}` sections, or None after reporting a bad one."""
    found: list[FieldSection] = []
    blocks: list[CodeBlock] = []
    taken = {note_type.question, note_type.answer}
    ok = True
    for n, (line_no, _, head_end, name) in enumerate(sections):
        stop = sections[n + 1][1] if n + 1 < len(sections) else end
        if name not in note_type.fields:
            report.error(
                path,
                line_no,
                f"{short(name)} is not a field of note type {note_type.handle!r} "
                f"(fields: {', '.join(note_type.fields)})",
            )
            ok = False
            continue
        if name in taken:
            role = (
                "question (the '## ' heading)"
                if name == note_type.question
                else "answer (the card's text before its first field section)"
                if name == note_type.answer
                else "given by an earlier section of this card"
            )
            report.error(path, line_no, f"field {name!r} is the card's {role}")
            ok = False
            continue
        taken.add(name)
        content = _NON_BLANK_RE.search(body, head_end, stop)
        if content is None:
            found.append(FieldSection(name, line_no, "", line_no + 1))
            continue
        markdown, more = _answer_and_blocks(
            path, body, head_end, stop, [f for f in fences if head_end <= f.start < stop]
        )
        found.append(
            FieldSection(
                name, line_no, markdown, line_no + body.count("\n", head_end, content.start())
            )
        )
        blocks.extend(more)
    return (found, tuple(blocks)) if ok else None


def _warn_stray(
    path: Path,
    body: str,
    first_line: int,
    first_card: int,
    title: tuple[int, str] | None,
    report: Report,
) -> None:
    """Warn about the first text before the first question that no card will show."""
    for offset, text in enumerate(body[:first_card].split("\n")):
        number = first_line + offset
        if text.strip() and not (title is not None and number == title[0]):
            report.warning(path, number, "text before the first '## ' question is not on any card")
            return


def _heading_attrs(
    text: str, path: Path, line: int, report: Report
) -> tuple[str | None, set[str], str | None] | None:
    """The id, markers and note type of a heading's `{#id .marker type=handle}` block, or
    None after reporting."""
    explicit_id: str | None = None
    markers: set[str] = set()
    handle: str | None = None
    for word in text.split():
        if word.startswith("type="):
            if handle is not None:
                report.error(path, line, f"two note types in {{{text}}}: give one type=")
                return None
            handle = word.removeprefix("type=")
        elif word.startswith(".") and word[1:] in CARD_MARKERS:
            markers.add(word[1:])
        elif word.startswith("."):
            known = ", ".join(f".{m}" for m in sorted(CARD_MARKERS))
            report.error(path, line, f"unknown card marker '{word}' (known: {known})")
            return None
        elif word.startswith("#") and explicit_id is None and _VALID_ID_RE.match(word[1:]):
            explicit_id = word[1:]
        else:
            rule = "use letters, digits, '-', '_' or '.', no spaces"
            report.error(path, line, f"invalid id {{{text}}}: {rule}")
            return None
    return explicit_id, markers, handle


def _strip_closing_hashes(text: str) -> str:
    """A heading's text without its optional closing `#`s (which need a space before)."""
    text = text.strip()
    bare = text.rstrip("#")
    if bare != text and (not bare or bare[-1] in " \t"):
        text = bare
    return text.strip()


def _answer_and_blocks(
    path: Path, body: str, start: int, end: int, fences: list[_Fence]
) -> tuple[str, tuple[CodeBlock, ...]]:
    """The answer's Markdown (fence info reduced to the language) and its code blocks."""
    pieces: list[str] = []
    blocks: list[CodeBlock] = []
    position = start
    for fence in fences:
        info = fence.info.strip()
        words = [] if info.startswith("{") else info.split()
        language = words[0].lstrip(".") if words else ""
        code_end = fence.close_start if fence.close_start is not None else end
        code = body[fence.open_end + 1 : code_end] if fence.open_end < code_end else ""
        if fence.close_start is None and code and not code.endswith("\n"):
            code += "\n"
        blocks.append(CodeBlock(path, fence.line, language, tuple(words[1:]), code))
        if words:  # the directives after the language are for tools, not for Markdown
            pieces.append(body[position : fence.start])
            pieces.append(f"{fence.indent}{fence.marks}{language}")
            position = fence.open_end
    pieces.append(body[position:end])
    return "".join(pieces).strip("\n") + "\n", tuple(blocks)
