"""Hostile and unlucky input, generated: every class of issue 12, several variants each.

Each test makes its attack (names, files, packages, cache entries, kills), runs the
command line as a user does, and checks the promise: the exit status and the message,
no traceback, a time bound, nothing written outside --out, and the package (read back
through real Anki; conftest imports every package a test builds in-process) and the
preview free of executable content. Attacks that could hang run the CLI in a
subprocess with a timeout. tests/bad_inputs/ holds a file-based case of each class
that can be kept as files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from .ankihelp import AnkiCollection

TOML = 'name = "Hostile"\nlevels = ["basic", "advanced"]\n'
FRONT = "---\nlevel: basic\n---\n"
CARD = "## What is a pointer? {#q}\n\nAn address.\n"
# The upper bound on any one command here; the slowest attack takes a few seconds.
BOUND = 30.0
PIC = (Path(__file__).parent / "bad_inputs" / "media-case-names" / "pic.png").read_bytes()


# --- Running the CLI, and checking what it left ---------------------------------------


@dataclass(frozen=True)
class Done:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def lines(self) -> list[str]:
        return self.stderr.splitlines()


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = BOUND) -> Done:
    """The CLI in its own process, as a user runs it; never a traceback, never a hang."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cardsmith", *map(str, args)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    result = Done(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def in_process(cli: Callable[..., object], *args: str | Path) -> Done:
    """The CLI in this process (so that conftest imports what it builds into Anki)."""
    started = time.monotonic()
    result: Any = cli(*args)
    done = Done(result.exit_code, result.stdout, result.stderr, time.monotonic() - started)
    assert "Traceback" not in done.stderr
    assert done.seconds < BOUND
    return done


def snapshot(root: Path, leave_out: Path) -> dict[str, tuple[int, int]]:
    """Every path below root but leave_out, files with their size and modification time
    (a folder's own time changes when --out is made in it)."""
    seen: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != leave_out]
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            info = path.lstat()
            is_dir = path.is_dir() and not path.is_symlink()
            seen[str(path)] = (0, 0) if is_dir else (info.st_size, info.st_mtime_ns)
    return seen


class _Executable(HTMLParser):
    """Finds what can run code in HTML: scripts, frames, event handlers, script URLs."""

    TAGS = frozenset({"script", "iframe", "frame", "object", "embed", "base", "applet"})
    URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.TAGS:
            self.found.append(f"<{tag}>")
        for key, value in attrs:
            url = "".join((value or "").split()).lower()
            if key.startswith("on"):
                self.found.append(f"<{tag} {key}=...>")
            elif key in self.URL_ATTRS and url.startswith(
                ("javascript:", "vbscript:", "data:text")
            ):
                self.found.append(f"<{tag} {key}={value!r}>")
            elif tag == "meta" and key == "http-equiv" and url == "refresh":
                self.found.append("<meta refresh>")


def executable(html_text: str) -> list[str]:
    parser = _Executable()
    parser.feed(html_text)
    parser.close()
    return parser.found


def read_back(package: Path, where: Path) -> tuple[list[str], list[str], list[str]]:
    """(deck names, deck descriptions, every card's question and answer HTML) as Anki
    has them after importing package into a fresh collection."""
    col = AnkiCollection(where / "collection.anki2")
    try:
        col.import_package(package)
        names = col.deck_names()
        descriptions = [d["desc"] for d in col.col.decks.all()]
        html_parts = [part for pair in col.rendered() for part in pair]
        return names, descriptions, html_parts
    finally:
        col.close()


def deck(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


# --- Security: metadata is text, never markup -----------------------------------------

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(2)>",
    "<script>alert(3)</script>",
    "<a href=javascript:alert(4)>x</a>",
    '"><iframe src=javascript:alert(5)>',
    "<body onpageshow=alert(6)>",
    "&lt;img src=x onerror=alert(7)&gt;",
]
# Markup in every piece of metadata cardsmith takes from names and settings.
PLACES = ["file", "folder", "title", "description", "tag"]


