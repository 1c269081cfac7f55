"""The pipeline: discover, parse, validate, render, package, write."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import multiprocessing.context
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from cardsmith import apkg
from cardsmith.cache import CACHE_DIR, BuildCache, CardResult, card_key, code_fingerprint
from cardsmith.diagnostics import ContentError, Report
from cardsmith.load import load
from cardsmith.model import Card, Deck, TopicFile
from cardsmith.render import MediaStore, RenderedCard, Renderer, code_css, media_name


@dataclass(frozen=True)
class Output:
    """One package: where, its bytes (None when the file on disk is already these), cards."""

    path: Path
    data: bytes | None
    cards: int


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote (or left unchanged), its warnings, and how its cache fared."""

    outputs: list[Output]
    report: Report
    cache_status: str


@dataclass(frozen=True)
class RenderedDeck:
    deck: Deck
    cards: tuple[tuple[TopicFile, RenderedCard], ...]
    media: MediaStore


Progress = Callable[[int, int], None]

# Below this many cards to render, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 800
CHUNK_SIZE = 200


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH, the reproducible-builds clock, when set to a whole number."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() else None


def default_jobs() -> int:
    """Worker processes for rendering: one per usable core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_RENDERERS: dict[tuple[Path, bool], Renderer] = {}


def render_cards(root: Path, allow_html: bool, cards: Sequence[Card]) -> list[CardResult]:
    """Render cards of one deck; the serial path and every worker process run this."""
    renderer = _RENDERERS.get((root, allow_html))
    if renderer is None:
        renderer = Renderer(MediaStore(), Report(), root, allow_html)
        _RENDERERS[(root, allow_html)] = renderer
    results = []
    for card in cards:
        renderer.report = Report()
        renderer.media = MediaStore()  # workers keep no image bytes; the caller reads them
        done = renderer.render(card)
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
            )
        )
    return results


def _render_missing(
    root: Path,
    allow_html: bool,
    cards: list[Card],
    jobs: int | None,
    progress: Progress | None,
    done_before: int,
    total: int,
) -> list[CardResult]:
    """Render cards serially or spread over worker processes; the results are the same."""
    workers = default_jobs() if jobs is None else jobs
    serial = workers <= 1 or (jobs is None and len(cards) < PARALLEL_THRESHOLD)
    chunks = [cards[i : i + CHUNK_SIZE] for i in range(0, len(cards), CHUNK_SIZE)]
    out: list[CardResult] = []
    with contextlib.ExitStack() as stack:
        mapper: Callable[..., Iterable[list[CardResult]]] = map
        if not serial and chunks:
            pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=_context())
            mapper = stack.enter_context(pool).map
        for results in mapper(render_cards, repeat(root), repeat(allow_html), chunks):
            out.extend(results)
            if progress:
                progress(done_before + len(out), total)
    return out


def _context() -> multiprocessing.context.BaseContext:
    """Workers start from a small server process, not as copies of this (large) one.

    A forked copy of the build process would carry every parsed card in its memory;
    forkserver (POSIX) or spawn starts them with only cardsmith's modules loaded.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["cardsmith.build"])
        return context
    return multiprocessing.get_context("spawn")


