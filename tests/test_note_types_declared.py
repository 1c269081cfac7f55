"""Declared note types (docs/format.md, "Declared note types"): a deck's own Anki note
types in note-types/<handle>.toml, chosen per file or per card, filled by field sections.

Built decks are imported into a real Anki collection; problems are one error line each.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cardsmith.apkg import read_package

from .ankihelp import AnkiCollection
from .conftest import Tree
from .markdownhelp import render, render_card

FIXTURE = Path(__file__).parent / "fixtures" / "sample"
BASIC_ID = 1_600_000_000_001
REVERSED_ID = 1_600_000_000_002
CLOZE_ID = 1_600_000_000_003
VOCAB_ID = 1_600_000_000_004

DECK_TOML = 'name = "Declared"\nlevels = ["one", "two"]\n'
BASIC = f"""\
    name = "Plain (declared)"
    id = {BASIC_ID}
    fields = ["Front", "Back"]
    modified = 1700000100
    css = ".card {{ font-family: arial; }}"

    [[templates]]
    name = "Card 1"
    front = "{{{{Front}}}}"
    back = "{{{{FrontSide}}}}<hr id=answer>{{{{Back}}}}"
    """
REVERSED = f"""\
    name = "Both ways (declared)"
    id = {REVERSED_ID}
    fields = ["Front", "Back"]
    modified = 1700000200

    [[templates]]
    name = "Card 1"
    front = "{{{{Front}}}}"
    back = "{{{{FrontSide}}}}<hr id=answer>{{{{Back}}}}"

    [[templates]]
    name = "Card 2"
    front = "{{{{Back}}}}"
    back = "{{{{FrontSide}}}}<hr id=answer>{{{{Front}}}}"
    """
CLOZE = f"""\
    name = "Gaps (declared)"
    id = {CLOZE_ID}
    kind = "cloze"
    fields = ["Text", "Back Extra"]
    question = ""
    modified = 1700000300

    [[templates]]
    name = "Cloze"
    front = "{{{{cloze:Text}}}}"
    back = "{{{{cloze:Text}}}}<br>{{{{Back Extra}}}}"
    """
VOCAB = f"""\
    name = "Vocabulary (declared)"
    id = {VOCAB_ID}
    fields = ["Word", "Meaning", "Example", "Notes"]
    sort_field = "Meaning"
    question = "Word"
    answer = "Meaning"
    modified = 1700000400
    css = ".word {{ font-size: 2em; }}"
    latex_pre = "\\\\documentclass{{article}}\\\\begin{{document}}"
    latex_post = "\\\\end{{document}}"

    [[templates]]
    name = "Recognise"
    front = "<div class=word>{{{{Word}}}}</div>"
    back = '''{{{{FrontSide}}}}<hr id=answer>{{{{Meaning}}}}
    {{{{#Example}}}}<p>{{{{Example}}}}</p>{{{{/Example}}}}{{{{Notes}}}}'''
    """
WORDS = """\
    ---
    level: one
    note-type: vocab
    ---
    ## *Haus* {#haus}

    house

    ### Example {.field}

    Das **Haus** ist groß.

    ```python
    print("code in a field")
    ```

    ### Notes {.field}

    - neuter
    - plural: Häuser

    ![a house](img/diagram.png)

    ## Baum

    tree
    """
MIXED = """\
    ---
    level: two
    ---
    ## What is cardsmith's own kind?

    Still a **basic** card.

    ## Declared basic? {#plain type=basic}

    Its back.

    ## Left {#both type=reversed}

    Right

    ## Capitals {#capitals type=cloze}

    The {{c1::capital}} of France is {{c2::Paris}}; of Italy, {{c3::Rome}}.

    ### Back Extra {.field}

    See *an atlas*.

    ## An own cloze

    The {{c1::sun}} is a star.
    """
DECK: Tree = {
    "deck.toml": DECK_TOML,
    "note-types/basic.toml": BASIC,
    "note-types/reversed.toml": REVERSED,
    "note-types/cloze.toml": CLOZE,
    "note-types/vocab.toml": VOCAB,
    "note-types/README.md": "# Not a topic\n\n## Never a card\n\nText.\n",
    "words.md": WORDS,
    "mixed.md": MIXED,
    "img/diagram.png": (FIXTURE / "basic" / "img" / "diagram.png").read_bytes(),
}


def build(cli: Callable[..., Any], src: Path, out: Path, epoch: int = 1_700_001_000) -> Any:
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        return cli("build", src, "--out", out)
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]


@pytest.fixture
def built(
    tree: Callable[[Tree], Path], cli: Callable[..., Any], tmp_path: Path
) -> tuple[Path, Path]:
    src = tree(DECK)
    result = build(cli, src, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "", result.stderr  # the README.md under note-types/ is no topic
    return src, tmp_path / "out"


@pytest.fixture
def imported(built: tuple[Path, Path], tmp_path: Path) -> Iterator[AnkiCollection]:
    col = AnkiCollection(tmp_path / "anki" / "collection.anki2")
    try:
        log = col.import_package(built[1] / "declared.apkg")
        assert (log.new, log.conflicting, log.duplicate) == (7, 0, 0), log
        yield col
    finally:
        col.close()


def _notes_of(col: AnkiCollection, note_type_id: int) -> list[Any]:
    return [col.col.get_note(nid) for nid in col.col.find_notes(f"mid:{note_type_id}")]


def test_declared_note_types_arrive_in_anki_with_their_ids_names_and_fields(
    imported: AnkiCollection,
) -> None:
    col = imported.col
    expected = {
        BASIC_ID: ("Plain (declared)", ["Front", "Back"], ["Card 1"], 0),
        REVERSED_ID: ("Both ways (declared)", ["Front", "Back"], ["Card 1", "Card 2"], 0),
        CLOZE_ID: ("Gaps (declared)", ["Text", "Back Extra"], ["Cloze"], 1),
        VOCAB_ID: ("Vocabulary (declared)", ["Word", "Meaning", "Example", "Notes"],
                   ["Recognise"], 0),
    }  # fmt: skip
    for note_type_id, (name, fields, templates, kind) in expected.items():
        model = col.models.get(note_type_id)  # type: ignore[arg-type]
        assert model is not None, name
        assert model["name"] == name
        assert [f["name"] for f in model["flds"]] == fields
        assert [t["name"] for t in model["tmpls"]] == templates
        assert model["type"] == kind
    vocab = col.models.get(VOCAB_ID)  # type: ignore[arg-type]
    assert vocab is not None
    assert vocab["sortf"] == 1 and vocab["mod"] == 1700000400
    assert vocab["latexPre"] == "\\documentclass{article}\\begin{document}"
    assert vocab["latexPost"] == "\\end{document}"
    assert vocab["tmpls"][0]["qfmt"] == "<div class=word>{{Word}}</div>"
    # The author's CSS first, then cardsmith's card CSS and the code highlighting CSS.
    assert vocab["css"].startswith(".word { font-size: 2em; }\n\n")
    assert ".highlight" in vocab["css"]
    assert ".card {" not in vocab["css"]  # cardsmith's own card styles stay out
    # Cardsmith's own kinds are still there for the cards that use them.
    names = {m.name for m in col.models.all_names_and_ids()}
    assert {"cardsmith basic", "cardsmith cloze"} <= names


def test_each_field_holds_its_section_rendered_like_an_answer(imported: AnkiCollection) -> None:
    (haus, baum) = sorted(_notes_of(imported, VOCAB_ID), key=lambda n: n["Meaning"])
    assert haus["Word"] == render_card("*Haus*", "x")[0] == "<em>Haus</em>"
    assert haus["Meaning"] == render("house")
    assert haus["Example"] == render(
        'Das **Haus** ist groß.\n\n```python\nprint("code in a field")\n```\n'
    )
    assert (
        '<div class="highlight">' in haus["Example"] and "<strong>Haus</strong>" in haus["Example"]
    )
    # An image in a field is packaged under its content hash, like one in an answer.
    assert haus["Notes"].startswith(render("- neuter\n- plural: Häuser\n"))
    (image,) = re.findall(r'<img alt="a house" src="(cs-[0-9a-f]{24}\.png)"', haus["Notes"])
    assert imported.media_files() == [image]
    assert (baum["Word"], baum["Meaning"], baum["Example"], baum["Notes"]) == (
        "Baum",
        render("tree"),
        "",
        "",
    )
    (cloze,) = _notes_of(imported, CLOZE_ID)
    assert cloze["Text"] == render(
        "The {{c1::capital}} of France is {{c2::Paris}}; of Italy, {{c3::Rome}}."
    )
    assert cloze["Back Extra"] == render("See *an atlas*.")
    assert "Capitals" not in "".join(cloze.fields)  # `question = ""`: the heading is a label
    (plain,) = _notes_of(imported, BASIC_ID)
    assert (plain["Front"], plain["Back"]) == ("Declared basic?", render("Its back."))
    # No Source field: a declared note type has the fields its author gave it.
    assert list(plain.keys()) == ["Front", "Back"]


def test_cards_are_the_ones_anki_makes_for_each_note(imported: AnkiCollection) -> None:
    col = imported.col
    counts = {
        note_type_id: sorted(len(note.cards()) for note in _notes_of(imported, note_type_id))
        for note_type_id in (BASIC_ID, REVERSED_ID, CLOZE_ID, VOCAB_ID)
    }
    assert counts == {BASIC_ID: [1], REVERSED_ID: [2], CLOZE_ID: [3], VOCAB_ID: [1, 1]}
    (cloze,) = _notes_of(imported, CLOZE_ID)
    assert sorted(card.ord for card in cloze.cards()) == [0, 1, 2]
    # Anki shows what the templates make of the fields: the cloze's first gap is hidden.
    first = next(card for card in cloze.cards() if card.ord == 0)
    assert ">capital<" not in first.question() and "[...]" in first.question()
    assert ">Paris<" in first.question() and ">capital<" in first.answer()
    assert "an atlas" in first.answer()
    (both,) = _notes_of(imported, REVERSED_ID)
    reverse = next(card for card in both.cards() if card.ord == 1)
    assert "Right" in reverse.question()
    assert col.card_count() == 1 + 2 + 3 + 2 + 1 + 1  # and two of cardsmith's own kinds


def test_the_ledger_records_nt_kinds_and_a_second_build_is_byte_identical(
    built: tuple[Path, Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    src, out = built
    ledger = (src / "deck.lock").read_text()
    rows = {line.split(" ", 8)[8]: line.split(" ")[4] for line in ledger.splitlines()
            if line.startswith("card ")}  # fmt: skip
    assert rows == {
        "id:haus": f"nt{VOCAB_ID}",
        "q:baum": f"nt{VOCAB_ID}",
        "id:plain": f"nt{BASIC_ID}",
        "id:both": f"nt{REVERSED_ID}",
        "id:capitals": f"nt{CLOZE_ID}",
        "q:what is cardsmith's own kind?": "basic",
        "q:an own cloze": "cloze",
    }
    packages = {p.name: p.read_bytes() for p in out.glob("*.apkg")}
    again = build(cli, src, tmp_path / "again", epoch=1_800_000_000)
    assert again.exit_code == 0, again.stderr
    assert (src / "deck.lock").read_text() == ledger
    assert {p.name: p.read_bytes() for p in (tmp_path / "again").glob("*.apkg")} == packages


def test_a_changed_field_section_updates_the_note_in_place(
    built: tuple[Path, Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    src, out = built
    col = AnkiCollection(tmp_path / "anki" / "collection.anki2")
    try:
        col.import_package(out / "declared.apkg")
        words = src / "words.md"
        words.write_text(words.read_text().replace("- neuter", "- neuter (das)"))
        # Into the same folder: the unchanged cards (and their fields) come from the cache.
        assert build(cli, src, out, epoch=1_800_000_000).exit_code == 0
        log = col.import_package(out / "declared.apkg")
        assert (log.new, log.updated, log.conflicting) == (0, 1, 0), log
        (haus,) = [n for n in _notes_of(col, VOCAB_ID) if n["Meaning"] == render("house")]
        assert "neuter (das)" in haus["Notes"]
    finally:
        col.close()


def test_a_level_package_holds_only_the_note_types_its_notes_use(
    built: tuple[Path, Path],
) -> None:
    contents = read_package((built[1] / "declared-one.apkg").read_bytes())
    assert {c.note_type.id for c in contents.cards} == {VOCAB_ID}


def _toml(value: object) -> str:
    """A TOML value: JSON's strings, numbers and arrays of strings are TOML too."""
    return json.dumps(value)


