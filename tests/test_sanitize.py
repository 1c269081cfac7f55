"""Raw HTML in cards is cut down to formatting; --allow-html trusts the author."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

from .ankihelp import AnkiCollection
from .conftest import SAMPLE_TOML, Tree

HOSTILE = """\
---
level: basic
---
## Is this safe? {#safe}

<script>alert(1)</script>
<p onclick="steal()" class="note">Hi <a href="javascript:alert(1)">bad</a>
<a href="https://example.org" onmouseover="x()">good</a> <b>bold</b> <kbd>Ctrl</kbd></p>
<iframe src="https://example.org"></iframe><object data="x.swf"></object>
<style>body { display: none }</style>
<img src="https://example.org/x.png" onerror="steal()">

```html
<script>this is code, shown as text</script>
```
"""


def _back(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    collection: AnkiCollection,
    tmp_path: Path,
    *flags: str,
    markdown: str = HOSTILE,
) -> str:
    root = tree({"deck.toml": SAMPLE_TOML, "t.md": markdown})
    result = cli("build", root, "--out", tmp_path / "out", *flags)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    collection.import_package(tmp_path / "out" / "sample-deck.apkg")
    (note,) = collection.notes()
    return note.fields["Back"]


def test_scripts_handlers_frames_and_javascript_urls_are_removed(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    collection: AnkiCollection,
    tmp_path: Path,
) -> None:
    back = _back(cli, tree, collection, tmp_path)
    lowered = back.lower()
    for banned in ("<script", "<iframe", "<object", "<style", "onclick", "onmouseover",
                   "onerror", "javascript:", "display: none"):  # fmt: skip
        assert banned not in lowered, banned
    # Formatting stays.
    assert '<p class="note">' in back
    assert '<a href="https://example.org">good</a>' in back
    assert "<b>bold</b>" in back and "<kbd>Ctrl</kbd>" in back
    # Code that shows HTML is text, not markup.
    shown = html.unescape(re.sub("<[^>]+>", "", back))
    assert "<script>this is code, shown as text</script>" in shown


def test_allow_html_trusts_the_author(
    cli: Callable[..., object],
    tree: Callable[[Tree], Path],
    collection: AnkiCollection,
    tmp_path: Path,
) -> None:
    # (without the <object>: trusted, it would reference a media file that does not exist)
    trusted = HOSTILE.replace('<object data="x.swf"></object>', "")
    back = _back(cli, tree, collection, tmp_path, "--allow-html", markdown=trusted)
    assert "<script>alert(1)</script>" in back
    assert 'onclick="steal()"' in back
