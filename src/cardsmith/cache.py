"""The build cache under the output folder: rendered cards and the packages last written.

Nothing in it is trusted blindly. The file carries a checksum of its content and a
fingerprint of everything that changes the HTML (cardsmith's own rendering code,
Markdown, Pygments and nh3 versions, styles, settings); a file that fails either check
is dropped whole and the build renders from scratch. A cached card is used only if
every image it packaged still has the same content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import genanki
import markdown
import nh3
import pygments

from cardsmith import __version__

CACHE_DIR = ".cardsmith-cache"
CACHE_FILE = "render-cache.json"
FORMAT = 1

# Modules whose code decides the HTML of a card (and so the validity of cached HTML).
_RENDER_MODULES = ("render", "parse", "model")


def code_fingerprint(*extra: str) -> str:
    """A hash of what makes cached HTML stale: our rendering code, libraries, settings."""
    digest = hashlib.sha256()
    for module in _RENDER_MODULES:
        digest.update((Path(__file__).parent / f"{module}.py").read_bytes())
    for library in (markdown, pygments, nh3, genanki):
        # Their own __version__ (already imported): importlib.metadata costs 40 ms a run.
        digest.update(f"{library.__name__}={getattr(library, '__version__', '?')};".encode())
    digest.update(f"cardsmith={__version__};format={FORMAT};".encode())
    for item in extra:
        digest.update(f"{item};".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class CardResult:
    """A rendered card as the cache keeps it (lines of diagnostics relative to the card)."""

    front: str
    back: str
    media: tuple[tuple[str, str], ...]  # (packaged name, source path relative to the deck)
    diagnostics: tuple[tuple[int, str, str], ...]  # (line - card line, severity, message)

    def to_json(self) -> list[Any]:
        return [
            self.front,
            self.back,
            [list(m) for m in self.media],
            [list(d) for d in self.diagnostics],
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> CardResult:
        front, back, media, diagnostics = data
        return cls(
            str(front),
            str(back),
            tuple((str(n), str(p)) for n, p in media),
            tuple((int(o), str(s), str(m)) for o, s, m in diagnostics),
        )


@dataclass
class BuildCache:
    """Rendered cards by key, and per package: (fingerprint, sha256 of the bytes written)."""

    directory: Path | None
    fingerprint: str
    cards: dict[str, CardResult] = field(default_factory=dict)
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)
    status: str = "new"  # new, loaded, stale (other fingerprint) or corrupt
    _used: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, directory: Path | None, fingerprint: str) -> BuildCache:
        """The cache in directory, or an empty one if it is missing, stale or corrupt."""
        cache = cls(directory, fingerprint)
        if directory is None:
            return cache
        path = directory / CACHE_FILE
        try:
            header, _, rest = path.read_bytes().partition(b"\n")
        except FileNotFoundError:
            return cache
        except OSError:
            cache.status = "corrupt"
            return cache
        try:
            meta = json.loads(header)
            if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
                cache.status = "stale"
                return cache
            payload, _, trailer = rest.rpartition(b"\n")
            if hashlib.sha256(payload).hexdigest() != json.loads(trailer).get("sha256"):
                raise ValueError("checksum mismatch")
            data = json.loads(payload)
            cache.cards = {k: CardResult.from_json(v) for k, v in data["cards"].items()}
            cache.packages = {k: (str(v[0]), str(v[1])) for k, v in data["packages"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            cache.cards, cache.packages, cache.status = {}, {}, "corrupt"
            return cache
        cache.status = "loaded"
        return cache

    def get(self, key: str) -> CardResult | None:
        found = self.cards.get(key)
        if found is not None:
            self._used.add(key)
        return found

    def put(self, key: str, result: CardResult) -> None:
        self.cards[key] = result
        self._used.add(key)

    def save(self, write: Any) -> None:
        """Write the cache with write(path, chunks), keeping only entries this build used.

        Three lines: a header (format, fingerprint), the JSON payload, and a trailer with
        the payload's SHA-256. The payload is made one card at a time, so that a large
        deck's cache never sits in memory twice.
        """
        if self.directory is None:
            return
        header = json.dumps({"format": FORMAT, "fingerprint": self.fingerprint}).encode()
        keys = sorted(k for k in self._used if k in self.cards)

        def chunks() -> Iterator[bytes]:
            digest = hashlib.sha256()

            def hashed(data: bytes) -> bytes:
                digest.update(data)
                return data

            yield header + b"\n"
            packages = json.dumps(self.packages, sort_keys=True).encode()
            yield hashed(b'{"packages": ' + packages + b', "cards": {')
            for n, key in enumerate(keys):
                value = json.dumps(self.cards[key].to_json(), ensure_ascii=False)
                yield hashed(f'{"," if n else ""}"{key}": {value}'.encode())
            yield hashed(b"}}")
            yield b"\n" + json.dumps({"sha256": digest.hexdigest()}).encode()

        write(self.directory / CACHE_FILE, chunks())


def card_key(fingerprint: str, *parts: str | int | bool) -> str:
    """The cache key of one card: everything its HTML depends on.

    Joined with U+001F, which cannot occur in sources (control characters are refused).
    """
    return hashlib.sha256("\x1f".join(map(str, (fingerprint, *parts))).encode()).hexdigest()