def _metadata_deck(root: Path, place: str, payload: str) -> Path:
    folder = payload.replace("/", "") if place == "folder" else "topics"
    file_name = (payload.replace("/", "") if place == "file" else "cards") + ".md"
    title = f"# {payload}\n\n" if place == "title" else ""
    description = json.dumps(payload if place == "description" else "A deck.")
    tags = json.dumps([payload.replace(" ", "")] if place == "tag" else [])
    return deck(
        root,
        {
            "deck.toml": f"{TOML}description = {description}\ntags = {tags}\n",
            f"{folder}/{file_name}": f"{FRONT}{title}{CARD}",
        },
    )


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("place", PLACES)
def test_markup_in_metadata_never_becomes_markup_in_anki(
    place: str, payload: str, cli: Callable[..., object], tmp_path: Path
) -> None:
    root = _metadata_deck(tmp_path / "src", place, payload)
    out = tmp_path / "out"
    done = in_process(cli, "build", root, "--out", out)
    if place == "tag" and done.code == 1:  # a tag with a quote is refused, as it says
        assert "tag" in done.stderr and "nothing written" in done.stderr
        return
    assert done.code == 0, done.stderr
    names, descriptions, cards = read_back(out / "hostile.apkg", tmp_path / "anki")
    for html_text in [*descriptions, *cards]:
        assert executable(html_text) == [], html_text
    for name in names:
        assert "<" not in name and ">" not in name, name


@pytest.mark.parametrize("payload", PAYLOADS[:5])
def test_markup_in_deck_names_is_refused(payload: str, tmp_path: Path) -> None:
    for key in ("name", "levels", "topic"):
        root = tmp_path / key
        if key == "topic":
            files = {
                "deck.toml": TOML,
                "t.md": f"---\nlevel: basic\ntopic: {json.dumps(payload)}\n---\n{CARD}",
            }
        elif key == "name":
            files = {
                "deck.toml": f'name = {json.dumps(payload)}\nlevels = ["basic"]\n',
                "t.md": FRONT + CARD,
            }
        else:
            level = json.dumps(payload.replace(" ", ""))
            files = {"deck.toml": f'name = "D"\nlevels = [{level}]\n', "t.md": FRONT + CARD}
        deck(root, files)
        done = run("check", root)
        assert done.code == 1
        assert any(
            ": error: " in line and ("'<' or '>'" in line or "'<', '>'" in line or "quote" in line)
            for line in done.lines()
        ), done.stderr


