"""Markdown to card HTML: the one module that configures Python-Markdown and Pygments."""

from __future__ import annotations

import functools
import hashlib
import html
import re
import xml.etree.ElementTree as etree
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import markdown
import nh3
import pygments
import pymdownx.emoji
from markdown.blockprocessors import BlockQuoteProcessor
from markdown.extensions import Extension
from markdown.inlinepatterns import (
    InlineProcessor,
    SimpleTagInlineProcessor,
    SubstituteTagInlineProcessor,
)
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.token import Token
from pygments.util import ClassNotFound

from cardsmith.blocks import EMPTY_ITEM, SEPARATOR, TIGHT, normalize_blocks
from cardsmith.diagnostics import Report
from cardsmith.model import CLOZE_RE, Card, FieldSection

LIGHT_STYLE = "xcode"
LIGHT_BACKGROUND = "#f6f8fa"
NIGHT_STYLE = "monokai"
CODE_CLASS = "highlight"
NIGHT_SELECTORS = (".nightMode", ".night_mode")

# What GitHub renders, from well-kept extensions; blocks.normalize_blocks restates
# CommonMark's list and container rules for Python-Markdown first. Fences are found by
# superfences (in lists and quotes too) and highlighted by highlight_code, which keeps
# cloze markers.
EXTENSIONS = [
    "tables",
    "sane_lists",
    "footnotes",
    "md_in_html",
    "pymdownx.superfences",
    "pymdownx.betterem",
    "pymdownx.tasklist",
    "pymdownx.magiclink",
    "pymdownx.saneheaders",
    "pymdownx.emoji",
]


def _fence_format(
    src: str, language: str, class_name: str, options: object, md: object, **kwargs: object
) -> str:
    return highlight_code(src, language)


class _LazyEmojiIndex(Mapping[str, Any]):
    """pymdownx.emoji's GitHub (gemoji) index, loaded at the first `:shortcode:` rather
    than with every renderer: loading it was a fifth of a one-card rebuild's renderer."""

    def __getitem__(self, key: str) -> Any:
        return _gemoji_index()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(_gemoji_index())

    def __len__(self) -> int:
        return len(_gemoji_index())


@functools.cache
def _gemoji_index() -> dict[str, Any]:
    index: dict[str, Any] = pymdownx.emoji.gemoji({}, None)
    return index


EXTENSION_CONFIGS: dict[str, dict[str, object]] = {
    # `align` instead of a style attribute, so column alignment survives sanitizing.
    "tables": {"use_align_attribute": True},
    "footnotes": {"BACKLINK_TITLE": "Back to the text"},
    "pymdownx.superfences": {
        "custom_fences": [{"name": "*", "class": CODE_CLASS, "format": _fence_format}]
    },
    "pymdownx.tasklist": {"custom_checkbox": False, "clickable_checkbox": False},
    "pymdownx.magiclink": {"hide_protocol": False},
    # GitHub's shortcodes, written as the Unicode character (no images, works offline).
    "pymdownx.emoji": {
        "emoji_index": lambda options, md: _LazyEmojiIndex(),
        "emoji_generator": pymdownx.emoji.to_alt,
    },
}

