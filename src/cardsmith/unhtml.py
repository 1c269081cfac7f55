"""Anki field HTML -> cardsmith Markdown: the one module that uses markdownify.

`field_to_markdown` turns a field (an answer, or any field of a declared note type) into
Markdown that cardsmith renders back to the same content; for cardsmith's own output
(Pygments code, clozes, math, tables, lists, footnotes, callouts...) to the same bytes.
`question_to_markdown` gives one line for a card's `## ` heading.

markdownify (on BeautifulSoup) walks the tree and calls one `convert_<tag>` method per
element; the subclass below says how each element reads in cardsmith's Markdown. What
the renderer's text needs escaped is decided per character and context (`_escape`):
backslash escapes where Python-Markdown has them, character references (`&#126;`) where
it does not (the sanitizer writes both back as the same character), and nothing at all
where the text cannot be read as syntax. docs/importing.md ("What the HTML becomes") is
the user's side of this.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from bs4 import BeautifulSoup
from bs4.element import Comment, Doctype, NavigableString, PageElement, Tag
from markdownify import MarkdownConverter

from cardsmith.model import CLOZE_RE
from cardsmith.render import highlight_code

__all__ = ["field_to_markdown", "question_to_markdown"]

# Code languages tried, in order, to find the one whose highlighting equals a block's:
# Pygments' HTML keeps only token classes. Common languages of cards first.
_LANGUAGES = (
    "python", "pycon", "bash", "console", "toml", "json", "yaml", "ini", "sql", "javascript",
    "typescript", "html", "css", "xml", "c", "cpp", "java", "go", "rust", "ruby", "diff",
    "markdown", "kotlin", "swift", "csharp", "php", "r", "haskell", "lua", "perl", "scala",
    "powershell", "dockerfile", "make", "nginx", "text",
)  # fmt: skip
# Longer code is matched against fewer languages (each try highlights it once more).
_LONG_CODE = 20_000

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "details",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
# Inline tags the sanitizer keeps and Markdown has no syntax for: written as HTML.
_KEPT_INLINE = frozenset(
    [
        "u",
        "sub",
        "sup",
        "kbd",
        "small",
        "abbr",
        "ins",
        "q",
        "cite",
        "var",
        "samp",
        "ruby",
        "rt",
        "rp",
    ]
)
_SOUND_RE = re.compile(r"\[sound:([^\]\n]+)\]")
_MATH_RE = re.compile(r"\\\((?:(?!\\[()]).)+?\\\)|\\\[(?:(?!\\[\[\]]).)+?\\\]", re.DOTALL)
_CLOZE_OPEN_RE = re.compile(r"\{\{c\d+::")
_CLOZE_CLOSE_RE = re.compile(r"(?:::(?:(?!\{\{|\}\}).)*?)?\}\}", re.DOTALL)
# What the renderer would read as $math$ or $$math$$ (render.py's rule).
_DOLLAR_MATH_RE = re.compile(
    r"\$\$(?:(?!\$\$).)+?\$\$|\$[^\s$](?:[^$\n]*?[^\s$\\])?\$(?!\d)", re.DOTALL
)
_EMOJI_RE = re.compile(r":[+\-\w]+:")
_ENTITY_RE = re.compile(r"&(#\d+|#[xX][0-9a-fA-F]+|\w+);")
_LINE_START_RE = re.compile(
    r"#{1,6}(?=[ \t]|$)|>|[-+*](?=[ \t]|$)|=+[ \t]*$|[-*_](?:[ \t]*[-*_]){2,}[ \t]*$"
    r"|(?P<number>\d{1,9})(?P<delim>[.)])(?=[ \t]|$)",
    re.MULTILINE,
)
_TRAILING_ATTRS_RE = re.compile(r"\{[^{}]*\}\s*$")
# A placeholder for a hard line break while a block's text is built (never in input:
# control characters are taken out first).
_BREAK = "\x02"
_BODY = "cardsmith-body"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# A line made only of what a table's delimiter row is made of (its pipes are escaped);
# one character class, so matching stays linear on long lines.
_DELIMITER_ROW_RE = re.compile(r"^[ \t|:-]+$", re.MULTILINE)


@dataclass(frozen=True)
class _Field:
    """What escaping needs to know about the whole field: which characters occur in
    numbers that could pair up into syntax across elements."""

    pairs: frozenset[str]
    brackets: bool

    @staticmethod
    def of(text: str) -> _Field:
        pairs = frozenset(c for c in "*_~" if text.count(c) >= 2)
        if _DOLLAR_MATH_RE.search(text):
            pairs |= {"$"}
        if text.count("==") >= 2:
            pairs |= {"="}
        brackets = any(s in text for s in ("](", "][", "]:", "[^", "[[", "[ ]", "[x]", "[X]"))
        return _Field(pairs, brackets)


def field_to_markdown(html_text: str, *, media: Mapping[str, str] | None = None) -> str:
    """Markdown that cardsmith renders back to the same content as `html_text`."""
    soup = _parse(html_text)
    converter = _Converter(dict(media or {}), _Field.of(soup.get_text()), inline=False)
    try:
        _group_lines(soup)
        text = converter.convert_soup(soup)
    except RecursionError:  # nesting deeper than Python's stack: keep the text
        text = converter.escape_plain(soup.get_text(" "))
    return _finish_block(text)


def question_to_markdown(html_text: str, *, media: Mapping[str, str] | None = None) -> str:
    """One line of inline Markdown for a `## ` heading (no newlines, no `{`..`}` at the end).

    Line breaks and block boundaries (Anki's `<div>` lines, paragraphs, list items, table
    rows) become `<br>`, the one break a heading can hold; code blocks become inline code.
    """
    soup = _parse(html_text)
    converter = _Converter(dict(media or {}), _Field.of(soup.get_text()), inline=True)
    try:
        text = converter.convert_soup(soup)
    except RecursionError:
        text = converter.escape_plain(soup.get_text(" "))
    text = text.replace(_BREAK, "<br>")
    parts = [part.strip() for part in re.split(r"\s*<br>\s*", text.strip())]
    text = "<br>".join(part for part in parts if part)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^(?:<br>)+|(?:<br>)+$", "", text)
    if text.endswith("#"):
        text = text[:-1] + "\\#"
    return _break_attributes(text)


def _break_attributes(text: str) -> str:
    """A heading's text that ends like cardsmith's `{#id .marker}` (or a field section's
    `{.field}`), with the brace written as a character reference so it stays text (a
    backslash would not stop the heading parser)."""
    match = _TRAILING_ATTRS_RE.search(text)
    if match:
        text = text[: match.start()] + "&#123;" + text[match.start() + 1 :]
    return text


def _parse(html_text: str) -> BeautifulSoup:
    return BeautifulSoup(_CONTROL_RE.sub("", html_text), "html.parser")


def _finish_block(text: str) -> str:
    text = text.replace(_BREAK, "\\\n")
    lines = [line.rstrip(" \t") for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return text


def _is_blank(node: PageElement) -> bool:
    if isinstance(node, (Comment, Doctype)):
        return True
    if isinstance(node, NavigableString):
        return not node.strip()
    return isinstance(node, Tag) and node.name == "br"


def _has_block(tag: Tag) -> bool:
    return any(d.name in _BLOCK_TAGS for d in tag.find_all(True))


def _group_lines(soup: BeautifulSoup) -> None:
    """Anki's editor writes lines as `<div>`s and `<br>`s: make each run of such lines a
    paragraph whose lines are joined by breaks; an empty line starts a new paragraph."""
    holders: set[int] = set()  # ids of the elements that hold block elements
    for tag in soup.find_all(_BLOCK_TAGS):
        parent = tag.parent
        while parent is not None and id(parent) not in holders:
            holders.add(id(parent))
            parent = parent.parent

    def is_line(node: PageElement) -> bool:
        return isinstance(node, Tag) and node.name == "div" and id(node) not in holders

    containers = [soup, *soup.find_all(["div", "blockquote", "li", "details"])]
    for container in containers:
        if is_line(container):
            continue  # a line itself
        children = list(container.children)
        if not any(is_line(c) for c in children) and not (
            container is soup and any(_inline_content(c) for c in children)
        ):
            continue
        _regroup(soup, container, children, is_line)


def _inline_content(node: PageElement) -> bool:
    if isinstance(node, (Comment, Doctype)):
        return False
    if isinstance(node, NavigableString):
        return bool(node.strip())
    return isinstance(node, Tag) and node.name not in _BLOCK_TAGS and node.name != "br"


def _regroup(
    soup: BeautifulSoup,
    container: Tag,
    children: list[PageElement],
    is_line: Callable[[PageElement], bool],
) -> None:
    lines: list[list[PageElement]] = [[]]  # each line: its inline nodes
    paragraphs: list[tuple[str, object]] = []  # ("lines", [...]) or ("block", node)

    def end_paragraph() -> None:
        nonlocal lines
        kept = [line for line in lines if any(not _is_blank(n) for n in line)]
        if kept:
            paragraphs.append(("lines", kept))
        lines = [[]]

    for child in children:
        child.extract()
        if isinstance(child, Tag) and child.name == "br":
            if lines[-1] and any(not _is_blank(n) for n in lines[-1]):
                lines.append([])
            else:
                end_paragraph()
        elif isinstance(child, Tag) and is_line(child):
            inner = list(child.children)
            if not any(not _is_blank(n) for n in inner):
                end_paragraph()
                continue
            if lines[-1] and any(not _is_blank(n) for n in lines[-1]):
                lines.append([])
            current: list[PageElement] = []
            for node in inner:
                node.extract()
                if isinstance(node, Tag) and node.name == "br":
                    lines[-1].extend(current)
                    lines.append([])
                    current = []
                else:
                    current.append(node)
            lines[-1].extend(current)
            lines.append([])
        elif isinstance(child, Tag) and child.name in _BLOCK_TAGS:
            end_paragraph()
            paragraphs.append(("block", child))
        else:
            lines[-1].append(child)
    end_paragraph()
    alone = container.name == "li" and [kind for kind, _ in paragraphs].count("lines") == 1
    for kind, value in paragraphs:
        if kind == "block":
            assert isinstance(value, Tag)
            container.append(value)
            continue
        assert isinstance(value, list)
        # A list item's one paragraph stays bare: a <p> would make its list loose.
        paragraph = container if alone else soup.new_tag("p")
        for index, line in enumerate(value):
            if index:
                paragraph.append(soup.new_tag("br"))
            for node in line:
                paragraph.append(node)
        if paragraph is not container:
            container.append(paragraph)


class _Converter(MarkdownConverter):
    """markdownify, told how each element reads in cardsmith's Markdown."""

    def __init__(self, media: dict[str, str], field: _Field, inline: bool) -> None:
        super().__init__(
            escape_asterisks=False,
            escape_underscores=False,
            escape_misc=False,
            heading_style="atx",
            bullets="-",
            strong_em_symbol="*",
            autolinks=True,
        )
        self.media = media
        self.field = field
        self.inline = inline

    def process_tag(self, node: Tag, parent_tags: set[str] | None = None) -> str:
        # Elements converted from their own tree: their children need no pass of their own.
        if node.name in ("table", "details", "pre") or (
            node.name == "div" and ({"highlight", "footnote"} & set(node.get("class") or []))
        ):
            convert = self.get_conv_fn_cached(node.name)  # type: ignore[attr-defined]
            return str(convert(node, "", parent_tags or set()))
        return str(super().process_tag(node, parent_tags))  # type: ignore[misc]

    # -- text --------------------------------------------------------------------------

    def process_text(self, el: NavigableString, parent_tags: set[str] | None = None) -> str:
        parent_tags = parent_tags or set()
        text = str(el)
        if isinstance(el, (Comment, Doctype)):
            return ""
        if "pre" in parent_tags or "_noformat" in parent_tags:
            return text
        text = text.replace("\xa0", " ")
        previous, following = el.previous_sibling, el.next_sibling
        if _block_edge(previous) or (not previous and _block_parent(el)):
            text = text.lstrip(" \t\r\n")
        if _block_edge(following) or (not following and _block_parent(el)):
            text = text.rstrip(" \t\r\n")
        if isinstance(previous, Tag) and previous.name == "br":
            text = text.lstrip("\r\n")
        if self.inline or "_inline" in parent_tags:
            text = re.sub(r"\s*\n\s*", " ", text)
        text = re.sub(r"[ \t]+(?=\n)", "", text)
        if "\n" in text and _block_ancestor(el) == "li":
            text = _item_lines(text)
        line_start = _starts_line(el)
        return self.escape_text(text, parent_tags, line_start)

    def escape_plain(self, text: str) -> str:
        return self.escape_text(re.sub(r"\s+", " ", text).strip(), set(), True)

    def escape_text(self, text: str, parent_tags: set[str], line_start: bool) -> str:
        """text as Markdown that renders as this very text (math, clozes and sound tags
        keep their meaning)."""
        out: list[str] = []
        position = 0
        in_table = "td" in parent_tags or "th" in parent_tags
        for match in _special_spans(text, self._media_path):
            out.append(
                self._escape(text[position : match[0]], in_table, line_start and position == 0)
            )
            out.append(match[2])
            position = match[1]
        out.append(self._escape(text[position:], in_table, line_start and position == 0))
        return "".join(out)

    def _escape(self, text: str, in_table: bool, line_start: bool) -> str:
        if not text:
            return ""
        field = self.field
        out: list[str] = []
        length = len(text)
        at_line = line_start
        # Pipes on a line of only pipes, dashes and colons: such a line could be read as
        # a table's delimiter row, turning the lines around it into a table.
        delimiter_pipes = {
            row.start() + offset
            for row in (_DELIMITER_ROW_RE.finditer(text) if "|" in text else ())
            for offset, mark in enumerate(row[0])
            if mark == "|"
        }
        index = 0
        while index < length:
            char = text[index]
            before = text[index - 1] if index else ""
            after = text[index + 1] if index + 1 < length else ""
            if at_line and not char.isspace():
                at_line = False
                escaped, used = _line_start(text, index)
                if used:
                    out.append(escaped)
                    index += used
                    continue
            index += 1
            if char == "\n":
                at_line = True
                out.append(char)
            elif char == "\\":
                plain = after and (after.isalnum() or after in " \t")
                out.append("\\" if plain else "\\\\")
            elif char == "`":
                out.append("\\`")
            elif char in "*_":
                intraword = before.isalnum() and after.isalnum()
                # (an element's edge counts as a letter: what is beyond it is unknown)
                spaced = before.isspace() and after.isspace()
                if char in field.pairs and not spaced and not (char == "_" and intraword):
                    out.append("\\" + char)
                else:
                    out.append(char)
            elif char == "~":
                out.append("&#126;" if "~" in field.pairs else char)
            elif char == "=":
                out.append("&#61;" if "=" in field.pairs and "=" in (before, after) else char)
            elif char == "$":
                out.append("\\$" if "$" in field.pairs else char)
            elif char == "[":
                out.append("\\[" if field.brackets else char)
            elif char == "|":
                out.append("\\|" if in_table or index - 1 in delimiter_pipes else char)
            elif char == "<":
                out.append("&lt;" if re.match(r"[A-Za-z/!?]", after) else char)
            elif char == "&":
                out.append("&amp;" if _ENTITY_RE.match(text, index - 1) else char)
            elif char == ":" and _EMOJI_RE.match(text, index - 1):
                out.append("&#58;")
            else:
                out.append(char)
        return "".join(out)

    # -- inline elements ---------------------------------------------------------------

    def convert_br(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags and not self.inline:
            return "<br>"  # a table cell: Markdown has no break there
        return _BREAK

    def convert_code(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "pre" in parent_tags:
            return text
        code = el.get_text()
        if "\n" in code and (self.inline or "_inline" in parent_tags):
            code = re.sub(r"\s*\n\s*", " ", code)
        elif "\n" in code and _block_ancestor(el) == "li":
            code = _item_lines(code)
        if not code:
            return ""
        if "td" in parent_tags or "th" in parent_tags:
            code = code.replace("|", "\\|")
        longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
        ticks = "`" * (longest + 1)
        if longest:
            code = f" {code} "
        return f"{ticks}{code}{ticks}"

    def _inline(self, el: Tag, text: str, mark: str, parent_tags: set[str]) -> str:
        if "_noformat" in parent_tags:
            return text
        if mark[0] == "*" and _touches_emphasis(el):
            mark = "_" * len(mark)  # `*a***b**` would not read as two; `*a*__b__` does
        stripped = text.strip(" \t\n")
        if not stripped:
            return text
        prefix = text[: len(text) - len(text.lstrip(" \t\n"))]
        suffix = text[len(text.rstrip(" \t\n")) :]
        return f"{prefix}{mark}{stripped}{mark}{suffix}"

    def convert_em(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._inline(el, text, "*", parent_tags)

    def convert_strong(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._inline(el, text, "**", parent_tags)

    def convert_del(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._inline(el, text, "~~", parent_tags)

    def convert_mark(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._inline(el, text, "==", parent_tags)

    convert_i = convert_em
    convert_b = convert_strong
    convert_s = convert_del
    convert_strike = convert_del

    def convert_span(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text  # styles and colours: the sanitizer would drop them

    convert_font = convert_span

    def convert_a(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        href = str(el.get("href") or "")
        classes: list[str] = list(el.get("class") or [])
        if "footnote-backref" in classes:
            return ""
        if "footnote-ref" in classes and href.startswith("#fn:"):
            return f"[^{href[4:]}]"
        if not text.strip():
            return text
        if not href:
            return text
        title = str(el.get("title") or "")
        label = el.get_text()
        if not title and label == href and re.match(r"(?:https?|ftp)://\S+\Z|mailto:", href):
            return f"<{href}>" if not href.startswith("mailto:") else f"<{href[7:]}>"
        title_part = ' "{}"'.format(title.replace('"', '\\"')) if title else ""
        return f"[{text}]({_destination(href)}{title_part})"

    def convert_sup(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        link = el.find("a", class_="footnote-ref")
        if link is not None and len(el.contents) == 1:
            return text
        return self._kept_inline(el, text)

    def convert_img(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        src = self._media_path(str(el.get("src") or ""))
        alt = str(el.get("alt") or "")
        width = str(el.get("width") or "")
        if width.isdigit():
            return f"![[{src}|{width}]]"
        title = str(el.get("title") or "")
        title_part = ' "{}"'.format(title.replace('"', '\\"')) if title else ""
        alt = alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return f"![{alt}]({_destination(src)}{title_part})"

    def convert_input(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if el.get("type") == "checkbox" and "li" in parent_tags:
            return "[x]" if el.has_attr("checked") else "[ ]"
        return ""

    def _kept_inline(self, el: Tag, text: str) -> str:
        attrs = "".join(
            f' {name}="{html.escape(str(value), quote=True)}"'
            for name, value in el.attrs.items()
            if name in ("title", "lang", "dir")
        )
        return f"<{el.name}{attrs}>{text}</{el.name}>"

    def _media_path(self, src: str) -> str:
        for name in (src, unquote(src), html.unescape(src)):
            if name in self.media:
                return self.media[name]
        return src

    def get_conv_fn(self, tag_name: str) -> object:
        if tag_name in _KEPT_INLINE and tag_name != "sup":
            return lambda el, text, parent_tags: self._kept_inline(el, text)
        found = super().get_conv_fn(tag_name)  # type: ignore[misc]
        if found is None and tag_name not in ("[document]",):
            return lambda el, text, parent_tags: text
        return found

    # -- blocks ------------------------------------------------------------------------

    def convert_p(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if self.inline or "_inline" in parent_tags:
            return f"{_BREAK}{text.strip()}{_BREAK}"
        text = text.strip(" \t\n")
        return f"\n\n{text}\n\n" if text else ""

    def convert_div(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        classes: list[str] = list(el.get("class") or [])
        if "highlight" in classes and el.find("pre") is not None:
            return self._code_block(el, parent_tags)
        if "footnote" in classes:
            return self._footnotes(el, parent_tags)
        return self.convert_p(el, text, parent_tags)

    convert_section = convert_div
    convert_article = convert_div

    def convert_pre(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        code = el.get_text()
        language = ""
        inner = el.find("code")
        if isinstance(inner, Tag):
            for cls in inner.get("class") or []:
                if cls.startswith("language-"):
                    language = cls[len("language-") :]
        if (
            not language
            and isinstance(inner, Tag)
            and not self.inline
            and _block_ancestor(el) == "[document]"
            and code.strip()
        ):
            # What an indented block renders to (cardsmith highlights fences only).
            code = code[:-1] if code.endswith("\n") else code
            indented = "\n".join(f"    {line}" if line else "" for line in code.split("\n"))
            return f"\n\n{indented}\n\n"
        return self._fence(el, code, language, parent_tags)

    def _code_block(self, el: Tag, parent_tags: set[str]) -> str:
        code_el = el.find("code")
        if not isinstance(code_el, Tag):
            return self._fence(el, el.get_text(), "", parent_tags)
        code = code_el.get_text()
        return self._fence(el, code, _language_of(code_el, code), parent_tags)

    def _fence(self, el: Tag, code: str, language: str, parent_tags: set[str]) -> str:
        if self.inline or "_inline" in parent_tags:
            lines = [line for line in code.split("\n") if line.strip()]
            return _BREAK.join(self.convert_code(_text_tag(line), "", set()) for line in lines)
        if code.endswith("\n"):
            code = code[:-1]
        runs = re.findall(r"^[ \t]*(`{3,}|~{3,})", code, re.MULTILINE)
        ticks = max((len(run) for run in runs if run[0] == "`"), default=2) + 1
        fence = "`" * ticks
        if _in_tight_item(el):
            # The fence follows its text line directly, as written.
            return f"\n{fence}{language}\n{code}\n{fence}\n"
        return f"\n\n{fence}{language}\n{code}\n{fence}\n\n"

    def _footnotes(self, el: Tag, parent_tags: set[str]) -> str:
        notes: list[str] = []
        listing = el.find("ol")
        if not isinstance(listing, Tag):
            return ""
        for number, item in enumerate(listing.find_all("li", recursive=False), start=1):
            back = item.find("a", class_="footnote-backref")
            label = str(number)
            if isinstance(back, Tag) and str(back.get("href", "")).startswith("#fnref:"):
                label = str(back["href"])[len("#fnref:") :]
            body = self._children(item, parent_tags)
            body = body.rstrip()
            lines = body.split("\n")
            indented = "\n".join(("    " + line) if line else "" for line in lines[1:])
            notes.append(f"[^{label}]: {lines[0]}" + (f"\n{indented}" if indented else ""))
        return "\n\n" + "\n".join(notes) + "\n\n"

    def convert_li(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if self.inline:
            return f"{_BREAK}{text.strip()}{_BREAK}"
        text = _finish_inner(text)
        parent = el.parent
        if parent is not None and parent.name == "ol":
            start = str(parent.get("start") or "1")
            first = int(start) if start.isdigit() else 1
            number = first + len(el.find_previous_siblings("li"))
            marker = f"{number}. "
        else:
            marker = "- "
        indent = " " * len(marker)
        lines = text.split("\n")
        body = "\n".join([lines[0]] + [(indent + line) if line else "" for line in lines[1:]])
        return f"{marker}{body}".rstrip() + "\n"

    def convert_list(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if self.inline:
            return text
        loose = any(
            isinstance(child, Tag) and child.name == "p"
            for item in el.find_all("li", recursive=False)
            for child in item.children
        )
        if loose:
            text = re.sub(r"\n(?=(?:- |\d+\. ))", "\n\n", text.strip("\n"))
        if "li" in parent_tags:
            return "\n" + text.strip("\n") + "\n"
        return "\n\n" + text.strip("\n") + "\n\n"

    convert_ul = convert_list
    convert_ol = convert_list

    def convert_blockquote(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if self.inline:
            return text
        text = _finish_inner(text)
        classes: list[str] = list(el.get("class") or [])
        kind = next((c[len("callout-") :] for c in classes if c.startswith("callout-")), None)
        if "callout" in classes and kind:
            title_el = el.find("p", class_="callout-title")
            title = title_el.get_text() if isinstance(title_el, Tag) else ""
            if text.startswith("**"):
                text = text.split("\n", 1)[1].lstrip("\n") if "\n" in text else ""
            default = kind.replace("-", " ").capitalize()
            head = f"[!{kind.upper()}]" if title == default else f"[!{kind}] {title}"
            text = head + ("\n" + text if text else "")
        quoted = "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))
        if _in_tight_item(el):
            # No blank line around the quote (it would make the list loose); an empty `>`
            # line ends it when the item goes on after it.
            more = any(isinstance(after, Tag) or str(after).strip() for after in el.next_siblings)
            return f"\n{quoted}\n>\n" if more else f"\n{quoted}\n"
        return f"\n\n{quoted}\n\n"

    def convert_hN(self, n: int, el: Tag, text: str, parent_tags: set[str]) -> str:
        if self.inline or "_inline" in parent_tags:
            return f"{_BREAK}{text.strip()}{_BREAK}"
        text = re.sub(r"\s+", " ", text.replace(_BREAK, " ")).strip()
        if n == 2:  # `## ` starts a card
            return f"\n\n<h2>{el.decode_contents()}</h2>\n\n"
        if text.endswith("#"):
            text = text[:-1] + "\\#"
        text = _break_attributes(text)
        return f"\n\n{'#' * max(1, min(6, n))} {text}\n\n"

    def convert_hr(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return _BREAK if self.inline else "\n\n---\n\n"

    def convert_table(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if self.inline:
            lines = [
                " ".join(self._cell(cell) for cell in row.find_all(["td", "th"]))
                for row in el.find_all("tr")
            ]
            return _BREAK + _BREAK.join(lines) + _BREAK
        rows = [row for row in el.find_all("tr") if row.find_parent("table") is el]
        if not rows:
            return ""
        head = rows[0]
        head_cells = head.find_all(["td", "th"], recursive=False)
        is_head = (head.parent is not None and head.parent.name == "thead") or all(
            cell.name == "th" for cell in head_cells
        )
        spans = any(
            cell.get("colspan") or cell.get("rowspan") for cell in el.find_all(["td", "th"])
        )
        nested = el.find("table") is not None
        if not is_head or spans or nested or _has_cell_blocks(el):
            return f"\n\n{_raw_table(el, self)}\n\n"
        out: list[str] = []
        width = len(head_cells)
        for index, row in enumerate(rows):
            cells = [self._cell(cell) for cell in row.find_all(["td", "th"], recursive=False)]
            cells += [""] * (width - len(cells))
            out.append("| " + " | ".join(cells[:width]) + " |")
            if index == 0:
                aligns = []
                for cell in head_cells:
                    align = str(cell.get("align") or "")
                    aligns.append(
                        {"left": ":--", "center": ":-:", "right": "--:"}.get(align, "---")
                    )
                out.append("|" + "|".join(aligns) + "|")
        return "\n\n" + "\n".join(out) + "\n\n"

    def _cell(self, cell: Tag) -> str:
        text = self.process_tag(cell, parent_tags={"table", "tr", "_inline"})
        text = text.replace(_BREAK, "<br>").replace("\n", " ").strip()
        return text

    def convert_td(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text

    convert_th = convert_td

    def convert_tr(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return _BREAK + text if self.inline else text

    def convert_details(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if self.inline:
            return _BREAK + self._children(el, parent_tags) + _BREAK
        summary = el.find("summary", recursive=False)
        summary_html = summary.decode_contents() if isinstance(summary, Tag) else ""
        if isinstance(summary, Tag):
            summary.extract()
        body = self._children(el, parent_tags)
        return f"\n\n<details>\n<summary>{summary_html}</summary>\n\n{body}\n\n</details>\n\n"

    def _children(self, el: Tag, parent_tags: set[str]) -> str:
        """The Markdown of el's content (without el's own conversion)."""
        name = el.name
        el.name = _BODY
        try:
            text = self.process_tag(el, parent_tags=parent_tags | {"div"})
        finally:
            el.name = name
        return _finish_block(text)

    def convert_summary(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text

    def convert__document_(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text


def _block_ancestor(node: PageElement) -> str:
    for parent in node.parents:
        if parent.name in _BLOCK_TAGS or parent.name == "[document]":
            return str(parent.name)
    return ""


def _item_lines(text: str) -> str:
    """A tight list item's HTML has its continuation lines 4 spaces in (Python-Markdown's
    indent): the Markdown line holds what is beyond that (the item's indent is added)."""
    return re.sub(r"\n[ \t]*", lambda m: "\n" + m[0][5:], text)


def _touches_emphasis(el: Tag) -> bool:
    """Whether el directly follows another emphasis element (no text between)."""
    previous = el.previous_sibling
    return isinstance(previous, Tag) and previous.name in ("em", "i", "strong", "b")


def _finish_inner(text: str) -> str:
    text = text.replace(_BREAK, "\\\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _text_tag(text: str) -> Tag:
    tag = BeautifulSoup("", "html.parser").new_tag("code")
    tag.string = text
    return tag


def _destination(url: str) -> str:
    if re.search(r"[\s<>()]", url):
        if "<" in url or ">" in url or "\n" in url:
            return quote(url, safe="/:?#&=%@!$'*+,;~")
        return f"<{url}>"
    return url


def _block_edge(node: PageElement | None) -> bool:
    return isinstance(node, Tag) and (node.name in _BLOCK_TAGS or node.name == "br")


def _block_parent(node: PageElement) -> bool:
    parent = node.parent
    return parent is None or parent.name in _BLOCK_TAGS or parent.name == "[document]"


def _starts_line(el: NavigableString) -> bool:
    """Whether text el begins a Markdown line (so `#`, `-`, `1.` there would be syntax)."""
    node: PageElement = el
    while True:
        previous = node.previous_sibling
        while (
            previous is not None
            and _is_blank(previous)
            and not (isinstance(previous, Tag) and previous.name == "br")
        ):
            previous = previous.previous_sibling
        if previous is not None:
            return isinstance(previous, Tag) and (
                previous.name in _BLOCK_TAGS or previous.name == "br"
            )
        parent = node.parent
        if parent is None or parent.name in _BLOCK_TAGS or parent.name == "[document]":
            return True
        node = parent


def _line_start(text: str, index: int) -> tuple[str, int]:
    """A line's first characters escaped when they would start a block: (text, length
    used), or ("", 0) when they are plain text."""
    match = _LINE_START_RE.match(text, index)
    if not match:
        return "", 0
    if match["number"]:
        return f"{match['number']}\\{match['delim']}", match.end()
    char = text[index]
    if char == "=":
        return "&#61;", 1
    return "\\" + char, 1


def _special_spans(text: str, media_path: Callable[[str], str]) -> list[tuple[int, int, str]]:
    """Spans of text kept as they are (math; cloze markers, whose hint is raw text) or
    rewritten (Anki's sound tags, as Markdown media): (start, end, Markdown)."""
    found: list[tuple[int, int, str]] = []
    for match in _MATH_RE.finditer(text):
        found.append((match.start(), match.end(), match[0]))
    for match in _SOUND_RE.finditer(text):
        found.append((match.start(), match.end(), f"![]({_destination(media_path(match[1]))})"))
    whole: list[tuple[int, int]] = []
    for match in CLOZE_RE.finditer(text):
        whole.append((match.start(), match.end()))
        found.append(
            (match.start(), match.start("answer"), text[: match.start("answer")][match.start() :])
        )
        found.append((match.end("answer"), match.end(), text[match.end("answer") : match.end()]))
    # Markers whose other half is in another element (the answer holds markup).
    lone = [
        match
        for match in _CLOZE_OPEN_RE.finditer(text)
        if not any(start <= match.start() < end for start, end in whole)
    ]
    for match in lone:
        found.append((match.start(), match.end(), match[0]))
    before = lone[0].start() if lone else len(text)
    close = _CLOZE_CLOSE_RE.search(text, 0, before)
    if close and not any(start <= close.start() < end for start, end in whole):
        found.append((close.start(), close.end(), close[0]))
    found.sort()
    spans: list[tuple[int, int, str]] = []
    position = 0
    for start, end, value in found:
        if start >= position:
            spans.append((start, end, value))
            position = end
    return spans


def _in_tight_item(el: Tag) -> bool:
    """Is el a block directly inside an item of a tight list (no <p> in the item)?"""
    item = el.parent
    return item is not None and item.name == "li" and not item.find("p", recursive=False)


def _language_of(code_el: Tag, code: str) -> str:
    """The fence language whose Pygments HTML is this block's (its token classes)."""
    want = _tokens(code_el)
    if not any(cls for cls, _ in want):
        return ""
    candidates = _LANGUAGES if len(code) < _LONG_CODE else _LANGUAGES[:4]
    for language in candidates:
        html_text = highlight_code(code, language)
        other = BeautifulSoup(html_text, "html.parser").find("code")
        if isinstance(other, Tag) and _tokens(other) == want:
            return language
    return "python"


def _tokens(code_el: Tag) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for node in code_el.descendants:
        if isinstance(node, NavigableString):
            parent = node.parent
            cls = " ".join(parent.get("class") or []) if isinstance(parent, Tag) else ""
            out.append((cls if parent is not code_el else "", str(node)))
    return out


def _has_cell_blocks(table: Tag) -> bool:
    return any(_has_block(cell) for cell in table.find_all(["td", "th"]))


def _raw_table(table: Tag, converter: _Converter) -> str:
    """A table Markdown cannot say (no header row, spans, blocks in cells) as HTML."""
    for img in table.find_all("img"):
        img["src"] = converter._media_path(str(img.get("src") or ""))
    for tag in table.find_all(True):
        for name in [n for n in tag.attrs if n in ("style", "class", "id", "width", "height")]:
            del tag[name]
    return str(table).replace("\n", "")
