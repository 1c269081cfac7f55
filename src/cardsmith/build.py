"""The pipeline: discover, parse, validate, render, package, write."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cardsmith import apkg
from cardsmith.diagnostics import ContentError, Report
from cardsmith.load import load
from cardsmith.model import Deck, TopicFile
from cardsmith.render import MediaStore, RenderedCard, Renderer, code_css


@dataclass(frozen=True)
class Output:
    """One package to write: where, its bytes, and how many cards it holds."""

    path: Path
    data: bytes
    cards: int


@dataclass(frozen=True)
class RenderedDeck:
    deck: Deck
    cards: tuple[tuple[TopicFile, RenderedCard], ...]
    media: MediaStore


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH, the reproducible-builds clock, when set to a whole number."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() else None


def render_decks(
    decks: Iterable[Deck], report: Report, allow_html: bool = False
) -> list[RenderedDeck]:
    """Render every card; missing images and other rendering problems go to the report."""
    rendered = []
    for deck in decks:
        media = MediaStore()
        renderer = Renderer(media, report, deck.config.root, allow_html)
        cards = tuple((f, renderer.render(card)) for f in deck.files for card in f.cards)
        rendered.append(RenderedDeck(deck, cards, media))
    return rendered


def check(
    paths: list[Path], strict: bool = False, allow_html: bool = False
) -> tuple[list[RenderedDeck], Report]:
    """Everything a build does short of writing; raises ContentError on problems.

    Cards that parsed are rendered even when other cards have errors, so that one run
    reports every problem (a missing image too).
    """
    decks, report = load(paths)
    rendered = render_decks(decks, report, allow_html)
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


def package_deck(rendered: RenderedDeck, out_dir: Path) -> list[Output]:
    """The all-levels package and one package per level."""
    deck = rendered.deck
    config = deck.config
    css = code_css()
    by_level: dict[str, list[apkg.NoteSpec]] = {level: [] for level in config.levels}
    media_by_level: dict[str, set[str]] = {level: set() for level in config.levels}
    for topic_file, card in rendered.cards:
        level = topic_file.level
        source = card.card.path.relative_to(config.root).as_posix()
        if card.card.explicit_id:
            source += f"#{card.card.explicit_id}"
        tags = dict.fromkeys(
            [
                *config.tags,
                *topic_file.tags,
                f"level::{level}",
                f"topic::{topic_file.topic_slug}",
            ]
        )
        kind = card.card.kind
        fields = (
            (card.back, card.front, source) if kind == "cloze" else (card.front, card.back, source)
        )
        by_level[level].append(
            apkg.NoteSpec(
                guid=apkg.note_guid(config.key, card.card.key, kind),
                deck=f"{config.name}::{config.level_title(level)}::{topic_file.topic}",
                kind=kind,
                fields=fields,
                tags=tuple(tags),
                mod=note_mod(deck, topic_file),
            )
        )
        media_by_level[level].update(card.media)

    descriptions = {config.name: config.description}
    outputs = []
    all_notes = [n for level in config.levels for n in by_level[level]]
    all_media = {
        name: rendered.media.files[name]
        for level in config.levels
        for name in media_by_level[level]
    }
    outputs.append(
        Output(
            out_dir / f"{config.slug}.apkg",
            apkg.package_bytes(all_notes, all_media, descriptions, css),
            len(all_notes),
        )
    )
    for level in config.levels:
        if not by_level[level]:
            continue
        media = {name: rendered.media.files[name] for name in media_by_level[level]}
        outputs.append(
            Output(
                out_dir / f"{config.slug}-{level}.apkg",
                apkg.package_bytes(by_level[level], media, descriptions, css),
                len(by_level[level]),
            )
        )
    return outputs


TEMP_SUFFIX = ".cardsmith-tmp"


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside path, then rename it into place.

    Readers see the old file or the new one, never a part; two builds writing the
    same file at once each rename a whole file of their own, and the last one wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
    paths: list[Path], out_dir: Path, strict: bool = False, allow_html: bool = False
) -> tuple[list[Output], Report]:
    """Check everything, then package every deck, then write: nothing is written on errors."""
    rendered, report = check(paths, strict, allow_html)
    outputs = [o for r in rendered for o in package_deck(r, out_dir)]
    remove_stale_temps(out_dir)
    for output in outputs:
        write_atomic(output.path, output.data)
    return outputs, report
