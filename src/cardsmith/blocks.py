"""CommonMark's block structure, restated in the form Python-Markdown reads.

Python-Markdown nests list content by 4 spaces, wants a blank line before a list, a fence
or a table that follows a paragraph, and knows neither `1)` lists nor lazy fences that a
container ends. GitHub (cmark-gfm) follows CommonMark: an item's content sits under its
text (2 spaces after `- `, 3 after `1. `), a list may interrupt a paragraph, and a list is
loose (items in paragraphs) when a blank line separates its items or the blocks inside one.

`normalize_blocks` walks the lines once, tracking block quotes, list items and fences as
CommonMark does, and writes each line back with the prefix Python-Markdown expects: `> `
per quote, 4 spaces per list item, a canonical marker on an item's first line, blank lines
where a block interrupts a paragraph or Python-Markdown would run two blocks together, a
closing fence where a container or the card ends an open one, a fence's info reduced to its
language, `markdown="1"` on a `<details>` or `<div>` whose HTML block a blank line ends
(GitHub renders the Markdown after it), and blank lines between the items of a loose list.
Where Python-Markdown cannot be told in text, two markers ask the renderer's tree step for
help: SEPARATOR (a paragraph to drop, keeping apart two lists or quotes Python-Markdown would
join) and TIGHT (a tight list whose items lost their <p> to added blank lines). The words
of the text are never changed.

Fences are read with parse.FENCE_RE, the one fence definition the card splitter uses too;
pymdownx.superfences then finds the fences in the normalized text and highlights them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from cardsmith.parse import FENCE_RE

_QUOTE_RE = re.compile(r" {0,3}> ?")
_ITEM_RE = re.compile(
    r"(?P<indent> {0,3})(?:(?P<bullet>[-+*])|(?P<number>\d{1,9})(?P<delim>[.)]))(?= |$)"
)
_BREAK_RE = re.compile(r" {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_HEADING_RE = re.compile(r" {0,3}#{1,6}(?: |$)")
# Matched against a stripped line: no whitespace runs to backtrack over at either end.
_TABLE_DELIMITER_RE = re.compile(r"\|?[ \t]*:?-+:?(?:[ \t]*\|[ \t]*:?-+:?)*[ \t]*\|?")
# The first characters of a quote marker or a list item.
_CONTAINER_STARTS = frozenset(">-+*0123456789")
# The first characters of lines that may be more than paragraph text.
_BLOCK_STARTS = frozenset("-+*>0123456789`~<|_#:=")
# Lines that may start a container, a fence, a table or an HTML block: without any, the
# text is already in Python-Markdown's form.
_WORK_RE = re.compile(r"^ *(?:[-+*>|<`~]|\d{1,9}[.)])", re.MULTILINE)
_LANGUAGE_RE = re.compile(r"[\w#+.-]+")
_HTML_OPEN_RE = re.compile(r" {0,3}<(?P<tag>details|div)(?P<attrs>(?:\s[^>]*)?)>", re.IGNORECASE)


# A paragraph the renderer removes again: it keeps apart blocks Python-Markdown would join.
SEPARATOR = "cardsmith-separator-5d1e"
# Starts the first item of a tight list that needed added blank lines: the renderer takes
# the paragraphs Python-Markdown then puts in its items out again.
TIGHT = "cardsmith-tight-5d1e "
# The first paragraph of an item whose first block is a fence: the renderer removes it.
EMPTY_ITEM = "cardsmith-empty-5d1e"


@dataclass
class _List:
    kind: str  # the bullet character, or "." / ")" for ordered lists
    blank: str  # a blank line inside the list's parent containers
    item_lines: list[int] = field(default_factory=list)  # output index of each item's marker
    loose: bool = False
    first_text: int = -1  # where the first item's text starts in its output line
    blanked: bool = False  # a blank line was added inside it (Python-Markdown: <p>)


@dataclass
class _Item:
    width: int  # columns of content indentation, counted after the parent containers
    owner: _List


_QUOTE = "quote"
_Container = _Item | str


@dataclass
class _Fence:
    depth: int  # how many containers hold it
    marks: str
    indent: int


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _prefix(stack: list[_Container]) -> str:
    return "".join("> " if c == _QUOTE else "    " for c in stack)


def _blank(stack: list[_Container]) -> str:
    return _prefix(stack).rstrip()


def normalize_blocks(text: str) -> str:
    """Markdown as CommonMark reads it, rewritten in Python-Markdown's block conventions."""
    if not _needs_work(text):
        return text
    out: list[str] = []
    stack: list[_Container] = []
    lists: dict[int, _List] = {}  # the open list at each depth, for sibling items
    every_list: list[_List] = []
    fence: _Fence | None = None
    paragraph: tuple[int, int, int] | None = None  # (depth, first output index, lines)
    after_blank = False
    blank_quote = -1  # the place in the stack of the innermost quote that held that blank line
    ended_quote = -1  # the depth of a quote that a blank line just ended
    table = -1  # the first output line of the table being read
    header_only: _Item | None = None  # the item whose table has only a header so far
    closed_fence = -1  # the output length just after the last closing fence
    lines = text.split("\n")
    for index, raw in enumerate(lines):
        if fence is not None and not stack and raw.lstrip(" ")[:1] != fence.marks[0]:
            # A code line at the top: never a closing fence, kept as it is.
            strip = min(fence.indent, _indent(raw))
            out.append(raw[strip:])
            continue
        if not stack and fence is None:
            first = raw.lstrip(" ")[:1]
            if first and first not in _BLOCK_STARTS and closed_fence != len(out):
                # The common case: a paragraph line at the top, nothing to rewrite.
                out.append(raw)
                lists.clear()
                ended_quote = -1
                after_blank = False
                if paragraph is None:
                    paragraph = (0, len(out) - 1, 1)
                else:
                    paragraph = (0, paragraph[1], paragraph[2] + 1)
                continue
        rest, matched = raw, 0
        for container in stack:
            if container == _QUOTE:
                quote = _QUOTE_RE.match(rest)
                if quote is None:
                    break
                rest = rest[quote.end() :]
            elif rest.strip():
                assert isinstance(container, _Item)
                if _indent(rest) < container.width:
                    break
                rest = rest[container.width :]
            matched += 1

        if header_only is not None:
            if rest.strip() and (matched < len(stack) or _starts_block(rest)):
                _loosen_after_header_only(stack, matched, rest)
            header_only = None

        if fence is not None:
            if matched == len(stack):
                close = FENCE_RE.match(rest)
                if (
                    close is not None
                    and close["fence"][0] == fence.marks[0]
                    and len(close["fence"]) >= len(fence.marks)
                    and not close["info"].strip()
                ):
                    out.append(_prefix(stack) + fence.marks)
                    closed_fence = len(out)
                    fence = None
                    paragraph = None
                    continue
                strip = min(fence.indent, _indent(rest))
                out.append(_prefix(stack) + rest[strip:])
                continue
            out.append(_prefix(stack) + fence.marks)  # the container ends the fence
            fence = None

        blank = not rest.strip()
        in_table = paragraph is not None and paragraph[1] == table
        if (
            matched < len(stack)
            and paragraph is not None
            and not in_table  # only a paragraph continues lazily, a table's rows do not
            and not blank
            and not _starts_block(rest)
        ):
            out.append(_prefix(stack) + rest.lstrip(" "))  # lazy continuation line
            paragraph = (paragraph[0], paragraph[1], paragraph[2] + 1)
            continue

        # Close what did not continue.
        if matched < len(stack) and _QUOTE in stack[matched:]:
            if stack[matched] == _QUOTE:
                ended_quote = matched
            outside = _blank(stack[:matched])
            if not blank and out and (not after_blank or out[-1] != outside):
                # Or Python-Markdown runs the quote on. An empty `>` line just before is
                # no blank line to it: that line becomes the blank line instead.
                if after_blank:
                    out[-1] = outside
                else:
                    out.append(outside)
                _blanked(stack[:matched])
        elif matched < len(stack) and not blank and not after_blank and not _ITEM_RE.match(rest):
            # Items that end before a line that is no item of their own: Python-Markdown
            # would take the line into the last item (its lazy lines are any lines).
            out.append(_blank(stack[:matched]))
            _blanked(stack[:matched])
        del stack[matched:]
        if lists:
            for depth in [d for d in lists if d > matched]:
                del lists[depth]
        continued = stack[-1] if stack else None
        if after_blank and not blank:
            _blanked(stack)  # Python-Markdown puts <p> in items a blank line runs through

        if closed_fence == len(out) and not blank:
            out.append(_blank(stack))  # what follows a fence is a new block
            _blanked(stack)
        elif (
            in_table
            and matched == len(stack)
            and (_QUOTE_RE.match(rest) or _BREAK_RE.match(rest) or _HEADING_RE.match(rest))
        ):
            # A quote, a rule or a heading ends a table (Python-Markdown would make it a row).
            out.append(_blank(stack))
            _blanked(stack)
            paragraph = None

        # New containers on this line.
        opened: list[str] = []
        while True:
            lead = rest.lstrip(" ")[:1]
            if not lead or lead not in _CONTAINER_STARTS:
                break
            quote = _QUOTE_RE.match(rest) if lead == ">" else None
            if quote is not None:
                if ended_quote == len(stack) and after_blank and not opened:
                    # Python-Markdown would join two quotes that a blank line separates.
                    out.extend(
                        [SEPARATOR if not stack else _prefix(stack) + SEPARATOR, _blank(stack)]
                    )
                if paragraph is not None and not opened and stack and stack[-1] != _QUOTE:
                    out.append(_blank(stack))  # Python-Markdown nests it only as a new block
                    _blanked(stack)
                for depth in [d for d in lists if d >= len(stack)]:
                    del lists[depth]  # a quote between items ends their list
                stack.append(_QUOTE)
                opened.append("> ")
                lists.pop(len(stack), None)
                rest = rest[quote.end() :]
                paragraph = None
                continue
            if _BREAK_RE.match(rest):
                break
            item_match = _ITEM_RE.match(rest)
            if item_match is None:
                break
            after = rest[item_match.end() :]
            interrupts = paragraph is not None and not opened and paragraph[0] == len(stack)
            number = item_match["number"]
            if interrupts and (not after.strip() or (number is not None and int(number) != 1)):
                break
            kind = item_match["bullet"] or item_match["delim"]
            spaces = _indent(after)
            if not after.strip() or spaces > 4:
                spaces = 1
            width = item_match.end() + spaces
            depth = len(stack)
            owner = lists.get(depth)
            if owner is not None and owner.kind != kind and not opened:
                # A new marker starts a new list; Python-Markdown would continue the old one.
                if out and out[-1].strip(" >"):
                    out.append(_blank(stack))
                out.extend([_prefix(stack) + SEPARATOR, _blank(stack)])
                _blanked(stack)
            if owner is None or owner.kind != kind:
                owner = lists[depth] = _List(kind, _blank(stack))
                every_list.append(owner)
            elif after_blank and not opened and blank_quote < depth:
                owner.loose = True  # a blank line between two items (not inside a quote)
                continued = None
            parent = stack[-1] if stack else None
            if interrupts and _in_block_context(stack):
                out.append(_blank(stack))  # Python-Markdown needs a blank line before a list
            elif (
                interrupts
                and paragraph is not None
                and isinstance(parent, _Item)
                and paragraph[1] != parent.owner.item_lines[-1]
            ):
                out.append(_blank(stack))  # a list after an item's second paragraph
                _blanked(stack)
            elif owner.blanked and owner.item_lines and out and out[-1].strip(" >"):
                out.append(_blank(stack))  # or it reads the item as more of the last block
            marker = item_match["bullet"] or f"{number}."
            if not owner.item_lines:
                before = _prefix(stack[: len(stack) - len(opened)]) + "".join(opened)
                owner.first_text = len(before) + len(f"{marker} ".ljust(4))
            owner.item_lines.append(len(out))
            stack.append(_Item(width, owner))
            for deeper in [d for d in lists if d > depth]:
                del lists[deeper]
            opened.append(f"{marker} ".ljust(4))
            rest = after[spaces:] if after.strip() else ""
            paragraph = None
        prefix = _prefix(stack[: len(stack) - len(opened)]) + "".join(opened)

        if blank:
            out.append(prefix.rstrip())
            paragraph = None
            after_blank = True
            blank_quote = max((i for i, c in enumerate(stack) if c == _QUOTE), default=-1)
            continue
        ended_quote = -1
        if after_blank and isinstance(continued, _Item) and blank_quote < len(stack) - len(opened):
            continued.owner.loose = True  # a blank line between two blocks of one item
        after_blank = False
        if not opened and lists:
            for depth in [d for d in lists if d >= len(stack)]:
                del lists[depth]  # a block between items ends their list

        lead = rest.lstrip(" ")[:1]
        open_fence = FENCE_RE.match(rest) if lead in ("`", "~") else None
        if open_fence is not None and not (
            open_fence["fence"][0] == "`" and "`" in open_fence["info"]
        ):
            if paragraph is not None:
                out.append(_blank(stack))  # else Python-Markdown keeps it in the paragraph
                _blanked(stack)
            fence = _Fence(len(stack), open_fence["fence"], len(open_fence["indent"]))
            if opened and opened[-1] != "> ":
                # A fence on the item's own line: Python-Markdown finds fences only on
                # lines of their own, so the item starts with a paragraph the renderer
                # removes.
                out.extend([prefix + EMPTY_ITEM, _blank(stack)])
                _blanked(stack[-1:])
                prefix = _prefix(stack)
            out.append(prefix + fence.marks + _language(open_fence["info"]))
            paragraph = None
            continue

        starts_table = (
            paragraph is not None
            and paragraph[0] == len(stack)
            and paragraph[1] != table
            and "|" in rest
            and "|" in out[-1]
            and _TABLE_DELIMITER_RE.fullmatch(rest.strip()) is not None
        )
        if starts_table and stack and isinstance(stack[-1], _Item):
            # cmark-gfm makes the list loose if a block follows a table of only a header.
            header_only = stack[-1]
        if starts_table and paragraph is not None and paragraph[2] >= 2:
            out.insert(len(out) - 1, _blank(stack))  # the table's header row ends the paragraph
            _blanked(stack)
            for owner in every_list:
                owner.item_lines[:] = [i + (i >= len(out) - 2) for i in owner.item_lines]
            paragraph = (len(stack), len(out) - 1, 1)

        html_open = _HTML_OPEN_RE.match(rest) if lead == "<" else None
        if (
            html_open is not None
            and "markdown=" not in html_open["attrs"]
            and _markdown_inside(lines, index, html_open["tag"].lower())
        ):
            # GitHub reads the Markdown after the opening tag's HTML block ends.
            rest = rest[: html_open.end() - 1] + ' markdown="1"' + rest[html_open.end() - 1 :]

        out.append(prefix + rest)
        if _BREAK_RE.match(rest) or _HEADING_RE.match(rest):
            paragraph = None
        elif paragraph is None or paragraph[0] != len(stack) or opened:
            paragraph = (len(stack), len(out) - 1, 1)
        else:
            paragraph = (paragraph[0], paragraph[1], paragraph[2] + 1)
        if starts_table and paragraph is not None:
            table = paragraph[1]  # its rows run on to the next blank line or block

    if fence is not None:
        out.append(_prefix(stack) + fence.marks)
    return "\n".join(_loosen(out, every_list))


