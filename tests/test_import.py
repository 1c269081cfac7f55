"""`cardsmith import`: round trips through the real Anki backend.

A collection made here with Anki's stock note types (Basic, Basic (and reversed card),
Cloze with Back Extra) and a custom one, HTML formatting, a picture, a sound, tags,
nested subdecks and review history is exported with Anki's own exporter (.apkg with
scheduling and media, and .colpkg), imported with `cardsmith import`, built with
`cardsmith build`, and the build imported back into the original collection: every note
updates in place (0 new, 0 conflicting, 0 duplicate), keeps its note id and GUID, its
fields equal the original's after normalising the HTML, and its review history stays.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from anki.collection import DeckIdLimit
from anki.import_export_pb2 import ExportAnkiPackageOptions

from .ankihelp import AnkiCollection

pytestmark = pytest.mark.anki

CONTENT = Path(__file__).resolve().parent.parent / "content"
TOP = "Languages"


def png(rgb: tuple[int, int, int]) -> bytes:
    """A 2x2 PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * 2
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * 2))
        + chunk(b"IEND", b"")
    )


MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64

# (deck below TOP, note type, fields, tags); HTML as Anki's editor writes it.
NOTES: list[tuple[str, str, dict[str, str], str]] = [
    ("", "Basic", {"Front": "What does <b>bold</b> mean?",
                   "Back": "Text in <b>bold</b> and <i>italic</i>.<br>A second line."},
     "lang"),
    ("Grammar", "Basic", {"Front": "Name the articles",
                          "Back": "<ul><li>el</li><li>la</li><li>los, las</li></ul>"},
     "lang grammar"),
    ("Grammar", "Basic", {"Front": "Numbered steps?",
                          "Back": "<ol><li>first</li><li>second</li></ol>"},
     "lang grammar"),
    ("Grammar::Verbs", "Basic (and reversed card)",
     {"Front": "ser", "Back": "to be (<i>permanent</i>)"}, "lang verbs"),
    ("Grammar::Verbs", "Basic", {"Front": "Conjugate <code>ser</code>",
                                 "Back": "<table><tr><th>yo</th><th>tú</th></tr>"
                                         "<tr><td>soy</td><td>eres</td></tr></table>"},
     "lang verbs"),
    ("Grammar::Verbs::Irregular", "Cloze",
     {"Text": "{{c1::Ser}} and {{c2::estar}} both mean <i>to be</i>.",
      "Back Extra": "<div>ser: identity</div><div>estar: state</div>"},
     "lang verbs irregular"),
    ("Grammar::Verbs::Irregular", "Basic",
     {"Front": "A code example", "Back": "<pre><code>print(\"hola\")\nx = 1</code></pre>"},
     "lang verbs"),
    ("Words", "Vocab", {"Word": "París", "Meaning": "the capital <img src=\"paris.png\">",
                        "Example": "[sound:bonjour.mp3]"}, "lang words"),
    ("Words", "Vocab", {"Word": "gato", "Meaning": "cat", "Example": "El gato duerme."},
     "lang words"),
    ("Words", "Basic", {"Front": "What colour is this? <img src=\"red dot.png\">",
                        "Back": "red"}, "lang words"),
]  # fmt: skip


