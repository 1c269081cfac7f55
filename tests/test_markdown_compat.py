"""Cards render Markdown as GitHub does: a corpus of everyday constructs and generated
documents, compared structurally with cmark-gfm (see tests/mdcompare.py)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .markdown_corpus import CORPUS
from .mdcompare import CardRenderer, block_skeleton, normalize, reference_html


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> CardRenderer:
    return CardRenderer(tmp_path_factory.mktemp("corpus"))


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 60


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_construct_renders_as_on_github(render: CardRenderer, name: str) -> None:
    markdown = CORPUS[name]
    assert normalize(render(markdown)) == normalize(reference_html(markdown)), markdown


# Generated documents: nested lists (2, 3 and 4-space content indentation, as the marker
# gives), fences, quotes and tables, tight and loose. Words are plain so only the block
# structure can differ.
_WORDS = st.lists(
    st.sampled_from(["alpha", "beta", "gamma", "delta", "one", "two"]), min_size=1, max_size=3
)
_LINE = _WORDS.map(" ".join)


def _paragraph() -> st.SearchStrategy[list[str]]:
    return st.lists(_LINE, min_size=1, max_size=2)


def _fence() -> st.SearchStrategy[list[str]]:
    return st.tuples(
        st.sampled_from(["```", "~~~", "````"]),
        st.sampled_from(["", "python", "sh"]),
        st.lists(_LINE, min_size=0, max_size=2),
    ).map(lambda t: [f"{t[0]}{t[1]}", *t[2], t[0]])


def _table() -> st.SearchStrategy[list[str]]:
    return st.lists(_LINE, min_size=0, max_size=2).map(
        lambda rows: ["| h1 | h2 |", "|---|:-:|", *(f"| {r} | x |" for r in rows)]
    )


def _list(depth: int) -> st.SearchStrategy[list[str]]:
    marker = st.sampled_from(["-", "*", "+", "1.", "1)"])
    item = st.tuples(_LINE, st.lists(_block(depth + 1), max_size=2), st.booleans())
    return st.tuples(marker, st.lists(item, min_size=1, max_size=3), st.booleans()).map(
        _render_list
    )


def _render_list(spec: tuple[str, list[tuple[str, list[list[str]], bool]], bool]) -> list[str]:
    marker, items, loose = spec
    lines: list[str] = []
    for number, (first, children, blank_before_children) in enumerate(items, start=1):
        bullet = marker if not marker[0].isdigit() else f"{number}{marker[-1]}"
        pad = " " * (len(bullet) + 1)
        if lines and loose:
            lines.append("")
        lines.append(f"{bullet} {first}")
        for child in children:
            if blank_before_children or child[0][:1] not in "-*+>|`~":
                lines.append("")
            lines.extend(pad + line if line else "" for line in child)
    return lines


def _quote(depth: int) -> st.SearchStrategy[list[str]]:
    return _block(depth + 1).map(lambda inner: [f"> {line}".rstrip() for line in inner])


def _block(depth: int) -> st.SearchStrategy[list[str]]:
    leaves = [_paragraph(), _fence(), _table()]
    if depth >= 3:
        return st.one_of(leaves)
    return st.one_of([*leaves, _list(depth), _quote(depth)])


DOCUMENTS = st.lists(_block(0), min_size=1, max_size=4).map(
    lambda blocks: "\n\n".join("\n".join(block) for block in blocks) + "\n"
)


def agreement(examples: int, derandomize: bool = True) -> tuple[int, int, list[str]]:
    """(matching, total, some disagreeing documents) over generated documents."""
    results: list[tuple[bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="cardsmith-gen-") as folder:
        render = CardRenderer(Path(folder))

        @settings(
            max_examples=examples,
            derandomize=derandomize,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(DOCUMENTS)
        def check(document: str) -> None:
            same = block_skeleton(normalize(render(document))) == block_skeleton(
                normalize(reference_html(document))
            )
            results.append((same, document))

        check()
    failures = [doc for same, doc in results if not same]
    return len(results) - len(failures), len(results), failures[:20]


# The target is 99%. Over 300 derandomized documents every one matches today, and 5,000
# random ones matched 5,000 times out of 5,000 in every run since these fixes (the closing
# note of issue 16); the floor leaves room for a hypothesis upgrade drawing other documents.
AGREEMENT_FLOOR = 0.99

# Documents the generator once found disagreeing, as hypothesis shrank them: a table ends
# at a line its container does not continue, at a quote, a rule or a heading; items end
# before a line that is no item of theirs; a quote between items ends their list; and
# cmark-gfm's looseness after a table of only a header.
SHRUNK = [
    "- alpha\n  > | h1 | h2 |\n  > |---|:-:|\n  | h1 | h2 |\n  |---|:-:|\n",
    "- alpha\n  - alpha\n    | h1 | h2 |\n    |---|:-:|\n  | h1 | h2 |\n  |---|:-:|\n",
    "- alpha\n  > | h1 | h2 |\n  > |---|:-:|\n  > > alpha\n",
    "- alpha\n  > - alpha\n  > > ```\n  > > ```\n",
    "1. alpha\n\n> | h1 | h2 |\n> |---|:-:|\n\n1. alpha\n2. alpha\n",
    "- alpha\n\n> ```\n> ```\n\n- alpha\n- alpha\n",
    "- alpha\n  - alpha\n    | h1 | h2 |\n    |---|:-:|\n- alpha\n",
    "- alpha\n  - alpha\n    | h1 | h2 |\n    |---|:-:|\n  ```\n  ```\n",
    "- alpha\n  > - alpha\n  >   | h1 | h2 |\n  >   |---|:-:|\n- alpha\n",
]


@pytest.mark.parametrize("document", SHRUNK)
def test_shrunk_document_has_githubs_block_structure(render: CardRenderer, document: str) -> None:
    ours = block_skeleton(normalize(render(document)))
    assert ours == block_skeleton(normalize(reference_html(document))), document


def test_generated_documents_have_githubs_block_structure() -> None:
    matching, total, failures = agreement(300)
    assert total >= 250
    assert matching / total >= AGREEMENT_FLOOR, "\n---\n".join(failures[:5])


def main(argv: list[str], echo: Callable[[str], None] = print) -> None:
    """`python -m tests.test_markdown_compat N`: the agreement rate over N documents."""
    examples = int(argv[0]) if argv else 5000
    matching, total, failures = agreement(examples, derandomize=False)
    echo(f"{matching}/{total} generated documents match ({matching / total:.2%})")
    for document in failures[:5]:
        echo(f"--- disagrees:\n{document}")


if __name__ == "__main__":
    main(sys.argv[1:])
