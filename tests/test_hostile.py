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

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from .ankihelp import AnkiCollection
from .conftest import write_tree

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
    (a folder's own time changes when --out is made in it). A deck's ledger (deck.lock
    beside its deck.toml) is the one source file a build writes, by design: left out."""
    seen: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != leave_out]
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            if name == "deck.lock" and (path.parent / "deck.toml").exists():
                continue
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
    """Files written exactly as given (hostile text must not be dedented)."""
    return write_tree(root, files, dedent=False)


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


# --- Hangs: library work with a per-card time limit, deep nesting ---------------------

SLOW_BODIES = {
    "runs-of-brackets": "[" * 8000 + "\n",
    "unclosed-links": "[a](" * 6000 + "\n",
    "repeated-a-tags": "<a " * 8000 + "\n",
    "huge-python-block": "```python\n"
    + "".join(f"value_{i} = {i} * 2  # line {i}\n" for i in range(60_000))
    + "```\n",
    "huge-c-block": "```c\n"
    + "".join(f"int v{i} = {i}; /* {i} */\n" for i in range(60_000))
    + "```\n",
}
TIME_LIMIT = {"CARDSMITH_CARD_TIME_LIMIT": "0.3"}


@pytest.mark.parametrize("name", sorted(SLOW_BODIES))
def test_a_card_over_the_time_limit_is_an_error_at_its_line(name: str, tmp_path: Path) -> None:
    body = f"{FRONT}{CARD}\n## Slow one? {{#slow}}\n\n{SLOW_BODIES[name]}"
    root = deck(tmp_path / "src", {"deck.toml": TOML, "t.md": body})
    done = run("build", root, "--out", tmp_path / "out", env=TIME_LIMIT)
    assert done.code == 1
    assert f"{root / 't.md'}:8: error: card took longer than 0.3 s to render" in done.lines()
    assert done.seconds < 15
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.apkg"))


@pytest.mark.parametrize("name", ["runs-of-brackets", "unclosed-links"])
def test_a_description_over_the_time_limit_is_an_error(name: str, tmp_path: Path) -> None:
    toml = f"{TOML}description = {json.dumps(SLOW_BODIES[name])}\n"
    root = deck(tmp_path / "src", {"deck.toml": toml, "t.md": FRONT + CARD})
    done = run("check", root, env=TIME_LIMIT)
    assert done.code == 1
    errors = [line for line in done.lines() if ": error: " in line]
    assert errors == [
        f"{root / 'deck.toml'}:1: error: description took longer than 0.3 s to render"
    ]
    assert done.seconds < 15


def test_the_time_limit_holds_in_worker_processes_too(tmp_path: Path) -> None:
    cards = "".join(f"## Question {i}? {{#q{i}}}\n\nAnswer {i}.\n\n" for i in range(900))
    body = f"{FRONT}{cards}## Slow one? {{#slow}}\n\n{SLOW_BODIES['runs-of-brackets']}"
    root = deck(tmp_path / "src", {"deck.toml": TOML, "t.md": body})
    done = run("build", root, "--out", tmp_path / "out", "--jobs", "2", env=TIME_LIMIT)
    assert done.code == 1
    (line,) = [line for line in done.lines() if ": error: " in line]
    assert line == f"{root / 't.md'}:{4 + 4 * 900}: error: card took longer than 0.3 s to render"
    assert done.seconds < 20


@pytest.mark.parametrize(
    "body",
    [
        "".join("  " * i + "- x\n" for i in range(800)),
        "".join("    " * i + "1. x\n" for i in range(600)),
        "".join("  " * i + "* " + "> " * (i % 3) + "x\n" for i in range(700)),
    ],
    ids=["bullets", "numbers", "mixed"],
)
def test_deep_nesting_is_an_error_not_a_recursion_error(body: str, tmp_path: Path) -> None:
    root = deck(
        tmp_path / "src", {"deck.toml": TOML, "t.md": f"{FRONT}## Deep? {{#deep}}\n\n{body}"}
    )
    done = run("check", root)
    assert done.code == 1
    (line,) = [line for line in done.lines() if ": error: " in line]
    assert line.startswith(f"{root / 't.md'}:4: error: card ")
    assert "nests too deeply" in line or "took longer than" in line
    assert done.seconds < BOUND


# --- Hangs and tracebacks: hostile deck.toml and front matter -------------------------


def _bomb(levels: int, fanout: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * fanout)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fanout)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


CONFIG_ATTACKS: dict[str, tuple[str, str, str]] = {
    # name: (deck.toml, front matter, the message expected)
    "toml-deep-arrays": (
        TOML + "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "level: basic",
        "nest",
    ),
    "toml-deep-inline-tables": (
        TOML + "x = " + "{a=" * 50_000 + "1" + "}" * 50_000 + "\n",
        "level: basic",
        "nest",
    ),
    "toml-60-levels": (
        TOML + "x = " + "[" * 60 + "]" * 60 + "\n",
        "level: basic",
        "nest more than 50",
    ),
    "toml-huge-integer": (TOML + "x = " + "9" * 4301 + "\n", "level: basic", "4,300 digits"),
    "toml-huge-integer-underscores": (
        TOML + "x = " + "1_000" * 1200 + "\n",
        "level: basic",
        "4,300 digits",
    ),
    "toml-nul-escape": ('name = "A\\u0000B"\nlevels = ["basic"]\n', "level: basic", "U+0000"),
    "toml-nul-in-level": ('name = "A"\nlevels = ["basic", "x\\u0000"]\n', "level: basic", "U+0000"),
    "toml-bell-in-description": (TOML + 'description = "\\u0007"\n', "level: basic", "U+0007"),
    "toml-raw-nul": (TOML + "# \x00\n", "level: basic", "invalid TOML"),
    "yaml-deep-flow": (TOML, "level: basic\nx: " + "[" * 100_000 + "]" * 100_000, "nest"),
    "yaml-deep-block": (
        TOML,
        "level: basic\nx:\n" + "".join(" " * i + "- \n" for i in range(3000)),
        "nest",
    ),
    "yaml-deep-mappings": (TOML, "level: basic\nx: " + "{a: " * 5000 + "1" + "}" * 5000, "nest"),
    "yaml-bomb-9x9": (TOML, _bomb(9, 9) + "level: *a8", "aliases"),
    "yaml-bomb-in-tags": (TOML, _bomb(12, 4) + "level: basic\ntags: *a11", "aliases"),
    "yaml-bomb-as-key": (TOML, _bomb(8, 8) + "level: basic\n*a7 : 1", "aliases"),
    "yaml-huge-integer": (TOML, "level: " + "7" * 5000, "4,300 digits"),
    "yaml-huge-integer-in-list": (TOML, "level: basic\ntags: [" + "8" * 4400 + "]", "4,300 digits"),
    "yaml-nul-escape": (TOML, 'level: basic\ntopic: "a\\0b"', "U+0000"),
    "yaml-escape-in-tag": (TOML, 'level: basic\ntags: ["a\\x1fb"]', "U+001F"),
}


@pytest.mark.parametrize("name", sorted(CONFIG_ATTACKS))
def test_hostile_config_is_one_error_line(name: str, tmp_path: Path) -> None:
    toml, front, message = CONFIG_ATTACKS[name]
    root = deck(tmp_path / "src", {"deck.toml": toml, "t.md": f"---\n{front}\n---\n{CARD}"})
    done = run("check", root)
    assert done.code == 1, done.stderr
    errors = [line for line in done.lines() if ": error: " in line]
    assert len(errors) == 1 and message in errors[0], done.stderr
    where = "deck.toml" if name.startswith("toml") else "t.md"
    assert errors[0].startswith(f"{root / where}:")
    assert len(done.stderr) < 2000  # nothing expanded into the message
    assert done.seconds < 10


@pytest.mark.parametrize(("where", "keys"), [("yaml", 100_000), ("yaml", 20_000), ("toml", 50_000)])
def test_many_unknown_keys_are_counted_in_linear_time(
    where: str, keys: int, tmp_path: Path
) -> None:
    extra = "".join(f"key{i}{' =' if where == 'toml' else ':'} {i}\n" for i in range(keys))
    toml = TOML + (extra if where == "toml" else "")
    front = "level: basic\n" + (extra if where == "yaml" else "")
    root = deck(tmp_path / "src", {"deck.toml": toml, "t.md": f"---\n{front}---\n{CARD}"})
    done = run("check", root)
    assert done.code == 0, done.stderr
    warnings = [line for line in done.lines() if ": warning: " in line]
    assert len(warnings) == 21  # 20 named, in file order, and one line for the rest
    assert f"and {keys - 20} more unknown" in "".join(warnings)
    assert "'key0'" in warnings[1] or "'key0'" in "".join(warnings)
    assert done.seconds < 20


# --- Tracebacks and hangs: special files ----------------------------------------------


def _special(kind: str, root: Path) -> tuple[Path, str]:
    """Make one kind of special file in root; (the path reported, the words expected)."""
    if kind == "fifo-md":
        os.mkfifo(root / "b.md")
        return root / "b.md", "FIFO"
    if kind == "fifo-in-subfolder":
        (root / "sub").mkdir()
        os.mkfifo(root / "sub" / "c.md")
        return root / "sub" / "c.md", "FIFO"
    if kind == "dev-zero-md":
        (root / "z.md").symlink_to("/dev/zero")
        return root / "z.md", "character device"
    if kind == "dev-null-md":
        (root / "n.md").symlink_to("/dev/null")
        return root / "n.md", "character device"
    if kind == "socket-md":
        import socket

        server = socket.socket(socket.AF_UNIX)
        server.bind(str(root / "s.md"))
        server.close()
        return root / "s.md", "socket"
    if kind == "symlink-loop":
        (root / "l1.md").symlink_to("l2.md")
        (root / "l2.md").symlink_to("l1.md")
        return root / "l1.md", "symbolic link loop"
    if kind == "self-loop":
        (root / "me.md").symlink_to("me.md")
        return root / "me.md", "symbolic link loop"
    if kind == "dangling":
        (root / "gone.md").symlink_to("nowhere.md")
        return root / "gone.md", "broken symbolic link"
    if kind == "link-out-of-deck":
        (root.parent / "elsewhere.md").write_text(FRONT + "## Else? {#e}\n\nA.\n", encoding="utf-8")
        (root / "in.md").symlink_to(root.parent / "elsewhere.md")
        return root / "in.md", "outside every deck folder"
    if kind == "non-utf8-file":
        name = os.fsdecode(b"caf\xe9.md")
        (root / name).write_text(FRONT + "## Other? {#o}\n\nA.\n", encoding="utf-8")
        return root / name, "not valid UTF-8"
    if kind == "non-utf8-folder":
        folder = root / os.fsdecode(b"dir\xff")
        folder.mkdir()
        (folder / "x.md").write_text(FRONT + "## Other? {#o}\n\nA.\n", encoding="utf-8")
        return folder / "x.md", "not valid UTF-8"
    if kind == "path-too-long":
        here = Path.cwd()
        os.chdir(root)
        try:
            for _ in range(18):
                Path("d" * 240).mkdir()
                os.chdir("d" * 240)
            Path("deep.md").write_text(FRONT + "## Deep? {#deep}\n\nA.\n", encoding="utf-8")
        finally:
            os.chdir(here)
        return root, "too long"
    raise AssertionError(kind)


SPECIAL = [
    "fifo-md", "fifo-in-subfolder", "dev-zero-md", "dev-null-md", "socket-md",
    "symlink-loop", "self-loop", "dangling", "link-out-of-deck", "non-utf8-file", "non-utf8-folder",
    "path-too-long",
]  # fmt: skip


@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("command", ["check", "build"])
def test_special_files_are_named_errors_never_a_hang(
    command: str, kind: str, tmp_path: Path
) -> None:
    root = deck(tmp_path / "src", {"deck.toml": TOML, "a.md": FRONT + CARD})
    path, words = _special(kind, root)
    args = ["--out", tmp_path / "out"] if command == "build" else []
    done = run(command, root, *args)
    assert done.code == 1, done.stderr
    errors = [line for line in done.lines() if ": error: " in line]
    assert errors and all(words in line for line in errors), done.stderr
    if kind != "path-too-long":
        shown = ascii(str(path)) if "utf8" in kind else str(path)
        assert any(line.startswith(f"{shown}:1: error: ") for line in errors), errors
    assert done.seconds < 15
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.apkg"))


@pytest.mark.parametrize("kind", ["loop", "fifo", "dangling", "dev-zero", "folder", "link-out"])
def test_special_images_are_named_errors_never_a_hang(kind: str, tmp_path: Path) -> None:
    root = deck(
        tmp_path / "src", {"deck.toml": TOML, "a.md": f"{FRONT}## Q? {{#q}}\n\n![x](p.png)\n"}
    )
    image = root / "p.png"
    if kind == "loop":
        image.symlink_to("p.png")
    elif kind == "fifo":
        os.mkfifo(image)
    elif kind == "dangling":
        image.symlink_to("gone.png")
    elif kind == "dev-zero":
        image.symlink_to("/dev/zero")
    elif kind == "folder":
        image.mkdir()
    else:
        (tmp_path / "outside.png").write_bytes(PIC)
        image.symlink_to(tmp_path / "outside.png")
    done = run("build", root, "--out", tmp_path / "out")
    assert done.code == 1
    errors = [line for line in done.lines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{root / 'a.md'}:") and "p.png" in errors[0]
    assert done.seconds < 10
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "dangling", "loop"])
def test_a_special_deck_toml_is_a_named_error(kind: str, tmp_path: Path) -> None:
    root = deck(tmp_path / "src", {"a.md": FRONT + CARD})
    toml = root / "deck.toml"
    if kind == "fifo":
        os.mkfifo(toml)
    elif kind == "dev-zero":
        toml.symlink_to("/dev/zero")
    elif kind == "dangling":
        toml.symlink_to("missing.toml")
    else:
        toml.symlink_to("deck.toml")
    done = run("check", root)
    assert done.code == 1
    errors = [line for line in done.lines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{toml}:1: error: cannot read file: ")
    assert done.seconds < 10


@pytest.mark.parametrize("target", ["sub", ".", "..", "/"])
def test_links_to_folders_are_reported_not_followed(target: str, tmp_path: Path) -> None:
    root = deck(
        tmp_path / "src",
        {"deck.toml": TOML, "a.md": FRONT + CARD, "sub/b.md": FRONT + "## B? {#b}\n\nB.\n"},
    )
    (root / "linked").symlink_to(target)
    done = run("check", root)
    assert done.code == 0, done.stderr
    assert (
        f"{root / 'linked'}:1: warning: link to a folder: not followed, its files are not read"
        in done.lines()
    )
    assert done.seconds < 10


def _as_a_user() -> list[str]:
    """A command prefix under which permissions hold: none for a user; for root, setpriv
    without the capabilities that let root read anything (skipped without setpriv)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root reads files whatever their permissions, and setpriv is missing")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.parametrize("what", ["file", "folder", "image", "deck.toml"])
def test_unreadable_files_and_folders_are_named(what: str, tmp_path: Path) -> None:
    root = deck(
        tmp_path / "src",
        {
            "deck.toml": TOML,
            "a.md": f"{FRONT}{CARD}\n![p](pic.png)\n",
            "pic.png": PIC,
            "sub/b.md": FRONT + "## B? {#b}\n\nB.\n",
        },
    )
    target = {"file": root / "sub" / "b.md", "folder": root / "sub", "image": root / "pic.png"}.get(
        what, root / "deck.toml"
    )
    target.chmod(0)
    try:
        started = time.monotonic()
        done = subprocess.run(
            [
                *_as_a_user(),
                sys.executable,
                "-m",
                "cardsmith",
                "build",
                str(root),
                "--out",
                str(tmp_path / "out"),
            ],
            capture_output=True,
            text=True,
            timeout=BOUND,
            check=False,
        )
        seconds = time.monotonic() - started
    finally:
        target.chmod(0o755)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and seconds < BOUND
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "Permission denied" in errors[0], errors
    shown = root / "a.md" if what == "image" else target
    assert errors[0].startswith(f"{shown}:")
    assert what != "image" or str(target) in errors[0]
    assert not (tmp_path / "out").exists()


# --- Tracebacks: a full disk, files that vanish ----------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Small tmpfs folders (needs root and mount; skipped elsewhere), unmounted after."""
    mounted: list[Path] = []

    def make(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _big_deck(root: Path, cards: int, filler: int = 200) -> Path:
    text = "x" * filler
    body = "".join(f"## Question {i}? {{#q{i}}}\n\n{text} {i}.\n\n" for i in range(cards))
    return deck(root, {"deck.toml": TOML, "t.md": FRONT + body})


@pytest.mark.parametrize("size", ["16k", "64k", "256k"])
def test_a_full_temporary_folder_is_one_line_and_exit_1(
    size: str, tiny_disk: Callable[[str], Path], tmp_path: Path
) -> None:
    scratch = tiny_disk(size)
    root = _big_deck(tmp_path / "src", 2000)
    out = tmp_path / "out"
    done = run("build", root, "--out", out, env={"TMPDIR": str(scratch)})
    assert done.code == 1, done.stderr
    (line,) = done.lines()
    assert line.startswith(f"cardsmith: error: cannot write {scratch}: ")
    assert "full" in line
    assert not out.exists() or not list(out.glob("*.apkg"))


@pytest.mark.parametrize("size", ["96k", "160k"])
def test_a_disk_error_part_way_replaces_no_package(
    size: str, tiny_disk: Callable[[str], Path], tmp_path: Path
) -> None:
    """The output folder fills up while writing the second package: both old ones stay."""
    out = tiny_disk(size)
    root = _big_deck(tmp_path / "src", 40, filler=10)
    assert run("build", root, "--out", out, "--no-cache").code == 0
    old = {p.name: p.read_bytes() for p in out.glob("*.apkg")}
    assert len(old) == 2
    _big_deck(root, 3000, filler=150)  # much bigger now: no longer fits
    done = run("build", root, "--out", out, "--no-cache")
    assert done.code == 1
    (line,) = done.lines()
    assert line.startswith(f"cardsmith: error: cannot write {out}/") and "No space left" in line
    assert {p.name: p.read_bytes() for p in out.glob("*.apkg")} == old
    assert not [p for p in out.iterdir() if p.name.endswith(".cardsmith-tmp")]


@pytest.mark.parametrize("vanishing", ["b.md", "pic.png", "sub/c.md"])
def test_a_file_that_vanishes_during_a_build_is_unreadable_not_unwritable(
    vanishing: str, cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cardsmith import load, parallel

    root = deck(
        tmp_path / "src",
        {
            "deck.toml": TOML,
            "a.md": f"{FRONT}## Picture? {{#p}}\n\n![p](pic.png)\n",
            "b.md": f"{FRONT}## B? {{#b}}\n\nB.\n",
            "sub/c.md": f"{FRONT}## C? {{#c}}\n\nC.\n",
            "pic.png": PIC,
        },
    )
    real_discover, real_map = load.discover, parallel.map_chunks

    def discover(*args: Any) -> Any:
        found = real_discover(*args)
        if vanishing.endswith(".md"):
            (root / vanishing).unlink()  # found, then gone before it is read
        return found

    def map_chunks(*args: Any) -> Any:
        rendered = real_map(*args)
        if vanishing.endswith(".png"):
            (root / vanishing).unlink()  # rendered, then gone before it is packaged
        return rendered

    monkeypatch.setattr(load, "discover", discover)
    monkeypatch.setattr(parallel, "map_chunks", map_chunks)
    done = in_process(cli, "build", root, "--out", tmp_path / "out")
    assert done.code == 1, done.stderr
    errors = [line for line in done.lines() if ": error: " in line]
    assert len(errors) == 1 and "cannot read" in errors[0], errors
    assert vanishing.rsplit("/", 1)[-1] in errors[0] and "cannot write" not in errors[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.apkg"))


# --- verify on hostile packages -------------------------------------------------------


@pytest.fixture(scope="module")
def good_package(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The entries of a package cardsmith built, to make hostile ones from."""
    root = tmp_path_factory.mktemp("good")
    deck(
        root / "src", {"deck.toml": TOML, "t.md": f"{FRONT}{CARD}\n![p](pic.png)\n", "pic.png": PIC}
    )
    out = root / "out"
    assert run("build", root / "src", "--out", out).code == 0
    with zipfile.ZipFile(out / "hostile.apkg") as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _patch_headers(
    path: Path, local: Callable[[bytearray, int], None], central: Callable[[bytearray, int], None]
) -> None:
    data = bytearray(path.read_bytes())
    for signature, change in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        at = data.find(signature)
        while at >= 0:
            change(data, at)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def _collection_with(good: dict[str, bytes], where: Path, fields: str) -> bytes:
    database = where / "edit.anki2"
    database.write_bytes(good["collection.anki2"])
    conn = sqlite3.connect(database)
    conn.execute("UPDATE notes SET flds = ?", (fields,))
    conn.commit()
    conn.close()
    return database.read_bytes()


def _empty_sqlite(where: Path) -> bytes:
    database = where / "empty.sqlite"
    conn = sqlite3.connect(database)
    conn.execute("CREATE TABLE unrelated (a)")
    conn.commit()
    conn.close()
    return database.read_bytes()


HOSTILE_PACKAGES: dict[str, tuple[Callable[[dict[str, bytes], Path], Path], str]] = {
    "media-list-is-a-list": (lambda g, p: _zip(p, {**g, "media": b'["a", "b"]'}), "media list"),
    "media-list-is-a-number": (lambda g, p: _zip(p, {**g, "media": b"5"}), "media list"),
    "media-list-nested": (lambda g, p: _zip(p, {**g, "media": b'{"0": {"a": 1}}'}), "media list"),
    "media-list-null": (lambda g, p: _zip(p, {**g, "media": b'{"0": null}'}), "media list"),
    "media-list-deep": (
        lambda g, p: _zip(p, {**g, "media": b"[" * 100_000 + b"]" * 100_000}),
        "media list",
    ),
    "media-list-not-json": (lambda g, p: _zip(p, {**g, "media": b"{oops"}), "media list"),
    "encrypted-entries": (
        lambda g, p: (
            _zip(p, g),
            _patch_headers(
                p,
                lambda d, i: d.__setitem__(i + 6, d[i + 6] | 1),
                lambda d, i: d.__setitem__(i + 8, d[i + 8] | 1),
            ),
        )[0],
        "encrypted",
    ),
    "bad-crc": (
        lambda g, p: (
            _zip(p, g),
            _patch_headers(
                p,
                lambda d, i: d.__setitem__(i + 14, d[i + 14] ^ 0xFF),
                lambda d, i: d.__setitem__(i + 16, d[i + 16] ^ 0xFF),
            ),
        )[0],
        "bad checksum",
    ),
    "deflate64": (
        lambda g, p: (
            _zip(p, g),
            _patch_headers(
                p,
                lambda d, i: d.__setitem__(slice(i + 8, i + 10), struct.pack("<H", 9)),
                lambda d, i: d.__setitem__(slice(i + 10, i + 12), struct.pack("<H", 9)),
            ),
        )[0],
        "compression method 9",
    ),
    "lzma": (
        lambda g, p: (
            _zip(p, g),
            _patch_headers(
                p,
                lambda d, i: d.__setitem__(slice(i + 8, i + 10), struct.pack("<H", 14)),
                lambda d, i: d.__setitem__(slice(i + 10, i + 12), struct.pack("<H", 14)),
            ),
        )[0],
        "compression method 14",
    ),
    "empty-sqlite": (
        lambda g, p: _zip(p, {"collection.anki2": _empty_sqlite(p.parent), "media": b"{}"}),
        "not an Anki collection",
    ),
    "zero-byte-collection": (
        lambda g, p: _zip(p, {"collection.anki2": b"", "media": b"{}"}),
        "not an Anki collection",
    ),
    "text-as-collection": (
        lambda g, p: _zip(p, {"collection.anki21": b"hello" * 100, "media": b"{}"}),
        "not an Anki collection",
    ),
    "garbage-anki21b": (
        lambda g, p: _zip(p, {"collection.anki21b": b"garbage", "media": b""}),
        "not zstd",
    ),
    "truncated-zip": (
        lambda g, p: p.write_bytes(_zip(p, g).read_bytes()[:300]) and p,
        "not an Anki package",
    ),
    "zip-bomb": (lambda g, p: _zip(p, {**g, "0": bytes(200 << 20)}), "zip bomb"),
    "claims-gigabytes": (
        lambda g, p: (
            _zip(p, g),
            _patch_headers(
                p,
                lambda d, i: d.__setitem__(slice(i + 22, i + 26), struct.pack("<I", 0xFFFFFFF0)),
                lambda d, i: d.__setitem__(slice(i + 24, i + 28), struct.pack("<I", 0xFFFFFFF0)),
            ),
        )[0],
        "over the limit",
    ),
    "style-tags-50k": (
        lambda g, p: _zip(
            p,
            {
                **g,
                "collection.anki2": _collection_with(
                    g, p.parent, "<style>" * 50_000 + "\x1fx\x1fy"
                ),
            },
        ),
        "took longer than",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PACKAGES))
def test_verify_on_hostile_packages_is_one_line_exit_2(
    name: str, good_package: dict[str, bytes], tmp_path: Path
) -> None:
    make, words = HOSTILE_PACKAGES[name]
    package = make(good_package, tmp_path / f"{name}.apkg")
    done = run("verify", package, env={"CARDSMITH_VERIFY_TIME_LIMIT": "4"})
    assert done.code == 2, (done.stdout, done.stderr)
    (line,) = done.lines()
    assert line.startswith(f"{package}: error: ") and words in line, line
    assert "ok" not in done.stdout
    assert done.seconds < BOUND


def test_verify_still_passes_a_sound_package(
    good_package: dict[str, bytes], tmp_path: Path
) -> None:
    done = run("verify", _zip(tmp_path / "good.apkg", good_package))
    assert done.code == 0 and "no problems" in done.stdout, done.stderr


# --- Integrity: cache entries of the wrong type or edited by hand ----------------------


def _cache_files(out: Path) -> tuple[Path, Path]:
    cache = out / ".cardsmith-cache"
    (cards,) = cache.glob("cards-*.json")
    return cards, cache / "packages.json"


def _replace(path: Path, how: str, elsewhere: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    if how == "folder":
        (path / "inner").mkdir(parents=True)
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "dev-zero":
        path.symlink_to("/dev/zero")
    elif how == "link-out":
        path.symlink_to(elsewhere)
    elif how == "file":
        path.write_text("not a folder", encoding="utf-8")


def _edit_cards(path: Path, change: Callable[[list[Any]], None]) -> None:
    """Change every cached card and recompute every checksum one can without the key
    (kept outside the build folder), as a hand-edit would."""
    header, _, rest = path.read_bytes().partition(b"\n")
    payload = json.loads(rest.rpartition(b"\n")[0])
    for value in payload["cards"].values():
        change(value)
    data = json.dumps(payload).encode()
    digest = hashlib.sha256(data).hexdigest()
    trailer = json.dumps({"sha256": digest, "hmac-sha256": digest}).encode()
    path.write_bytes(header + b"\n" + data + b"\n" + trailer)


CACHE_ATTACKS = [
    "cards-folder", "cards-fifo", "cards-dev-zero", "cards-link-out",
    "packages-folder", "packages-fifo", "packages-dev-zero",
    "cache-is-a-file", "cache-is-a-fifo", "cache-links-out",
    "edit-script", "edit-event-handler", "edit-media-path", "edit-severity",
]  # fmt: skip


@pytest.mark.parametrize("attack", CACHE_ATTACKS)
def test_a_broken_cache_is_dropped_and_rebuilt(attack: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    root = deck(
        work / "src", {"deck.toml": TOML, "t.md": f"{FRONT}{CARD}\n![p](pic.png)\n", "pic.png": PIC}
    )
    out = work / "out"
    assert run("build", root, "--out", out).code == 0
    first = (out / "hostile.apkg").read_bytes()
    cards, packages = _cache_files(out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.json").write_text("outside", encoding="utf-8")
    (out / "hostile.apkg").unlink()  # so that the package is made again from the cache
    kind, _, how = attack.partition("-")
    if kind == "cards":
        _replace(cards, how, elsewhere / "x.json")
    elif kind == "packages":
        _replace(packages, how, elsewhere / "x.json")
    elif kind == "cache":
        _replace(
            out / ".cardsmith-cache",
            {"is-a-file": "file", "is-a-fifo": "fifo"}.get(how, "link-out"),
            elsewhere,
        )
    elif how == "script":
        _edit_cards(cards, lambda v: v.__setitem__(1, v[1] + "<script>alert(1)</script>"))
    elif how == "event-handler":
        _edit_cards(
            cards, lambda v: v.__setitem__(1, v[1].replace("<img ", "<img onerror=alert(1) "))
        )
    elif how == "media-path":
        _edit_cards(
            cards, lambda v: v.__setitem__(2, [[v[2][0][0], "../../../../../../etc/hostname"]])
        )
    else:
        _edit_cards(cards, lambda v: v.__setitem__(3, [[0, "fatal", "made up"]]))
    before = snapshot(tmp_path, out)
    for _ in range(2):  # and the build after that is fine too
        done = run("build", root, "--out", out, timeout=20)
        assert done.code == 0, done.stderr
        assert done.seconds < 15
    assert snapshot(tmp_path, out) == before  # nothing outside --out, the link target kept
    assert (elsewhere / "x.json").read_text(encoding="utf-8") == "outside"
    assert (out / "hostile.apkg").read_bytes() == first  # what a cold build makes
    assert (out / ".cardsmith-cache").is_dir() and not (out / ".cardsmith-cache").is_symlink()


# --- Integrity: nothing outlives a killed build ---------------------------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("after", [0.0, 1.0])
def test_after_kill_9_no_worker_outlives_the_build(after: float, tmp_path: Path) -> None:
    body = "".join(
        f"## Question {i}? {{#q{i}}}\n\n```python\nx = {i}\n```\n\nSome *text* {i}.\n\n"
        for i in range(12_000)
    )
    root = deck(tmp_path / "src", {"deck.toml": TOML, "t.md": FRONT + body})
    build = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cardsmith",
            "build",
            str(root),
            "--out",
            str(tmp_path / "out"),
            "--jobs",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    helpers: set[int] = set()
    while time.monotonic() < deadline and len(helpers) < 3:  # forkserver and two workers
        time.sleep(0.1)
        helpers |= _descendants(build.pid)
    time.sleep(after)  # the moment of the kill: as the workers start, or while they work
    helpers |= _descendants(build.pid)
    assert build.poll() is None, "the build ended before it could be killed"
    assert len(helpers) >= 3, helpers
    build.send_signal(signal.SIGKILL)
    build.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(map(_running, helpers)):
        time.sleep(0.1)
    assert not [pid for pid in helpers if _running(pid)]


def test_the_next_build_removes_scratch_folders_of_dead_builds(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    left = [
        scratch / f"cardsmith-build-{dead_pid}-abc",
        scratch / f"cardsmith-verify-{dead_pid}-xyz",
    ]
    for folder in left:
        folder.mkdir()
        (folder / "collection.anki2").write_bytes(b"x" * 1000)
    alive = scratch / f"cardsmith-build-{os.getpid()}-mine"  # a running process's: kept
    alive.mkdir()
    other = scratch / "cardsmith-chromium-profile"  # not ours to remove
    other.mkdir()
    root = deck(tmp_path / "src", {"deck.toml": TOML, "t.md": FRONT + CARD})
    assert run("build", root, "--out", tmp_path / "out", env={"TMPDIR": str(scratch)}).code == 0
    assert sorted(p.name for p in scratch.iterdir()) == sorted([alive.name, other.name])


# --- Integrity: names that could forge diagnostics or subdecks ------------------------

FORGING_NAMES = [
    "x\n/etc/passwd:1: error: forged",
    "x\r:9: error: forged",
    "x\u2028:9: error: forged",
    "x\x85:9: error: forged",
    "x\x0b:9: error: forged",
    "x\x1e:9: error: forged",
]


@pytest.mark.parametrize("name", FORGING_NAMES, ids=[ascii(n) for n in FORGING_NAMES])
def test_a_file_name_cannot_forge_a_diagnostic_line(name: str, tmp_path: Path) -> None:
    root = deck(tmp_path / "src", {"deck.toml": TOML, f"{name}.md": FRONT + "## Q? {#q}\n\n"})
    done = run("check", root)
    assert done.code == 1
    assert not [line for line in done.lines() if line.startswith(("/etc/passwd", ":9:"))]
    errors = [line for line in done.lines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith("'") and "forged" in errors[0]


COLON_TITLES = ["Pointers:", ":Pointers", "::", "a::b", "C++ :: STL ::", ":::x:::"]


@pytest.mark.parametrize("title", COLON_TITLES)
def test_stray_colons_in_titles_make_no_blank_or_merged_subdecks(
    title: str, cli: Callable[..., object], tmp_path: Path
) -> None:
    root = deck(
        tmp_path / "src",
        {
            "deck.toml": TOML,
            "t.md": f"{FRONT}# {title}\n\n{CARD}",
            f"{title.replace('/', '')}x.md": f"{FRONT}## Other? {{#o}}\n\nB.\n",
        },
    )
    out = tmp_path / "out"
    done = in_process(cli, "build", root, "--out", out)
    assert done.code == 0, done.stderr
    names, _, _ = read_back(out / "hostile.apkg", tmp_path / "anki")
    topics = [n for n in names if n.count("::") == 2]
    assert len(topics) == 2, names  # one subdeck per file, none merged or split
    for name in names:
        assert all(
            part.strip() and not part.startswith(":") and not part.endswith(":")
            for part in name.split("::")
        ), name


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("name", "Interview:"),
        ("name", ":Interview"),
        ("name", "a::b"),
        ("levels", "basic:"),
        ("levels", ":basic"),
        ("topic", "x:"),
        ("topic", "::"),
    ],
)
def test_stray_colons_in_names_from_settings_are_refused(
    setting: str, value: str, tmp_path: Path
) -> None:
    toml, front = TOML, "level: basic"
    if setting == "name":
        toml = f'name = {json.dumps(value)}\nlevels = ["basic"]\n'
    elif setting == "levels":
        toml = f'name = "D"\nlevels = [{json.dumps(value)}]\n'
        front = f"level: {json.dumps(value)}"
    else:
        front += f"\ntopic: {json.dumps(value)}"
    root = deck(tmp_path / "src", {"deck.toml": toml, "t.md": f"---\n{front}\n---\n{CARD}"})
    done = run("check", root)
    assert done.code == 1
    errors = [line for line in done.lines() if ": error: " in line]
    assert errors and "'::'" in errors[0] and "':'" in errors[0], done.stderr


# --- Linear time: the regular expressions of the modules this suite covers --------------


def _timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("key lines: spaces", " " * 200_000 + "x"),
        ("key lines: quotes", "'" * 200_000),
        ("key lines: keys without =", "a" * 200_000),
        ("huge integers: digits and a letter", ("9" * 4299 + "x") * 50),
        ("control characters: none", "é" * 200_000),
        ("html text: unclosed styles", "<style>" * 50_000),
        ("html text: unclosed scripts and tags", "<script <" * 30_000),
        ("html text: runs of <", "<" * 200_000),
        ("html text: links", "<a " * 70_000),
    ],
)
def test_our_regular_expressions_take_linear_time(name: str, text: str) -> None:
    from cardsmith import htmltext, parse, verify

    functions: dict[str, Callable[[], object]] = {
        "key lines": lambda: parse._key_lines(text),
        "huge integers": lambda: parse._HUGE_INT_RE.search(text),
        "control characters": lambda: parse._CONTROL_RE.search(text),
        "html text": lambda: (
            verify._plain(text),
            verify._error_text(text),
            htmltext.without_styles(text),
        ),
    }
    seconds = _timed(functions[name.split(":")[0]])
    assert seconds < 2.0, f"{name}: {seconds:.2f} s (quadratic?)"


# --- The preview: a full disk, and the leftovers of killed previews -------------------


@pytest.mark.parametrize("size", ["8k", "48k"])
def test_a_preview_on_a_full_disk_is_one_line(
    size: str, tiny_disk: Callable[[str], Path], tmp_path: Path
) -> None:
    disk = tiny_disk(size)
    root = _big_deck(tmp_path / "src", 300)
    done = run("preview", root, "--out", disk / "site")
    assert done.code == 1, done.stderr
    (line,) = done.lines()
    assert line.startswith(f"cardsmith: error: cannot write {disk}/") and "No space left" in line
    assert not (disk / "site").exists()
    assert not [p for p in disk.iterdir() if p.name.endswith((".new", ".old"))]


def test_a_preview_removes_what_killed_previews_left(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    left = [work / f".site.{dead.stdout.strip()}.new", work / f".site.{dead.stdout.strip()}.old"]
    for folder in left:
        (folder / "cards").mkdir(parents=True)
    alive = work / f".site.{os.getpid()}.new"  # a preview still running: kept
    alive.mkdir()
    other = work / ".other.1.new"  # not this site's
    other.mkdir()
    root = deck(tmp_path / "src", {"deck.toml": TOML, "t.md": FRONT + CARD})
    assert run("preview", root, "--out", work / "site").code == 0
    assert sorted(p.name for p in work.iterdir()) == sorted([alive.name, other.name, "site"])
