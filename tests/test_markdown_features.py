"""What issue 16 adds on top of GitHub's Markdown, and what must not break on the way:
clozes and math beside the new inline syntax, sound and video, Obsidian embeds, callouts
and task boxes, math that could run code, and regexes that stay linear on hostile input."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cardsmith import blocks, parse, render
from cardsmith.model import CLOZE_RE

from .ankihelp import AnkiCollection
from .conftest import SAMPLE_TOML, Tree
from .mdcompare import CardRenderer

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\0" * 64


def card_md(answer: str, question: str = "Q {#q}") -> str:
    return f"---\nlevel: basic\n---\n## {question}\n\n{answer}\n"


def test_cloze_is_not_read_as_emoji_or_link(tmp_path: Path) -> None:
    render_card = CardRenderer(tmp_path)
    html = render_card("A {{c1::smile::hint}} and {{c2::https://example.com}} :smile:")
    assert "{{c1::smile::hint}}" in html
    assert '{{c2::<a href="https://example.com">https://example.com</a>}}' in html
    assert "😄" in html  # outside a cloze, the shortcode is an emoji


def test_question_with_url_and_emoji_is_rendered(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    report = CardRenderer(tmp_path)
    card = report.renderer.render(
        __import__("cardsmith.model", fromlist=["Card"]).Card(
            path=tmp_path / "c.md",
            line=1,
            question="Why :tada: at https://example.com?",
            explicit_id=None,
            answer="a",
            answer_line=2,
            code_blocks=(),
        )
    )
    assert '<a href="https://example.com">' in card.front and "🎉" in card.front


def test_sound_and_video_become_anki_sound_tags(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    collection: AnkiCollection,
    tmp_path: Path,
) -> None:
    root = tree(
        {
            "deck.toml": SAMPLE_TOML,
            "a.md": card_md("Listen: ![](media/clip.mp3)\n\nWatch: ![[demo.mp4]]\n\n![[pic.png]]"),
            "media/clip.mp3": MP3,
            "demo.mp4": MP4,
            "pic.png": PNG,
        }
    )
    result = cli("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    collection.import_package(tmp_path / "out" / "sample-deck.apkg")
    (note,) = collection.notes()
    back = note.fields["Back"]
    sounds = re.findall(r"\[sound:(cs-[0-9a-f]{24}\.(?:mp3|mp4))\]", back)
    assert len(sounds) == 2 and "<img" in back and 'src="pic.png"' not in back
    assert set(sounds) <= set(collection.media_files())


@pytest.mark.parametrize(
    ("answer", "files", "message"),
    [
        ("![](missing.mp3)", {}, "audio/video file not found: missing.mp3"),
        ("![](fake.mp3)", {"fake.mp3": b"not sound"}, "fake.mp3: not a MP3 file"),
        ("![](../outside.ogg)", {}, "audio/video file outside the deck folder"),
        ("![[nothere.png]]", {}, "image not found: nothere.png"),
    ],
)
def test_bad_media_is_an_error_at_its_line(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    tmp_path: Path,
    answer: str,
    files: dict[str, bytes],
    message: str,
) -> None:
    root = tree({"deck.toml": SAMPLE_TOML, "a.md": card_md(answer), **files})
    result = cli("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"a.md:6: error: {message}" in result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_callouts_highlight_and_task_boxes(tmp_path: Path) -> None:
    safe = CardRenderer(tmp_path, allow_html=False)
    html = safe(
        "> [!NOTE]\n> GitHub alert\n\n> [!tip] My title\n> Obsidian callout\n\n"
        "==marked==\n\n- [x] done\n- [ ] open\n\n<input type='text' onclick='x()' value=v>"
    )
    assert '<blockquote class="callout callout-note">' in html and "<strong>Note</strong>" in html
    assert "<strong>My title</strong>" in html and "Obsidian callout" in html
    assert "<mark>marked</mark>" in html
    boxes = re.findall(r"<input[^>]*>", html)
    assert len(boxes) == 3 and sum("checked" in b for b in boxes) == 1
    assert all('type="checkbox"' in b and "disabled" in b for b in boxes)
    assert "onclick" not in html and "value" not in html


UNSAFE_MATH = [
    r"$\href{javascript:alert(1)}{x}$",
    r"\(\href {JavaScript:alert(1)}{x}\)",
    r"$$\href{ java	script:alert(1)}{x}$$",
    r"$\url{data:text/html,x}$",
    r"{{c1::$\href{javascript:alert(1)}{x}$}}",
    r"$\style{position:fixed}{x}$",
    r"$\def\h{\href}\h{javascript:alert(1)}{x}$",
    r"$\class{x}{y}$",
]


@pytest.mark.parametrize("math", UNSAFE_MATH)
def test_math_that_could_run_code_is_an_error(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path, math: str
) -> None:
    root = tree({"deck.toml": SAMPLE_TOML, "a.md": card_md(f"Text\n\nand {math} here")})
    result = cli("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "a.md:8: error: math may not use \\" in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text",
    [
        r"$\href{https://example.com}{x}$",
        r"$\url{mailto:a@b.c}$",
        "```latex\n\\href{javascript:alert(1)}{x}\n```",
        r"`\href{javascript:x}{y}` in code",
    ],
)
def test_safe_math_and_code_pass(tmp_path: Path, text: str) -> None:
    render_card = CardRenderer(tmp_path, allow_html=False)
    render_card(text)
    assert not render_card.report.errors


# Every regex the renderer and card splitter use, with an input built to make a
# backtracking engine go quadratic or worse. Linear matching takes milliseconds; the bound
# is generous for a loaded 2-core CI machine.
N = 50_000
WORST_CASES: list[tuple[str, Callable[[], object]]] = [
    ("cloze", lambda: list(CLOZE_RE.finditer("{{c1::" + "::" * N + "x"))),
    ("cloze openers", lambda: list(CLOZE_RE.finditer("{{c1::a" * N))),
    ("math backticks", lambda: list(render._MATH_RE.finditer("`" * N + "$"))),
    ("math dollars", lambda: list(render._MATH_RE.finditer("$a" * N))),
    ("math brackets", lambda: list(render._MATH_RE.finditer("\\[\\(" * N))),
    ("heading spaces", lambda: parse._strip_closing_hashes("a" + " " * N + "x")),
    ("card events", lambda: list(parse._NEXT_EVENT_RE.finditer(("## " + " " * 100 + "x\n") * 500))),
    ("fence", lambda: parse.FENCE_RE.match("```" + "`" * N)),
    ("table delimiter", lambda: blocks._TABLE_DELIMITER_RE.fullmatch("-" + " -" * N + "x")),
    ("break", lambda: blocks._BREAK_RE.match("* " * N + "x")),
    ("item", lambda: blocks._ITEM_RE.match("1" * N)),
    ("html open", lambda: blocks._HTML_OPEN_RE.match("<div " * N)),
    ("plain question", lambda: render._PLAIN_RE.match("a " * N + "www")),
    ("embed", lambda: list(re.finditer(render._EMBED_RE, "![[a.b" * N))),
    ("strike", lambda: list(re.finditer(render._STRIKE_RE, "~a" + " ~a" * N, re.DOTALL))),
    ("highlight", lambda: list(re.finditer(render._HIGHLIGHT_RE, "==a" + " ==a" * N, re.DOTALL))),
    ("math commands", lambda: render.unsafe_math("\\href{" * N)),
    ("math commands in code", lambda: render.unsafe_math("<code>\\href" * N)),
    ("callout", lambda: render._CALLOUT_RE.match("> [!" + "a" * N)),
    ("normalizer", lambda: blocks.normalize_blocks("- a\n  " * 5_000 + "> b\n" * 5_000)),
]


@pytest.mark.parametrize(("name", "work"), WORST_CASES, ids=[n for n, _ in WORST_CASES])
def test_regex_is_linear_on_its_worst_case(name: str, work: Callable[[], object]) -> None:
    start = time.perf_counter()
    work()
    assert time.perf_counter() - start < 2.0, name
