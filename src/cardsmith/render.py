"""Markdown to card HTML: the one module that configures Python-Markdown and Pygments."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import Token
from pygments.util import ClassNotFound

from cardsmith.diagnostics import Report
from cardsmith.model import Card

LIGHT_STYLE = "xcode"
NIGHT_STYLE = "monokai"
CODE_CLASS = "highlight"
NIGHT_SELECTORS = (".nightMode", ".night_mode")

EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists"]
EXTENSION_CONFIGS: dict[str, dict[str, object]] = {
    "codehilite": {
        "css_class": CODE_CLASS,
        "guess_lang": False,
        "use_pygments": True,
        "noclasses": False,
        "wrapcode": True,
    },
}


@dataclass(frozen=True)
class RenderedCard:
    """A card's HTML and the media files it references."""

    card: Card
    front: str
    back: str
    media: tuple[str, ...]


@dataclass
class MediaStore:
    """Media named by content hash: Anki's media folder is flat and shared by every deck."""

    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, data: bytes, suffix: str) -> str:
        name = f"cs-{hashlib.sha256(data).hexdigest()[:24]}{suffix.lower()}"
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


class _CardsmithExtension(Extension):
    def __init__(self, renderer: Renderer) -> None:
        super().__init__()
        self.renderer = renderer

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_ImageRewriter(md, self.renderer), "cardsmith-images", 0)


class Renderer:
    """Renders cards with one configured Markdown instance; not thread-safe."""

    def __init__(self, media: MediaStore, report: Report) -> None:
        self.media = media
        self.report = report
        self._md = markdown.Markdown(
            extensions=[*EXTENSIONS, _CardsmithExtension(self)],
            extension_configs=EXTENSION_CONFIGS,
            output_format="html",
        )
        self._card: Card | None = None
        self._text = ""
        self._first_line = 1
        self._used: list[str] = []

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
        front = self._convert(card.question, card.line)
        if front.startswith("<p>") and front.endswith("</p>") and front.count("<p>") == 1:
            front = front[3:-4]
        back = self._convert(card.answer, card.answer_line)
        return RenderedCard(card, front, back, tuple(dict.fromkeys(self._used)))

    def _convert(self, text: str, first_line: int) -> str:
        self._text, self._first_line = text, first_line
        self._md.reset()
        return self._md.convert(text)

    def _line_of(self, needle: str) -> int:
        index = self._text.find(needle)
        return (
            self._first_line + self._text.count("\n", 0, index) if index >= 0 else self._first_line
        )

    def resolve_image(self, src: str) -> str | None:
        """The hashed media name for a local image, or None to leave src as it is."""
        assert self._card is not None
        parsed = urlparse(src)
        if parsed.scheme or src.startswith("//") or not src:
            return None
        path = self._card.path.parent / unquote(parsed.path)
        if not path.is_file():
            self.report.error(self._card.path, self._line_of(src), f"image not found: {src}")
            return None
        name = self.media.add(path.read_bytes(), path.suffix)
        self._used.append(name)
        return name


def _known_language(name: str) -> bool:
    try:
        get_lexer_by_name(name)
    except ClassNotFound:
        return False
    return True


def code_css() -> str:
    """Pygments CSS for code blocks: a light style, and a dark one under Anki's night classes."""
    light = HtmlFormatter(style=LIGHT_STYLE, cssclass=CODE_CLASS)
    night = HtmlFormatter(style=NIGHT_STYLE, cssclass=CODE_CLASS)
    night_prefixes = [f"{cls} .{CODE_CLASS}" for cls in NIGHT_SELECTORS]
    light_fg = _base_color(LIGHT_STYLE, "#000000")
    night_fg = _base_color(NIGHT_STYLE, "#f8f8f2")
    parts = [
        f".{CODE_CLASS} {{ background: {light.style.background_color}; color: {light_fg}; }}",
        light.get_style_defs(f".{CODE_CLASS}"),  # type: ignore[no-untyped-call]
        ", ".join(night_prefixes)
        + f" {{ background: {night.style.background_color}; color: {night_fg}; }}",
        night.get_style_defs(night_prefixes),  # type: ignore[no-untyped-call]
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
