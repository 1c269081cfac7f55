"""Cached, parallel and watch builds give exactly the bytes of a cold serial build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cardsmith.cache import CACHE_DIR, CARDS_PREFIX

FIXTURE = Path(__file__).parent / "fixtures" / "sample"
EPOCH = "1700000000"


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample deck plus 60 generated cards, with a fixed SOURCE_DATE_EPOCH."""
    src = Path(shutil.copytree(FIXTURE, tmp_path / "sample"))
    body = "".join(
        f"## Generated {i}? {{#gen{i}}}\n\nAnswer **{i}** with `x`.\n\n"
        f"```python\nprint({i})\n```\n\n"
        for i in range(60)
    )
    (src / "advanced" / "generated.md").write_text(f"---\nlevel: advanced\n---\n{body}")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    return src


def packages(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.apkg"))}


def run(cli: Callable[..., object], *args: str | Path) -> str:
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH  # the cli fixture clears it
    result = cli("build", *args)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


def cold(cli: Callable[..., object], src: Path, out: Path) -> dict[str, bytes]:
    run(cli, src, "--out", out, "--jobs", "1", "--no-cache")
    return packages(out)


def test_parallel_build_matches_serial(
    cli: Callable[..., object], sample: Path, tmp_path: Path
) -> None:
    serial = cold(cli, sample, tmp_path / "serial")
    run(cli, sample, "--out", tmp_path / "parallel", "--jobs", "2", "--no-cache")
    assert packages(tmp_path / "parallel") == serial
    assert len(serial) == 4


def test_cached_rebuild_after_edit_matches_cold_and_skips_unchanged(
    cli: Callable[..., object], sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = run(cli, sample, "--out", out)
    assert first.count("wrote") == 4
    again = run(cli, sample, "--out", out)
    assert again.count("unchanged") == 4 and "wrote" not in again

    lists = sample / "basic" / "lists.md"
    lists.write_text(lists.read_text().replace("Call `append`", "Use `append`"))
    edited = run(cli, sample, "--out", out)
    assert f"wrote {out / 'sample-deck.apkg'}" in edited
    assert f"wrote {out / 'sample-deck-basic.apkg'}" in edited
    assert f"unchanged {out / 'sample-deck-advanced.apkg'}" in edited
    assert f"unchanged {out / 'sample-deck-intermediate.apkg'}" in edited
    assert packages(out) == cold(cli, sample, tmp_path / "cold")


def test_changed_image_is_not_served_from_cache(
    cli: Callable[..., object], sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(cli, sample, "--out", out)
    blue = (sample / "advanced" / "img" / "diagram.png").read_bytes()
    (sample / "basic" / "img" / "diagram.png").write_bytes(blue)  # same name, new content
    run(cli, sample, "--out", out)
    assert packages(out) == cold(cli, sample, tmp_path / "cold")


@pytest.mark.parametrize("damage", ["flip-byte", "truncate", "other-fingerprint", "garbage"])
def test_corrupt_or_stale_cache_is_detected_and_rebuilt(
    damage: str, cli: Callable[..., object], sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(cli, sample, "--out", out)
    (cache,) = [
        p
        for p in (out / CACHE_DIR).glob(f"{CARDS_PREFIX}*.json")
        if b"Generated 7?" in p.read_bytes()
    ]
    data = cache.read_bytes()
    header, _, payload = data.partition(b"\n")
    if damage == "flip-byte":
        # Poison a cached card's HTML but keep the file well-formed JSON.
        cache.write_bytes(header + b"\n" + payload.replace(b"Generated 7?", b"Poisoned 7?"))
    elif damage == "truncate":
        cache.write_bytes(data[: len(data) // 2])
    elif damage == "other-fingerprint":
        meta = json.loads(header)
        meta["fingerprint"] = "0" * 64
        cache.write_bytes(json.dumps(meta).encode() + b"\n" + payload)
    else:
        cache.write_bytes(b"\x00\xff not a cache")
    # The packages on disk are damaged too, so they must be made again.
    (out / "sample-deck.apkg").write_bytes(b"broken")
    stdout = run(cli, sample, "--out", out)
    expected = "stale" if damage == "other-fingerprint" else "corrupt"
    assert f"note: the build cache was {expected}; rendered everything anew" in stdout
    assert packages(out) == cold(cli, sample, tmp_path / "cold")
    assert b"Poisoned" not in (out / "sample-deck.apkg").read_bytes()


def test_package_changed_on_disk_is_rewritten(
    cli: Callable[..., object], sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(cli, sample, "--out", out)
    (out / "sample-deck-basic.apkg").write_bytes(b"edited by hand")
    stdout = run(cli, sample, "--out", out)
    assert f"wrote {out / 'sample-deck-basic.apkg'}" in stdout
    assert packages(out) == cold(cli, sample, tmp_path / "cold")


@pytest.mark.slow
def test_watch_rebuilds_on_change_with_cold_build_bytes(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONUNBUFFERED": "1"}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "cardsmith", "build", str(sample), "--out", str(out), "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert watcher.stdout is not None
    lines: list[str] = []

    def wait_for(text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = watcher.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} in {lines}")

    try:
        wait_for("watching")
        time.sleep(0.5)
        lists = sample / "basic" / "lists.md"
        lists.write_text(lists.read_text().replace("Call `append`", "Use `append`"))
        wait_for("rebuilt in")
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        watcher.stdout.close()
    assert any(line.startswith("changed: ") and "lists.md" in line for line in lines)
    reference = tmp_path / "cold"
    done = subprocess.run(
        [sys.executable, "-m", "cardsmith", "build", str(sample), "--out", str(reference),
         "--jobs", "1", "--no-cache"],
        env=env,
        capture_output=True,
        check=True,
    )  # fmt: skip
    assert done.returncode == 0
    assert packages(out) == packages(reference)


def test_deleted_source_drops_its_cache_file_and_cards(
    cli: Callable[..., object], sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(cli, sample, "--out", out)
    before = sorted((out / CACHE_DIR).glob(f"{CARDS_PREFIX}*.json"))
    (sample / "advanced" / "generated.md").unlink()
    run(cli, sample, "--out", out)
    after = sorted((out / CACHE_DIR).glob(f"{CARDS_PREFIX}*.json"))
    assert len(after) == len(before) - 1
    assert packages(out) == cold(cli, sample, tmp_path / "cold")
