"""Markdown to card HTML: the one module that configures Python-Markdown and Pygments."""

from __future__ import annotations

import functools
import hashlib
import html
import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import markdown
import nh3
import pygments
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.token import Token
from pygments.util import ClassNotFound

from cardsmith.diagnostics import Report
from cardsmith.model import CLOZE_RE, Card
from cardsmith.parse import FENCE_RE, scan

LIGHT_STYLE = "xcode"
LIGHT_BACKGROUND = "#f6f8fa"
NIGHT_STYLE = "monokai"
CODE_CLASS = "highlight"
NIGHT_SELECTORS = (".nightMode", ".night_mode")

# Fenced code is handled by our own preprocessor (below) rather than fenced_code and
# codehilite, so that the fences match the card parser's and cloze markers survive.
EXTENSIONS = ["tables", "sane_lists"]
# `align` instead of a style attribute, so column alignment survives sanitizing.
EXTENSION_CONFIGS = {"tables": {"use_align_attribute": True}}

# Math passes through untouched: $...$ and \(...\) inline, $$...$$ and \[...\] display.
# A `$` opens inline math only before a non-space and closes only after a non-space
# not followed by a digit, so "$5 and $10" stays text; `\$` is a literal dollar.
# Each body stops at the next opener, so unclosed delimiters keep matching linear.
_MATH_RE = re.compile(
    r"(?P<code>(?P<ticks>`+)(?:(?!`).)+?(?P=ticks))"
    r"|(?P<dollar>\\\$)"
    r"|\$\$(?P<display>(?:(?!\$\$).)+?)\$\$"
    r"|\\\[(?P<display2>(?:(?!\\[\[\]]).)+?)\\\]"
    r"|\\\((?P<inline2>(?:(?!\\[()]).)+?)\\\)"
    r"|\$(?P<inline>[^\s$](?:[^$\n]*?[^\s$\\])?)\$(?!\d)",
    re.DOTALL,
)
_SPLIT = "cardsmithsplit9f4c2e"
# Text that Markdown would give back unchanged (no inline syntax, no block start).
_PLAIN_RE = re.compile(r"(?![ \t]*(?:[-+*>#=]|\d+[.)]))[^\\`*_\[\]<>&!$~{}\n\r]*\Z")
_HTML_TOKEN_RE = re.compile(r"<[^>]*>|&[#\w]+;|[^<&]")

# Raw HTML in cards is cut down to these formatting tags and attributes unless the
# author passes --allow-html: card HTML runs in Anki's reviewer on every device.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre",
    "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"class", "title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
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


@dataclass(frozen=True)
class RenderedCard:
    """A card's HTML and the media files it references (packaged name, source file)."""

    card: Card
    front: str
    back: str
    media: tuple[tuple[str, Path], ...]


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


class _ImageRewriter(Treeprocessor):
    """Replace local image paths by hashed media names; collect what is missing."""

    def __init__(self, md: markdown.Markdown, renderer: Renderer) -> None:
        super().__init__(md)
        self.renderer = renderer

    def run(self, root: etree.Element) -> None:
        for img in root.iter("img"):
            src = img.get("src", "")
            new = self.renderer.resolve_image(src)
            if new is not None:
                img.set("src", new)


class _FencePreprocessor(Preprocessor):
    """Highlight fenced code with Pygments, keeping cloze markers intact."""

    def __init__(self, md: markdown.Markdown, renderer: Renderer) -> None:
        super().__init__(md)
        self.renderer = renderer

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        block: list[str] | None = None  # the code lines while inside a fence
        language, indent = "", 0
        for line in scan("\n".join(lines)):
            if line.kind == "open":
                match = FENCE_RE.match(line.text)
                assert match is not None
                words = match["info"].split()
                language = words[0].lstrip(".").lower() if words else ""
                indent, block = len(match["indent"]), []
            elif line.kind == "code" and block is not None:
                strip = min(indent, len(line.text) - len(line.text.lstrip(" ")))
                block.append(line.text[strip:])
            elif line.kind == "close" and block is not None:
                out.extend(self._stash(block, language))
                block = None
            else:
                out.append(line.text)
        if block is not None:  # an unclosed fence runs to the end of the card
            out.extend(self._stash(block, language))
        return out

    def _stash(self, block: list[str], language: str) -> list[str]:
        code = "".join(f"{line}\n" for line in block)
        return ["", self.md.htmlStash.store(highlight_code(code, language)), ""]


class _MathPreprocessor(Preprocessor):
    """Stash math so Markdown leaves its underscores and backslashes alone."""

    def run(self, lines: list[str]) -> list[str]:
        text = "\n".join(lines)
        if "$" not in text and "\\" not in text:
            return lines
        return _MATH_RE.sub(self._replace, text).split("\n")

    def _replace(self, match: re.Match[str]) -> str:
        if match["code"]:
            return match[0]
        if match["dollar"]:
            return "$"
        if match["display"] is not None or match["display2"] is not None:
            body = match["display"] if match["display"] is not None else match["display2"]
            return self.md.htmlStash.store(html.escape(f"\\[{body}\\]", quote=False))
        body = match["inline"] if match["inline"] is not None else match["inline2"]
        return self.md.htmlStash.store(html.escape(f"\\({body}\\)", quote=False))


class _CardsmithExtension(Extension):
    def __init__(self, renderer: Renderer) -> None:
        super().__init__()
        self.renderer = renderer

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Below normalize_whitespace (30), which strips the stash's placeholder markers,
        # and above html_block (20) and the inline patterns, which would mangle code and math.
        md.preprocessors.register(_FencePreprocessor(md, self.renderer), "cardsmith-fences", 28)
        md.preprocessors.register(_MathPreprocessor(md), "cardsmith-math", 27)
        md.treeprocessors.register(_ImageRewriter(md, self.renderer), "cardsmith-images", 0)


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
        return RenderedCard(card, front, back, tuple(dict.fromkeys(self._used)))

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

    def resolve_image(self, src: str) -> str | None:
        """The hashed media name for a local image, or None to leave src as it is."""
        card = self._card
        assert card is not None
        line = self._line_of(src)
        parsed = urlparse(src)
        if parsed.scheme in ("http", "https") or src.startswith("//"):
            self.report.warning(
                card.path, line, f"remote image is not packaged, shows only online: {src}"
            )
            return None
        if parsed.scheme or not parsed.path:
            self.report.error(card.path, line, f"image must be a file in the deck folder: {src}")
            return None
        relative = unquote(parsed.path)
        path = (card.path.parent / relative).resolve()
        if Path(relative).is_absolute() or not path.is_relative_to(self.root):
            self.report.error(card.path, line, f"image outside the deck folder: {src} (refused)")
            return None
        if not path.is_file():
            self.report.error(card.path, line, f"image not found: {src}")
            return None
        data = path.read_bytes()
        problem = _image_problem(data, path.suffix.lower())
        if problem:
            self.report.error(card.path, line, f"{src}: {problem}")
            return None
        name = self.media.add(data, path.suffix)
        self._used.append((name, path))
        return name


def sanitize(fragment: str) -> str:
    """Keep formatting HTML; drop scripts, styles, frames, event handlers, javascript: URLs."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=None,
    )


def _image_problem(data: bytes, suffix: str) -> str | None:
    """Why data is not the image its extension claims, or None."""
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
    converted = markdown.markdown(text, extensions=EXTENSIONS, output_format="html")
    return converted if allow_html else sanitize(converted)
