"""The build cache under the output folder: rendered cards and the packages last written.

Nothing in it is trusted blindly. Each file carries a checksum of its content, keyed
with a secret kept outside the build folder (cache_secret), and a fingerprint of
everything that changes the HTML (every file of the cardsmith package, the versions of
the libraries that shape output, the build's settings); a file that fails either check,
or is no regular file, is dropped and its cards are rendered again. A cached card is
used only if every image it packaged still has the same content.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardsmith import __version__
from cardsmith.files import FileProblem, clear_way, read_regular

CACHE_DIR = ".cardsmith-cache"
CARDS_PREFIX = "cards-"
PACKAGES_FILE = "packages.json"
FORMAT = 3
# A cache file larger than this is not read (docs/format.md, "Limits and odd input").
MAX_CACHE_FILE_BYTES = 1 << 30

# Libraries whose versions shape a card's HTML or a package's bytes.
OUTPUT_LIBRARIES = ("markdown", "pymdownx", "pygments", "nh3", "genanki")


def package_files() -> list[Path]:
    """Every file of the cardsmith package (modules, templates), in a stable order.

    All of them, not a chosen few: code that shapes HTML can move between modules,
    and a cache keyed on a list of names would then serve stale cards.
    """
    root = Path(__file__).parent
    return sorted(
        (p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def library_versions() -> list[str]:
    """name=version of each output-shaping library (their own __version__ where they
    have one: importlib.metadata costs tens of milliseconds a run)."""
    versions = []
    for name in OUTPUT_LIBRARIES:
        module = importlib.import_module(name)
        version = getattr(module, "__version__", None)
        if not isinstance(version, str):
            from importlib import metadata

            version = metadata.version(name)
        versions.append(f"{name}={version}")
    return versions


def code_fingerprint(*extra: str) -> str:
    """A hash of what makes cached HTML stale: all of cardsmith's code and data files,
    the libraries' versions, the cache format and the build's settings (extra)."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in package_files():
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    for version in library_versions():
        digest.update(f"{version};".encode())
    digest.update(f"cardsmith={__version__};format={FORMAT};".encode())
    for item in extra:
        digest.update(f"{item};".encode())
    return digest.hexdigest()


def has_cards(directory: Path) -> bool:
    """Does directory look like a cache with rendered cards (not checked: a quick look)?"""
    try:
        return any(directory.glob(f"{CARDS_PREFIX}*.json"))
    except OSError:
        return False


@dataclass(frozen=True)
class CardResult:
    """A rendered card as the cache keeps it (lines of diagnostics relative to the card)."""

    front: str
    back: str
    media: tuple[tuple[str, str], ...]  # (packaged name, source path relative to the deck)
    diagnostics: tuple[tuple[int, str, str], ...]  # (line - card line, severity, message)
    fields: tuple[str, ...] = ()  # the HTML of the card's field sections (declared types)

    def to_json(self) -> list[Any]:
        data = [
            self.front,
            self.back,
            [list(m) for m in self.media],
            [list(d) for d in self.diagnostics],
        ]
        return [*data, list(self.fields)] if self.fields else data

    @classmethod
    def from_json(cls, data: list[Any]) -> CardResult:
        front, back, media, diagnostics, *rest = data
        if not (media or diagnostics or rest) and type(front) is str and type(back) is str:
            return cls(front, back, (), ())  # most cards: no media, nothing reported
        return cls(
            str(front),
            str(back),
            tuple((str(n), str(p)) for n, p in media),
            tuple((int(o), str(s), str(m)) for o, s, m in diagnostics),
            tuple(str(f) for f in rest[0]) if rest else (),
        )


