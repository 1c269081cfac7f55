"""`cardsmith verify`: what Anki makes of a package, problems named, exit codes for machines."""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import genanki
import pytest
from anki.generic_pb2 import Empty
from anki.import_export_pb2 import ExportAnkiPackageOptions, ExportLimit

from .ankihelp import AnkiCollection

pytestmark = pytest.mark.anki

FIXTURE = Path(__file__).parent / "fixtures" / "sample"

SIMPLE = genanki.Model(
    1_600_000_001,
    "Simple",
    fields=[{"name": "Question"}, {"name": "Answer"}],
    templates=[
        {"name": "Card 1", "qfmt": "{{Question}}", "afmt": "{{FrontSide}}<hr id=answer>{{Answer}}"}
    ],
)
BROKEN_TEMPLATE = genanki.Model(
    1_600_000_002,
    "Broken template",
    fields=[{"name": "Question"}, {"name": "Answer"}],
    templates=[{"name": "Card 1", "qfmt": "{{Question}} {{Nope}}", "afmt": "{{Answer}}"}],
)


def broken_package(tmp_path: Path) -> Path:
    """A package with one of each problem, made with genanki directly (not by cardsmith)."""
    deck = genanki.Deck(2_000_000_001, "Broken")
    notes = [
        (SIMPLE, ['Where is it? <img src="missing.png">', "gone"], "missing-img"),
        (SIMPLE, ["<br>", "a front that is only a line break"], "blank-front"),
        (SIMPLE, ["", "an empty front: genanki makes no card"], "no-cards"),
        (SIMPLE, ["first twin", "a"], "twin"),
        (SIMPLE, ["second twin", "b"], "twin"),
        (SIMPLE, ['fine <img src="present.png">', "c"], "fine"),
        (BROKEN_TEMPLATE, ["template", "d"], "bad-template"),
    ]
    for model, fields, guid in notes:
        deck.add_note(genanki.Note(model=model, fields=fields, guid=guid))
    media = tmp_path / "media"
    media.mkdir()
    (media / "present.png").write_bytes(b"\x89PNG present")
    (media / "unused.png").write_bytes(b"\x89PNG unused")
    (media / "_template-font.woff").write_bytes(b"kept by the _ convention")
    package = genanki.Package(deck)
    package.media_files = [str(media / n) for n in ("present.png", "unused.png")]
    package.media_files.append(str(media / "_template-font.woff"))
    path = tmp_path / "broken.apkg"
    package.write_to_file(str(path))
    return path


@pytest.fixture
def built(cli: Callable[..., object], tmp_path: Path) -> dict[str, Path]:
    result = cli("build", FIXTURE, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return {p.name: p for p in (tmp_path / "out").glob("*.apkg")}


def test_clean_packages_exit_0_with_decks_note_types_and_media(
    cli: Callable[..., object], built: dict[str, Path]
) -> None:
    result = cli("verify", *sorted(built.values()))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "ok: 4 package(s), no problems" in out
    assert "sample-deck.apkg: 6 note(s), 6 card(s), 2 media file(s)" in out
    assert "Sample Deck::1. Basic::1. Lists and tuples" in out
    assert "note type  cardsmith basic: 6 note(s)" in out
    assert result.stderr == ""  # type: ignore[attr-defined]


def test_broken_package_names_every_problem_and_exits_1(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    path = broken_package(tmp_path)
    result = cli("verify", path)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    errors = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert all(line.startswith(f"{path}: error: ") for line in errors[:-1])
    text = "\n".join(errors)
    assert "duplicate GUID 'twin' on 2 notes ('first twin', 'second twin')" in text
    assert "missing media 'missing.png': used by note 'Where is it?'" in text
    assert "unused media 'unused.png'" in text
    assert "_template-font.woff" not in text  # the _ prefix keeps a file for templates
    assert "blank front: card 'Card 1' of note '(blank first field)' (guid 'blank-front')" in text
    assert "(guid 'no-cards') has no cards" in text
    assert "template error in note type 'Broken template', card 'Card 1' (1 card(s))" in text
    assert "there is no field called 'Nope'" in text
    assert errors[-1] == "failed: 6 problem(s) in 1 of 1 package(s)"


def test_json_output_for_machines(
    cli: Callable[..., object], tmp_path: Path, built: dict[str, Path]
) -> None:
    broken = broken_package(tmp_path)
    result = cli("verify", "--json", built["sample-deck.apkg"], broken)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert data["ok"] is False
    clean, bad = data["packages"]
    assert clean["ok"] is True and clean["problems"] == []
    assert (clean["notes"], clean["cards"], len(clean["media"])) == (6, 6, 2)
    assert {"name": "Sample Deck", "cards": 6} in clean["decks"]
    assert {"name": "Sample Deck::3. Advanced::1. Generators", "cards": 1} in clean["decks"]
    assert clean["note_types"] == [{"name": "cardsmith basic", "notes": 6}]
    assert bad["path"] == str(broken)
    assert sorted(p["kind"] for p in bad["problems"]) == [
        "blank-front",
        "duplicate-guid",
        "missing-media",
        "note-without-cards",
        "template-error",
        "unused-media",
    ]
    assert sorted(bad["media"]) == ["_template-font.woff", "present.png", "unused.png"]


def test_packages_exported_by_anki_itself_old_and_current_format(
    cli: Callable[..., object],
    tmp_path: Path,
    built: dict[str, Path],
    collection: AnkiCollection,
) -> None:
    """Not only ours: Anki's own exports, including the zstd-compressed current format."""
    collection.import_package(built["sample-deck.apkg"])
    for legacy in (True, False):
        out = tmp_path / f"anki-export-{legacy}.apkg"
        collection.col.export_anki_package(
            out_path=str(out),
            options=ExportAnkiPackageOptions(with_media=True, legacy=legacy),
            limit=ExportLimit(whole_collection=Empty()),
        )
        result = cli("verify", "--json", out)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        (report,) = json.loads(result.stdout)["packages"]  # type: ignore[attr-defined]
        assert (report["notes"], report["cards"], len(report["media"])) == (6, 6, 2)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nothing-here.apkg", None, "no such file"),
        ("notes.apkg", b"this is not a zip", "not an Anki package (.apkg is a zip)"),
        ("empty.apkg", "zip-without-collection", "the zip holds no collection"),
    ],
)
def test_missing_or_corrupt_file_is_one_line_and_exit_2(
    cli: Callable[..., object],
    tmp_path: Path,
    built: dict[str, Path],
    name: str,
    content: bytes | str | None,
    message: str,
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "no collection")
    result = cli("verify", built["sample-deck.apkg"], path)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]  # nothing verified: all or nothing
    (line,) = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert line.startswith(f"{path}: error: ") and message in line


def test_without_the_anki_backend_a_clear_message_and_exit_2(
    cli: Callable[..., object], built: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "anki.collection", None)  # import now fails
    result = cli("verify", built["sample-deck.apkg"])
    assert result.exit_code == 2  # type: ignore[attr-defined]
    (line,) = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert "needs the Anki backend" in line and "pip install 'cardsmith[anki]'" in line


def test_verify_needs_at_least_one_package(cli: Callable[..., object]) -> None:
    assert cli("verify").exit_code == 2  # type: ignore[attr-defined]