def render_decks(
    decks: Iterable[Deck],
    report: Report,
    allow_html: bool = False,
    cache: BuildCache | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> list[RenderedDeck]:
    """Render every card (from the cache where it is still valid); problems go to the report."""
    decks = list(decks)
    total = sum(d.card_count for d in decks)
    fingerprint = cache.fingerprint if cache else ""
    done = 0
    rendered = []
    for deck in decks:
        root = deck.config.root.resolve()
        items = [(f, card) for f in deck.files for card in f.cards]
        where = {f.path: f.path.relative_to(deck.config.root).as_posix() for f in deck.files}
        keys = [
            card_key(
                fingerprint,
                where[card.path],
                card.question,
                card.answer,
                card.answer_line - card.line,
                allow_html,
            )
            for _, card in items
        ]
        media = MediaStore()
        results: list[CardResult | None] = [
            _valid(cache.get(key), root, media) if cache else None for key in keys
        ]
        missing = [i for i, r in enumerate(results) if r is None]
        done += len(items) - len(missing)
        fresh = _render_missing(
            root, allow_html, [items[i][1] for i in missing], jobs, progress, done, total
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
                    media.add((root / relative).read_bytes(), Path(relative).suffix)
                sources.append((name, root / relative))
            cards.append(
                (topic_file, RenderedCard(card, result.front, result.back, tuple(sources)))
            )
        rendered.append(RenderedDeck(deck, tuple(cards), media))
    return rendered


def _valid(result: CardResult | None, root: Path, media: MediaStore) -> CardResult | None:
    """A cached card whose images still have the content they had, else None."""
    if result is None:
        return None
    for name, relative in result.media:
        if name in media.files:
            continue
        try:
            data = (root / relative).read_bytes()
        except OSError:
            return None
        if media_name(data, Path(relative).suffix) != name:
            return None
        media.add(data, Path(relative).suffix)
    return result


def check(
    paths: list[Path],
    strict: bool = False,
    allow_html: bool = False,
    cache: BuildCache | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> tuple[list[RenderedDeck], Report]:
    """Everything a build does short of writing; raises ContentError on problems.

    Cards that parsed are rendered even when other cards have errors, so that one run
    reports every problem (a missing image too).
    """
    decks, report = load(paths)
    rendered = render_decks(decks, report, allow_html, cache, jobs, progress)
    if report.failed(strict):
        raise ContentError(report)
    return rendered, report


def note_mod(deck: Deck, topic_file: TopicFile) -> int:
    """A note's modification time: its sources' newest mtime, clamped to SOURCE_DATE_EPOCH.

    Anki applies an update only when the incoming note is newer, so an edited file must
    give its notes a newer time; untouched files keep theirs, so re-importing leaves
    those notes (and any edits the learner made in Anki) alone.
    """
    mod = int(max(topic_file.mtime, deck.mtime))
    epoch = source_date_epoch()
    return min(mod, epoch) if epoch is not None else mod


def package_deck(
    rendered: RenderedDeck, out_dir: Path, cache: BuildCache | None = None
) -> list[Output]:
    """The all-levels package and one package per level with cards.

    With a cache, a package whose notes, media and note types are what was last written
    to an unchanged file is not made again (data None); identical packages (a deck with
    one level) are made once.
    """
    deck = rendered.deck
    config = deck.config
    css = code_css()
    by_level: dict[str, list[apkg.NoteSpec]] = {level: [] for level in config.levels}
    media_by_level: dict[str, dict[str, None]] = {level: {} for level in config.levels}
    per_file: dict[Path, tuple[str, tuple[str, ...], str, int]] = {
        f.path: (
            f.path.relative_to(config.root).as_posix(),
            tuple(
                dict.fromkeys(
                    [*config.tags, *f.tags, f"level::{f.level}", f"topic::{f.topic_slug}"]
                )
            ),
            f"{config.name}::{config.level_title(f.level)}::{f.topic}",
            note_mod(deck, f),
        )
        for f in deck.files
    }
    for topic_file, card in rendered.cards:
        level = topic_file.level
        source, tags, deck_name, mod = per_file[topic_file.path]
        if card.card.explicit_id:
            source += f"#{card.card.explicit_id}"
        kind = card.card.kind
        fields = (
            (card.back, card.front, source) if kind == "cloze" else (card.front, card.back, source)
        )
        by_level[level].append(
            apkg.NoteSpec(
                guid=apkg.note_guid(config.key, card.card.key, kind),
                deck=deck_name,
                kind=kind,
                fields=fields,
                tags=tags,
                mod=mod,
            )
        )
        media_by_level[level].update(dict.fromkeys(name for name, _ in card.media))

    descriptions = {config.name: config.description}
    wanted = [(f"{config.slug}.apkg", [n for lv in config.levels for n in by_level[lv]],
               [m for lv in config.levels for m in media_by_level[lv]])]  # fmt: skip
    wanted += [
        (f"{config.slug}-{level}.apkg", by_level[level], list(media_by_level[level]))
        for level in config.levels
        if by_level[level]
    ]
    made: dict[str, bytes] = {}
    outputs = []
    for filename, notes, media_names in wanted:
        media = {name: rendered.media.files[name] for name in sorted(set(media_names))}
        fingerprint = apkg.package_fingerprint(notes, media, descriptions, css)
        path = out_dir / filename
        if cache is not None and _unchanged(path, cache.packages.get(filename), fingerprint):
            outputs.append(Output(path, None, len(notes)))
            continue
        if fingerprint not in made:
            made[fingerprint] = apkg.package_bytes(notes, media, descriptions, css)
        data = made[fingerprint]
        if cache is not None:
            cache.packages[filename] = (fingerprint, hashlib.sha256(data).hexdigest())
        outputs.append(Output(path, data, len(notes)))
    return outputs


def _unchanged(path: Path, recorded: tuple[str, str] | None, fingerprint: str) -> bool:
    """True if path holds exactly the package last written for this fingerprint."""
    if recorded is None or recorded[0] != fingerprint:
        return False
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == recorded[1]
    except OSError:
        return False


TEMP_SUFFIX = ".cardsmith-tmp"


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write to a temporary file beside path, then rename it into place.

    Readers see the old file or the new one, never a part; two builds writing the
    same file at once each rename a whole file of their own, and the last one wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in [data] if isinstance(data, bytes) else data:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(out_dir: Path) -> list[Path]:
    """Delete temporary files left by a build that was killed (its process is gone)."""
    removed: list[Path] = []
    if not out_dir.is_dir():
        return removed
    for tmp in out_dir.glob(f".*{TEMP_SUFFIX}"):
        parts = tmp.name.rsplit(".", 3)
        pid = int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else None
        if pid is not None and not _alive(pid):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build(
    paths: list[Path],
    out_dir: Path,
    strict: bool = False,
    allow_html: bool = False,
    jobs: int | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> BuildResult:
    """Check everything, then package every deck, then write: nothing is written on errors.

    The cache (under out_dir) skips rendering unchanged cards and rewriting unchanged
    packages; the packages are byte-for-byte those of a cold, serial build.
    """
    cache_dir = out_dir / CACHE_DIR if use_cache else None
    cache = BuildCache.load(cache_dir, code_fingerprint())
    rendered, report = check(paths, strict, allow_html, cache, jobs, progress)
    outputs = [o for r in rendered for o in package_deck(r, out_dir, cache)]
    remove_stale_temps(out_dir)
    if cache_dir is not None:
        remove_stale_temps(cache_dir)
    for output in outputs:
        if output.data is not None:
            write_atomic(output.path, output.data)
    cache.save(write_atomic)
    return BuildResult(outputs, report, cache.status)
