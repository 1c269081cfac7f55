"""Read deck.toml and topic Markdown files into values, reporting every problem found."""

from __future__ import annotations

import re
import reprlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cardsmith.diagnostics import Report
from cardsmith.files import MAX_MARKDOWN_BYTES, MAX_TOML_BYTES, FileProblem, read_regular
from cardsmith.kinds import kind_of
from cardsmith.model import CLOZE_RE, Card, CodeBlock, DeckConfig, TopicFile, slugify

DECK_KEYS = {"name", "id", "levels", "default_level", "description", "tags", "source_url", "slug"}
FRONT_MATTER_KEYS = {"level", "topic", "tags", "reverse"}
CARD_MARKERS = {"reverse"}

# A fence line, the one definition: the card splitter below and the renderer's block
# normalizer (cardsmith.blocks) both read fences with it. A backtick fence's info may not
# hold a backtick; a closing fence repeats the opening character at least as often.
_FENCE = r"(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)"
FENCE_RE = re.compile(rf"^{_FENCE}$")
ATTRS_RE = re.compile(r"\{(?P<attrs>[#.][^{}]*)\}\s*$")
_ATTRS_RE = ATTRS_RE
_VALID_ID_RE = re.compile(r"^\w[\w.-]*$")
# The lines that give a body its structure: fences, and `#` or `##` headings.
_EVENT_RE = re.compile(
    rf"^(?:{_FENCE}|(?P<hindent> {{0,3}})(?P<hashes>##?)(?:[ \t]+(?P<rest>[^\n]*))?[ \t]*)$",
    re.MULTILINE,
)
_NON_BLANK_RE = re.compile(r"\S")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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


def parse_deck_toml(path: Path, report: Report) -> DeckConfig | None:
    """The settings of one deck.toml, or None after reporting why it is unusable."""
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
    key_lines = _key_lines(text)
    problem = _config_problem(data)
    if problem:
        line = _line_of_problem(data, key_lines, 1)
        report.error(path, line, f"invalid deck.toml: {problem}")
        return None

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


def parse_topic_file(path: Path, deck: DeckConfig, report: Report) -> TopicFile | None:
    """The cards of one Markdown file, or None after reporting why it is unusable."""
    text = read_text(path, report)
    if text is None:
        return None
    control = _CONTROL_RE.search(text)
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

    errors_before = len(report.errors)
    title, cards = parse_cards(path, body, body_line, report, reverse=reverse is True)
    if isinstance(topic_value, str):
        topic = topic_value.strip()
    else:  # from the title or the file name: made safe for a deck name, not refused
        topic = _deck_name_part(title or "") or _deck_name_part(path.stem) or "Topic"
    if not cards and len(report.errors) == errors_before:
        report.warning(path, body_line, "no cards in this file (a card starts with '## ')")
    if not ok or tags is None:
        return None
    assert isinstance(level, str)
    return TopicFile(path=path, level=level, topic=topic, tags=tags, cards=cards)


def _load_yaml(path: Path, front: str, front_line: int, report: Report) -> Any:
    """The front matter's value, or False after reporting why it is unusable.

    Aliases are refused (front matter needs none, and an alias bomb of a few lines
    stands for billions of values); depth, huge numbers and control characters are
    errors, not tracebacks.
    """
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


def _deck_name_part(text: str) -> str:
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
    path: Path, body: str, first_line: int, report: Report, reverse: bool = False
) -> tuple[str | None, tuple[Card, ...]]:
    """The `# ` title and the `## ` cards of a Markdown body.

    Only fence lines and `#`/`##` headings matter for the structure, so one regular
    expression finds those and everything else is sliced, not walked line by line.
    """
    fences: list[_Fence] = []
    heads: list[tuple[int, int, int, str]] = []  # (line, start offset, end offset, text)
    title: tuple[int, str] | None = None  # (line, text) of the `# ` before the first card
    open_fence: _Fence | None = None
    line, last = first_line, 0
    for event in _EVENT_RE.finditer(body):
        line += body.count("\n", last, event.start())
        last = event.start()
        marks = event["fence"]
        if open_fence is not None:
            if (
                marks
                and marks[0] == open_fence.marks[0]
                and len(marks) >= len(open_fence.marks)
                and not event["info"].strip()
            ):
                open_fence.close_start = event.start()
                open_fence = None
        elif marks:
            if marks[0] == "`" and "`" in event["info"]:
                continue  # not a fence: an inline code span at the start of a line
            open_fence = _Fence(
                line, event.start(), event.end(), event["indent"], marks, event["info"]
            )
            fences.append(open_fence)
        elif event["hashes"] == "##":
            heads.append(
                (line, event.start(), event.end(), _strip_closing_hashes(event["rest"] or ""))
            )
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
    for n, (line_no, _, head_end, heading) in enumerate(heads):
        end = heads[n + 1][1] if n + 1 < len(heads) else len(body)
        while next_fence < len(fences) and fences[next_fence].start < head_end:
            next_fence += 1  # before this card: text no card shows (warned about above)
        first_fence = next_fence
        while next_fence < len(fences) and fences[next_fence].start < end:
            next_fence += 1
        inside = fences[first_fence:next_fence]
        question, explicit_id, card_reverse = heading, None, reverse
        match = _ATTRS_RE.search(heading)
        if match:
            question = heading[: match.start()].strip()
            attrs = _heading_attrs(match["attrs"], path, line_no, report)
            if attrs is None:
                continue
            explicit_id, markers = attrs
            card_reverse = card_reverse or "reverse" in markers
        if not question:
            report.error(path, line_no, "card has no question text")
            continue
        content = _NON_BLANK_RE.search(body, head_end, end)
        if content is None:
            report.error(path, line_no, f"question has an empty answer: {question}")
            continue
        answer, blocks = _answer_and_blocks(path, body, head_end, end, inside)
        cards.append(
            Card(
                path=path,
                line=line_no,
                question=question,
                explicit_id=explicit_id,
                answer=answer,
                answer_line=line_no + body.count("\n", head_end, content.start()),
                code_blocks=blocks,
                reverse=card_reverse,
            )
        )
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
) -> tuple[str | None, set[str]] | None:
    """The id and markers of a heading's `{#id .marker}` block, or None after reporting."""
    explicit_id: str | None = None
    markers: set[str] = set()
    for word in text.split():
        if word.startswith(".") and word[1:] in CARD_MARKERS:
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
    return explicit_id, markers


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
