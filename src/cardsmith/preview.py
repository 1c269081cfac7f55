"""`cardsmith preview`: a static site of every card as Anki renders it (phone, desktop, night).

The cards come from the very package `build` writes (built in memory, then read back), so
the preview shows the note types, templates and CSS that Anki gets. Templates are filled
the way Anki fills them: `{{Field}}`, `{{FrontSide}}`, `{{#Field}}`/`{{^Field}}` sections,
the special fields and the `text:` and `cloze:` filters. A test compares the result with
Anki's own rendering, card by card.
"""

from __future__ import annotations

import glob
import html
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cardsmith import apkg, lifeline, resources
from cardsmith.build import RenderedDeck, check
from cardsmith.diagnostics import Report
from cardsmith.errors import OutputError, UsageError
from cardsmith.htmltext import TAG_RE, without_styles
from cardsmith.model import CLOZE_RE
from cardsmith.options import BuildOptions
from cardsmith.plan import plan_deck
from cardsmith.render import code_css

PHONE_WIDTH = 390
DESKTOP_WIDTH = 900
NIGHT_CLASSES = ("nightMode", "night_mode")  # Anki desktop, AnkiDroid
MARKER = ".cardsmith-preview"


class PreviewError(UsageError):
    """The preview cannot be written where it was asked to go (exit 2)."""


class TemplateProblem(Exception):
    """A card template that cannot be filled (Anki would show a template error)."""


# --- Filling Anki templates -------------------------------------------------------------

_TAG_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# Anki's notion of an empty field: only whitespace, <br> and <div> tags.
_EMPTY_FIELD_RE = re.compile(r"^(?:\s|</?(?:br|div)\s?/?>)*$", re.IGNORECASE)


@dataclass(frozen=True)
class _Replace:
    key: str
    filters: tuple[str, ...]  # outermost first, as written: {{text:Field}}


@dataclass(frozen=True)
class _Section:
    key: str
    negated: bool
    body: tuple[_Node, ...]


_Node = str | _Replace | _Section


def _parse(template: str) -> tuple[_Node, ...]:
    stack: list[tuple[str, bool, list[_Node]]] = [("", False, [])]
    pos = 0
    for match in _TAG_RE.finditer(template):
        if match.start() > pos:
            stack[-1][2].append(template[pos : match.start()])
        pos = match.end()
        inner = match.group(1).strip()
        if inner[:1] in ("#", "^"):
            stack.append((inner[1:].strip(), inner[0] == "^", []))
        elif inner[:1] == "/":
            key = inner[1:].strip()
            if len(stack) == 1 or stack[-1][0] != key:
                raise TemplateProblem(f"{{{{/{key}}}}} closes no open section")
            name, negated, body = stack.pop()
            stack[-1][2].append(_Section(name, negated, tuple(body)))
        else:
            *filters, key = inner.split(":")
            stack[-1][2].append(_Replace(key.strip(), tuple(f.strip() for f in filters)))
    if pos < len(template):
        stack[-1][2].append(template[pos:])
    if len(stack) > 1:
        raise TemplateProblem(f"{{{{#{stack[-1][0]}}}}} is never closed")
    return tuple(stack[0][2])


def strip_html(text: str) -> str:
    """Text without style/script blocks and tags, entities decoded (Anki's text: filter)."""
    return html.unescape(TAG_RE.sub("", without_styles(text)))


def _encode_attribute(text: str) -> str:
    """Escape like Anki's cloze data-cloze attribute: ASCII letters and digits stay."""
    named = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}
    out = []
    for char in text:
        if (char.isascii() and char.isalnum()) or ord(char) >= 256:
            out.append(char)
        else:
            out.append(named.get(char, f"&#x{ord(char):X};"))
    return "".join(out)


def _cloze(text: str, ordinal: int, question: bool) -> str:
    """Anki's cloze filter for the card of one cloze number (nested clozes are not handled)."""

    def replace(match: re.Match[str]) -> str:
        number, answer, hint = int(match["n"]), match["answer"], match["hint"]
        if number != ordinal:
            return f'<span class="cloze-inactive" data-ordinal="{number}">{answer}</span>'
        if not question:
            return f'<span class="cloze" data-ordinal="{number}">{answer}</span>'
        shown = f"[{hint}]" if hint is not None else "[...]"
        return (
            f'<span class="cloze" data-cloze="{_encode_attribute(answer)}"'
            f' data-ordinal="{number}">{shown}</span>'
        )

    return CLOZE_RE.sub(replace, text)


