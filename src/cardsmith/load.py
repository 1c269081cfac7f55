"""Discover decks under the given paths, parse them and check them as a whole."""

from __future__ import annotations

import os
from pathlib import Path

from cardsmith.diagnostics import Report
from cardsmith.errors import ContentError
from cardsmith.model import Card, Deck, normalize_question
from cardsmith.parse import parse_deck_toml, parse_topic_file

DECK_FILE = "deck.toml"
_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__"}


def _walk(root: Path, exclude: Path | None = None) -> list[Path]:
    """Every file below root, sorted, skipping hidden and tool folders and exclude."""
    found: list[Path] = []
    skip = exclude.resolve() if exclude is not None else None
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _SKIP_DIRS
            and not d.startswith(".")
            and (skip is None or Path(dirpath, d).resolve() != skip)
        )
        found.extend(Path(dirpath, f) for f in sorted(filenames) if not f.startswith("."))
    return found


def discover(
    paths: list[Path], report: Report, exclude: Path | None = None
) -> dict[Path, list[Path]]:
    """deck.toml paths mapped to the Markdown files that belong to them (nearest deck wins)."""
    decks: dict[Path, list[Path]] = {}
    markdown: list[Path] = []
    for path in paths:
        if not path.exists():
            report.error(path, 1, "no such file or folder")
            continue
        if path.is_file() and path.suffix != ".md" and path.name != DECK_FILE:
            report.error(path, 1, "not a deck: give a folder, a deck.toml or a .md file")
            continue
        files = _walk(path, exclude) if path.is_dir() else [path]
        tomls = [f for f in files if f.name == DECK_FILE]
        if path.is_file() and path.suffix == ".md":
            # A single Markdown file: its deck is the nearest deck.toml above it.
            for parent in path.resolve().parents:
                if (parent / DECK_FILE).is_file():
                    tomls.append(parent / DECK_FILE)
                    break
        if not tomls:
            where = path if path.is_dir() else path.parent
            report.error(
                where / DECK_FILE,
                1,
                f"no {DECK_FILE} found in {path} or its subfolders: "
                "a deck is a folder with a deck.toml",
            )
            continue
        for toml in tomls:
            decks.setdefault(toml, [])
        markdown.extend(f for f in files if f.suffix == ".md")

    roots = sorted((t.parent.resolve(), t) for t in decks)
    for md in dict.fromkeys(markdown):
        owner = None
        for root, toml in roots:
            if md.resolve().is_relative_to(root) and (
                owner is None or root.is_relative_to(owner[0])
            ):
                owner = (root, toml)
        if owner is not None and md not in decks[owner[1]]:
            decks[owner[1]].append(md)
    return decks


def load(paths: list[Path], exclude: Path | None = None) -> tuple[list[Deck], Report]:
    """Parse and check every deck under paths; the report holds every problem found.

    exclude: a folder not to read (a build's own output folder).
    """
    report = Report()
    decks: list[Deck] = []
    for toml, files in discover(paths, report, exclude).items():
        config = parse_deck_toml(toml, report)
        if config is None:
            continue
        topic_files = []
        errors_before = len(report.errors)
        for md in files:
            stat = md.stat()
            parsed = parse_topic_file(md, config, stat.st_mtime, report)
            if parsed is not None:
                topic_files.append(parsed)
        deck = Deck(config=config, files=tuple(topic_files), mtime=toml.stat().st_mtime)
        _check_deck(deck, report, clean=len(report.errors) == errors_before)
        decks.append(deck)
    names: dict[str, Path] = {}
    for deck in decks:
        first = names.setdefault(deck.config.name, deck.config.toml_path)
        if first != deck.config.toml_path:
            report.error(
                deck.config.toml_path, 1, f"deck name {deck.config.name!r} is also used by {first}"
            )
    return decks, report


def load_or_raise(paths: list[Path], strict: bool = False) -> tuple[list[Deck], Report]:
    """Like load, but raise ContentError when the sources must not be built."""
    decks, report = load(paths)
    if report.failed(strict):
        raise ContentError(report)
    return decks, report


def _check_deck(deck: Deck, report: Report, clean: bool) -> None:
    """Problems that only show across the files of a deck (clean: no errors so far)."""
    if deck.card_count == 0 and clean:
        report.error(deck.config.toml_path, 1, f"no cards found in deck {deck.config.name!r}")
    ids: dict[str, Card] = {}
    questions: dict[str, Card] = {}
    for topic_file in deck.files:
        for card in topic_file.cards:
            if card.explicit_id is not None:
                first = ids.setdefault(card.explicit_id, card)
                if first is not card:
                    report.error(
                        card.path,
                        card.line,
                        f"duplicate id '{card.explicit_id}' "
                        f"(first used at {first.path}:{first.line})",
                    )
            question = normalize_question(card.question)
            first = questions.setdefault(question, card)
            if first is not card:
                report.error(
                    card.path,
                    card.line,
                    f"duplicate question in deck (first asked at {first.path}:{first.line})",
                )
