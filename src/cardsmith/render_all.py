"""The render stage: every card of every deck to HTML, from the cache where still valid.

Rendering one card is render.py's job; this module decides which cards need it, hands
them to the parallel service, and gathers their media.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cardsmith import lifeline, parallel
from cardsmith.cache import BuildCache, CardResult, card_key
from cardsmith.diagnostics import Report
from cardsmith.files import MAX_MEDIA_BYTES, FileProblem, read_regular, reason
from cardsmith.model import Card, Deck, TopicFile
from cardsmith.options import BuildOptions, seconds_from_env
from cardsmith.render import (
    MediaStore,
    RenderedCard,
    Renderer,
    media_name,
    render_description,
)


@dataclass(frozen=True)
class RenderedDeck:
    """A deck with each card's HTML (in source order), its media and its description."""

    deck: Deck
    cards: tuple[tuple[TopicFile, RenderedCard], ...]
    media: MediaStore
    description: str = ""  # HTML


# One configured renderer per process, pointed at each deck in turn: building one costs
# ~0.1 s (Python-Markdown compiles its patterns), so the workers' server process builds it
# once before it forks any worker (see the end of this module).
_RENDERER: list[Renderer] = []


def _renderer(root: Path, allow_html: bool) -> Renderer:
    if not _RENDERER:
        _RENDERER.append(Renderer(MediaStore(), Report(), root, allow_html))
    renderer = _RENDERER[0]
    renderer.root = root.resolve()
    renderer.allow_html = allow_html
    renderer.report = Report()
    renderer.media = MediaStore()  # workers keep no media bytes; the caller reads them
    return renderer


def prepare() -> None:
    """Build this process's renderer now, not at the first card that needs it: `build
    --watch` does so while it waits, so the first rebuild after an edit is as quick as
    the ones after it."""
    if not _RENDERER:
        _renderer(Path.cwd(), False)


# Limits documented in docs/format.md ("Limits and odd input"). A card whose rendering
# takes longer than this is stopped and reported as an error (the libraries have inputs
# on which they take minutes); CARDSMITH_CARD_TIME_LIMIT sets another limit in seconds.
DEFAULT_CARD_TIME_LIMIT = 20.0


def card_time_limit() -> float:
    """Seconds one card may take to render (CARDSMITH_CARD_TIME_LIMIT, else 20)."""
    return seconds_from_env("CARDSMITH_CARD_TIME_LIMIT", DEFAULT_CARD_TIME_LIMIT)