@dataclass
class _Context:
    values: Mapping[str, str]
    ordinal: int
    question: bool
    unsupported: set[str] = field(default_factory=set)


def _value(key: str, context: _Context) -> str:
    if key not in context.values:
        raise TemplateProblem(f"there is no field called {key!r}")
    return context.values[key]


def _render_nodes(nodes: tuple[_Node, ...], context: _Context) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Section):
            empty = bool(_EMPTY_FIELD_RE.match(_value(node.key, context)))
            if empty == node.negated:
                out.append(_render_nodes(node.body, context))
        else:
            text = _value(node.key, context)
            for name in reversed(node.filters):
                if name == "text":
                    text = strip_html(text)
                elif name == "cloze":
                    text = _cloze(text, context.ordinal, context.question)
                else:
                    context.unsupported.add(name)
            out.append(text)
    return "".join(out)


def fill_template(
    template: str,
    values: Mapping[str, str],
    ordinal: int,
    question: bool,
    unsupported: set[str] | None = None,
) -> str:
    """A card side's HTML: Anki's template language over the note's fields and special fields.

    Filters other than `text:` and `cloze:` (hint, type, tts, furigana...) leave the field
    as it is; their names are added to `unsupported`. Raises TemplateProblem.
    """
    context = _Context(values, ordinal, question)
    result = _render_nodes(_parse(template), context)
    if unsupported is not None:
        unsupported.update(context.unsupported)
    return result


# --- Cards ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewCard:
    """One card's two sides as Anki shows them, with where it sits and what it says."""

    deck: str
    note_type: str
    template: str
    ord: int
    guid: str
    tags: tuple[str, ...]
    front: str
    back: str
    css: str

    @property
    def question_text(self) -> str:
        return " ".join(strip_html(self.front).split())

    @property
    def search_text(self) -> str:
        return " ".join(f"{strip_html(self.front)} {strip_html(self.back)}".split()).casefold()


@dataclass(frozen=True)
class Preview:
    """Every card of the previewed decks, the media they use, and what could not be shown."""

    cards: tuple[PreviewCard, ...]
    media: dict[str, bytes]
    warnings: tuple[str, ...]


def render_card(card: apkg.PackedCard) -> tuple[PreviewCard, set[str]]:
    """Both sides of a packed card, and what the preview could not render as Anki would."""
    note_type = card.note_type
    index = 0 if note_type.is_cloze else card.ord
    name, front_template, back_template = note_type.templates[index]
    values = dict(card.fields)
    values.update(
        {
            "Tags": " ".join(card.tags),
            "Type": note_type.name,
            "Deck": card.deck,
            "Subdeck": card.deck.rsplit("::", 1)[-1],
            "Card": name,
        }
    )
    ordinal = card.ord + 1
    filters: set[str] = set()
    problems: set[str] = set()
    try:
        front = fill_template(front_template, values, ordinal, True, filters)
        back = fill_template(back_template, {**values, "FrontSide": front}, ordinal, False, filters)
    except TemplateProblem as problem:
        message = f"template problem: {problem}"
        front = back = f'<div class="cs-preview-error">{html.escape(message)}</div>'
        problems.add(f"note type {note_type.name!r}, card {name!r}: {message}")
    problems.update(
        f"note type {note_type.name!r}: the {f}: filter is shown unfiltered" for f in filters
    )
    preview_card = PreviewCard(
        deck=card.deck,
        note_type=note_type.name,
        template=name,
        ord=card.ord,
        guid=card.guid,
        tags=card.tags,
        front=front,
        back=back,
        css=note_type.css,
    )
    return preview_card, problems


def _deck_sort_key(name: str) -> tuple[str, ...]:
    return tuple(part.casefold() for part in name.split("::"))


