"""Cloze (also inside code), reversed cards and math, checked through a real Anki import."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cardsmith import apkg, kinds
from cardsmith.diagnostics import Report
from cardsmith.render import MediaStore, Renderer, highlight_code

from .ankihelp import AnkiCollection
from .conftest import SAMPLE_TOML, Tree

CLOZE_MD = """\
---
level: basic
---
## Complete the generator {#gen-cloze}

A function that contains {{c1::yield}} returns a {{c2::generator::kind of object}}.

```python
def count(n):
    i = 0
    while i < n:
        {{c3::yield i}}
        i += 1
```
"""

REVERSE_MD = """\
---
level: basic
reverse: true
---
## der Hund {#hund}

the dog

## die Katze {#katze}

the cat
"""

MIXED_MD = """\
---
level: intermediate
---
## one way only {#oneway}

just forward

## two ways {#twoway .reverse}

marked on the card
"""

MATH_MD = r"""---
level: advanced
---
## What is the mean? {#mean}

Inline $\bar{x} = \frac{1}{n}\sum_{i=1}^{n} x_i$ and \(a_i * b_i\), display:

$$
\sigma^2 = \frac{1}{n} \sum_{i} (x_i - \bar{x})^2
$$

and \[e^{i\pi} + 1 = 0\]. Prices stay text: $5 and $10, and \$x\$ is literal.

`$not_math$` in code stays as it is.
"""


def build_and_import(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    collection: AnkiCollection,
    files: Tree,
    tmp_path: Path,
) -> None:
    root = tree({"deck.toml": SAMPLE_TOML, **files})
    result = cli("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    log = collection.import_package(tmp_path / "out" / "sample-deck.apkg")
    assert log.conflicting == 0 and log.missing_notetype == 0


def visible(html: str) -> str:
    """The text a learner sees: tags removed, entities decoded."""
    import html as html_lib

    return html_lib.unescape(re.sub("<[^>]+>", "", html))


def cards_of(collection: AnkiCollection, note_id: int) -> list[tuple[str, str]]:
    col = collection.col
    cards = sorted((col.get_card(c) for c in col.find_cards(f"nid:{note_id}")), key=lambda c: c.ord)
    return [(c.question().split("</style>")[-1], c.answer().split("</style>")[-1]) for c in cards]


def test_cloze_note_has_one_card_per_number_and_code_stays_highlighted(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    collection: AnkiCollection,
    tmp_path: Path,
) -> None:
    build_and_import(cli, tree, collection, {"c.md": CLOZE_MD}, tmp_path)
    (note,) = collection.notes()
    assert list(note.fields) == ["Text", "Title", "Source"]
    assert collection.col.get_note(note.note_id).note_type()["id"] == kinds.CLOZE.note_type_id  # type: ignore[index]
    cards = cards_of(collection, note.note_id)
    assert len(cards) == 3
    q1, a1 = cards[0]
    assert "A function that contains [...] returns a generator" in visible(q1)
    assert "A function that contains yield returns a generator" in visible(a1)
    assert "Complete the generator" in visible(q1)
    q2, _ = cards[1]
    assert "[kind of object]" in q2  # the hint shows on the front
    q3, a3 = cards[2]
    code_front = visible(q3[q3.index('<div class="highlight">') :])
    assert "while i < n:\n        [...]\n        i += 1" in code_front
    code_back = a3[a3.index('<div class="highlight">') :]
    revealed = re.search(r'<span class="cloze"[^>]*>(.*?)</span></span>', code_back, re.S)
    assert revealed, code_back
    # Revealed code is highlighted: the keyword keeps its Pygments class.
    assert '<span class="k">yield</span>' in code_back
    assert re.sub("<[^>]+>", "", code_back).count("yield i") == 1


def test_cloze_marks_survive_highlighting_across_token_spans() -> None:
    """Markers are placed outside token spans, so Anki's regex finds them whole."""
    html = highlight_code("x = {{c1::len(items)::a builtin}} + 1\n", "python")
    assert "{{c1::" in html and "::a builtin}}" in html
    inner = html[html.index("{{c1::") : html.index("}}") + 2]
    assert inner.count("<span") == inner.count("</span>")
    text = re.sub("<[^>]+>", "", html)
    assert "x = {{c1::len(items)::a builtin}} + 1" in text


def test_cloze_marker_inside_a_token_splits_the_span() -> None:
    html = highlight_code("print_{{c1::value}}\n", "python")
    text = re.sub("<[^>]+>", "", html)
    assert "print_{{c1::value}}" in text
    for piece in html.split("{{c1::")[1:]:
        body = piece.split("}}")[0]
        assert body.count("<span") == body.count("</span>")


def test_reverse_front_matter_makes_two_cards_each_way(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    collection: AnkiCollection,
    tmp_path: Path,
) -> None:
    build_and_import(cli, tree, collection, {"r.md": REVERSE_MD, "m.md": MIXED_MD}, tmp_path)
    notes = {n.fields["Front"]: n for n in collection.notes()}
    hund = cards_of(collection, notes["der Hund"].note_id)
    assert len(hund) == 2
    assert "der Hund" in hund[0][0] and "the dog" not in hund[0][0]
    assert "the dog" in hund[1][0] and "der Hund" not in hund[1][0]
    assert "der Hund" in hund[1][1]
    assert len(cards_of(collection, notes["one way only"].note_id)) == 1
    assert len(cards_of(collection, notes["two ways"].note_id)) == 2
    note_type = collection.col.get_note(notes["two ways"].note_id).note_type()
    assert note_type["id"] == kinds.REVERSE.note_type_id  # type: ignore[index]