def _loosen_after_header_only(stack: list[_Container], matched: int, rest: str) -> None:
    """cmark-gfm ends a table of only a header as if a blank line followed it: the list
    whose item goes on after it (with another block or another item) becomes loose. The
    blank line reaches out through items only: a quote that ends keeps it in."""
    if _QUOTE in stack[matched:]:
        return
    if matched < len(stack):
        closed, item = stack[matched], _ITEM_RE.match(rest)
        kind = (item["bullet"] or item["delim"]) if item else None
        if isinstance(closed, _Item) and kind == closed.owner.kind:
            closed.owner.loose = True  # the next item of the same list
            return
    holder = stack[matched - 1] if matched else None
    if isinstance(holder, _Item):
        holder.owner.loose = True  # another block of the item that holds the table


def _blanked(stack: list[_Container]) -> None:
    for container in stack:
        if isinstance(container, _Item):
            container.owner.blanked = True


def _loosen(out: list[str], every_list: list[_List]) -> list[str]:
    """Blank lines between the items of loose lists: Python-Markdown then wraps them in <p>."""
    before: dict[int, str] = {}
    for owner in every_list:
        if owner.blanked and not owner.loose and owner.item_lines:
            line = out[owner.item_lines[0]]
            at = min(owner.first_text, len(line))
            out[owner.item_lines[0]] = line[:at] + TIGHT + line[at:]
        if owner.loose:
            for index in owner.item_lines[1:]:
                if index and out[index - 1].strip(" >"):
                    before[index] = owner.blank
    if not before:
        return out
    result: list[str] = []
    for index, line in enumerate(out):
        if index in before:
            result.append(before[index])
        result.append(line)
    return result