def make_collection(path: Path) -> AnkiCollection:
    """The learner's collection: the deck, media, and a few reviews."""
    col = AnkiCollection(path)
    c = col.col
    vocab = c.models.new("Vocab")
    for name in ("Word", "Meaning", "Example"):
        c.models.add_field(vocab, c.models.new_field(name))
    template = c.models.new_template("Recognise")
    template["qfmt"] = "{{Word}}"
    template["afmt"] = "{{FrontSide}}<hr id=answer>{{Meaning}}<br>{{Example}}"
    c.models.add_template(vocab, template)
    vocab["css"] = ".card { font-family: serif; }"
    c.models.add(vocab)
    c.media.write_data("paris.png", png((0, 0, 255)))
    c.media.write_data("red dot.png", png((255, 0, 0)))
    c.media.write_data("bonjour.mp3", MP3)
    for below, type_name, fields, tags in NOTES:
        deck = f"{TOP}::{below}" if below else TOP
        did = c.decks.id(deck)
        note = c.new_note(c.models.by_name(type_name))
        for name, value in fields.items():
            note[name] = value
        note.tags = tags.split()
        c.add_note(note, did)
    top = c.decks.get(c.decks.id(TOP))
    top["desc"] = "Spanish, <b>gently</b>."
    c.decks.save(top)
    # review history: answer some cards (Good, then Easy on one)
    for front in ("What does <b>bold</b> mean?", "ser", "Name the articles"):
        (nid,) = c.find_notes(f'"Front:{front}"')
        for cid in c.card_ids_of_note(nid):
            card = c.get_card(cid)
            card.start_timer()
            c.sched.answerCard(card, 3)
    (nid,) = c.find_notes('"Word:gato"')
    for ease in (3, 4):
        card = c.get_card(c.card_ids_of_note(nid)[0])
        card.start_timer()
        c.sched.answerCard(card, ease)
    return col


@dataclass(frozen=True)
class Snapshot:
    """What must survive the round trip, per note id."""

    notes: dict[int, tuple[str, str, dict[str, str], tuple[str, ...]]]  # guid, type, fields, tags
    cards: dict[int, tuple[int, int, int, int, int, int]]  # type, queue, due, ivl, reps, lapses
    revlog: int
    note_types: dict[int, tuple[str, str, list[str]]]  # name, css, fields


def snapshot(col: AnkiCollection) -> Snapshot:
    c = col.col
    notes = {}
    for nid in c.find_notes(""):
        note = c.get_note(nid)
        names = [f["name"] for f in note.note_type()["flds"]]  # type: ignore[index]
        notes[nid] = (
            note.guid,
            note.note_type()["name"],  # type: ignore[index]
            dict(zip(names, note.fields, strict=True)),
            tuple(sorted(note.tags)),
        )
    cards = {
        cid: tuple(row)
        for cid, *row in c.db.all("SELECT id, type, queue, due, ivl, reps, lapses FROM cards")
    }
    types = {
        int(m["id"]): (m["name"], m["css"], [f["name"] for f in m["flds"]]) for m in c.models.all()
    }
    return Snapshot(notes, cards, c.db.scalar("SELECT count() FROM revlog"), types)  # type: ignore[arg-type]


class _Visible(HTMLParser):
    """What a reader sees of a field: text lines, emphasis, lists, cells and media."""

    MARKS: ClassVar[dict[str, str]] = {"b": "**", "strong": "**", "i": "_", "em": "_", "code": "`"}
    BREAKS: ClassVar[set[str]] = {
        "br", "p", "div", "li", "tr", "ul", "ol", "table", "pre", "h1", "h2", "h3", "h4",
        "blockquote", "hr",
    }  # fmt: skip

    def __init__(self, media: Callable[[str], str]) -> None:
        super().__init__(convert_charrefs=True)
        self.media = media
        self.out: list[str] = []
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.MARKS and not (tag == "code" and self.pre):
            self.out.append(self.MARKS[tag])
        elif tag in self.BREAKS:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" | ")
        elif tag == "img":
            self.out.append(f"[img:{self.media(dict(attrs).get('src') or '')}]")
        if tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.MARKS and not (tag == "code" and self.pre):
            self.out.append(self.MARKS[tag])
        elif tag in self.BREAKS:
            self.out.append("\n")
        if tag == "pre":
            self.pre -= 1

    def handle_data(self, data: str) -> None:
        if self.pre:
            self.out.append(data.replace("\n", "\n"))
        else:
            self.out.append(" ".join(data.split("\n")))


def visible(html: str, media: Callable[[str], str]) -> list[str]:
    """A field's HTML normalised: its lines of visible text, emphasis marked, media by
    content (the build renames media files)."""
    html = re.sub(r"\[sound:([^\]]+)\]", lambda m: f"[sound:{media(m[1])}]", html)
    parser = _Visible(media)
    parser.feed(html)
    parser.close()
    text = "".join(parser.out)
    text = re.sub(r"(\*\*|_|`)\s*\1", "", text)  # empty emphasis
    return [" ".join(line.split()) for line in text.split("\n") if line.strip()]


