"""The CommonMark spec's examples, rendered as cards and compared with GitHub's rendering.

Each example's Markdown goes through a card's renderer (raw HTML allowed, as the spec
assumes) and is compared structurally (tests/mdcompare.py) with cmark-gfm's HTML for the
same text: GitHub is the target, so its extensions (autolinked URLs, say) count as right.
FLOOR holds, per spec section, the examples that matched before the Markdown work of
issue 16 (first number) and when it landed (second): the count may only rise.
"""

from __future__ import annotations

from collections import Counter

import pytest

from .mdcompare import SPEC_DIR, CardRenderer, normalize, reference_html, spec_examples

# section: (before issue 16, floor now, examples in the section)
FLOOR = {
    "Tabs": (4, 5, 11),
    "Backslash escapes": (7, 8, 13),
    "Entity and numeric character references": (15, 15, 17),
    "Precedence": (1, 1, 1),
    "Thematic breaks": (17, 17, 19),
    "ATX headings": (11, 12, 18),
    "Setext headings": (17, 21, 27),
    "Indented code blocks": (10, 10, 12),
    "Fenced code blocks": (23, 28, 29),
    "HTML blocks": (19, 20, 46),
    "Link reference definitions": (19, 19, 27),
    "Paragraphs": (8, 8, 8),
    "Blank lines": (1, 1, 1),
    "Block quotes": (18, 24, 25),
    "List items": (22, 32, 48),
    "Lists": (8, 24, 26),
    "Inlines": (1, 1, 1),
    "Code spans": (19, 19, 22),
    "Emphasis and strong emphasis": (115, 122, 132),
    "Links": (55, 56, 90),
    "Images": (16, 16, 22),
    "Autolinks": (8, 9, 19),
    "Raw HTML": (15, 15, 21),
    "Hard line breaks": (10, 12, 15),
    "Soft line breaks": (2, 2, 2),
    "Textual content": (3, 3, 3),
}


@pytest.fixture(scope="module")
def passed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Counter[str], Counter[str]]:
    render = CardRenderer(tmp_path_factory.mktemp("spec"))
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for example in spec_examples(SPEC_DIR / "commonmark-spec.txt"):
        total[example.section] += 1
        ours = normalize(render(example.markdown))
        if ours == normalize(reference_html(example.markdown)):
            passed[example.section] += 1
    return passed, total


def test_spec_has_the_sections_we_count(passed: tuple[Counter[str], Counter[str]]) -> None:
    _, total = passed
    assert {name: count for name, (_, _, count) in FLOOR.items()} == dict(total)


@pytest.mark.parametrize("section", sorted(FLOOR))
def test_spec_section_does_not_fall_below_its_floor(
    passed: tuple[Counter[str], Counter[str]], section: str
) -> None:
    _, floor, _ = FLOOR[section]
    assert passed[0][section] >= floor