@dataclass
class BuildCache:
    """Rendered cards by key, and per package: (fingerprint, sha256 of the bytes written).

    On disk, one file per source file (its cards) and one for the packages, so that a
    rebuild after an edit rewrites only what changed. Each file is three lines: a
    header (format, fingerprint), the JSON payload, and a trailer with the payload's
    SHA-256.
    """

    directory: Path | None
    fingerprint: str
    cards: dict[str, CardResult] = field(default_factory=dict)
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)
    status: str = "new"  # new, loaded, stale (other fingerprint) or corrupt
    _shard_of: dict[str, str] = field(default_factory=dict)  # card key -> source file
    _loaded: dict[str, set[str]] = field(default_factory=dict)  # source file -> its keys
    _used: dict[str, set[str]] = field(default_factory=dict)  # the same, for this build
    _dirty: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, directory: Path | None, fingerprint: str) -> BuildCache:
        """The cache in directory; what is missing, stale or corrupt is left out.

        A cache this process saved, whose files nobody has touched since, is taken from
        memory (`build --watch` rebuilds without reading and checking every file again).
        """
        cache = cls(directory, fingerprint)
        if directory is None or directory.is_symlink() or not directory.is_dir():
            return cache  # a link, a file or a FIFO in its place is replaced on save
        saved = _SAVED.get(directory)
        if saved is not None and saved[0] == fingerprint and saved[1] == _signature(directory):
            return saved[2].clone()
        problems: set[str] = set()
        for path in sorted(directory.glob(f"{CARDS_PREFIX}*.json")):
            state, data = _read_checked(path, fingerprint)
            if data is None:
                problems.add(state)
                continue
            try:
                shard = str(data["source"])
                keys = set()
                for key, value in data["cards"].items():
                    cache.cards[key] = CardResult.from_json(value)
                    cache._shard_of[key] = shard
                    keys.add(key)
                cache._loaded[shard] = keys
            except (KeyError, TypeError, ValueError, AttributeError):
                problems.add("corrupt")
        state, data = _read_checked(directory / PACKAGES_FILE, fingerprint)
        if data is not None:
            try:
                cache.packages = {k: (str(v[0]), str(v[1])) for k, v in data.items()}
            except (TypeError, ValueError, IndexError, AttributeError):
                problems.add("corrupt")
        elif state != "missing":
            problems.add(state)
        if "corrupt" in problems:
            cache.status = "corrupt"
        elif "stale" in problems:
            cache.status = "stale"
        elif cache.cards or cache.packages:
            cache.status = "loaded"
        return cache

    def get(self, key: str) -> CardResult | None:
        found = self.cards.get(key)
        if found is not None:
            self._used.setdefault(self._shard_of[key], set()).add(key)
        return found

    def put(self, key: str, result: CardResult, source: str) -> None:
        self.cards[key] = result
        self._shard_of[key] = source
        self._used.setdefault(source, set()).add(key)
        self._dirty.add(source)

    def save(self, write: Any) -> None:
        """Write what changed with write(path, chunks); keep only entries this build used."""
        if self.directory is None:
            return
        # Whatever sits where the cache's folder or files go and is not what cardsmith
        # writes there (a file, a FIFO, a link to elsewhere) is removed, not trusted.
        clear_way(self.directory, for_folder=True)
        wanted = set()
        for source, keys in sorted(self._used.items()):
            path = self.directory / f"{CARDS_PREFIX}{_short_hash(source)}.json"
            wanted.add(path.name)
            if source in self._dirty or keys != self._loaded.get(source) or not _regular(path):
                clear_way(path)
                write(path, self._chunks(_card_payload(source, keys, self.cards)))
        clear_way(self.directory / PACKAGES_FILE)
        write(
            self.directory / PACKAGES_FILE,
            self._chunks(iter([json.dumps(self.packages, sort_keys=True).encode()])),
        )
        for old in self.directory.glob("*.json"):  # cards of deleted files, older formats
            if old.name not in wanted and old.name != PACKAGES_FILE:
                clear_way(old)
                old.unlink(missing_ok=True)
        # What is on disk now, as load would read it: the entries this build used.
        cards = {key: self.cards[key] for keys in self._used.values() for key in keys}
        saved = BuildCache(
            self.directory,
            self.fingerprint,
            cards,
            self.packages,
            "loaded" if cards or self.packages else "new",
            {key: source for source, keys in self._used.items() for key in keys},
            self._used,
        )
        _SAVED[self.directory] = (self.fingerprint, _signature(self.directory), saved.clone())

    def clone(self) -> BuildCache:
        """A copy to build with (a build changes its cache)."""
        return BuildCache(
            self.directory,
            self.fingerprint,
            dict(self.cards),
            dict(self.packages),
            self.status,
            dict(self._shard_of),
            {source: set(keys) for source, keys in self._loaded.items()},
        )

    def _chunks(self, payload: Iterator[bytes]) -> Iterator[bytes]:
        header = json.dumps({"format": FORMAT, "fingerprint": self.fingerprint}).encode()
        digest = hmac.new(cache_secret(), digestmod=hashlib.sha256)
        yield header + b"\n"
        for chunk in payload:
            digest.update(chunk)
            yield chunk
        yield b"\n" + json.dumps({"hmac-sha256": digest.hexdigest()}).encode()