# Math passes through untouched: $...$ and \(...\) inline, $$...$$ and \[...\] display.
# A `$` opens inline math only before a non-space and closes only after a non-space
# not followed by a digit, so "$5 and $10" stays text; `\$` is a literal dollar.
# Each body stops at the next opener, so unclosed delimiters keep matching linear.
_MATH_RE = re.compile(
    r"(?P<escaped>\\`|\\\\(?=`))"  # \` is no code span; \\ before ` lets one open
    r"|(?P<code>(?<!`)(?P<ticks>`+)(?!`)(?:(?!`).)+?(?P=ticks))"
    r"|(?P<dollar>\\\$)"
    r"|\$\$(?P<display>(?:(?!\$\$).)+?)\$\$"
    r"|\\\[(?P<display2>(?:(?!\\[\[\]]).)+?)\\\]"
    r"|\\\((?P<inline2>(?:(?!\\[()]).)+?)\\\)"
    r"|\$(?P<inline>[^\s$](?:[^$\n]*?[^\s$\\])?)\$(?!\d)",
    re.DOTALL,
)
_SPLIT = "cardsmithsplit9f4c2e"
# Text that Markdown would give back unchanged: no inline syntax, no block start, nothing
# that could be a link (`://`, `www.`, the `@` of an address), an :emoji: or a highlight.
_PLAIN_RE = re.compile(
    r"(?![ \t]*(?:[-+*>#=|]|\d+[.)]))(?!.*(?:www\.|://|:[+\-\w]+:))"
    r"[^\\`*_\[\]<>&!$~{}@=|^\n\r]*\Z",
    re.IGNORECASE,
)
# ~~strike~~ or ~strike~ (the closing run as long as the opening one), ==highlight==; the
# text may not start or end with a space, nor hold the marker character (which keeps the
# search from each opener short: linear time on any input).
_STRIKE_RE = r"(?<!~)(~~?)(?![~\s])([^~]+?)(?<!\s)\1(?!~)"
_HIGHLIGHT_RE = r"(?<!=)(==)(?![=\s])([^=]+?)(?<!\s)==(?!=)"
# Obsidian's embed: ![[file.png]] or ![[file.png|alt or width]].
_EMBED_RE = r"!\[\[(?P<target>[^\[\]|\n]+\.[A-Za-z0-9]{1,5})(?:\|(?P<alt>[^\[\]\n]*))?\]\]"
# A callout: GitHub's `> [!NOTE]`, or Obsidian's `> [!tip] Title` (with an optional +/-).
_CALLOUT_RE = re.compile(r"^ {0,3}> ?\[!(?P<kind>[A-Za-z][\w-]{0,30})\][+-]?(?P<title>[^\n]*)")
_HTML_TOKEN_RE = re.compile(r"<[^>]*>|&[#\w]+;|[^<&]")

# Raw HTML in cards is cut down to these formatting tags and attributes unless the
# author passes --allow-html: card HTML runs in Anki's reviewer on every device.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "ins", "kbd", "li", "mark", "ol", "p",
    "pre",
    "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var", "wbr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"class", "title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "input": {"checked", "disabled"},
    "ol": {"start", "type"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

# What the first bytes of an image must be, by extension.
_IMAGE_MAGIC: dict[str, tuple[tuple[int, bytes], ...]] = {
    ".png": ((0, b"\x89PNG\r\n\x1a\n"),),
    ".jpg": ((0, b"\xff\xd8\xff"),),
    ".jpeg": ((0, b"\xff\xd8\xff"),),
    ".gif": ((0, b"GIF87a"), (0, b"GIF89a")),
    ".webp": ((8, b"WEBP"),),
    ".bmp": ((0, b"BM"),),
    ".ico": ((0, b"\x00\x00\x01\x00"),),
    ".avif": ((4, b"ftypavif"), (4, b"ftypavis")),
}


# Sound and video: packaged like images, shown by Anki's player as [sound:name].
_SOUND_MAGIC: dict[str, tuple[tuple[int, bytes], ...]] = {
    ".mp3": ((0, b"ID3"), (0, b"\xff\xfb"), (0, b"\xff\xf3"), (0, b"\xff\xf2"), (0, b"\xff\xe3")),
    ".ogg": ((0, b"OggS"),),
    ".m4a": ((4, b"ftyp"),),
    ".wav": ((8, b"WAVE"),),
    ".mp4": ((4, b"ftyp"),),
    ".webm": ((0, b"\x1a\x45\xdf\xa3"),),
}


@dataclass(frozen=True)
class RenderedCard:
    """A card's HTML and the media files it references (packaged name, source file)."""

    card: Card
    front: str
    back: str
    media: tuple[tuple[str, Path], ...]
    fields: tuple[str, ...] = ()  # the HTML of card.extra_fields (declared note types)

    @property
    def sections(self) -> tuple[tuple[str, str], ...]:
        """(field name, HTML) of each field section."""
        if not self.fields and not self.card.extra_fields:
            return ()  # most cards: asked of every card when its note is made
        return tuple(zip((s.name for s in self.card.extra_fields), self.fields, strict=True))


def media_name(data: bytes, suffix: str) -> str:
    """The packaged name of a media file: a hash of its content, so names never collide."""
    return f"cs-{hashlib.sha256(data).hexdigest()[:24]}{suffix.lower()}"


@dataclass
class MediaStore:
    """Media named by content hash: Anki's media folder is flat and shared by every deck."""

    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, data: bytes, suffix: str) -> str:
        name = media_name(data, suffix)
        self.files[name] = data
        return name


