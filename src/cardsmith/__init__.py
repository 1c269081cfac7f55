"""cardsmith: Markdown question/answer notes in, Anki decks grouped by level out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cardsmith")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