def test_math_passes_through_for_anki_mathjax(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    collection: AnkiCollection,
    tmp_path: Path,
) -> None:
    build_and_import(cli, tree, collection, {"m.md": MATH_MD}, tmp_path)
    (note,) = collection.notes()
    back = note.fields["Back"]
    assert r"\(\bar{x} = \frac{1}{n}\sum_{i=1}^{n} x_i\)" in back
    assert r"\(a_i * b_i\)" in back
    assert (
        r"\[" + "\n" + r"\sigma^2 = \frac{1}{n} \sum_{i} (x_i - \bar{x})^2" + "\n" + r"\]" in back
    )
    assert r"\[e^{i\pi} + 1 = 0\]" in back
    assert "$5 and $10" in back
    assert "$x$ is literal" in back
    assert "<code>$not_math$</code>" in back
    assert "<em>" not in back
    (_, answer) = cards_of(collection, note.note_id)[0]
    assert r"\sum_{i=1}^{n}" in answer
    assert "<script" not in answer.lower()


def test_cloze_markers_in_the_question_are_an_error(
    cli: Callable[..., object], tree: Callable[[Tree], Path]
) -> None:
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": "---\nlevel: basic\n---\n## {{c1::x}}?\n\nA.\n"})
    result = cli("check", root)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"{root / 't.md'}:4: error: cloze markers belong in the answer" in result.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("## Q? {#q .sideways}\n\nA.\n", "unknown card marker '.sideways'"),
        ("## Q? {#q}\n\nEmpty {{c1::}} cloze.\n", "empty cloze"),
        (
            "---\nlevel: basic\nreverse: maybe\n---\n## Q?\n\nA.\n",
            "'reverse' must be true or false",
        ),
    ],
)
def test_card_kind_mistakes(
    markdown: str, message: str, cli: Callable[..., object], tree: Callable[[Tree], Path]
) -> None:
    if not markdown.startswith("---"):
        markdown = "---\nlevel: basic\n---\n" + markdown
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": markdown})
    result = cli("check", root)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert message in result.stderr  # type: ignore[attr-defined]


def test_note_type_ids_and_fields_are_frozen() -> None:
    """Changing these would orphan learners' notes (see docs/format.md, note types)."""
    types = apkg.note_types("")
    frozen = {
        "basic": (1_763_510_001, ["Front", "Back", "Source"], 1),
        "reverse": (1_763_510_002, ["Front", "Back", "Source"], 2),
        "cloze": (1_763_510_003, ["Text", "Title", "Source"], 1),
    }
    for kind, (model_id, fields, templates) in frozen.items():
        model = types[kind]
        assert model.model_id == model_id
        assert [f["name"] for f in model.fields] == fields
        assert len(model.templates) == templates


def test_unknown_language_is_plain_text_with_warning(tmp_path: Path) -> None:
    from cardsmith.parse import parse_cards

    report = Report()
    path = tmp_path / "t.md"
    _, cards = parse_cards(path, "## Q?\n\n```klingon\nqapla'\n```\n", 1, report)
    rendered = Renderer(MediaStore(), report, tmp_path).render(cards[0])
    assert "qapla" in rendered.back and '<div class="highlight">' in rendered.back
    assert [str(d) for d in report.items] == [
        f"{path}:3: warning: unknown code language 'klingon': shown as plain text"
    ]


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("basic", ("Q", "A", "s")),
        ("reverse", ("Q", "A", "s")),
        ("cloze", ("{{c1::a}} {{c3::b::hint}} {{c1::c}} {{c0::zero}}", "T", "s")),
        ("cloze", ("<pre>{{c2::x\ny}}</pre>", "T", "s")),
    ],
)
def test_card_ords_match_genanki(kind: str, fields: tuple[str, ...]) -> None:
    """Packaging decides each note's cards itself; it must agree with genanki's Note."""
    import genanki

    spec = apkg.NoteSpec("g", "D", kind, fields, (), 1)
    note = genanki.Note(model=apkg.note_types("")[kind], fields=list(fields))
    assert apkg.card_ords(spec) == sorted(card.ord for card in note.cards)


def test_answer_holding_the_split_marker_still_renders_both_sides(tmp_path: Path) -> None:
    """Question and answer go through Markdown together; a marker clash falls back to two."""
    from cardsmith.parse import parse_cards
    from cardsmith.render import _SPLIT

    report = Report()
    body = f"## What is `x`?\n\nFirst.\n\n{_SPLIT}\n\nLast.\n"
    _, cards = parse_cards(tmp_path / "t.md", body, 1, report)
    rendered = Renderer(MediaStore(), report, tmp_path).render(cards[0])
    assert rendered.front == "What is <code>x</code>?"
    assert rendered.back == f"<p>First.</p>\n<p>{_SPLIT}</p>\n<p>Last.</p>"