class _CodeBreaks(Treeprocessor):
    """Let long inline code wrap after `.`, `(`, `,` or `/` (with <wbr>), as a reader would
    break it, instead of in the middle of a name when it runs past the line (on a phone)."""

    LONG = 20
    AFTER = re.compile(r"(?<=[.(,/])(?=[^\s.(,/)])")

    def run(self, root: etree.Element) -> None:
        for code in root.iter("code"):
            text = code.text or ""
            if len(code) or len(text) < self.LONG or " " in text:
                continue
            parts = self.AFTER.split(text)
            if len(parts) < 2:
                continue
            code.text = AtomicString(parts[0])
            for part in parts[1:]:
                etree.SubElement(code, "wbr").tail = AtomicString(part)


class _MediaRewriter(Treeprocessor):
    """Local images get hashed media names; sound and video become Anki's [sound:...]."""

    def __init__(self, md: markdown.Markdown, renderer: Renderer) -> None:
        super().__init__(md)
        self.renderer = renderer

    def run(self, root: etree.Element) -> None:
        sounds: list[tuple[etree.Element, etree.Element]] = []
        for parent in root.iter():
            for img in parent:
                if img.tag != "img":
                    continue
                src = img.get("src", "")
                sound = _sound_suffix(src)
                new = self.renderer.resolve_media(src, sound)
                if new is not None and sound:
                    sounds.append((parent, img))
                    img.set("src", new)
                elif new is not None:
                    img.set("src", new)
        for parent, img in sounds:
            _replace_by_text(parent, img, f"[sound:{img.get('src')}]")


def _replace_by_text(parent: etree.Element, child: etree.Element, text: str) -> None:
    """Put text where child was (Markdown's tree keeps text in .text and .tail)."""
    index = list(parent).index(child)
    text += child.tail or ""
    if index == 0:
        parent.text = (parent.text or "") + text
    else:
        previous = parent[index - 1]
        previous.tail = (previous.tail or "") + text
    parent.remove(child)


def _tighten(listing: etree.Element) -> None:
    """Unwrap the paragraphs directly inside the items of a tight list."""
    for item in listing:
        for index, child in reversed(list(enumerate(item))):
            if child.tag != "p":
                continue
            text = (child.text or "") + ("\n" if index else "")
            if index == 0:
                item.text = (item.text or "") + text
            else:
                previous = item[index - 1]
                previous.tail = (previous.tail or "") + "\n" + text
            tail = child.tail or ""
            kids = list(child)
            item.remove(child)
            for offset, kid in enumerate(kids):
                item.insert(index + offset, kid)
            if kids:
                kids[-1].tail = (kids[-1].tail or "") + tail
            elif index == 0:
                item.text = (item.text or "") + tail
            else:
                item[index - 1].tail = (item[index - 1].tail or "") + tail


def _sound_suffix(src: str) -> bool:
    suffix = Path(unquote(urlparse(src).path)).suffix.lower()
    return suffix in _SOUND_MAGIC


# The text an inline pattern needs before it can match: a text without any is skipped
# without calling the pattern (Python-Markdown tries every pattern on every piece of text,
# which is most of a card's rendering time). Patterns not named here are always tried.
_INLINE_TRIGGERS: dict[str, tuple[str, ...]] = {
    "backtick": ("`",),
    "escape": ("\\",),
    "footnote": ("[^",),
    "cardsmith-embed": ("![[",),
    "reference": ("[",),
    "link": ("[",),
    "image_link": ("![",),
    "image_reference": ("![",),
    "short_reference": ("[",),
    "short_image_ref": ("![",),
    "autolink": ("<",),
    "automail": ("<",),
    "linebreak": ("\n",),
    "html": ("<",),
    "magic-link": ("://", "www.", "WWW.", "Www.", "ftp.", "FTP."),
    "magic-mail": ("@",),
    "entity": ("&",),
    "emoji": (":",),
    "delimiter": ("*", "_"),
    "cardsmith-strike": ("~",),
    "cardsmith-highlight": ("==",),
}


class _QuickInlineProcessor(markdown.treeprocessors.InlineProcessor):
    """Python-Markdown's inline pass, skipping patterns whose trigger text is absent."""

    _quick: list[tuple[Any, tuple[str, ...] | None]] | None = None

    def run(self, tree: etree.Element, ancestors: list[str] | None = None) -> etree.Element:
        if self._quick is None:
            self._quick = self._patterns()
        return super().run(tree, ancestors)

    def _patterns(self) -> list[tuple[Any, tuple[str, ...] | None]]:
        patterns = list(self.inlinePatterns)
        triggers: list[tuple[str, ...] | None] = [None] * len(patterns)
        for name, trigger in _INLINE_TRIGGERS.items():
            if name in self.inlinePatterns:
                triggers[self.inlinePatterns.get_index_for_name(name)] = trigger
        return list(zip(patterns, triggers, strict=True))

    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:
        if isinstance(data, markdown.util.AtomicString):
            return data
        apply = self._InlineProcessor__applyPattern  # type: ignore[attr-defined]
        quick = self._quick
        assert quick is not None
        start = 0
        while patternIndex < len(quick):
            pattern, triggers = quick[patternIndex]
            if triggers is not None:
                for trigger in triggers:
                    if trigger in data:
                        break
                else:
                    patternIndex += 1
                    start = 0
                    continue
            data, matched, start = apply(pattern, data, patternIndex, start)
            if not matched:
                patternIndex += 1
        return data