def preview_cards(rendered: list[RenderedDeck]) -> Preview:
    """Package each deck in memory as build does, read the package back and render its cards."""
    cards: list[PreviewCard] = []
    media: dict[str, bytes] = {}
    warnings: set[str] = set()
    for deck in rendered:
        everything = next(plan for plan in plan_deck(deck) if plan.everything)
        data = apkg.package_bytes(
            everything.notes,
            {name: deck.media.files[name] for name in everything.media},
            dict(everything.descriptions),
            code_css(),
        )
        contents = apkg.read_package(data)
        media.update(contents.media)
        for packed in contents.cards:
            card, problems = render_card(packed)
            cards.append(card)
            warnings.update(problems)
    order = sorted(range(len(cards)), key=lambda i: (_deck_sort_key(cards[i].deck), i))
    return Preview(tuple(cards[i] for i in order), media, tuple(sorted(warnings)))


# --- The site -------------------------------------------------------------------------

# The site's own CSS and scripts are package data (templates/preview/); the frame widths in
# preview.css are PHONE_WIDTH and DESKTOP_WIDTH plus the frames' 1px borders.
PAGE_CSS = resources.read("preview/preview.css")
# The night switch: Anki's night classes go on the card's <body>; the card documents come in
# a light and a night file (no script inside cards), and the switch swaps which one shows.
MODE_JS = resources.read("preview/mode.js")
SEARCH_JS = resources.read("preview/search.js")


def card_document(card: PreviewCard, side: str, night: bool) -> str:
    """A card side as a page of its own, the way Anki's reviewer builds it: no script."""
    body = card.front if side == "front" else card.back
    classes = ["card", f"card{card.ord + 1}", *(NIGHT_CLASSES if night else ())]
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(card.question_text)}</title>\n"
        f"<style>{card.css}</style>\n</head>\n"
        f'<body class="{" ".join(classes)}">\n<div id="qa">{body}</div>\n</body>\n</html>\n'
    )


def _page(title: str, css_href: str, bar: str, main: str, scripts: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{css_href}">\n</head>\n<body>\n'
        f'<header class="bar">{bar}'
        '<button id="night" type="button" aria-pressed="false">Night mode</button></header>\n'
        f"<main>\n{main}</main>\n<script>\n{scripts}</script>\n</body>\n</html>\n"
    )


@dataclass
class _Group:
    cards: list[int] = field(default_factory=list)
    children: dict[str, _Group] = field(default_factory=dict)

    def total(self) -> int:
        return len(self.cards) + sum(child.total() for child in self.children.values())


def _count(n: int) -> str:
    return f'<span class="count">{n} card{"" if n == 1 else "s"}</span>'


def _index_page(preview: Preview, names: list[str]) -> str:
    root = _Group()
    for number, card in enumerate(preview.cards):
        group = root
        for part in card.deck.split("::"):
            group = group.children.setdefault(part, _Group())
        group.cards.append(number)

    def render(group: _Group, depth: int) -> str:
        parts = []
        if group.cards:
            items = "".join(
                f'<li data-text="{html.escape(preview.cards[n].search_text)}">'
                f'<a data-mode href="cards/{names[n]}.html">'
                f"{html.escape(preview.cards[n].question_text) or '(blank front)'}</a></li>\n"
                for n in group.cards
            )
            parts.append(f'<ol class="cards">\n{items}</ol>\n')
        tag = f"h{min(depth + 2, 4)}"
        for name, child in group.children.items():
            heading = f"<{tag}>{html.escape(name)} {_count(child.total())}</{tag}>"
            parts.append(f"<section data-group>\n{heading}\n{render(child, depth + 1)}</section>\n")
        return "".join(parts)

    total = len(preview.cards)
    bar = (
        '<span class="title">cardsmith preview</span>'
        '<input id="search" type="search" placeholder="Search the cards"'
        ' aria-label="Search the cards">'
        f'<span id="shown" class="status">{total} of {total} cards</span>'
    )
    main = render(root, 0) or "<p>No cards.</p>\n"
    return _page("cardsmith preview", "preview.css", bar, main, SEARCH_JS + MODE_JS)


