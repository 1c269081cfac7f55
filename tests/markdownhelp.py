"""Unit-test helpers for the parser and the renderer, in the manner of Python-Markdown's
`assertMarkdownRenders`: a test states Markdown in and what comes out, the way docs/format.md
describes it.

- `parse_body(body)` -> the title, the cards (as `CardView`s) and the diagnostics of one file
  body; `assert_parses(body, cards)` compares the cards.
- `render(answer)` -> the HTML of a card's back; `assert_renders(answer, html)` compares it
  with the expected HTML by structure (`structure`): tags, sorted attributes and text, with
  whitespace between tags ignored and the token spans inside highlighted code dropped, so
  the tests do not pin Pygments' exact markup (`highlight_classes` checks it is there).

These are the only places the tests call the parser and renderer directly, so a change of
their signatures is one change here.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

from cardsmith.diagnostics import Report
from cardsmith.model import Card
from cardsmith.parse import parse_cards
from cardsmith.render import MediaStore, Renderer

PATH = Path("/deck/topic.md")  # never read: parsing works on the text given


class CardView(NamedTuple):
    """What a test states about a parsed card."""

    question: str
    id: str | None = None
    kind: str = "basic"
    answer: str | None = None  # None: not compared; else compared without surrounding space


class Parsed(NamedTuple):
    title: str | None
    cards: list[Card]
    diagnostics: list[str]  # "line: severity: message", the path left out


def parse_body(body: str, reverse: bool = False) -> Parsed:
    report = Report()
    title, cards = parse_cards(PATH, body, 1, report, reverse=reverse)
    diagnostics = [f"{d.line}: {d.severity.value}: {d.message}" for d in report.items]
    return Parsed(title, list(cards), diagnostics)


def view(card: Card, with_answer: bool) -> CardView:
    return CardView(
        card.question, card.explicit_id, card.kind, card.answer.strip() if with_answer else None
    )


def assert_parses(
    body: str, expected: list[CardView], diagnostics: list[str] | None = None
) -> Parsed:
    """body parses into exactly these cards, with these diagnostics (default: none)."""
    parsed = parse_body(body)
    compare_answer = [want.answer is not None for want in expected]
    compare_answer += [False] * (len(parsed.cards) - len(expected))
    actual = [
        view(card, answer) for card, answer in zip(parsed.cards, compare_answer, strict=False)
    ]
    assert actual == expected
    assert parsed.diagnostics == (diagnostics or [])
    return parsed


def render_card(
    question: str, answer: str, allow_html: bool = False, root: Path | None = None
) -> tuple[str, str, list[str]]:
    """(front, back, diagnostics) of one card rendered as a build renders it."""
    report = Report()
    body = f"## {question}\n\n{answer}"
    _, cards = parse_cards((root or PATH.parent) / "topic.md", body, 1, report)
    assert len(cards) == 1, cards
    renderer = Renderer(MediaStore(), report, root or PATH.parent, allow_html=allow_html)
    rendered = renderer.render(cards[0])
    diagnostics = [f"{d.line}: {d.severity.value}: {d.message}" for d in report.items]
    return rendered.front, rendered.back, diagnostics


def render(answer: str, allow_html: bool = False) -> str:
    """The back of a card whose answer is `answer`; any diagnostic fails the test."""
    _, back, diagnostics = render_card("Question?", answer, allow_html)
    assert diagnostics == []
    return back


def assert_renders(markdown_answer: str, expected_html: str, allow_html: bool = False) -> str:
    """The answer renders to expected_html, compared by `structure`. Returns the HTML."""
    actual = render(markdown_answer, allow_html)
    assert structure(actual) == structure(expected_html), actual
    return actual


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, inside highlighted code)
        self.pre = 0

    def _in_code(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        in_code = self._in_code() or "highlight" in classes.split()
        if tag == "pre":
            self.pre += 1
        if not (tag == "span" and self._in_code()):
            shown = "".join(f' {k}="{html.escape(v or "")}"' for k, v in sorted(attrs))
            self.out.append(f"<{tag}{shown}>")
        if tag not in {"br", "hr", "img", "input", "wbr"}:
            self.stack.append((tag, in_code))

    def handle_endtag(self, tag: str) -> None:
        if tag in {"br", "hr", "img", "input", "wbr"}:
            return
        inside = self.stack.pop()[1] if self.stack else False
        if tag == "pre":
            self.pre -= 1
        if not (tag == "span" and inside):
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.pre:
            data = " ".join(data.split()) if data.strip() else ""
        if data:
            if self.out and not self.out[-1].startswith("<"):
                self.out[-1] += html.escape(data, quote=False)
            else:
                self.out.append(html.escape(data, quote=False))


def structure(fragment: str) -> str:
    """fragment as one line per tag or text run: whitespace between tags dropped, runs of
    whitespace in text made one space (except in <pre>), attributes sorted, character
    references resolved, and <span>s inside a `highlight` block left out (their text kept)."""
    parser = _Structure()
    parser.feed(fragment)
    parser.close()
    return "\n".join(parser.out)


def highlight_classes(fragment: str) -> set[str]:
    """The CSS classes of the token spans inside highlighted code."""

    class Spans(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.classes: set[str] = set()

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "span":
                self.classes.update((dict(attrs).get("class") or "").split())

    start = fragment.find('class="highlight"')
    assert start >= 0, f"no highlighted code in {fragment!r}"
    spans = Spans()
    spans.feed(fragment[start:])
    return spans.classes
