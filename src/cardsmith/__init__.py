"""cardsmith: Markdown question/answer notes in, Anki decks grouped by level out."""

# The single source of the version: pyproject.toml reads it from here (hatch).
__version__ = "0.1.0"