class _BlockPreprocessor(Preprocessor):
    """CommonMark's lists, quotes and fences, in the layout Python-Markdown reads."""

    # What later steps need to look for in this document.
    markers = pipes = footnotes = tasks = fences = html = escapes = False

    def run(self, lines: list[str]) -> list[str]:
        text = normalize_blocks("\n".join(lines))
        self.markers = SEPARATOR in text or TIGHT in text or EMPTY_ITEM in text
        self.pipes = "|" in text
        self.footnotes = "[^" in text
        self.tasks = "[x]" in text or "[ ]" in text or "[X]" in text
        self.fences = "```" in text or "~~~" in text
        self.html = "<" in text
        self.escapes = "\\" in text
        return text.split("\n")


def _only_when(processor: Any, needed: Callable[[], bool], idle: Callable[[Any], Any]) -> None:
    """Run an extension's step only for documents that hold its syntax (idle otherwise)."""
    run = processor.run
    processor.run = lambda value: run(value) if needed() else idle(value)


class _ClozePreprocessor(Preprocessor):
    """Stash cloze delimiters, so no inline pattern (emoji, links) reads into them."""

    def run(self, lines: list[str]) -> list[str]:
        text = "\n".join(lines)
        if "{{c" not in text:
            return lines
        return CLOZE_RE.sub(self._replace, text).split("\n")

    def _replace(self, match: re.Match[str]) -> str:
        opener = self.md.htmlStash.store(f"{{{{c{match['n']}::")
        hint = f"::{html.escape(match['hint'])}" if match["hint"] is not None else ""
        closer = self.md.htmlStash.store(f"{hint}}}}}")
        return f"{opener}{match['answer']}{closer}"


class _EmbedProcessor(InlineProcessor):
    """Obsidian's ![[image.png]]: an image like ![](image.png), through the same checks."""

    def handleMatch(  # type: ignore[override]
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element, int, int]:
        img = etree.Element("img")
        target = m["target"].strip()
        img.set("src", target)
        alt = (m["alt"] or "").strip()
        if alt.isdigit():
            img.set("width", alt)
            alt = ""
        img.set("alt", alt or Path(target).name)
        return img, m.start(0), m.end(0)


class _CalloutProcessor(BlockQuoteProcessor):
    """GitHub alerts (`> [!NOTE]`) and Obsidian callouts (`> [!tip] Title`)."""

    def test(self, parent: etree.Element, block: str) -> bool:
        return bool(_CALLOUT_RE.match(block)) and not self.parser.state.isstate("callout")

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        block = blocks.pop(0)
        match = _CALLOUT_RE.match(block)
        assert match is not None
        kind = match["kind"].lower()
        title = match["title"].strip() or kind.replace("-", " ").capitalize()
        body = "\n".join(self.clean(line) for line in block[match.end() :].split("\n")[1:])
        quote = etree.SubElement(parent, "blockquote", {"class": f"callout callout-{kind}"})
        heading = etree.SubElement(quote, "p", {"class": "callout-title"})
        strong = etree.SubElement(heading, "strong")
        strong.text = title
        self.parser.state.set("callout")
        self.parser.parseChunk(quote, body)
        self.parser.state.reset()