def media_hasher(*folders: Path) -> Callable[[str], str]:
    def content(name: str) -> str:
        for folder in folders:
            path = folder / name
            if path.is_file():
                return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return f"missing:{name}"

    return content


def tree_text(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cardsmith-cache" not in p.parts
    }


@pytest.fixture
def learner(tmp_path: Path) -> Iterator[tuple[AnkiCollection, Path, Path]]:
    """The learner's collection, and its deck exported by Anki as .apkg and .colpkg."""
    col = make_collection(tmp_path / "learner" / "collection.anki2")
    apkg = tmp_path / "export" / "languages.apkg"
    apkg.parent.mkdir()
    did = col.col.decks.id_for_name(TOP)
    assert did is not None
    count = col.col.export_anki_package(
        out_path=str(apkg),
        options=ExportAnkiPackageOptions(
            with_scheduling=True, with_deck_configs=True, with_media=True, legacy=False
        ),
        limit=DeckIdLimit(did),
    )
    assert count == len(NOTES)
    colpkg = tmp_path / "export" / "languages.colpkg"
    col.col.export_collection_package(str(colpkg), include_media=True, legacy=False)
    col = AnkiCollection(tmp_path / "learner" / "collection.anki2")  # the export closed it
    try:
        yield col, apkg, colpkg
    finally:
        col.close()


def run_ok(cli: Callable[..., object], *args: object) -> str:
    result = cli(*args)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


