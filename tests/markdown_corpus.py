"""Everyday Markdown, as people write it in VS Code, on GitHub, in Obsidian, after Prettier.

Each entry is a construct a card may hold; tests/test_markdown_compat.py renders it as a
card's answer and compares the structure with what GitHub (cmark-gfm) shows.
"""

from __future__ import annotations

CORPUS: dict[str, str] = {
    # Lists as Prettier and GitHub indent them.
    "nested bullets, 2 spaces": "- a\n  - b\n  - c\n- d\n",
    "nested bullets, 4 spaces": "- a\n    - b\n- c\n",
    "three levels, 2 spaces": "- a\n  - b\n    - c\n- d\n",
    "ordered with 3-space bullets": "1. first\n   - x\n   - y\n2. second\n",
    "ordered inside bullets": "- a\n  1. one\n  2. two\n- b\n",
    "list right after a paragraph": "Key points:\n- a\n- b\n",
    "ordered list right after a paragraph": "Steps:\n1. a\n2. b\n",
    "paren-delimited ordered list": "1) a\n2) b\n3) c\n",
    "ordered list starting at 3": "3. c\n4. d\n",
    "star bullets": "* a\n* b\n",
    "plus bullets": "+ a\n+ b\n",
    "loose list": "- a\n\n- b\n\n- c\n",
    "item with a continuation paragraph": "1. Step one.\n\n   More about step one.\n2. Step two.\n",
    "lazy continuation line": "- a long item\nthat wraps here\n- b\n",
    "list then paragraph": "- a\n- b\n\nAfter the list.\n",
    "deep nesting, 2 spaces": "- 1\n  - 2\n    - 3\n      - 4\n",
    "bullets with bold and code": "- **bold** item\n- `code` item\n",
    "list item with a soft break": "- line one\n  line two\n",
    # Fences in containers.
    "fence in a bullet": "- run:\n  ```bash\n  make test\n  ```\n- done\n",
    "fence in an ordered item": "1. Install:\n   ```sh\n   pip install x\n   ```\n2. Use it\n",
    "fence in a quote": "> ```python\n> x = 1\n> ```\n",
    "fence after a paragraph": "Example:\n```python\nprint(1)\n```\n",
    "fence then text": "```\ncode\n```\nText after.\n",
    "tilde fence": "~~~\ncode\n~~~\n",
    "longer closing fence": "```\na\n`````\n",
    "fence holding a shorter fence": "````md\n```\ninner\n```\n````\n",
    "fence with attributes": "```python title=x.py\nx = 1\n```\n",
    "fence in a nested item": "- a\n  - b\n    ```\n    code\n    ```\n",
    # Quotes.
    "quote": "> quoted\n> text\n",
    "lazy quote": "> quoted\ntext\n",
    "nested quote": "> a\n>> b\n",
    "list in a quote": "> - a\n> - b\n",
    "quote in a list": "- item\n\n  > quoted\n",
    # Tables.
    "table": "| a | b |\n|---|---|\n| 1 | 2 |\n",
    "table with alignment": "| l | c | r |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n",
    "table right after a paragraph": "Results:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "table escaped pipe in code": "| a |\n|---|\n| `a \\| b` |\n",
    "table without outer pipes": "a | b\n--|--\n1 | 2\n",
    "fence on a list item's own line": "1. ```bash\n   npm install\n   ```\n2. Run it.\n",
    "fence on a bullet's own line, loose list": "- ```py\n  x = 1\n  ```\n\n- Done.\n",
    "text after a quote's empty line": "> Note.\n>\nAfter the quote.\n",
    "quote with an empty line in a tight list": "- a\n  > b\n  >\n- c\n",
    "item text after its quote's empty line": "- a\n  > b\n  >\n  c\n- d\n",
    "heading right after a table": "| a | b |\n|---|---|\n| 1 | 2 |\n### Next\n",
    "quote right after a table": "| a | b |\n|---|---|\n| 1 | 2 |\n> Note.\n",
    "table in a quote, then text": "> | a | b |\n> |---|---|\n> | 1 | 2 |\nAfter.\n",
    # Inline.
    "strikethrough": "~~gone~~ stays\n",
    "bare URL": "See https://example.com/page for more.\n",
    "www link": "Visit www.example.com today.\n",
    "email address": "Write to someone@example.com.\n",
    "angle autolink": "<https://example.com>\n",
    "backslash hard break": "line one\\\nline two\n",
    "two-space hard break": "line one  \nline two\n",
    "emphasis with underscores in words": "snake_case_name and __init__\n",
    "strong and emphasis": "***both*** and **strong** and *em*\n",
    "inline code with backticks": "`` a ` b ``\n",
    "link with title": '[text](https://example.com "title")\n',
    "reference link": "[text][ref]\n\n[ref]: https://example.com\n",
    "escaped characters": "\\*not em\\* and \\# not heading\n",
    "html entity": "&copy; &amp; &#35;\n",
    "inline html kbd": "Press <kbd>Ctrl</kbd>+<kbd>C</kbd>.\n",
    # Blocks.
    "tag line is not a heading": "#python #interview\n\nText.\n",
    "heading in an answer": "### Details\n\nText.\n",
    "thematic break": "a\n\n---\n\nb\n",
    "setext heading": "Title\n=====\n",
    "task list": "- [x] done\n- [ ] todo\n",
    "footnote": "Claim.[^1]\n\n[^1]: Source.\n",
    "details with Markdown": (
        "<details>\n<summary>More</summary>\n\n**bold** inside\n\n</details>\n"
    ),
    "indented code block": "Text.\n\n    code block\n",
    "paragraphs": "One.\n\nTwo.\n",
    "unicode text": "Grüße, 日本語, Ελληνικά.\n",
    "image": "![alt](https://example.com/x.png)\n",
}
