"""The note types' modification time moves with their content and never lies in the future.

Anki applies a package's note type (CSS, templates) only when its modification time is
newer than the learner's copy: a CSS change without a newer time is silently ignored,
and a time in the future blocks every later fix until it has passed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cardsmith import kinds, resources

from .conftest import SAMPLE_TOML, Tree

KINDS_PY = Path(kinds.__file__)


def test_note_type_content_matches_its_recorded_digest() -> None:
    """Changing card CSS or templates without moving NOTE_TYPE_EPOCH fails here."""
    assert kinds.note_type_digest() == kinds.NOTE_TYPE_DIGEST, (
        "the note types' CSS or templates changed: set kinds.NOTE_TYPE_DIGEST to "
        f"{kinds.note_type_digest()!r} and kinds.NOTE_TYPE_EPOCH to the current time "
        f"({int(time.time())})"
    )


def test_a_css_change_changes_the_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest covers the card CSS and every template, so the test above can fail."""
    original = resources.read
    for name in ["card.css"] + [t.front_file for k in kinds.KINDS for t in k.templates]:
        kinds.note_type_digest.cache_clear()
        monkeypatch.setattr(
            resources, "read", lambda n, name=name: original(n) + ("<!-- -->" if n == name else "")
        )
        assert kinds.note_type_digest() != kinds.NOTE_TYPE_DIGEST, name
    kinds.note_type_digest.cache_clear()


def _committed_at() -> int | None:
    """When kinds.py was last committed, or None if it has uncommitted changes."""
    root = KINDS_PY.parent
    try:
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", KINDS_PY.name], cwd=root, check=False
        ).returncode
        stamp = subprocess.run(
            ["git", "log", "-1", "--format=%ct", "--", KINDS_PY.name],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return None if dirty or not stamp else int(stamp)


def test_note_type_epoch_is_not_later_than_the_commit_that_sets_it() -> None:
    committed = _committed_at()
    limit = committed if committed is not None else int(time.time())
    assert limit >= kinds.NOTE_TYPE_EPOCH, (
        f"NOTE_TYPE_EPOCH {kinds.NOTE_TYPE_EPOCH} is later than {limit}: a time in the "
        "future makes Anki ignore every note-type fix until then"
    )


def test_packages_date_their_note_types_between_epoch_and_now(
    tmp_path: Path, cli: Callable[..., Any], tree: Callable[[Tree], Path]
) -> None:
    """A package's note types say at least NOTE_TYPE_EPOCH and never a time to come."""
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": "---\nlevel: basic\n---\n## Q\n\nA.\n"})
    assert cli("build", root, "--out", tmp_path / "out").exit_code == 0
    with zipfile.ZipFile(tmp_path / "out" / "sample-deck.apkg") as archive:
        data = archive.read("collection.anki2")
    conn = sqlite3.connect(":memory:")
    conn.deserialize(data)
    (models,) = conn.execute("SELECT models FROM col").fetchone()
    conn.close()
    mods = [model["mod"] for model in json.loads(models).values()]
    assert mods and all(kinds.NOTE_TYPE_EPOCH <= mod <= time.time() for mod in mods)