def test_round_trip_updates_every_note_in_place_and_keeps_history(
    learner: tuple[AnkiCollection, Path, Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    col, apkg, colpkg = learner
    before = snapshot(col)
    original_media = Path(col.col.media.dir())
    deck = tmp_path / "deck"
    out = run_ok(cli, "import", apkg, "--out", deck)
    assert f"imported {len(NOTES)} notes, 4 declared note types, 3 media files" in out
    # the folder: levels from depth-1 subdecks, topics from deeper ones, note types declared
    toml = (deck / "deck.toml").read_text()
    assert 'name = "Languages"' in toml and 'levels = ["languages", "grammar", "words"]' in toml
    assert 'tags = ["lang"]' in toml
    files = tree_text(deck)
    assert sorted(p for p in files if p.endswith(".md")) == [
        "grammar/01-grammar.md",
        "grammar/02-verbs.md",
        "grammar/03-verbs-irregular-1.md",
        "grammar/03-verbs-irregular-2.md",
        "languages/01-languages.md",
        "words/01-words.md",
    ]
    assert (
        sorted(p for p in files if p.startswith("note-types/"))
        == [
            "note-types/basic-and-reversed-card.toml",
            "note-types/basic.toml",
            "note-types/cloze.toml",
            "note-types/vocab.toml",
        ][: len([p for p in files if p.startswith("note-types/")])]
    )
    assert {p for p in files if p.startswith("media/")} == {
        "media/paris.png",
        "media/red-dot.png",
        "media/bonjour.mp3",
    }
    assert "topic: Verbs - Irregular" in files["grammar/03-verbs-irregular-1.md"].decode()
    lock = files["deck.lock"].decode()
    for nid, (guid, *_rest) in before.notes.items():
        assert f" {nid} {guid} " in lock

    # the same deck from Anki's collection package, and from a package in Anki's legacy
    # format, gives the same folder
    deck2 = tmp_path / "deck-from-colpkg"
    run_ok(cli, "import", colpkg, "--deck", TOP, "--out", deck2)
    assert tree_text(deck2) == files
    legacy = tmp_path / "export" / "legacy.apkg"
    did = col.col.decks.id_for_name(TOP)
    assert did is not None
    col.col.export_anki_package(
        out_path=str(legacy),
        options=ExportAnkiPackageOptions(with_scheduling=True, with_media=True, legacy=True),
        limit=DeckIdLimit(did),
    )
    run_ok(cli, "import", legacy, "--out", tmp_path / "deck-from-legacy")
    assert tree_text(tmp_path / "deck-from-legacy") == files

    build = tmp_path / "build"
    run_ok(cli, "build", deck, "--out", build)
    log = col.import_package(build / "languages.apkg")
    assert (log.new, log.conflicting, log.duplicate, log.missing_notetype) == (0, 0, 0, 0), log
    assert log.updated == len(NOTES)
    after = snapshot(col)
    assert after.revlog == before.revlog > 0
    assert after.cards == before.cards  # ids, intervals, due dates, reps, lapses
    assert set(after.notes) == set(before.notes)
    assert after.note_types == before.note_types  # no "Basic+" copies, CSS as it was
    media = media_hasher(original_media)
    for nid, (guid, type_name, fields, tags) in before.notes.items():
        new_guid, new_type, new_fields, new_tags = after.notes[nid]
        assert (new_guid, new_type) == (guid, type_name)
        assert set(new_fields) == set(fields)
        for name, value in fields.items():
            assert visible(new_fields[name], media) == visible(value, media), (type_name, name)
        assert set(tags) <= set(new_tags)


def test_second_round_trip_gives_the_same_markdown(
    learner: tuple[AnkiCollection, Path, Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    """Import the build's own package: the same Markdown (media now carry the build's
    content-hashed names), and a third round trip changes nothing at all."""
    _col, apkg, _colpkg = learner
    first, second, third = (tmp_path / f"deck{n}" for n in (1, 2, 3))
    run_ok(cli, "import", apkg, "--out", first)
    run_ok(cli, "build", first, "--out", tmp_path / "build1")
    run_ok(cli, "import", tmp_path / "build1" / "languages.apkg", "--out", second)
    one, two = tree_text(first), tree_text(second)
    renamed = {}
    for path, data in two.items():
        if path.startswith("media/"):
            (old,) = [p for p, d in one.items() if p.startswith("media/") and d == data]
            renamed[old] = path
    assert len(renamed) == 3
    for path, data in one.items():
        if path.endswith((".md", ".toml")):
            text = data.decode()
            for old, new in renamed.items():
                text = text.replace(old, new)
            assert two[path].decode() == text, path
    run_ok(cli, "build", second, "--out", tmp_path / "build2")
    run_ok(cli, "import", tmp_path / "build2" / "languages.apkg", "--out", third)
    three = tree_text(third)
    assert {p: d for p, d in three.items() if p != "deck.lock"} == {
        p: d for p, d in two.items() if p != "deck.lock"
    }


@pytest.mark.slow
def test_the_shipped_deck_survives_build_import_build_byte_for_byte(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "content"
    for path, data in tree_text(CONTENT).items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes(data)
    run_ok(cli, "build", source, "--out", tmp_path / "build1")
    deck = tmp_path / "imported"
    run_ok(cli, "import", tmp_path / "build1" / "python-interview.apkg", "--out", deck)
    run_ok(cli, "build", deck, "--out", tmp_path / "build2")
    first, second = tree_text(tmp_path / "build1"), tree_text(tmp_path / "build2")
    assert sorted(first) == sorted(second)
    for name, data in first.items():
        assert second[name] == data, name


# Bad input: one line, exit 1 (2 for usage), nothing written.


def refused(
    cli: Callable[..., object], args: list[object], out: Path, fragment: str, code: int = 1
) -> None:
    result = cli("import", *args, "--out", out)
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "error" in lines[0], lines
    assert fragment in lines[0], lines
    assert not out.exists() or not any(out.iterdir())
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert not list(out.parent.glob(f".{out.name}.*"))  # no temporary folder left


def test_not_a_zip_and_not_a_package_are_refused(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    text = tmp_path / "notes.apkg"
    text.write_text("hello")
    refused(cli, [text], tmp_path / "out", "not a zip file")
    other = tmp_path / "other.apkg"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hi")
    refused(cli, [other], tmp_path / "out", "not an Anki package")
    refused(cli, [tmp_path / "missing.apkg"], tmp_path / "out", "no such file")


def test_a_newer_package_format_is_refused(
    learner: tuple[AnkiCollection, Path, Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    from anki.import_export_pb2 import PackageMetadata

    _col, apkg, _colpkg = learner
    newer = tmp_path / "newer.apkg"
    with zipfile.ZipFile(apkg) as source, zipfile.ZipFile(newer, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "meta":
                data = PackageMetadata(version=7).SerializeToString()  # type: ignore[arg-type]
            target.writestr(info, data)
    refused(cli, [newer], tmp_path / "out", "newer format")


def test_a_missing_deck_and_several_decks_are_refused(
    learner: tuple[AnkiCollection, Path, Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    col, apkg, _colpkg = learner
    refused(cli, [apkg, "--deck", "Nope"], tmp_path / "out", "no deck named 'Nope'")
    path = tmp_path / "learner" / "collection.anki2"
    col.close()
    refused(cli, ["--collection", path, "--deck", "Nope"], tmp_path / "out", "no deck named")
    col = AnkiCollection(path)
    note = col.col.new_note(col.col.models.by_name("Basic"))  # type: ignore[arg-type]
    note["Front"] = "elsewhere"
    note["Back"] = "here"
    col.col.add_note(note, col.col.decks.id("Other"))  # type: ignore[arg-type]
    both = tmp_path / "both.colpkg"
    col.col.export_collection_package(str(both), include_media=True, legacy=False)
    refused(cli, [both], tmp_path / "out", "several decks (Languages, Other)")
    run_ok(cli, "import", both, "--deck", "Other", "--out", tmp_path / "other")
    assert "## elsewhere" in (tmp_path / "other" / "other" / "01-other.md").read_text()


def test_a_collection_open_in_anki_is_refused_and_never_modified(
    learner: tuple[AnkiCollection, Path, Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    col, _apkg, _colpkg = learner
    path = tmp_path / "learner" / "collection.anki2"
    refused(cli, ["--collection", path, "--deck", TOP], tmp_path / "out", "open in Anki")
    col.close()
    before = path.read_bytes()
    beside = sorted(p.name for p in path.parent.iterdir())
    run_ok(cli, "import", "--collection", path, "--deck", TOP, "--out", tmp_path / "deck")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == beside  # no -wal, no -shm
    run_ok(cli, "import", "--collection", path, "--deck", TOP, "--out", tmp_path / "again")
    assert len(list((tmp_path / "deck").rglob("*.md"))) == 6
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")  # another program holds it
    try:
        refused(cli, ["--collection", path, "--deck", TOP], tmp_path / "out2", "open in Anki")
    finally:
        conn.close()


def test_media_leaving_the_folder_is_refused(
    learner: tuple[AnkiCollection, Path, Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    col, _apkg, _colpkg = learner
    c = col.col
    (nid,) = c.find_notes('"Word:gato"')
    note = c.get_note(nid)
    note["Meaning"] = 'cat <img src="../secret.png">'
    c.update_note(note)
    col.close()
    path = tmp_path / "learner" / "collection.anki2"
    refused(cli, ["--collection", path, "--deck", TOP], tmp_path / "out", "leaving the media")


def test_dry_run_lists_and_writes_nothing_and_out_must_be_empty(
    learner: tuple[AnkiCollection, Path, Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    _col, apkg, _colpkg = learner
    out = tmp_path / "deck"
    text = run_ok(cli, "import", apkg, "--out", out, "--dry-run")
    assert not out.exists()
    assert f"would write {out / 'deck.toml'}" in text and "nothing written" in text
    assert f"would write {out / 'media' / 'paris.png'}" in text
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = cli("import", apkg, "--out", out)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "--force" in result.stderr  # type: ignore[attr-defined]
    assert (out / "keep.txt").read_text() == "mine"
    run_ok(cli, "import", apkg, "--out", out, "--force")
    assert not (out / "keep.txt").exists() and (out / "deck.toml").is_file()
    # never replace the folder holding the package (or a profile holding the collection)
    result = cli("import", apkg, "--out", apkg.parent, "--force")
    assert result.exit_code == 2 and apkg.is_file()  # type: ignore[attr-defined]
    assert "may not hold what is imported" in result.stderr  # type: ignore[attr-defined]


def test_usage_errors_exit_2(cli: Callable[..., object], tmp_path: Path) -> None:
    for args in (
        ["import", "--out", tmp_path / "o"],
        ["import", tmp_path / "a.apkg", "--collection", tmp_path / "c", "--out", tmp_path / "o"],
        ["import", "--collection", tmp_path / "c", "--out", tmp_path / "o"],
        ["import", tmp_path / "a.apkg"],
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)  # type: ignore[attr-defined]
        assert "Traceback" not in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", ["anki.collection", "markdownify"])
def test_without_the_anki_extra_import_says_how_to_install_it(
    module: str, cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "deck.apkg"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("collection.anki21b", b"\x28\xb5\x2f\xfd")
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, "cardsmith.unhtml", raising=False)
    result = cli("import", package, "--out", tmp_path / "out")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert result.stderr == (  # type: ignore[attr-defined]
        "cardsmith: error: import needs the Anki backend: pip install 'cardsmith[anki]'\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_media_name_leaving_the_folder_in_a_package_is_refused(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    """A package whose media list names `../evil.png` (and a note that uses it)."""
    deck = tmp_path / "src"
    (deck / "basic").mkdir(parents=True)
    (deck / "deck.toml").write_text('name = "Evil"\nlevels = ["basic"]\n')
    (deck / "basic" / "a.md").write_text("---\nlevel: basic\n---\n## Q {#q}\n\n![](dot.png)\n")
    (deck / "basic" / "dot.png").write_bytes(png((1, 2, 3)))
    run_ok(cli, "build", deck, "--out", tmp_path / "build")
    good = tmp_path / "build" / "evil.apkg"
    evil = tmp_path / "evil.apkg"
    scratch = tmp_path / "collection.anki2"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(evil, "w") as target:
        scratch.write_bytes(source.read("collection.anki2"))
        conn = sqlite3.connect(scratch)
        conn.execute("UPDATE notes SET flds = replace(flds, 'src=\"cs-', 'src=\"../cs-')")
        conn.commit()
        conn.close()
        target.write(scratch, "collection.anki2")
        (name,) = json.loads(source.read("media")).values()
        target.writestr("media", json.dumps({"0": f"../{name}"}))
        target.writestr("0", source.read("0"))
    refused(cli, [evil], tmp_path / "out", "error")
    # the field's reference alone (the media list as it was) is refused by cardsmith
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(tmp_path / "ref.apkg", "w") as target:
        target.write(scratch, "collection.anki2")
        target.writestr("media", source.read("media"))
        target.writestr("0", source.read("0"))
    refused(cli, [tmp_path / "ref.apkg"], tmp_path / "out", "leaving the media folder")


def test_media_names_are_made_safe_and_unique(cli: Callable[..., object], tmp_path: Path) -> None:
    col = AnkiCollection(tmp_path / "c" / "collection.anki2")
    c = col.col
    for name, rgb in (("a b.png", (1, 1, 1)), ("a-b.png", (2, 2, 2)), ("a+b.png", (3, 3, 3))):
        c.media.write_data(name, png(rgb))
        note = c.new_note(c.models.by_name("Basic"))  # type: ignore[arg-type]
        note["Front"] = f"Which is {rgb[0]}?"
        note["Back"] = f'<img src="{name}">'
        c.add_note(note, c.decks.id("Pics"))  # type: ignore[arg-type]
    col.close()
    out = tmp_path / "deck"
    run_ok(cli, "import", "--collection", tmp_path / "c", "--deck", "Pics", "--out", out)
    names = sorted(p.name for p in (out / "media").iterdir())
    assert names == ["a-b-2.png", "a-b-3.png", "a-b.png"]
    contents = {(out / "media" / n).read_bytes() for n in names}
    assert len(contents) == 3
    run_ok(cli, "build", out, "--out", tmp_path / "build")
