"""The renderer, one rule of docs/format.md per test: a card's Markdown in, its HTML out.

HTML is compared by structure (see markdownhelp.structure), so the tests hold whatever
Markdown configuration renders the same elements, and never pin Pygments' token markup.
"""

from __future__ import annotations

import pytest

from .markdownhelp import assert_renders, highlight_classes, render, render_card, structure


def test_paragraphs_emphasis_and_inline_code() -> None:
    assert_renders(
        "A **bold** and _slanted_ claim about `len()`.\n\nSecond paragraph.\n",
        "<p>A <strong>bold</strong> and <em>slanted</em> claim about <code>len()</code>.</p>"
        "<p>Second paragraph.</p>",
    )


def test_deeper_headings_render_as_headings_in_the_answer() -> None:
    assert_renders("Intro.\n\n### Details\n\nMore.\n", "<p>Intro.</p><h3>Details</h3><p>More.</p>")


def test_the_question_is_inline_html_without_a_paragraph() -> None:
    front, back, diagnostics = render_card("What does `break` do? {#break}", "It leaves.\n")
    assert front == "What does <code>break</code> do?"
    assert structure(back) == structure("<p>It leaves.</p>")
    assert diagnostics == []


def test_fenced_code_is_highlighted_into_css_classes() -> None:
    html = assert_renders(
        "```python\ndef greet(name):\n    return f'hi {name}'\n```\n",
        '<div class="highlight"><pre><code>def greet(name):\n'
        "    return f'hi {name}'\n</code></pre></div>",
    )
    classes = highlight_classes(html)
    assert {"k", "nf"} <= classes  # a keyword and a function name, each with its class
    assert "style=" not in html  # colours live in the note type's CSS, not inline


def test_unknown_language_is_plain_text_with_a_warning() -> None:
    _, back, diagnostics = render_card("Q?", "```klingon\nqapla'\n```\n")
    assert structure(back) == structure(
        '<div class="highlight"><pre><code>qapla\'\n</code></pre></div>'
    )
    assert diagnostics == ["3: warning: unknown code language 'klingon': shown as plain text"]


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("The mean is $\\bar{x}_i$.", "<p>The mean is \\(\\bar{x}_i\\).</p>"),
        ("Inline \\(a_1 * b_2\\) too.", "<p>Inline \\(a_1 * b_2\\) too.</p>"),
        ("$$\n\\sigma^2 = \\frac{1}{n}\n$$", "<p>\\[\n\\sigma^2 = \\frac{1}{n}\n\\]</p>"),
        ("\\[x_1\\]", "<p>\\[x_1\\]</p>"),
        ("Costs $5 and $10.", "<p>Costs $5 and $10.</p>"),
        ("Math in code: `$x_1$`.", "<p>Math in code: <code>$x_1$</code>.</p>"),
        ("\\`\\$\\`\\$", "<p>`$`$</p>"),
        ("\\\\`$x_1$`", "<p>\\<code>$x_1$</code></p>"),
    ],
    ids=[
        "dollar",
        "paren",
        "display",
        "bracket",
        "prices",
        "code",
        "escaped-ticks",
        "backslash-code",
    ],
)
def test_math_passes_through_for_ankis_mathjax(markdown: str, html: str) -> None:
    """Underscores and backslashes intact, written as \\( \\) and \\[ \\]."""
    assert_renders(markdown + "\n", html)


def test_cloze_markers_pass_through_markdown() -> None:
    assert_renders(
        "A function that contains {{c1::yield}} returns a {{c2::generator::kind of object}}.\n",
        "<p>A function that contains {{c1::yield}} returns a "
        "{{c2::generator::kind of object}}.</p>",
    )


def test_cloze_markers_inside_code_sit_outside_the_highlighted_tokens() -> None:
    html = render("```python\nwhile i < n:\n    {{c1::yield i}}\n```\n")
    assert structure(html) == structure(
        '<div class="highlight"><pre><code>while i &lt; n:\n    {{c1::yield i}}\n'
        "</code></pre></div>"
    )
    marked = html[html.index("{{c1::") : html.index("}}") + 2]
    assert marked.count("<span") == marked.count("</span>")  # whole spans only
    assert "k" in highlight_classes(html)


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("Hi <script>alert(1)</script>there.", "<p>Hi there.</p>"),
        ('<p onclick="steal()">text</p>', "<p>text</p>"),
        ("[link](javascript:alert(1))", "<p><a>link</a></p>"),
        ("[link](https://example.org/)", '<p><a href="https://example.org/">link</a></p>'),
        ('<iframe src="https://example.org/"></iframe>After.', "<p>After.</p>"),
        ('<span style="color: red" class="x">kept</span>', '<p><span class="x">kept</span></p>'),
        ("Press <kbd>Ctrl</kbd>, H<sub>2</sub>O, x<sup>2</sup>.",
         "<p>Press <kbd>Ctrl</kbd>, H<sub>2</sub>O, x<sup>2</sup>.</p>"),
    ],
    ids=["script", "handler", "js-url", "https-url", "iframe", "style-attr", "formatting"],
)  # fmt: skip
def test_raw_html_is_sanitized_to_formatting(markdown: str, html: str) -> None:
    assert_renders(markdown + "\n", html)


def test_allow_html_keeps_the_authors_html() -> None:
    assert_renders('<p onclick="go()">text</p>\n', '<p onclick="go()">text</p>', allow_html=True)


def test_structure_ignores_pygments_markup_but_not_content() -> None:
    """The comparison itself: token spans and whitespace between tags do not count; text,
    tags and attributes do."""
    block = '<div class="highlight"><pre><code>{}</code></pre></div>'
    code = block.format('<span></span><span class="k">def</span> f\n')
    assert structure(code) == structure(block.format("def f\n"))
    assert structure(code) != structure(block.format("def g\n"))
    assert structure("<p>a</p>\n\n<p>b</p>") == structure("<p>a</p><p>b</p>")
    assert structure("<p>a</p>") != structure("<p>a b</p>")
    assert structure('<a href="x">l</a>') != structure("<a>l</a>")
    assert structure("<p><span class='k'>x</span></p>") != structure("<p>x</p>")
