"""The benchmark's card corpus: deterministic decks of any size (a multiple of 50 cards).

A card's text depends only on its number and the fixed seed, so the 1k corpus is the first 20
files of the 5k one. One folder holds a deck.toml (with `default_level`) and Markdown files of
50 cards each; each file has a `# ` title and `## ` questions, which is also
markdown-anki-decks' format, so both tools read the very same files. The tests build small
corpora too (tests/test_bench_corpus.py).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

CARDS_PER_FILE = 50
SEED = 20_261_124


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


WORDS = _words(
    "buffer cache closure context cursor decorator dictionary event frame generator "
    "handle index iterator journal kernel ledger lock mapping module mutex namespace "
    "object packet parser pointer queue record registry scheduler schema segment session "
    "signal snapshot socket stream struct table thread token tuple vector view widget "
    "worker"
)
VERBS = _words(
    "allocate borrow cache close copy decode drain encode evict flush freeze hash index "
    "iterate join lock merge parse patch pickle poll release resolve retry sort split "
    "stream sync unpack validate yield"
)
ADJECTIVES = _words(
    "atomic cold lazy eager immutable mutable nested ordered partial pure shared sparse "
    "stale strict thread-safe typed unbounded weak"
)
IDENTS = _words(
    "alpha beta gamma delta epsilon items values rows keys nodes edges jobs tasks users "
    "orders events chunks pages lines"
)
LANGUAGES = ("python", "javascript", "bash", "sql", "rust", "json")


def marker(card_no: int, revision: int) -> str:
    """The sentence a rebuild edits: unique to one card and one revision."""
    return f"Card {card_no:06d} revision {revision}."


def code_block(rng: random.Random, lang: str) -> list[str]:
    """A small, plausible code sample in lang."""
    a, b = rng.sample(IDENTS, 2)
    verb = rng.choice(VERBS)
    k = rng.randint(2, 9)
    body: dict[str, list[str]] = {
        "python": [
            f"def {verb}_{a}({b}):",
            f'    """{verb.capitalize()} every {a} in {b}."""',
            "    total = 0",
            f"    for item in {b}:",
            f"        if item % {k} == 0:",
            "            total += item",
            "    return total",
            "",
            f"print({verb}_{a}(range({k * 10})))",
        ],
        "javascript": [
            f"function {verb}{a.capitalize()}({b}) {{",
            "  const seen = new Map();",
            f"  for (const item of {b}) {{",
            f"    seen.set(item, (seen.get(item) ?? 0) + {k});",
            "  }",
            "  return [...seen.entries()].filter(([, n]) => n > 1);",
            "}",
            f"console.log({verb}{a.capitalize()}(['{a}', '{b}', '{a}']));",
        ],
        "bash": [
            "#!/usr/bin/env bash",
            "set -euo pipefail",
            f'for f in "${{{a.upper()}_DIR:-.}}"/*.log; do',
            f'  grep -c "{verb}" "$f" | awk \'$1 > {k} {{ print FILENAME ": " $1 }}\'',
            "done",
            f'echo "{b}: done"',
        ],
        "sql": [
            f"SELECT {a}.id, COUNT(*) AS n_{b}",
            f"FROM {a}",
            f"JOIN {b} ON {b}.{a}_id = {a}.id",
            f"WHERE {b}.created_at > now() - interval '{k} days'",
            f"GROUP BY {a}.id",
            f"HAVING COUNT(*) > {k}",
            "ORDER BY n_" + b + " DESC;",
        ],
        "rust": [
            f"fn {verb}_{a}({b}: &[u32]) -> u32 {{",
            f"    {b}.iter()",
            f"        .filter(|&&x| x % {k} == 0)",
            "        .copied()",
            "        .sum()",
            "}",
            "",
            "fn main() {",
            f'    println!("{{}}", {verb}_{a}(&[1, 2, 3, {k}, {k * 2}]));',
            "}",
        ],
        "json": [
            "{",
            f'  "name": "{verb}-{a}",',
            f'  "limit": {k},',
            f'  "{b}": ["{a}", "{verb}", null],',
            f'  "nested": {{"enabled": true, "ratio": 0.{k}}}',
            "}",
        ],
    }
    return [f"```{lang}", *body[lang], "```"]


def card_text(card_no: int) -> list[str]:
    """One card: a `## ` question, then prose with bold and inline code, a 3-item list, and
    on every other card a fenced code block. Depends only on card_no (and the seed)."""
    rng = random.Random(SEED * 1_000_003 + card_no)
    noun, other = rng.sample(WORDS, 2)
    verb = rng.choice(VERBS)
    adjective = rng.choice(ADJECTIVES)
    question = f"## Q{card_no:06d}: Why would you {verb} a {adjective} {noun} before the {other}?"
    sentences = [
        f"To {verb} a **{adjective} {noun}** you call `{noun}.{verb}()` once per {other}.",
        f"The **{other}** keeps its own `{rng.choice(IDENTS)}` list, so nothing is copied.",
        f"If the {noun} is shared, take the `{rng.choice(WORDS)}_lock` first"
        f" and release it after {rng.randint(2, 99)} steps.",
        marker(card_no, 0),
    ]
    items = [
        f"- `{rng.choice(IDENTS)}`: the {rng.choice(ADJECTIVES)} {rng.choice(WORDS)}",
        f"- **{rng.choice(VERBS)}** before you {rng.choice(VERBS)} the {rng.choice(WORDS)}",
        f"- costs O({rng.choice(['1', 'n', 'log n', 'n log n'])}) per {rng.choice(WORDS)}",
    ]
    lines = [question, "", " ".join(sentences), "", *items, ""]
    if card_no % 2 == 0:
        lines += [*code_block(rng, rng.choice(LANGUAGES)), ""]
    return lines


def file_name(file_no: int) -> str:
    return f"topic-{file_no:04d}.md"


def generate_corpus(folder: Path, cards: int) -> list[Path]:
    """Write a fresh corpus of `cards` cards into folder; returns the Markdown files."""
    if cards % CARDS_PER_FILE:
        raise ValueError(f"sizes must be multiples of {CARDS_PER_FILE}, got {cards}")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "deck.toml").write_text(
        f'name = "Bench {cards}"\n'
        'levels = ["basic", "intermediate", "advanced"]\n'
        'default_level = "basic"\n',
        encoding="utf-8",
    )
    files = []
    for file_no in range(1, cards // CARDS_PER_FILE + 1):
        first = (file_no - 1) * CARDS_PER_FILE + 1
        lines = [f"# Topic {file_no:04d}", ""]
        for card_no in range(first, first + CARDS_PER_FILE):
            lines += card_text(card_no)
        path = folder / file_name(file_no)
        path.write_text("\n".join(lines), encoding="utf-8")
        files.append(path)
    return files


def edit_card(folder: Path, cards: int, revision: int) -> tuple[str, str]:
    """Change one answer in one file (a card in the middle of the corpus) to `revision`.

    Returns the old and the new marker sentence.
    """
    file_no = cards // CARDS_PER_FILE // 2 + 1
    card_no = (file_no - 1) * CARDS_PER_FILE + CARDS_PER_FILE // 2
    path = folder / file_name(file_no)
    old, new = marker(card_no, revision - 1), marker(card_no, revision)
    text = path.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise ValueError(f"{path}: expected {old!r} once")
    path.write_text(text.replace(old, new), encoding="utf-8")
    return old, new
