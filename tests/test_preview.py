"""`cardsmith preview`: the cards as Anki renders them, written as a static site."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cardsmith.build import check
from cardsmith.preview import TemplateProblem, fill_template, preview_cards

from .ankihelp import AnkiCollection
from .conftest import SAMPLE_TOML, Tree
from .test_card_kinds import CLOZE_MD, MATH_MD, MIXED_MD, REVERSE_MD

FIXTURE = Path(__file__).parent / "fixtures" / "sample"
KINDS: Tree = {
    "deck.toml": SAMPLE_TOML,
    "cloze.md": CLOZE_MD,
    "reverse.md": REVERSE_MD,
    "mixed.md": MIXED_MD,
    "math.md": MATH_MD,
}


def preview(cli: Callable[..., object], src: Path, out: Path) -> object:
    result = cli("preview", src, "--out", out)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return result


@pytest.mark.parametrize("source", ["sample", "kinds"])
def test_every_card_is_exactly_what_anki_renders(
    source: str,
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    tmp_path: Path,
    collection: AnkiCollection,
) -> None:
    """Front, back and CSS of each card equal Anki's own rendering of the built package.

    This is what "the very templates and CSS the .apkg carries" means: basic, reversed
    (two cards per note) and cloze cards (one per cloze number), math left for MathJax.
    """
    src = FIXTURE if source == "sample" else tree(KINDS)
    assert cli("build", src, "--out", tmp_path / "out").exit_code == 0  # type: ignore[attr-defined]
    collection.import_package(tmp_path / "out" / "sample-deck.apkg")
    rendered, _ = check([src])
    ours = {(c.guid, c.ord): c for c in preview_cards(rendered).cards}
    anki_cards = [collection.col.get_card(cid) for cid in collection.col.find_cards("")]
    assert len(anki_cards) == len(ours) == (6 if source == "sample" else 11)
    for card in anki_cards:
        output = card.render_output()
        mine = ours[(card.note().guid, card.ord)]
        assert mine.front == output.question_text
        assert mine.back == output.answer_text
        assert mine.css == output.css


def test_site_has_index_card_pages_light_and_night_documents_and_media(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    out = tmp_path / "preview"
    result = preview(cli, FIXTURE, out)
    assert result.stdout.strip() == f"wrote {out / 'index.html'} (6 cards)"  # type: ignore[attr-defined]
    cards = out / "cards"
    assert sorted(p.name for p in cards.glob("0001*")) == [
        "0001-back-night.html",
        "0001-back.html",
        "0001-front-night.html",
        "0001-front.html",
        "0001.html",
    ]
    assert len(list(cards.glob("cs-*.png"))) == 2  # media beside the cards, as in Anki
    light = (cards / "0001-back.html").read_text(encoding="utf-8")
    night = (cards / "0001-back-night.html").read_text(encoding="utf-8")
    assert '<body class="card card1">' in light
    assert '<body class="card card1 nightMode night_mode">' in night
    assert "<script" not in light + night  # cards carry no script of ours
    index = (out / "index.html").read_text(encoding="utf-8")
    for text in ("Sample Deck", "1. Basic", "Lists and tuples", "3 cards", 'id="search"'):
        assert text in index
    assert index.count("<li data-text=") == 6


def test_site_loads_nothing_from_the_network(cli: Callable[..., object], tmp_path: Path) -> None:
    out = tmp_path / "preview"
    preview(cli, FIXTURE, out)
    pages = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    pages += (out / "preview.css").read_text(encoding="utf-8")
    # Links a learner may click are fine; nothing may be fetched by itself.
    assert not re.search(r"""(src|srcset)\s*=\s*["']?(https?:)?//""", pages)
    assert not re.search(r"""<link[^>]+href=["']?(https?:)?//""", pages)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", pages)


def test_rerun_replaces_the_preview_and_drops_stale_files(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    out = tmp_path / "preview"
    preview(cli, FIXTURE, out)
    (out / "cards" / "9999.html").write_text("stale")
    preview(cli, FIXTURE, out)
    assert not (out / "cards" / "9999.html").exists()
    assert (out / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview"]  # no temporary folders


def test_refuses_to_replace_a_folder_that_is_not_a_preview(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    result = cli("preview", FIXTURE, "--out", out)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    (line,) = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert line.startswith(f"{out}: error: ") and "choose another --out" in line
    assert (out / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("## Q?\n\n![x](nope.png)\n", ":6: error: image not found: nope.png"),
        ("## {#blank}\n\nAn answer to nothing.\n", ":4: error: "),
    ],
)
def test_content_errors_are_reported_with_locations_and_exit_1(
    card: str,
    message: str,
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    tmp_path: Path,
) -> None:
    src = tree({"deck.toml": SAMPLE_TOML, "t.md": f"---\nlevel: basic\n---\n{card}"})
    result = cli("preview", src, "--out", tmp_path / "preview")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"{src / 't.md'}{message}" in result.stderr  # type: ignore[attr-defined]
    assert not (tmp_path / "preview").exists()


def test_open_shows_the_index_in_the_browser(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    result = cli("preview", FIXTURE, "--out", tmp_path / "p", "--open")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert opened == [(tmp_path / "p" / "index.html").resolve().as_uri()]


FIELDS = {"Front": "Q", "Back": "<b>A</b>", "Empty": "<br> ", "Card": "Card 1"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{Front}}|{{ Back }}", "Q|<b>A</b>"),
        ("{{text:Back}}", "A"),
        ("{{#Back}}has back{{/Back}}{{#Empty}}never{{/Empty}}", "has back"),
        ("{{^Empty}}empty{{/Empty}}{{^Front}}never{{/Front}}", "empty"),
        ("{{#Front}}{{#Back}}both{{/Back}}{{/Front}}", "both"),
        ("{{Card}}", "Card 1"),
    ],
)
def test_fill_template_follows_anki_template_syntax(template: str, expected: str) -> None:
    assert fill_template(template, FIELDS, ordinal=1, question=True) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{Nope}}", "there is no field called 'Nope'"),
        ("{{#Front}}open", "{{#Front}} is never closed"),
        ("{{/Front}}", "{{/Front}} closes no open section"),
    ],
)
def test_fill_template_problems(template: str, message: str) -> None:
    with pytest.raises(TemplateProblem, match=re.escape(message)):
        fill_template(template, FIELDS, ordinal=1, question=True)


def test_unsupported_filters_leave_the_field_and_are_named() -> None:
    unsupported: set[str] = set()
    html = fill_template("{{hint:Back}}", FIELDS, ordinal=1, question=True, unsupported=unsupported)
    assert html == "<b>A</b>"
    assert unsupported == {"hint"}
