"""HTML to plain text for messages and search, in linear time on any input.

No lazy `.*?` between an opening and a closing tag: on a field of 50,000 unclosed
`<style>` tags such a pattern tries every start and takes minutes.
"""

from __future__ import annotations

import re

TAG_RE = re.compile(r"<[^<>]*>")
_OPEN_RE = re.compile(r"<(style|script)\b", re.IGNORECASE)
_CLOSE_RE = {
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
}


def without_styles(text: str) -> str:
    """text without <style> and <script> elements; an unclosed one runs to the end
    (as in a browser). Each search starts where the last one ended."""
    kept = []
    position = 0
    while (opening := _OPEN_RE.search(text, position)) is not None:
        kept.append(text[position : opening.start()])
        closing = _CLOSE_RE[opening[1].lower()].search(text, opening.end())
        if closing is None:
            return "".join(kept)
        position = closing.end()
    kept.append(text[position:])
    return "".join(kept)