class _TreeFixes(Treeprocessor):
    """What blocks.normalize_blocks asked for (separators out, tight lists without <p>),
    and tables as on GitHub: `a \\| b` in a cell's code shows `a | b`, and a table of only
    a header row has no body (Python-Markdown adds an empty row)."""

    def __init__(self, md: markdown.Markdown, blocks: _BlockPreprocessor) -> None:
        super().__init__(md)
        self.blocks = blocks

    def run(self, root: etree.Element) -> None:
        if self.blocks.markers:
            self._markers(root)
        if self.blocks.pipes:
            self._tables(root)

    def _markers(self, root: etree.Element) -> None:
        parent_of: dict[etree.Element, etree.Element] = {}
        for parent in list(root.iter()):
            for child in list(parent):
                parent_of[child] = parent
                if child.tag == "p" and child.text == SEPARATOR and not len(child):
                    parent.remove(child)
        tight = []
        for item in root.iter("li"):
            first = (
                item[0]
                if len(item) and item[0].tag == "p" and not (item.text or "").strip()
                else item
            )
            if first.text and first.text.startswith(TIGHT):
                first.text = first.text[len(TIGHT) :]
                tight.append(parent_of[item])
            if first is not item and first.text == EMPTY_ITEM and not len(first):
                item.remove(first)  # the item starts with a fence (blocks.EMPTY_ITEM)
        for listing in tight:
            _tighten(listing)

    def _tables(self, root: etree.Element) -> None:
        for table in root.iter("table"):
            body = table.find("tbody")
            if body is not None and len(body) == 1 and not "".join(body.itertext()).strip():
                table.remove(body)
        for cell in root.iter():
            if cell.tag not in ("td", "th"):
                continue
            for code in cell.iter("code"):
                if code.text and "\\|" in code.text:
                    code.text = markdown.util.AtomicString(code.text.replace("\\|", "|"))


class _MathPreprocessor(Preprocessor):
    """Stash math so Markdown leaves its underscores and backslashes alone."""

    def run(self, lines: list[str]) -> list[str]:
        text = "\n".join(lines)
        if "$" not in text and "\\" not in text:
            return lines
        return _MATH_RE.sub(self._replace, text).split("\n")

    def _replace(self, match: re.Match[str]) -> str:
        if match["code"] or match["escaped"]:
            return match[0]
        if match["dollar"]:
            return "$"
        if match["display"] is not None or match["display2"] is not None:
            body = match["display"] if match["display"] is not None else match["display2"]
            return self.md.htmlStash.store(html.escape(f"\\[{body}\\]", quote=False))
        body = match["inline"] if match["inline"] is not None else match["inline2"]
        return self.md.htmlStash.store(html.escape(f"\\({body}\\)", quote=False))


class _CardsmithExtension(Extension):
    """What cardsmith adds to Python-Markdown: layout, math, clozes, embeds, media."""

    def __init__(self, renderer: Renderer) -> None:
        super().__init__()
        self.renderer = renderer

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Below normalize_whitespace (30), which strips the stash's placeholder markers; the
        # block layout first, then superfences (25) takes the code out, then math and
        # clozes are stashed before html_block (20) and the inline patterns see them.
        blocks = _BlockPreprocessor(md)
        md.preprocessors.register(blocks, "cardsmith-blocks", 29)
        md.preprocessors.register(_MathPreprocessor(md), "cardsmith-math", 24)
        md.preprocessors.register(_ClozePreprocessor(md), "cardsmith-cloze", 23)
        md.parser.blockprocessors.register(_CalloutProcessor(md.parser), "cardsmith-callout", 21.1)
        # Two spaces, or (CommonMark) a `\` at a line's end: a break. After escapes (180),
        # which take `\\` first.
        md.inlinePatterns.register(
            SubstituteTagInlineProcessor(r"(?:  |\\)\n", "br"), "linebreak", 100
        )
        md.treeprocessors.register(_QuickInlineProcessor(md), "inline", 20)
        md.inlinePatterns.register(_EmbedProcessor(_EMBED_RE, md), "cardsmith-embed", 175)
        # GitHub's ~~strike~~ (or ~strike~) and Obsidian's ==highlight==: plain tag patterns.
        # (pymdownx.tilde and .mark would do the same but rebuild betterem's delimiter
        # regexes on load: 16 ms of every worker's and every rebuild's start.)
        md.inlinePatterns.register(
            SimpleTagInlineProcessor(_STRIKE_RE, "del"), "cardsmith-strike", 68
        )
        md.inlinePatterns.register(
            SimpleTagInlineProcessor(_HIGHLIGHT_RE, "mark"), "cardsmith-highlight", 67
        )
        md.treeprocessors.register(_TreeFixes(md, blocks), "cardsmith-fixes", 1)
        # Each of these steps walks every card's text or tree; most cards need few of them.
        steps: list[tuple[Any, str, Callable[[], bool]]] = [
            (md.preprocessors, "fenced_code_block", lambda: blocks.fences),
            (md.preprocessors, "html_block", lambda: blocks.html),
            (md.treeprocessors, "footnote", lambda: blocks.footnotes),
            (md.treeprocessors, "footnote-duplicate", lambda: blocks.footnotes),
            (md.treeprocessors, "task-list", lambda: blocks.tasks),
            (md.treeprocessors, "unescape", lambda: blocks.escapes),
            (md.postprocessors, "footnote", lambda: blocks.footnotes),
            (md.postprocessors, "raw_html", lambda: md.htmlStash.html_counter > 0),
        ]
        for registry, name, needed in steps:
            if name in registry:
                idle = (lambda _: None) if registry is md.treeprocessors else (lambda same: same)
                _only_when(registry[name], needed, idle)
        md.treeprocessors.register(_MediaRewriter(md, self.renderer), "cardsmith-media", 0)
        md.treeprocessors.register(_CodeBreaks(md), "cardsmith-code-breaks", 0.1)


