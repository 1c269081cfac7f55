"""Build outputs: reproducible bytes, atomic writes, content-named media."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import SAMPLE_TOML, Tree, output_module

FIXTURE = Path(__file__).parent / "fixtures" / "sample"


def test_same_sources_same_epoch_give_identical_bytes(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two builds (different folders, copies made at different times) are byte-identical."""
    first_src = Path(shutil.copytree(FIXTURE, tmp_path / "a"))
    second_src = Path(shutil.copytree(FIXTURE, tmp_path / "b", copy_function=shutil.copy))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert cli("build", first_src, "--out", tmp_path / "o1").exit_code == 0  # type: ignore[attr-defined]
    assert cli("build", second_src, "--out", tmp_path / "o2").exit_code == 0  # type: ignore[attr-defined]
    first = {p.name: p.read_bytes() for p in (tmp_path / "o1").glob("*.apkg")}
    second = {p.name: p.read_bytes() for p in (tmp_path / "o2").glob("*.apkg")}
    assert len(first) == 4
    assert first == second


def test_build_leaves_no_temporary_files(cli: Callable[..., object], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("build", FIXTURE, "--out", out).exit_code == 0  # type: ignore[attr-defined]
    assert cli("build", FIXTURE, "--out", out).exit_code == 0  # type: ignore[attr-defined]
    assert sorted(p.name for p in out.iterdir()) == [
        ".cardsmith-cache",
        "sample-deck-advanced.apkg",
        "sample-deck-basic.apkg",
        "sample-deck-intermediate.apkg",
        "sample-deck.apkg",
    ]
    cache = sorted(p.name for p in (out / ".cardsmith-cache").iterdir())
    assert len(cache) == 4 and "packages.json" in cache  # one file per source file
    assert all(name.endswith(".json") for name in cache)


def test_failed_write_keeps_old_package_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that dies midway leaves the earlier file as it was and no temp file."""
    output = output_module()
    target = tmp_path / "deck.apkg"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        output.write_atomic(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["deck.apkg"]


def test_same_image_in_two_cards_is_packaged_once(
    cli: Callable[..., object], tree: Callable[[Tree], Path], tmp_path: Path
) -> None:
    png = (FIXTURE / "basic" / "img" / "diagram.png").read_bytes()
    root = tree(
        {
            "deck.toml": SAMPLE_TOML,
            "a/pic.png": png,
            "b/copy.png": png,
            "a/t.md": "---\nlevel: basic\n---\n## A?\n\n![](pic.png)\n",
            "b/t.md": "---\nlevel: basic\n---\n## B?\n\n![](copy.png)\n",
        }
    )
    import json
    import zipfile

    assert cli("build", root, "--out", tmp_path / "out").exit_code == 0  # type: ignore[attr-defined]
    with zipfile.ZipFile(tmp_path / "out" / "sample-deck.apkg") as archive:
        media = json.loads(archive.read("media"))
    assert len(media) == 1
