"""Compare cardsmith's card HTML with a CommonMark/GFM reference, structurally.

The reference is cmark-gfm (GitHub's renderer, through cmarkgfm). Both sides are parsed
into a tree and normalized so that only what a reader sees as structure counts: Pygments'
token spans and wrapper, `<wbr>` break hints, class and id names, `<s>` vs `<del>`, URL
percent-encoding and whitespace that HTML collapses anyway are ignored; tags, nesting,
text, link targets, image sources, list starts, table alignment and task-box states are
compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import cmarkgfm
from cmarkgfm.cmark import Options

from cardsmith.diagnostics import Report
from cardsmith.model import Card
from cardsmith.render import MediaStore, Renderer

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT.parent / "shared" / "markdown-spec"
if not SPEC_DIR.is_dir():  # a worktree beside the main checkout
    SPEC_DIR = Path("/work/shared/markdown-spec")

_GFM_OPTIONS = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_FOOTNOTES

BLOCK_TAGS = {
    "address", "blockquote", "details", "div", "dl", "dd", "dt", "figure", "footnotes",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p", "pre", "section", "summary",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
VOID_TAGS = {"br", "hr", "img", "input", "col", "wbr"}
KEPT_ATTRIBUTES = {"href", "src", "alt", "title", "start", "align", "checked"}
RENAMED = {"s": "del", "strike": "del", "section": "footnotes"}
UNWRAPPED = {"span", "tbody"}

Node = tuple[str, tuple[tuple[str, str], ...], tuple["Node | str", ...]]


@dataclass
class _Element:
    tag: str
    attrs: list[tuple[str, str]]
    children: list[_Element | str]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("root", [], [])
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = _Element(tag, [(k, v or "") for k, v in attrs], [])
        self.stack[-1].children.append(element)
        if tag not in VOID_TAGS:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Element(tag, [(k, v or "") for k, v in attrs], []))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _normalize(element: _Element, in_pre: bool) -> list[Node | str]:
    out: list[Node | str] = []
    for child in element.children:
        if isinstance(child, str):
            out.append(child)
            continue
        tag = RENAMED.get(child.tag, child.tag)
        if tag == "wbr":
            continue  # a line-break opportunity in long inline code: no text, no structure
        classes = dict(child.attrs).get("class", "").split()
        if tag == "div" and ("highlight" in classes or "codehilite" in classes):
            out.extend(_normalize(child, in_pre))  # Pygments' wrapper around <pre>
            continue
        if tag == "div" and "footnote" in classes:
            tag = "footnotes"
        inner = _normalize(child, in_pre or tag == "pre")
        if tag in UNWRAPPED:
            out.extend(inner)
            continue
        if tag == "footnotes":
            inner = [c for c in inner if not (isinstance(c, tuple) and c[0] == "hr")]
        if tag == "a" and "footnote-backref" in classes:
            continue  # the ↩ back-link of a footnote: decoration
        attrs = []
        for name, value in child.attrs:
            if name not in KEPT_ATTRIBUTES:
                continue
            if name in ("href", "src"):
                value = "#" if value.startswith("#") else unquote(value)
            if name == "checked":
                value = ""
            attrs.append((name, value))
        if tag == "input" and not any(n == "checked" for n, _ in attrs):
            attrs.append(("checked", "no"))
        out.append((tag, tuple(sorted(attrs)), tuple(_merge(inner, tag, in_pre))))
    return out


def _merge(children: list[Node | str], tag: str, in_pre: bool) -> list[Node | str]:
    """Join adjacent text, collapse whitespace (outside <pre>), drop it around blocks."""
    merged: list[Node | str] = []
    for child in children:
        if isinstance(child, str) and merged and isinstance(merged[-1], str):
            merged[-1] += child
        else:
            merged.append(child)
    if in_pre or tag == "pre":
        result = [c for c in merged if c != ""]
        if result and isinstance(result[-1], str):
            text = result[-1].rstrip("\n")
            if text:
                result[-1] = text + "\n"
            else:
                result.pop()
        return result
    cleaned: list[Node | str] = []
    for index, child in enumerate(merged):
        if not isinstance(child, str):
            cleaned.append(child)
            continue
        text = re.sub(r"[ \t\n\r\f\xa0]+", " ", child)
        before = merged[index - 1] if index else None
        after = merged[index + 1] if index + 1 < len(merged) else None
        if before is None or _breaks(before):
            text = text.lstrip(" ")
        if after is None or _breaks(after):
            text = text.rstrip(" ")
        if text:
            cleaned.append(text)
    return cleaned


def _breaks(node: Node | str) -> bool:
    return not isinstance(node, str) and (node[0] in BLOCK_TAGS or node[0] == "br")


def normalize(fragment: str) -> tuple[Node | str, ...]:
    """The structure of an HTML fragment, as nested (tag, attributes, children) tuples."""
    builder = _TreeBuilder()
    builder.feed(fragment)
    builder.close()
    return tuple(_merge(_normalize(builder.root, False), "root", False))


def block_skeleton(tree: tuple[Node | str, ...]) -> tuple[object, ...]:
    """Only the block elements of a normalized tree, and whether text sits in them."""
    out: list[object] = []
    for node in tree:
        if isinstance(node, str):
            if not out or out[-1] != "text":
                out.append("text")
        elif node[0] in BLOCK_TAGS:
            out.append((node[0], block_skeleton(node[2])))
        elif not out or out[-1] != "text":
            out.append("text")
    return tuple(out)


def reference_html(markdown: str) -> str:
    """What GitHub shows for markdown (cmark-gfm with its extensions)."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=_GFM_OPTIONS)


def commonmark_html(markdown: str) -> str:
    """Plain CommonMark, no extensions (for the spec's own examples)."""
    return cmarkgfm.markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


class CardRenderer:
    """Renders Markdown as the answer of one card, as a build would."""

    def __init__(self, root: Path, allow_html: bool = True) -> None:
        self.root = root
        self.report = Report()
        self.renderer = Renderer(MediaStore(), self.report, root, allow_html=allow_html)

    def __call__(self, markdown: str) -> str:
        card = Card(
            path=self.root / "card.md",
            line=1,
            question="Q",
            explicit_id=None,
            answer=markdown,
            answer_line=2,
            code_blocks=(),
        )
        return self.renderer.render(card).back


@dataclass(frozen=True)
class SpecExample:
    section: str
    number: int
    markdown: str
    html: str


def spec_examples(path: Path) -> list[SpecExample]:
    """The examples of a CommonMark-style spec file, with the section each sits in."""
    examples: list[SpecExample] = []
    section = ""
    fence = "`" * 32
    lines = path.read_text(encoding="utf-8").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith(f"{fence} example"):
            body: list[str] = []
            index += 1
            while lines[index] != fence:
                body.append(lines[index])
                index += 1
            dot = body.index(".")
            markdown = "\n".join(body[:dot]) + "\n" if dot else ""
            expected = "\n".join(body[dot + 1 :]) + "\n" if dot + 1 < len(body) else ""
            examples.append(
                SpecExample(
                    section,
                    len(examples) + 1,
                    markdown.replace("→", "\t"),
                    expected.replace("→", "\t"),
                )
            )
        elif re.match(r"#{1,2} ", line):
            section = line.lstrip("#").strip()
        index += 1
    return examples


def same_structure(ours: str, reference: str) -> bool:
    return normalize(ours) == normalize(reference)