def highlight_code(code: str, language: str) -> str:
    """Pygments HTML for a code block; {{cN::...}} markers are kept as Anki cloze markers."""
    marks: list[tuple[int, str]] = []
    plain: list[str] = []
    position = last = 0
    for cloze in CLOZE_RE.finditer(code):
        plain.append(code[last : cloze.start()])
        position += cloze.start() - last
        marks.append((position, f"{{{{c{cloze['n']}::"))
        plain.append(cloze["answer"])
        position += len(cloze["answer"])
        hint = f"::{html.escape(cloze['hint'])}" if cloze["hint"] is not None else ""
        marks.append((position, f"{hint}}}}}"))
        last = cloze.end()
    plain.append(code[last:])
    result: str = pygments.highlight("".join(plain), _lexer(language), _FORMATTER)
    return _insert_marks(result, marks) if marks else result


_FORMATTER = HtmlFormatter(cssclass=CODE_CLASS, wrapcode=True)


@functools.lru_cache(maxsize=256)
def _lexer(language: str) -> Lexer:
    # stripnl=False keeps text offsets equal to the source's, for the cloze marks.
    options = {"stripnl": False, "ensurenl": True}
    lexer: Lexer
    try:
        lexer = get_lexer_by_name(language, **options) if language else TextLexer(**options)
    except ClassNotFound:
        lexer = TextLexer(**options)
    return lexer


def _insert_marks(highlighted: str, marks: list[tuple[int, str]]) -> str:
    """Put text into Pygments HTML at text offsets inside <code>, outside any token span."""
    start = highlighted.index("<code>") + len("<code>")
    end = highlighted.rindex("</code>")
    out: list[str] = [highlighted[:start]]
    stack: list[str] = []
    offset = 0
    pending = list(marks)

    def flush() -> None:
        while pending and pending[0][0] <= offset:
            out.append("</span>" * len(stack) + pending.pop(0)[1] + "".join(stack))

    for token in _HTML_TOKEN_RE.findall(highlighted[start:end]):
        if token.startswith("</"):
            stack.pop()
            out.append(token)
        elif token.startswith("<"):
            flush()
            stack.append(token)
            out.append(token)
        else:
            flush()
            out.append(token)
            offset += 1
    flush()
    out.append("".join(text for _, text in pending))
    out.append(highlighted[end:])
    return "".join(out)


