"""Shared fixtures: content trees written from dicts, the CLI, and a real Anki collection.

Also the one Hypothesis profile of the suite, and the markers tests get from the fixtures
they use (see pyproject.toml for the list of markers).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from cardsmith.cli import app

from .ankihelp import AnkiCollection

Tree = dict[str, str | bytes]

# One Hypothesis profile everywhere. In CI (CI=true) every run tries the same examples and
# keeps no database, so a red CI run is reproducible and a green one means the same thing
# every time; locally each run explores new random inputs and remembers what failed (in
# .hypothesis/) so the next run tries it first. A failure found locally becomes an explicit
# @example or test (see test_fuzz.py), so CI keeps checking it too.
IN_CI = os.environ.get("CI") == "true"
settings.register_profile(
    "cardsmith",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=IN_CI,
    database=None if IN_CI else settings.default.database,
    print_blob=True,
)
settings.load_profile("cardsmith")

SAMPLE_TOML = """\
name = "Sample Deck"
levels = ["basic", "intermediate", "advanced"]
description = "A deck for tests."
tags = ["sample"]
"""


def write_tree(root: Path, files: Tree, dedent: bool = True) -> Path:
    """Create files below root; str values are (dedented) text, bytes are written as they are."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content) if dedent else content, encoding="utf-8")
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


# sha256 of every package already imported into Anki in this session: the same bytes import
# the same way, so each distinct package is checked once (a deck with one level writes the
# same package twice, rebuilds rewrite it, and Hypothesis repeats inputs while shrinking).
_imported: set[str] = set()


def assert_imports_cleanly(data: bytes, where: Path, empty: Path | None = None) -> None:
    """Import one package into a fresh, real Anki collection: nothing conflicting or missing
    its note type, and Anki's media check finds no missing and no unused files.

    empty: a just-created collection file to start from (a copy opens faster than Anki
    creates a new one)."""
    package = where / "package.apkg"
    package.write_bytes(data)
    if empty is not None:
        shutil.copyfile(empty, where / "collection.anki2")
    col = AnkiCollection(where / "collection.anki2")
    try:
        log = col.import_package(package)
        assert log.conflicting == 0 and log.missing_notetype == 0, log
        check = col.col.media.check()
        assert not check.missing and not check.unused, (check.missing, check.unused)
    finally:
        col.close()


@pytest.fixture(scope="session")
def empty_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file of a new, empty Anki collection, closed: copy it to start a fresh one."""
    path = tmp_path_factory.mktemp("empty-collection") / "collection.anki2"
    AnkiCollection(path).close()
    return path


@pytest.fixture(autouse=True, scope="session")
def private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Builds keep their cache key under $XDG_CACHE_HOME: the tests use a folder of their own,
    not the home folder of whoever runs them."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(autouse=True)
def every_package_imports_cleanly(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    empty_collection: Path,
) -> Iterator[None]:
    """Every distinct .apkg a test builds in-process is imported into a fresh, real Anki
    collection at the end of the first test that writes it (see assert_imports_cleanly)."""
    from cardsmith import output

    written: dict[str, bytes] = {}
    original = output.write_temp  # every package goes through it (then is renamed)

    def recording(path: Path, data: bytes | Iterator[bytes], durable: bool = True) -> Path:
        if path.suffix != ".apkg":
            return original(path, data, durable)
        data = data if isinstance(data, bytes) else b"".join(data)
        temp = original(path, data, durable)  # only a package that was written is checked
        digest = hashlib.sha256(data).hexdigest()
        if digest not in _imported:
            written.setdefault(digest, data)
        return temp

    monkeypatch.setattr(output, "write_temp", recording)
    yield
    for digest, data in written.items():
        if digest in _imported:
            continue
        assert_imports_cleanly(data, tmp_path_factory.mktemp("anki-check"), empty_collection)
        _imported.add(digest)


@pytest.fixture
def collection(tmp_path: Path) -> Iterator[AnkiCollection]:
    """A fresh, empty Anki collection (Anki's own backend)."""
    col = AnkiCollection(tmp_path / "anki" / "collection.anki2")
    try:
        yield col
    finally:
        col.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that open a real Anki collection are `anki` tests, whichever module they are in."""
    for item in items:
        if "collection" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.anki)