def _in_block_context(stack: list[_Container]) -> bool:
    """Whether Python-Markdown reads blocks here as at the top (not inside a list item)."""
    return not stack or stack[-1] == _QUOTE


def _language(info: str) -> str:
    """The language word of a fence's info string, in the form superfences reads."""
    info = info.strip()
    if info.startswith("{"):
        found = re.search(r"\.([\w#+-]+)", info)
        return found[1] if found else ""
    word = info.split()[0] if info else ""
    word = re.sub(r"\\(.)", r"\1", html.unescape(word))
    return word if _LANGUAGE_RE.fullmatch(word) else ""


def _markdown_inside(lines: list[str], start: int, tag: str) -> bool:
    """Whether an HTML block ends (at a blank line) before its closing tag: as on GitHub,
    the Markdown after that blank line renders."""
    if f"</{tag}" in lines[start].lower():
        return False
    for line in lines[start + 1 : start + 50]:
        if not line.strip():
            return True
        if f"</{tag}" in line.lower():
            return False
    return False


def _starts_block(text: str) -> bool:
    return bool(
        _QUOTE_RE.match(text)
        or _BREAK_RE.match(text)
        or _ITEM_RE.match(text)
        or _HEADING_RE.match(text)
        or FENCE_RE.match(text)
    )


def _needs_work(text: str) -> bool:
    return bool(_WORK_RE.search(text))
