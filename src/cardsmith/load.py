"""Discover decks under the given paths, parse them and check them as a whole."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from cardsmith.diagnostics import Report
from cardsmith.errors import ContentError
from cardsmith.files import FileProblem, check_regular, not_utf8, reason
from cardsmith.model import Card, Deck, normalize_question
from cardsmith.parse import NOTE_TYPES_DIR, parse_deck_toml, parse_note_types, parse_topic_file

DECK_FILE = "deck.toml"
_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__"}


def _walk(root: Path, report: Report, exclude: Path | None = None) -> list[Path]:
    """Every source file below root, sorted, skipping hidden and tool folders and exclude.

    Nothing is skipped silently: a folder that cannot be read, a link to a folder (not
    followed: it could loop or leave the deck) and a source file that is no regular
    file are reported, and the files found are regular files with UTF-8 names.
    """
    found: list[Path] = []
    skip = exclude.resolve() if exclude is not None else None

    def unreadable(error: OSError) -> None:
        where = Path(error.filename) if error.filename else root
        report.error(where, 1, f"cannot read folder: {reason(error, where)}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        kept = []
        for d in sorted(dirnames):
            path = Path(dirpath, d)
            if d in _SKIP_DIRS or d.startswith(".") or (skip is not None and _same(path, skip)):
                continue
            if _is_link(path):
                if _is_source(d):
                    found.append(path)  # read_text says what is wrong with it
                else:
                    report.warning(
                        path, 1, "link to a folder: not followed, its files are not read"
                    )
                continue
            kept.append(d)
        dirnames[:] = kept
        for f in sorted(filenames):
            if not f.startswith("."):
                found.append(Path(dirpath, f))
            elif f.endswith(".md"):
                report.warning(Path(dirpath, f), 1, "hidden file (name starts with '.'): not read")
    return found


def _is_link(path: Path) -> bool:
    try:
        return path.is_symlink()
    except OSError:  # too long a path: os.walk reports it when it tries to read it
        return False


def _same(path: Path, other: Path) -> bool:
    try:
        return path.resolve() == other
    except (OSError, RuntimeError):
        return False


def _is_source(name: str) -> bool:
    return name.endswith(".md") or name == DECK_FILE


def _usable(path: Path, report: Report) -> bool:
    """True for a regular file with a UTF-8 name; otherwise report why it is not read."""
    if not_utf8(path):
        report.error(path, 1, "file name is not valid UTF-8: rename it")
        return False
    try:
        check_regular(path)
    except FileProblem as problem:
        report.error(path, 1, f"cannot read file: {problem}")
        return False
    return True


def discover(
    paths: list[Path], report: Report, exclude: Path | None = None
) -> dict[Path, list[Path]]:
    """deck.toml paths mapped to the Markdown files that belong to them (nearest deck wins)."""
    decks: dict[Path, list[Path]] = {}
    markdown: list[Path] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            report.error(path, 1, "no such file or folder")
            continue
        is_dir = path.is_dir()
        if not is_dir and path.suffix != ".md" and path.name != DECK_FILE:
            report.error(path, 1, "not a deck: give a folder, a deck.toml or a .md file")
            continue
        files = _walk(path, report, exclude) if is_dir else [path]
        sources = [f for f in files if _is_source(f.name)]
        files = [f for f in sources if _usable(f, report)]
        tomls = [f for f in files if f.name == DECK_FILE]
        if not is_dir and path.suffix == ".md" and files:
            # A single Markdown file: its deck is the nearest deck.toml above it.
            for parent in path.resolve().parents:
                if (parent / DECK_FILE).is_file():
                    tomls.append(parent / DECK_FILE)
                    break
        if not tomls:
            if any(f.name == DECK_FILE for f in sources) or (not is_dir and not files):
                continue  # the unusable deck.toml or file was reported
            where = path if is_dir else path.parent
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
        resolved = md.resolve()
        for root, toml in roots:
            if resolved.is_relative_to(root) and (owner is None or root.is_relative_to(owner[0])):
                owner = (root, toml)
        if owner is None:
            report.error(md, 1, "file is outside every deck folder (a link out of the deck?)")
        elif md not in decks[owner[1]]:
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
        note_types = parse_note_types(config.root, report)
        if note_types is None:
            continue
        config = dataclasses.replace(config, note_types=note_types)
        if (config.root / NOTE_TYPES_DIR).is_dir():  # note types there, never topics
            declarations = (config.root / NOTE_TYPES_DIR).resolve()
            files = [md for md in files if not md.resolve().is_relative_to(declarations)]
        topic_files = []
        errors_before = len(report.errors)
        for md in files:
            parsed = parse_topic_file(md, config, report)  # a vanished file: cannot read
            if parsed is not None:
                topic_files.append(parsed)
        deck = Deck(config=config, files=tuple(topic_files))
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