def _card_page(preview: Preview, names: list[str], number: int) -> str:
    card = preview.cards[number]
    name = names[number]
    crumbs = " &rsaquo; ".join(html.escape(part) for part in card.deck.split("::"))
    links = []
    if number > 0:
        links.append(f'<a data-mode rel="prev" href="{names[number - 1]}.html">← Previous</a>')
    links.append(f'<span class="status">{number + 1} / {len(names)}</span>')
    if number + 1 < len(names):
        links.append(f'<a data-mode rel="next" href="{names[number + 1]}.html">Next →</a>')
    bar = (
        '<a data-mode href="../index.html">All cards</a>'
        f'<span class="grow">{crumbs}</span>{"".join(links)}'
    )

    def frame(side: str, kind: str, width: int) -> str:
        light, night = f"{name}-{side}.html", f"{name}-{side}-night.html"
        return (
            f"<figure><figcaption>{side.title()}</figcaption>"
            f'<iframe class="{kind}" title="{side} at {width} px" src="{light}"'
            f' data-light="{light}" data-night="{night}"></iframe></figure>\n'
        )

    tags = ", ".join(card.tags) or "none"
    main = (
        f"<h1>{html.escape(card.question_text) or '(blank front)'}</h1>\n"
        f'<p class="meta">{html.escape(card.note_type)} · {html.escape(card.template)}'
        f" · tags: {html.escape(tags)}</p>\n"
        f"<h2>Phone · {PHONE_WIDTH} px</h2>\n"
        f'<div class="frames">\n{frame("front", "phone", PHONE_WIDTH)}'
        f"{frame('back', 'phone', PHONE_WIDTH)}</div>\n"
        f"<h2>Desktop · {DESKTOP_WIDTH} px</h2>\n"
        f'<div class="frames">\n{frame("front", "desktop", DESKTOP_WIDTH)}'
        f"{frame('back', 'desktop', DESKTOP_WIDTH)}</div>\n"
    )
    return _page(card.question_text or "card", "../preview.css", bar, main, MODE_JS)


def site_files(preview: Preview) -> dict[str, bytes]:
    """Every file of the preview site by its path inside the site folder."""
    width = max(4, len(str(len(preview.cards))))
    names = [str(n + 1).zfill(width) for n in range(len(preview.cards))]
    files: dict[str, str | bytes] = {
        MARKER: "A cardsmith preview; `cardsmith preview` replaces this folder.\n",
        "preview.css": PAGE_CSS,
        "index.html": _index_page(preview, names),
    }
    for number, card in enumerate(preview.cards):
        name = names[number]
        files[f"cards/{name}.html"] = _card_page(preview, names, number)
        for side in ("front", "back"):
            files[f"cards/{name}-{side}.html"] = card_document(card, side, night=False)
            files[f"cards/{name}-{side}-night.html"] = card_document(card, side, night=True)
    for media_name, data in preview.media.items():
        files[f"cards/{media_name}"] = data  # beside the cards, as in Anki's media folder
    return {path: v.encode() if isinstance(v, str) else v for path, v in files.items()}


def write_site(files: Mapping[str, bytes], out: Path) -> None:
    """Write the site to a fresh folder beside out, then swap it in place of an older preview."""
    if out.exists() and not out.is_dir():
        raise PreviewError(f"{out}: error: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise PreviewError(
            f"{out}: error: folder is not empty and holds no earlier preview; "
            "choose another --out (the preview replaces the whole folder)"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_leftovers(out)
        fresh = out.parent / f".{out.name}.{os.getpid()}.new"
        old = out.parent / f".{out.name}.{os.getpid()}.old"
        shutil.rmtree(fresh, ignore_errors=True)
        try:
            for relative, data in files.items():
                path = fresh / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            if out.exists() or out.is_symlink():
                out.replace(old)
            fresh.replace(out)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
    except OSError as error:  # the disk, not the content: full, read-only, not a folder
        raise OutputError.from_os_error(error, out) from None


def _remove_dead_leftovers(out: Path) -> None:
    """Remove the half-written sites of previews that were killed (their process is gone)."""
    prefix = f".{out.name}."
    for entry in out.parent.glob(f"{glob.escape(prefix)}*"):
        pid, _, kind = entry.name.removeprefix(prefix).partition(".")
        if kind in ("new", "old") and pid.isdigit() and not lifeline.alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


@dataclass(frozen=True)
class PreviewResult:
    """What `cardsmith preview` wrote."""

    index: Path
    preview: Preview
    report: Report


def build_preview(
    paths: list[Path], out: Path, options: BuildOptions | None = None
) -> PreviewResult:
    """Check and render the decks as build does, then write the preview site to out."""
    rendered, report = check(paths, options, exclude=out)
    preview = preview_cards(rendered)
    write_site(site_files(preview), out)
    return PreviewResult(out / "index.html", preview, report)