class CardTimeout(BaseException):
    """Raised inside a card's rendering when it runs out of time (a BaseException, so
    that a library's own `except Exception` cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block with CardTimeout after seconds (a SIGALRM timer).

    Python checks for signals between bytecodes and inside regular expression matching,
    so this stops pure-Python Markdown and Pygments' backtracking lexers alike. Only
    the main thread can take signals; elsewhere (a library caller's thread) no limit.
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise CardTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)  # again, should one be swallowed
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _failed(message: str) -> CardResult:
    return CardResult("", "", (), ((0, "error", message),))


def render_cards(root: Path, allow_html: bool, cards: Sequence[Card]) -> list[CardResult]:
    """Render cards of one deck; the serial path and every worker process run this.

    Each card has a time limit; a card that runs out of time or nests too deeply for
    the Markdown library becomes an error at its line, and the others render on.
    """
    limit = card_time_limit()
    results = []
    for card in cards:
        renderer = _renderer(root, allow_html)
        try:
            with time_limit(limit):
                done = renderer.render(card)
        except (CardTimeout, RecursionError) as error:
            _RENDERER.clear()  # interrupted mid-way: start afresh
            if isinstance(error, CardTimeout):
                results.append(_failed(f"card took longer than {limit:g} s to render"))
            else:
                results.append(
                    _failed("card nests too deeply to render (lists, quotes or brackets)")
                )
            continue
        except OSError as error:  # an image that cannot be read
            where = f" {error.filename}" if error.filename else ""
            results.append(_failed(f"cannot read{where}: {reason(error)}"))
            continue
        except RuntimeError as error:  # pathlib's resolve() on an image link that loops
            if not str(error).startswith("Symlink loop"):
                raise
            looped = str(error).removeprefix("Symlink loop from ").strip("'\"")
            results.append(_failed(f"cannot read {looped}: symbolic link loop"))
            continue
        results.append(
            CardResult(
                done.front,
                done.back,
                tuple(
                    (name, path.relative_to(renderer.root).as_posix()) for name, path in done.media
                ),
                tuple(
                    (d.line - card.line, d.severity.value, d.message) for d in renderer.report.items
                ),
                done.fields,
            )
        )
    return results


def render_decks(
    decks: Iterable[Deck],
    report: Report,
    options: BuildOptions,
    cache: BuildCache | None = None,
    progress: parallel.Progress | None = None,
) -> list[RenderedDeck]:
    """Render every card (from the cache where it is still valid); problems go to the report."""
    decks = list(decks)
    total = sum(d.card_count for d in decks)
    done = 0
    rendered = []
    for deck in decks:
        root = deck.config.root.resolve()
        items = [(f, card) for f in deck.files for card in f.cards]
        where = {f.path: f.path.relative_to(deck.config.root).as_posix() for f in deck.files}
        keys = [
            card_key(
                cache.fingerprint if cache else "",
                where[card.path],
                card.question,
                card.answer,
                card.answer_line - card.line,
                options.allow_html,
                *(
                    part
                    for section in card.extra_fields
                    for part in (section.name, section.markdown, section.markdown_line - card.line)
                ),
            )
            for _, card in items
        ]
        media = MediaStore()
        results: list[CardResult | None] = [
            _valid(cache.get(key), root, media) if cache else None for key in keys
        ]
        missing = [i for i, r in enumerate(results) if r is None]
        done += len(items) - len(missing)
        before = done

        def advance(finished: int, before: int = before) -> None:
            if progress:
                progress(before + finished, total)

        fresh = parallel.map_chunks(
            functools.partial(render_cards, root, options.allow_html),
            [items[i][1] for i in missing],
            options.jobs,
            advance,
        )
        done += len(fresh)
        for index, new in zip(missing, fresh, strict=True):
            results[index] = new
            if cache and not any(sev == "error" for _, sev, _ in new.diagnostics):
                cache.put(keys[index], new, where[items[index][1].path])
        cards = []
        for (topic_file, card), result in zip(items, results, strict=True):
            assert result is not None
            for offset, severity, message in result.diagnostics:
                add = report.error if severity == "error" else report.warning
                add(card.path, card.line + offset, message)
            sources = []
            for name, relative in result.media:
                if name not in media.files:
                    try:
                        data = read_regular(root / relative, MAX_MEDIA_BYTES)
                    except FileProblem as problem:  # changed since it was rendered
                        report.error(card.path, card.line, f"cannot read {relative}: {problem}")
                        continue
                    media.add(data, Path(relative).suffix)
                sources.append((name, root / relative))
            cards.append(
                (
                    topic_file,
                    RenderedCard(card, result.front, result.back, tuple(sources), result.fields),
                )
            )
        description = _description(deck, report, options.allow_html)
        rendered.append(RenderedDeck(deck, tuple(cards), media, description))
    return rendered


def _description(deck: Deck, report: Report, allow_html: bool) -> str:
    """The deck's description as HTML, under the same time limit as a card."""
    limit = card_time_limit()
    try:
        with time_limit(limit):
            return render_description(deck.config.description, allow_html)
    except CardTimeout:
        message = f"description took longer than {limit:g} s to render"
    except RecursionError:
        message = "description nests too deeply to render (lists, quotes or brackets)"
    report.error(deck.config.toml_path, 1, message)
    return ""


def _valid(result: CardResult | None, root: Path, media: MediaStore) -> CardResult | None:
    """A cached card whose media files still have the content they had, else None.

    The cache is data from disk: its files carry a checksum keyed with a secret a
    hand-edit cannot recompute (cache.cache_secret), and on the way out its media must
    lie inside the deck and its diagnostics be of known kinds, or the card is rendered
    again. (Sanitizing every cached card again would cost half a warm rebuild.)
    """
    if result is None:
        return None
    if any(severity not in ("error", "warning") for _, severity, _ in result.diagnostics):
        return None
    for name, relative in result.media:
        if name in media.files:
            continue
        path = root / relative
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            return None
        try:
            if not path.resolve().is_relative_to(root):
                return None
        except (OSError, RuntimeError):
            return None
        try:
            data = read_regular(root / relative, MAX_MEDIA_BYTES)
        except FileProblem:
            return None
        if media_name(data, Path(relative).suffix) != name:
            return None
        media.add(data, Path(relative).suffix)
    return result


if lifeline.imported_by_forkserver():
    _renderer(Path.cwd(), False)  # the workers' server: every worker starts with it built
