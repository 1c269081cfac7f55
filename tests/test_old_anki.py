"""Sequential releases imported by older Anki backends (PyPI `anki` 24.11 and 2.1.66, before Anki
PR 3693 of early 2025) and by the current one, into one collection with history.

The older importer stamps every note it updates with the import time, not the package's:
a later release whose change was recorded before that import looks older than what the
learner has, and Anki keeps the learner's copy. docs/updating.md says what that means.

Slow (creates a venv under ~/.cache/cardsmith-tests, or $CARDSMITH_TEST_CACHE, once):
run with `pytest -m slow`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Tree
from .test_releases import Author, four_cards

pytestmark = pytest.mark.slow

OLD_ANKIS = ["24.11", "2.1.66"]

# Runs inside a venv holding only the `anki` package under test.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from anki.collection import Collection
    try:  # Anki 23.10 and later: the import dialog's options, at their defaults
        from anki.import_export_pb2 import (
            ImportAnkiPackageOptions, ImportAnkiPackageRequest, ImportAnkiPackageUpdateCondition)
        IF_NEWER = ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER
        OPTIONS = ImportAnkiPackageOptions(
            update_notes=IF_NEWER, update_notetypes=IF_NEWER, merge_notetypes=False,
            with_scheduling=False)
        def package_import(col, path):
            return col.import_anki_package(
                ImportAnkiPackageRequest(package_path=path, options=OPTIONS))
    except ImportError:  # earlier: a path and no options (notes are updated if newer)
        def package_import(col, path):
            return col.import_anki_package(path)
    col = Collection(sys.argv[1])
    steps = []
    for n, package in enumerate(sys.argv[2:]):
        log = package_import(col, package).log
        notes = {}
        for nid in col.find_notes(""):
            note = col.get_note(nid)
            notes[note["Front"]] = {"back": note["Back"], "mod": note.mod, "id": nid}
        if n == 0:  # the learner studies A and C, and rewrites B in their own words
            for front in ("What is A?", "What is C?"):
                card = col.get_note(notes[front]["id"]).cards()[0]
                card.start_timer()
                col.sched.answerCard(card, 3)
            note = col.get_note(notes["What is B?"]["id"])
            note["Back"] = "Beta, mine."
            col.update_note(note)
        reps = {f: col.get_note(v["id"]).cards()[0].reps for f, v in notes.items()}
        steps.append({"new": len(log.new), "updated": len(log.updated),
                      "duplicate": len(log.duplicate), "notes": notes, "reps": reps})
    col.close()
    print(json.dumps(steps))
    """
)


def old_anki_python(version: str) -> Path:
    """The python of a venv holding anki==version, made once under the cache folder."""
    cache = Path(os.environ.get("CARDSMITH_TEST_CACHE", Path.home() / ".cache" / "cardsmith-tests"))
    venv = cache / f"anki-{version}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"anki=={version}"],
            capture_output=True,
            text=True,
        )
        if pip.returncode != 0:
            pytest.skip(f"cannot install anki=={version} from PyPI: {pip.stderr[-300:]}")
        marker.touch()
    return python


def run(python: Path | str, collection: Path, packages: list[Path]) -> list[dict[str, object]]:
    script = collection.parent / "releases.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [str(python), str(script), str(collection), *map(str, packages)],
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout))


@pytest.mark.parametrize("old_anki", OLD_ANKIS)
def test_sequential_releases_old_and_current_anki(
    old_anki: str, cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    author = Author(cli, tree(four_cards()), tmp_path / "builds")
    releases = [author.release(1_700_000_000)]
    author.edit("a.md", "Alpha.", "Alpha, second release.")
    releases.append(author.release(1_700_100_000))
    # Edited again; its change is recorded at a time before the learner imported the
    # second release (as when a learner imports a release late).
    author.edit("a.md", "Alpha, second release.", "Alpha, third release.")
    releases.append(author.release(1_700_200_000))

    results = {}
    for name, python in (("current", sys.executable), (old_anki, old_anki_python(old_anki))):
        folder = tmp_path / name
        folder.mkdir()
        results[name] = run(python, folder / "collection.anki2", releases)

    for steps in results.values():
        counts = [(s["new"], s["updated"], s["duplicate"]) for s in steps]
        assert counts[:2] == [(4, 0, 0), (0, 1, 3)]  # the second release: A updated only
        second = steps[1]["notes"]
        assert "Alpha, second release." in second["What is A?"]["back"]  # type: ignore[index]
        assert second["What is B?"]["back"] == "Beta, mine."  # type: ignore[index]
        assert steps[2]["reps"] == {"What is A?": 1, "What is B?": 0, "What is C?": 1,
                                    "What is D?": 0}  # fmt: skip
    current, old = results["current"], results[old_anki]
    # Current Anki keeps the package's time on update, so the third release applies.
    assert current[1]["notes"]["What is A?"]["mod"] == 1_700_100_000  # type: ignore[index]
    assert (current[2]["new"], current[2]["updated"], current[2]["duplicate"]) == (0, 1, 3)
    assert "Alpha, third release." in current[2]["notes"]["What is A?"]["back"]  # type: ignore[index]
    # Older Anki stamps the update with the import time (later than every release here),
    # so the third release looks older than the learner's copy and is not applied.
    assert old[1]["notes"]["What is A?"]["mod"] > 1_700_200_000  # type: ignore[index]
    assert (old[2]["new"], old[2]["updated"], old[2]["duplicate"]) == (0, 0, 4)
    assert "Alpha, second release." in old[2]["notes"]["What is A?"]["back"]  # type: ignore[index]