def _card_payload(source: str, keys: set[str], cards: dict[str, CardResult]) -> Iterator[bytes]:
    """The JSON of one source file's cards (one encoding call: a file's cards are few,
    and encoding card by card was most of saving a large cache)."""
    payload = {"source": source, "cards": {key: cards[key].to_json() for key in sorted(keys)}}
    yield json.dumps(payload, ensure_ascii=False).encode()


def _read_checked(path: Path, fingerprint: str) -> tuple[str, Any]:
    """(state, payload): state is "ok", "missing", "stale" or "corrupt"; payload or None."""
    if not path.exists() and not path.is_symlink():
        return "missing", None
    try:
        header, _, rest = read_regular(path, MAX_CACHE_FILE_BYTES, follow=False).partition(b"\n")
    except FileProblem:  # a folder, a FIFO, a link (to /dev/zero ...): dropped on save
        return "corrupt", None
    try:
        meta = json.loads(header)
        if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
            return "stale", None
        payload, _, trailer = rest.rpartition(b"\n")
        expected = hmac.new(cache_secret(), payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(json.loads(trailer).get("hmac-sha256"))):
            return "corrupt", None
        return "ok", json.loads(payload)
    except (ValueError, AttributeError, TypeError):
        return "corrupt", None


# The caches this process saved: directory -> (fingerprint, its files' signature, cache).
_SAVED: dict[Path, tuple[str, tuple[tuple[str, int, int, int], ...], BuildCache]] = {}


def _signature(directory: Path) -> tuple[tuple[str, int, int, int], ...]:
    """Each file's name, inode, size and change time: any write by another process
    shows (cardsmith itself replaces files, so even a rewrite changes the inode)."""
    found = []
    try:
        for entry in os.scandir(directory):
            info = entry.stat(follow_symlinks=False)
            found.append((entry.name, info.st_ino, info.st_size, info.st_mtime_ns))
    except OSError:
        return ()
    return tuple(sorted(found))


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


_SECRET: list[bytes] = []


def cache_secret() -> bytes:
    """The key of the cache files' checksums: kept in the user's own cache folder
    ($XDG_CACHE_HOME/cardsmith/cache-key, mode 600), never beside the cache.

    Whoever can edit a cache file (a shared or restored build folder) cannot make a
    valid checksum for it without this key; so an entry edited to carry a script is
    dropped, as a corrupt one is. Where no key can be kept, each run makes its own
    (its cache is then never reused, which is slower but still right).
    """
    if _SECRET:
        return _SECRET[0]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cardsmith"
    path = base / "cache-key"
    secret = b""
    for _ in range(2):
        try:
            secret = read_regular(path, 1024, follow=False)
            if len(secret) >= 32:
                break
        except FileProblem:
            pass
        try:
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
            fresh = secrets.token_bytes(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(fresh)
            secret = fresh
            break
        except FileExistsError:
            continue  # made by another build just now: read it
        except OSError:
            break
    if len(secret) < 32:
        secret = secrets.token_bytes(32)
    _SECRET.append(secret)
    return secret


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def card_key(fingerprint: str, *parts: str | int | bool) -> str:
    """The cache key of one card: everything its HTML depends on.

    Joined with U+001F, which cannot occur in sources (control characters are refused).
    """
    return hashlib.sha256("\x1f".join(map(str, (fingerprint, *parts))).encode()).hexdigest()