class Renderer:
    """Renders cards with one configured Markdown instance; not thread-safe."""

    def __init__(
        self, media: MediaStore, report: Report, root: Path, allow_html: bool = False
    ) -> None:
        self.media = media
        self.report = report
        self.root = root.resolve()
        self.allow_html = allow_html
        self._md = markdown.Markdown(
            extensions=[*EXTENSIONS, _CardsmithExtension(self)],
            extension_configs=EXTENSION_CONFIGS,
            output_format="html",
        )
        self._card: Card | None = None
        self._text = ""
        self._first_line = 1
        self._used: list[tuple[str, Path]] = []

    def render(self, card: Card) -> RenderedCard:
        """HTML for the front and back of a card; problems go to the report."""
        self._card = card
        self._used = []
        for block in card.code_blocks:
            if block.language and not _known_language(block.language):
                self.report.warning(
                    card.path,
                    block.line,
                    f"unknown code language {block.language!r}: shown as plain text",
                )
        self._text, self._first_line = card.answer, card.answer_line
        if _PLAIN_RE.match(card.question):
            front = html.escape(card.question, quote=False)  # nothing for Markdown to do
            back = self._convert(card.answer)
        else:
            # One conversion for both sides (Markdown's fixed cost per call is a sixth of a
            # card's time), split at a marker paragraph; two conversions should the answer
            # hold that very paragraph.
            both = self._convert(f"{card.question}\n\n{_SPLIT}\n\n{card.answer}").split(
                f"<p>{_SPLIT}</p>\n"
            )
            if len(both) == 2:
                front, back = both[0].strip(), both[1]
            else:
                front, back = self._convert(card.question), self._convert(card.answer)
            if front.startswith("<p>") and front.endswith("</p>") and front.count("<p>") == 1:
                front = front[3:-4]
        if "\\" in card.answer or "\\" in card.question:
            self.check_math(f"{front}\n{back}")
        fields = tuple(self._render_field(section) for section in card.extra_fields)
        return RenderedCard(card, front, back, tuple(dict.fromkeys(self._used)), fields)

    def _render_field(self, section: FieldSection) -> str:
        """A field section's HTML, rendered exactly like an answer ("" when empty)."""
        if not section.markdown.strip():
            return ""
        self._text, self._first_line = section.markdown, section.markdown_line
        converted = self._convert(section.markdown)
        if "\\" in section.markdown:
            self.check_math(converted)
        return converted

    def _convert(self, text: str) -> str:
        self._md.reset()
        converted = self._md.convert(text)
        return converted if self.allow_html else sanitize(converted)

    def _line_of(self, needle: str) -> int:
        """The line of needle in the answer, else the question's line."""
        assert self._card is not None
        index = self._text.find(needle)
        if index < 0:
            return self._card.line
        return self._first_line + self._text.count("\n", 0, index)

    def resolve_media(self, src: str, sound: bool = False) -> str | None:
        """The hashed media name for a local image (or sound), or None to leave src alone."""
        card = self._card
        assert card is not None
        line = self._line_of(src)
        what = "audio/video file" if sound else "image"
        parsed = urlparse(src)
        if parsed.scheme in ("http", "https") or src.startswith("//"):
            self.report.warning(
                card.path, line, f"remote {what} is not packaged, shows only online: {src}"
            )
            return None
        if parsed.scheme or not parsed.path:
            self.report.error(card.path, line, f"{what} must be a file in the deck folder: {src}")
            return None
        relative = unquote(parsed.path)
        path = (card.path.parent / relative).resolve()
        if Path(relative).is_absolute() or not path.is_relative_to(self.root):
            self.report.error(card.path, line, f"{what} outside the deck folder: {src} (refused)")
            return None
        if not path.is_file():
            self.report.error(card.path, line, f"{what} not found: {src}")
            return None
        data = path.read_bytes()
        problem = _media_problem(data, path.suffix.lower())
        if problem:
            self.report.error(card.path, line, f"{src}: {problem}")
            return None
        name = self.media.add(data, path.suffix)
        self._used.append((name, path))
        return name

    def resolve_image(self, src: str) -> str | None:
        """The hashed media name for a local image, or None to leave src as it is."""
        return self.resolve_media(src)

    def check_math(self, fragment: str) -> None:
        """Report math that MathJax would turn into a script link or page styling."""
        assert self._card is not None
        for command, argument in unsafe_math(fragment):
            self.report.error(
                self._card.path,
                self._line_of(command),
                f"math may not use {command}"
                + (f"{{{argument}}}" if argument is not None else "")
                + ": Anki's MathJax would make it "
                + ("a link that runs code" if argument is not None else "change the page")
                + " (allowed: \\href and \\url to http, https or mailto)",
            )


def sanitize(fragment: str) -> str:
    """Keep formatting HTML; drop scripts, styles, frames, event handlers, javascript: URLs.

    The one input kept is a task list's box: always a disabled checkbox.
    """
    return _cleaner().clean(fragment)


@functools.cache
def _cleaner() -> nh3.Cleaner:
    # Built once: setting the cleaner up costs about as much as cleaning a card.
    return nh3.Cleaner(
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=None,
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        set_tag_attribute_values={"input": {"type": "checkbox", "disabled": ""}},
    )


