"""The parser, one rule of docs/format.md per test: Markdown body in, cards out."""

from __future__ import annotations

from .markdownhelp import CardView, assert_parses, parse_body


def test_each_level_two_heading_is_a_card_and_the_title_is_not() -> None:
    parsed = assert_parses(
        """\
# Control flow

## When does a `for` loop fit better than `while`?

When you walk over a collection or a known range.

## What does `break` do?

It leaves the innermost loop at once.
""",
        [
            CardView(
                "When does a `for` loop fit better than `while`?",
                answer="When you walk over a collection or a known range.",
            ),
            CardView("What does `break` do?", answer="It leaves the innermost loop at once."),
        ],
    )
    assert parsed.title == "Control flow"
    assert [card.line for card in parsed.cards] == [3, 7]


def test_deeper_headings_stay_inside_the_answer() -> None:
    assert_parses(
        "## Q?\n\nIntro.\n\n### Details\n\nMore.\n\n#### Even more\n\nText.\n",
        [CardView("Q?", answer="Intro.\n\n### Details\n\nMore.\n\n#### Even more\n\nText.")],
    )


def test_headings_inside_fenced_code_are_code_not_cards() -> None:
    body = "## Q?\n\n```markdown\n## not a card\n# nor a title\n```\n\n~~~\n## nor this\n~~~\n"
    parsed = assert_parses(body, [CardView("Q?")])
    assert [block.code for block in parsed.cards[0].code_blocks] == [
        "## not a card\n# nor a title\n",
        "## nor this\n",
    ]


def test_an_id_after_the_question_names_the_card_and_never_shows() -> None:
    assert_parses(
        "## What is a closure? {#closures}\n\nA function.\n\n## Über? {#über-1.x_y}\n\nJa.\n",
        [CardView("What is a closure?", "closures"), CardView("Über?", "über-1.x_y")],
    )


def test_closing_hashes_are_not_part_of_the_question() -> None:
    assert_parses("## Question? ##\n\nAnswer ##\n", [CardView("Question?", answer="Answer ##")])


def test_reverse_marker_on_one_heading_or_the_whole_file() -> None:
    assert_parses(
        "## der Hund {#hund}\n\nthe dog\n\n## die Katze {#katze .reverse}\n\nthe cat\n\n"
        "## die Maus {.reverse}\n\nthe mouse\n",
        [
            CardView("der Hund", "hund", "basic"),
            CardView("die Katze", "katze", "reverse"),
            CardView("die Maus", None, "reverse"),
        ],
    )
    whole_file = parse_body("## der Hund\n\nthe dog\n", reverse=True)
    assert [card.kind for card in whole_file.cards] == ["reverse"]


def test_cloze_markers_in_the_answer_make_a_cloze_card() -> None:
    parsed = assert_parses(
        "## Complete the generator {#gen-cloze}\n\n"
        "A function that contains {{c1::yield}} returns a {{c2::generator::kind of object}}.\n",
        [CardView("Complete the generator", "gen-cloze", "cloze")],
    )
    assert "{{c2::generator::kind of object}}" in parsed.cards[0].answer


def test_fence_directives_are_for_tools_and_never_reach_the_answer() -> None:
    parsed = assert_parses(
        "## Q?\n\n```python no-run raises=KeyError\n{}['x']\n```\n",
        [CardView("Q?", answer="```python\n{}['x']\n```")],
    )
    (block,) = parsed.cards[0].code_blocks
    assert (block.line, block.language, block.flags) == (3, "python", ("no-run", "raises=KeyError"))


def test_text_before_the_first_question_is_a_warning() -> None:
    assert_parses(
        "# Title\n\nStray words.\n\n## Q?\n\nA.\n",
        [CardView("Q?")],
        ["3: warning: text before the first '## ' question is not on any card"],
    )


def test_mistakes_in_headings_are_errors_at_their_line() -> None:
    assert_parses(
        "## Empty?\n\n## {#only-id}\n\nA.\n\n## Bad id {#two words}\n\nA.\n\n"
        "## Odd {.sideways}\n\nA.\n\n## Fine\n\nA.\n\n## Q {{c1::x}}?\n\nA.\n",
        [CardView("Fine")],
        [
            "1: error: question has an empty answer: Empty?",
            "3: error: card has no question text",
            "7: error: invalid id {#two words}: use letters, digits, '-', '_' or '.', no spaces",
            "11: error: unknown card marker '.sideways' (known: .reverse)",
            "19: error: cloze markers belong in the answer, not the question",
        ],
    )


def test_a_fence_never_closed_swallows_later_questions_with_a_warning() -> None:
    assert_parses(
        "## Q?\n\n```python\nx = 1\n\n## Later?\n\nA.\n",
        [CardView("Q?")],
        ["3: warning: code fence is never closed: everything after it, later '## ' headings "
         "too, is code"],
    )  # fmt: skip
