"""Shared fixtures: content trees written from dicts, the CLI, and a real Anki collection."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cardsmith.cli import app

from .ankihelp import AnkiCollection

Tree = dict[str, str | bytes]

SAMPLE_TOML = """\
name = "Sample Deck"
levels = ["basic", "intermediate", "advanced"]
description = "A deck for tests."
tags = ["sample"]
"""


def write_tree(root: Path, files: Tree) -> Path:
    """Create files below root; str values are dedented text, bytes are written as they are."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[Tree], Path]:
    """write_tree into a fresh folder, returning that folder."""
    counter = iter(range(1_000))

    def make(files: Tree) -> Path:
        return write_tree(tmp_path / f"src{next(counter)}", files)

    return make


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """Run the CLI in-process; returns Click's Result (exit_code, stdout, stderr)."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    runner = CliRunner()

    def run(*args: str | os.PathLike[str]) -> object:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture(autouse=True)
def every_package_imports_cleanly(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Every .apkg a test builds in-process is imported into a fresh, real Anki collection.

    It must import with nothing conflicting or missing its note type, and Anki's media
    check must find no missing and no unused files.
    """
    from cardsmith import output

    written: list[bytes] = []
    original = output.write_temp

    def recording(path: Path, data: bytes) -> Path:
        temp = original(path, data)
        if path.suffix == ".apkg":
            written.append(data)
        return temp

    monkeypatch.setattr(output, "write_temp", recording)
    yield
    for n, data in enumerate(written):
        where = tmp_path_factory.mktemp("anki-check")
        package = where / f"p{n}.apkg"
        package.write_bytes(data)
        col = AnkiCollection(where / "collection.anki2")
        try:
            log = col.import_package(package)
            assert log.conflicting == 0 and log.missing_notetype == 0, log
            check = col.col.media.check()
            assert not check.missing and not check.unused, (check.missing, check.unused)
        finally:
            col.close()


@pytest.fixture
def collection(tmp_path: Path) -> Iterator[AnkiCollection]:
    """A fresh, empty Anki collection (Anki's own backend)."""
    col = AnkiCollection(tmp_path / "anki" / "collection.anki2")
    try:
        yield col
    finally:
        col.close()