def test_preview_of_hostile_metadata_has_no_executable_content(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    root = tmp_path / "src"
    deck(root, {"deck.toml": f"{TOML}description = {json.dumps(' '.join(PAYLOADS))}\n"})
    for n, payload in enumerate(PAYLOADS):
        safe = payload.replace("/", "")
        deck(root, {f"{safe}/{safe} {n}.md": f"{FRONT}# {payload}\n\n## Q {n}? {{#q{n}}}\n\nA.\n"})
    site = tmp_path / "site"
    done = in_process(cli, "preview", root, "--out", site)
    assert done.code == 0, done.stderr
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > len(PAYLOADS)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        # The preview's own script and card frames are all there is: nothing of a payload.
        found = [f for f in executable(text) if f not in ("<script>", "<iframe>")]
        assert found == [], page
        assert not [p for p in PAYLOADS if p.startswith("<") and p in text], page
        assert text.count("<script") <= 1


def test_preview_of_hostile_metadata_runs_no_script_in_chromium(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    from . import browserhelp

    reason = browserhelp.missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    root = tmp_path / "src"
    marks = [
        "<img src=x onerror=\"document.documentElement.dataset.pwned='1'\">",
        "<svg onload=\"document.documentElement.dataset.pwned='2'\">",
        "<script>document.documentElement.dataset.pwned='3'</script>",
    ]
    deck(root, {"deck.toml": f"{TOML}description = {json.dumps(' '.join(marks))}\n"})
    for n, mark in enumerate(marks):
        safe = mark.replace("/", "")
        deck(root, {f"{safe} {n}.md": f"{FRONT}# {mark}\n\n## Q {n}? {{#q{n}}}\n\nA.\n"})
    site = tmp_path / "site"
    assert in_process(cli, "preview", root, "--out", site).code == 0
    pages = [site / "index.html", *sorted((site / "cards").glob("*.html"))]
    check = (
        "var bad = [];"
        "function scan(doc) {"
        "  var ran = doc.documentElement.dataset.pwned;"
        "  if (ran) bad.push('ran ' + ran);"
        "  doc.querySelectorAll('*').forEach(function (el) {"
        "    Array.from(el.attributes).forEach(function (a) {"
        "      if (/^on/i.test(a.name)) bad.push(el.tagName + ' ' + a.name);"
        "      if (/^\\s*javascript:/i.test(a.value)) bad.push(el.tagName + ' ' + a.name + ' js');"
        "    });"
        "  });"
        "}"
        "scan(document);"
        "document.querySelectorAll('iframe').forEach(function (f) {"
        "  try { scan(f.contentDocument); } catch (e) {}"
        "});"
        "return bad;"
    )
    with browserhelp.chromium("--allow-file-access-from-files") as driver:
        for page in pages:
            driver.get(page.resolve().as_uri())
            time.sleep(0.05)
            assert driver.execute_script(check) == [], page


# --- Security: names from content never become paths ----------------------------------

LEVEL_NAMES = ["../escape", "a/../../b", "..", "x\\..\\y", "/etc", "~root", "%2e%2e", "C:evil"]


@pytest.mark.parametrize("level", LEVEL_NAMES)
def test_level_names_never_leave_the_output_folder(
    level: str, cli: Callable[..., object], tmp_path: Path
) -> None:
    root = deck(
        tmp_path / "work" / "src",
        {
            "deck.toml": f'name = "../../{level}"\nlevels = [{json.dumps(level)}]\n',
            "t.md": f"---\nlevel: {json.dumps(level)}\n---\n{CARD}",
        },
    )
    out = tmp_path / "work" / "out"
    before = snapshot(tmp_path, out)
    done = in_process(cli, "build", root, "--out", out)
    assert done.code in (0, 1), done.stderr
    assert snapshot(tmp_path, out) == before  # nothing written outside --out
    if done.code == 0:
        written = sorted(p.name for p in out.glob("*.apkg"))
        assert written and all(p.parent == out for p in out.rglob("*.apkg"))
        assert all("/" not in n and ".." not in n.removesuffix(".apkg") for n in written)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("C Interview", "C++ Interview"),
        ("Foo Bar", "foo-bar"),
        ("Deck", "deck"),
        ("Ünïcode", "ünïcode"),
    ],
)
def test_decks_that_slug_alike_are_an_error_naming_both(
    first: str, second: str, cli: Callable[..., object], tmp_path: Path
) -> None:
    root = tmp_path / "src"
    for folder, name in (("one", first), ("two", second)):
        deck(
            root / folder,
            {"deck.toml": f'name = "{name}"\nlevels = ["basic"]\n', "t.md": FRONT + CARD},
        )
    out = tmp_path / "out"
    done = in_process(cli, "build", root, "--out", out)
    assert done.code == 1
    clash = [line for line in done.lines() if "would also be written by deck" in line]
    assert clash and "slug" in clash[0] and (first in clash[0] or second in clash[0])
    assert not out.exists() or not list(out.glob("*.apkg"))


@pytest.mark.parametrize(
    "heading",
    [
        "## Capital of France? {.reverse}",
        "## Capital of France?   {.reverse}  ",
        "## Capital of France? {.reverse} ##",
        "## Capital of France? {.reverse}\t",
    ],
)
def test_ids_write_keeps_the_reverse_marker(
    heading: str, cli: Callable[..., object], tmp_path: Path
) -> None:
    root = deck(tmp_path / "src", {"deck.toml": TOML, "t.md": f"{FRONT}{heading}\n\nParis.\n"})
    assert in_process(cli, "ids", root, "--write").code == 0
    line = (root / "t.md").read_text(encoding="utf-8").splitlines()[3]
    assert line.count("{") == 1 and ".reverse" in line and "#" in line.split("{")[1], line
    out = tmp_path / "out"
    done = in_process(cli, "build", root, "--out", out)
    assert done.code == 0 and "(1 note, 2 cards)" in done.stdout, done.stdout