# MathJax commands that make links, style the page or define macros (which could hide
# the others from this check). Anki's MathJax reads math in any text outside code.
_MATH_COMMAND_RE = re.compile(
    r"\\(?P<name>href|url|class|style|cssId|def|gdef|edef|xdef|let|newcommand|"
    r"renewcommand|providecommand|DeclareMathOperator|newenvironment|renewenvironment|"
    r"require|data|html(?:Class|Style|Id|Data))(?![A-Za-z])[ \t\n]*(?:\{(?P<arg>[^{}]*)\})?"
)
_CODE_TAG_RE = re.compile(r"<(/?)(?:pre|code)\b[^>]*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_SAFE_LINK_RE = re.compile(r"(?:https?|mailto):|[^:]*(?:[/?#]|$)", re.IGNORECASE)


def unsafe_math(fragment: str) -> list[tuple[str, str | None]]:
    """The MathJax commands in card HTML that could run code or restyle the card.

    Returns (command, URL) for a link command with an unsafe URL, (command, None) for
    commands refused outright. Text inside <pre> and <code> is skipped: MathJax does too.
    """
    if "\\" not in fragment:
        return []
    outside: list[str] = []  # the text outside <pre> and <code>, in one linear pass
    depth = position = 0
    for tag in _CODE_TAG_RE.finditer(fragment):
        if depth == 0:
            outside.append(fragment[position : tag.start()])
        depth = max(depth - 1, 0) if tag[1] else depth + 1
        position = tag.end()
    if depth == 0:
        outside.append(fragment[position:])
    text = html.unescape(_TAG_RE.sub("", "".join(outside)))
    found: list[tuple[str, str | None]] = []
    for match in _MATH_COMMAND_RE.finditer(text):
        command = f"\\{match['name']}"
        if match["name"] in ("href", "url"):
            url = re.sub(r"[\x00-\x20\\]", "", match["arg"] or "")
            if match["arg"] is None or not _SAFE_LINK_RE.match(url):
                found.append((command, match["arg"] or ""))
        else:
            found.append((command, None))
    return found


def _media_problem(data: bytes, suffix: str) -> str | None:
    """Why data is not the image, sound or video its extension claims, or None."""
    sound = _SOUND_MAGIC.get(suffix)
    if sound is not None:
        if any(data[at : at + len(magic)] == magic for at, magic in sound):
            return None
        return f"not a {suffix[1:].upper()} file (its content does not match its extension)"
    if suffix == ".svg":
        head = data[:2048].lstrip().lower()
        return None if b"<svg" in head else "not an SVG image (no <svg> element)"
    signatures = _IMAGE_MAGIC.get(suffix)
    if signatures is None:
        return f"'{suffix or 'no extension'}' is not an image type cardsmith packages"
    if any(data[at : at + len(magic)] == magic for at, magic in signatures):
        return None
    return f"not a {suffix[1:].upper()} image (its content does not match its extension)"


@functools.lru_cache(maxsize=256)
def _known_language(name: str) -> bool:
    try:
        get_lexer_by_name(name)
    except ClassNotFound:
        return False
    return True


@functools.cache
def code_css() -> str:
    """Pygments CSS for code blocks: a light style, and a dark one under Anki's night classes."""
    light = HtmlFormatter(style=LIGHT_STYLE, cssclass=CODE_CLASS)
    night = HtmlFormatter(style=NIGHT_STYLE, cssclass=CODE_CLASS)
    night_prefixes = [f"{cls} .{CODE_CLASS}" for cls in NIGHT_SELECTORS]
    light_fg = _base_color(LIGHT_STYLE, "#000000")
    night_fg = _base_color(NIGHT_STYLE, "#f8f8f2")
    # Our rules come after Pygments' so they win: an explicit text colour for tokens the
    # style leaves unstyled (Anki's night mode would make them near-white), and in light
    # mode a faint grey instead of the style's white, so the block stands out from the card.
    parts = [
        light.get_style_defs(f".{CODE_CLASS}"),  # type: ignore[no-untyped-call]
        f".{CODE_CLASS} {{ background: {LIGHT_BACKGROUND}; color: {light_fg}; }}",
        night.get_style_defs(night_prefixes),  # type: ignore[no-untyped-call]
        ", ".join(night_prefixes)
        + f" {{ background: {night.style.background_color}; color: {night_fg}; }}",
    ]
    # Pygments also emits unscoped rules (line numbers, `pre` line height); keep one copy.
    lines: list[str] = []
    for line in "\n".join(parts).splitlines():
        if line not in lines or not line.startswith(("pre ", "td.", "span.")):
            lines.append(line)
    return "\n".join(lines) + "\n"


def _base_color(style_name: str, fallback: str) -> str:
    style = HtmlFormatter(style=style_name).style
    color = style.style_for_token(Token)["color"]
    return f"#{color}" if color else fallback


def render_description(text: str, allow_html: bool = False) -> str:
    """A deck description (Markdown) as sanitized HTML for Anki's deck overview."""
    if not text.strip():
        return ""
    converted = markdown.markdown(
        text, extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS, output_format="html"
    )
    return converted if allow_html else sanitize(converted)