def test_a_copy_of_a_stock_note_type_updates_anki_notes_without_conflict(
    tree: Callable[[Tree], Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    """A declared note type that is the collection's own Basic (as `cardsmith import`
    writes it) puts the deck's notes under that very note type: no new note type, 0
    conflicting."""
    col = AnkiCollection(tmp_path / "anki" / "collection.anki2")
    try:
        stock = {m.name: col.col.models.get(m.id) for m in col.col.models.all_names_and_ids()}
        types_before = len(stock)
        files: Tree = {"deck.toml": DECK_TOML}
        stock_types = (
            ("basic", "Basic"),
            ("cloze", "Cloze"),
            ("optional", "Basic (optional reversed card)"),
        )
        for handle, name in stock_types:
            model = stock[name]
            assert model is not None
            lines = [
                f"name = {_toml(model['name'])}",
                f"id = {model['id']}",
                f"kind = {_toml('cloze' if model['type'] == 1 else 'standard')}",
                f"fields = {_toml([f['name'] for f in model['flds']])}",
                f"sort_field = {_toml(model['flds'][model['sortf']]['name'])}",
                f"modified = {model['mod']}",
                f"css = {_toml(model['css'])}",
                f"latex_pre = {_toml(model['latexPre'])}",
                f"latex_post = {_toml(model['latexPost'])}",
            ]
            if model["type"] == 1:
                lines.append('question = ""')
            for template in model["tmpls"]:
                lines += [
                    "[[templates]]",
                    f"name = {_toml(template['name'])}",
                    f"front = {_toml(template['qfmt'])}",
                    f"back = {_toml(template['afmt'])}",
                ]
            files[f"note-types/{handle}.toml"] = "\n".join(lines) + "\n"
        files["t.md"] = """\
            ---
            level: one
            note-type: basic
            ---
            ## Stock front

            Stock back.

            ## Gap {type=cloze}

            A {{c1::gap}} and {{c2::another}}.

            ### Back Extra {.field}

            More.

            ## One way {type=optional}

            Back only.

            ## Both ways {type=optional}

            Back too.

            ### Add Reverse {.field}

            y
            """
        src = tree(files)
        result = build(cli, src, tmp_path / "out")
        assert result.exit_code == 0, result.stderr
        log = col.import_package(tmp_path / "out" / "declared.apkg")
        assert (log.new, log.conflicting, log.duplicate, log.missing_notetype) == (4, 0, 0, 0)
        assert len(col.col.models.all_names_and_ids()) == types_before
        (basic,) = _notes_of(col, stock["Basic"]["id"])  # type: ignore[index]
        assert (basic["Front"], basic["Back"]) == ("Stock front", render("Stock back."))
        (gap,) = _notes_of(col, stock["Cloze"]["id"])  # type: ignore[index]
        assert len(gap.cards()) == 2 and gap["Back Extra"] == render("More.")
        # The reverse card only when "Add Reverse" is filled (the template's condition).
        optional = _notes_of(col, stock["Basic (optional reversed card)"]["id"])  # type: ignore[index]
        cards = {note["Front"]: sorted(c.ord for c in note.cards()) for note in optional}
        assert cards == {"One way": [0], "Both ways": [0, 1]}
        assert col.col.card_count() == 1 + 2 + 1 + 2
        # Built again unchanged: the same notes (Anki's "duplicate": same GUID, not newer).
        build(cli, src, tmp_path / "again", epoch=1_800_000_000)
        log = col.import_package(tmp_path / "again" / "declared.apkg")
        assert (log.new, log.updated, log.conflicting, log.duplicate) == (0, 0, 0, 4), log
    finally:
        col.close()


# (files changed in DECK, the file and line of the error, a fragment of its message)
ERRORS: dict[str, tuple[Tree, str, int, str]] = {
    "bad handle": (
        {"note-types/Basic Type.toml": BASIC.replace(str(BASIC_ID), "1600000000099")},
        "note-types/Basic Type.toml",
        1,
        "the name before .toml is the note type's handle",
    ),
    "no name": ({"note-types/basic.toml": BASIC.replace('name = "Plain (declared)"\n', "")},
                "note-types/basic.toml", 1, "needs 'name'"),
    "id not a number": ({"note-types/basic.toml": BASIC.replace(str(BASIC_ID), '"x"')},
                        "note-types/basic.toml", 2, "needs 'id'"),
    "id too large": ({"note-types/basic.toml": BASIC.replace(str(BASIC_ID), str(2**63))},
                     "note-types/basic.toml", 2, "needs 'id'"),
    "id of cardsmith's own": ({"note-types/basic.toml": BASIC.replace(str(BASIC_ID), "1763510001")},
                              "note-types/basic.toml", 2, "cardsmith's own note type"),
    "id twice": ({"note-types/reversed.toml": REVERSED.replace(str(REVERSED_ID), str(BASIC_ID))},
                 "note-types/reversed.toml", 2, "is also the id of"),
    "bad kind": ({"note-types/basic.toml": BASIC.replace("fields =", 'kind = "image"\nfields =')},
                 "note-types/basic.toml", 3, "'kind' must be"),
    "no fields": ({"note-types/basic.toml": BASIC.replace('["Front", "Back"]', "[]")},
                  "note-types/basic.toml", 3, "needs 'fields'"),
    "field twice": ({"note-types/basic.toml": BASIC.replace('["Front", "Back"]', '["A", "A"]')},
                    "note-types/basic.toml", 3, "listed twice"),
    "field with a colon": ({"note-types/basic.toml": BASIC.replace('"Back"]', '"Ba:ck"]')},
                           "note-types/basic.toml", 3, "may not contain ':'"),
    "question not a field": ({"note-types/vocab.toml": VOCAB.replace('question = "Word"',
                                                                     'question = "Wort"')},
                             "note-types/vocab.toml", 5, "'question' 'Wort' is not one of"),
    "answer is the question": ({"note-types/vocab.toml": VOCAB.replace('answer = "Meaning"',
                                                                       'answer = "Word"')},
                               "note-types/vocab.toml", 6, "must differ"),
    "sort field not a field": ({"note-types/vocab.toml": VOCAB.replace('sort_field = "Meaning"',
                                                                       'sort_field = "X"')},
                               "note-types/vocab.toml", 4, "'sort_field' 'X'"),
    "no modified": ({"note-types/basic.toml": BASIC.replace("modified = 1700000100\n", "")},
                    "note-types/basic.toml", 1, "needs 'modified'"),
    "no templates": ({"note-types/basic.toml": BASIC.split("[[templates]]")[0]},
                     "note-types/basic.toml", 1, "at least one [[templates]]"),
    "template without front": (
        {"note-types/basic.toml": BASIC.replace('front = "{{Front}}"\n', "")},
        "note-types/basic.toml", 7, "needs 'name' (non-empty), 'front'",
    ),
    "two cloze templates": (
        {"note-types/cloze.toml": CLOZE + '\n[[templates]]\nname = "2"\nfront = "x"\nback = "y"\n'},
        "note-types/cloze.toml", 13, "exactly one template",
    ),
    "invalid TOML": ({"note-types/basic.toml": BASIC.replace("fields =", "fields")},
                     "note-types/basic.toml", 3, "invalid TOML"),
    "unknown handle in front matter": ({"words.md": WORDS.replace("note-type: vocab",
                                                                  "note-type: vocabulary")},
                                       "words.md", 3, "unknown note type 'vocabulary'"),
    "unknown handle in a heading": ({"mixed.md": MIXED.replace("type=basic", "type=plain")},
                                    "mixed.md", 8, "unknown note type 'plain'"),
    "reverse with a declared type": ({"mixed.md": MIXED.replace("{#plain type=basic}",
                                                                "{#plain .reverse type=basic}")},
                                     "mixed.md", 8, "'.reverse' and a declared note type"),
    "reverse and note-type in front matter": (
        {"words.md": WORDS.replace("note-type: vocab", "note-type: vocab\n    reverse: true")},
        "words.md", 3, "'reverse' and 'note-type' do not go together",
    ),
    "field section on a card of cardsmith's own kind": (
        {"mixed.md": MIXED.replace("a **basic** card.", "\n\n    ### Back {.field}\n\n    X")},
        "mixed.md", 8, "'{.field}' sections belong to cards of a declared note type",
    ),
    "field not of the note type": ({"words.md": WORDS.replace("### Notes {.field}",
                                                              "### Remarks {.field}")},
                                   "words.md", 17, "'Remarks' is not a field of note type 'vocab'"),
    "field section for the answer": ({"words.md": WORDS.replace("### Notes {.field}",
                                                                "### Meaning {.field}")},
                                     "words.md", 17, "is the card's answer"),
    "field section twice": ({"words.md": WORDS.replace("### Notes {.field}",
                                                       "### Example {.field}")},
                            "words.md", 17, "given by an earlier section"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ERRORS))
def test_each_problem_is_one_error_at_its_line_and_nothing_is_written(
    name: str, tree: Callable[[Tree], Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    changes, where, line, fragment = ERRORS[name]
    src = tree({**DECK, **changes})
    out = tmp_path / "out"
    result = build(cli, src, out)
    assert result.exit_code == 1, result.stdout
    expected = f"{src / where}:{line}: error: "
    errors = [e for e in result.stderr.splitlines() if ": error: " in e]
    assert any(e.startswith(expected) and fragment in e for e in errors), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not (src / "deck.lock").exists()


def test_an_unknown_key_is_a_warning_and_an_error_with_strict(
    tree: Callable[[Tree], Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    src = tree({**DECK, "note-types/basic.toml": BASIC.replace("fields =", "colour = 1\nfields =")})
    result = build(cli, src, tmp_path / "out")
    assert result.exit_code == 0
    assert f"{src / 'note-types/basic.toml'}:3: warning: unknown key 'colour'" in result.stderr
    assert cli("check", "--strict", src).exit_code == 1


def test_fences_hide_field_headings_and_other_level_3_headings_stay_markdown(
    tree: Callable[[Tree], Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    words = WORDS.replace(
        "    tree\n",
        "    tree\n\n    ```md\n    ### Notes {.field}\n    ```\n\n    ### A heading\n\n    Text\n",
    )
    src = tree({**DECK, "words.md": words})
    assert build(cli, src, tmp_path / "out").exit_code == 0
    contents = read_package((tmp_path / "out" / "declared-one.apkg").read_bytes())
    baum = next(c for c in contents.cards if dict(c.fields)["Word"] == "Baum")
    fields = dict(baum.fields)
    assert fields["Notes"] == ""
    assert "### Notes {.field}" in fields["Meaning"] and "<h3>A heading</h3>" in fields["Meaning"]


def test_a_ledger_card_under_an_undeclared_note_type_is_an_error(
    built: tuple[Path, Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    src, _ = built
    lock = src / "deck.lock"
    lines = lock.read_text().split("\n")
    number = next(n for n, line in enumerate(lines, 1) if line.endswith(" id:plain"))
    lock.write_text(lock.read_text().replace(f"nt{BASIC_ID}", "nt1600000000077"))
    before = lock.read_bytes()
    result = build(cli, src, tmp_path / "out2")
    assert result.exit_code == 1
    assert f"{lock}:{number}: error: card id:plain is recorded under note type id " in result.stderr
    assert lock.read_bytes() == before and not (tmp_path / "out2").exists()
    # The card and its note type removed together: its line is simply marked removed.
    (src / "note-types/basic.toml").unlink()
    mixed = src / "mixed.md"
    mixed.write_text(mixed.read_text().replace("## Declared basic? {#plain type=basic}", "## X?"))
    result = build(cli, src, tmp_path / "out3")
    assert result.exit_code == 0, result.stderr
    assert any(
        line.startswith("removed ") and line.endswith(" id:plain")
        for line in lock.read_text().splitlines()
    )


def test_ids_write_keeps_the_type_in_the_heading_s_attribute_block(
    tree: Callable[[Tree], Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    mixed = MIXED.replace("{#plain type=basic}", "{type=basic}")
    src = tree({**DECK, "mixed.md": mixed})
    assert build(cli, src, tmp_path / "out").exit_code == 0
    assert cli("ids", "--write", src).exit_code == 0
    text = (src / "mixed.md").read_text()
    assert "## Declared basic? {#declared-basic type=basic}" in text, text
    assert build(cli, src, tmp_path / "again").exit_code == 0
    rows = [line.split(" ", 8) for line in (src / "deck.lock").read_text().splitlines()]
    kinds = {row[8]: row[4] for row in rows if row[0] == "card"}
    assert kinds["id:declared-basic"] == f"nt{BASIC_ID}"
