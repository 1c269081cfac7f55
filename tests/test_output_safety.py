"""Builds running at once, or killed midway, never leave a broken package behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cardsmith.output import TEMP_SUFFIX, remove_stale_temps

from .conftest import write_tree

TOML = 'name = "Race"\nlevels = ["basic"]\ndefault_level = "basic"\n'


def make_deck(root: Path, cards: int, word: str) -> Path:
    body = "".join(
        f"## Question {i}? {{#q{i}}}\n\n{word} answer {i} with `code`.\n\n"
        f"```python\nprint({i})\n```\n\n"
        for i in range(cards)
    )
    return write_tree(root, {"deck.toml": TOML, "cards.md": body})


def cardsmith(*args: str | Path, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cardsmith", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"},
    )


def complete(package: Path) -> bool:
    with zipfile.ZipFile(package) as archive:
        return archive.testzip() is None and "collection.anki2" in archive.namelist()


@pytest.mark.slow
def test_two_builds_into_one_folder_at_once(tmp_path: Path) -> None:
    """Each package ends up whole: exactly what one of the two builds produced."""
    first = make_deck(tmp_path / "one", 600, "first")
    second = make_deck(tmp_path / "two", 600, "second")
    expected = {}
    for name, src in (("one", first), ("two", second)):
        assert cardsmith("build", src, "--out", tmp_path / f"ref-{name}").wait() == 0
        expected[name] = (tmp_path / f"ref-{name}" / "race.apkg").read_bytes()
    assert expected["one"] != expected["two"]

    shared = tmp_path / "shared"
    for _ in range(3):
        runs = [cardsmith("build", src, "--out", shared) for src in (first, second)]
        assert [run.wait() for run in runs] == [0, 0]
        data = (shared / "race.apkg").read_bytes()
        assert data in (expected["one"], expected["two"])
        assert not list(shared.glob(f"*{TEMP_SUFFIX}"))


def kill_when(src: Path, out: Path, moment: Callable[[int], bool]) -> bool:
    """Start a build and kill -9 it as soon as moment(pid) is true.
    True if it was killed, False if it finished first."""
    run = cardsmith("build", src, "--out", out)
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        if moment(run.pid):
            run.send_signal(signal.SIGKILL)
            break
    run.wait()
    return run.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_killed_build_leaves_earlier_packages_readable(tmp_path: Path) -> None:
    """kill -9 a rebuild while it writes its first package, after it replaced one package,
    and after it replaced both: every package on disk stays complete, the old or the new."""
    src = make_deck(tmp_path / "deck", 1000, "old")
    old_state = tmp_path / "old"  # an earlier build's output, cache included
    assert cardsmith("build", src, "--out", old_state).wait() == 0
    before = {p.name: p.read_bytes() for p in old_state.glob("*.apkg")}
    make_deck(tmp_path / "deck", 1000, "new")
    after_ref = tmp_path / "ref"
    assert cardsmith("build", src, "--out", after_ref).wait() == 0
    after = {p.name: p.read_bytes() for p in after_ref.glob("*.apkg")}
    assert len(before) == 2 and before.keys() == after.keys()
    out = tmp_path / "out"

    def writing(pid: int) -> bool:
        return any(f".{pid}." in p.name for p in out.glob(f".*{TEMP_SUFFIX}"))

    def replaced(count: int) -> Callable[[int], bool]:
        def moment(pid: int) -> bool:
            return sum((out / name).stat().st_ino != inodes[name] for name in before) >= count

        return moment

    for moment, attempts in ((writing, 3), (replaced(1), 1), (replaced(2), 1)):
        for _ in range(attempts):
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(old_state, out)
            inodes = {name: (out / name).stat().st_ino for name in before}
            killed = kill_when(src, out, moment)
            for name in before:
                data = (out / name).read_bytes()
                assert data in (before[name], after[name]), f"{name} is neither old nor new"
                assert complete(out / name)
            if killed:
                break
        if moment is writing:  # killed mid-write: its temporary file is left behind
            assert killed and list(out.glob(f"*{TEMP_SUFFIX}")), "never caught it writing"
    # The next build cleans up what the killed build left and finishes the job.
    assert cardsmith("build", src, "--out", out).wait() == 0
    assert {p.name: p.read_bytes() for p in out.glob("*.apkg")} == after
    assert not list(out.rglob(f"*{TEMP_SUFFIX}"))


def test_stale_temp_files_of_dead_builds_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".deck.apkg.{dead.pid}.abc123{TEMP_SUFFIX}"
    live = tmp_path / f".deck.apkg.{os.getpid()}.def456{TEMP_SUFFIX}"
    stale.write_bytes(b"partial")
    live.write_bytes(b"being written")
    assert remove_stale_temps(tmp_path) == [stale]
    assert live.exists() and not stale.exists()


def test_check_subprocess_reports_errors_without_traceback(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "bad", {"deck.toml": TOML, "t.md": "## Q?\n"})
    run = cardsmith("check", src, stderr=subprocess.PIPE)
    _, stderr = run.communicate()
    assert run.returncode == 1
    assert b"Traceback" not in stderr
    assert f"{src / 't.md'}:1: error: question has an empty answer: Q?".encode() in stderr
