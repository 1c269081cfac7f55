"""The pipeline, top to bottom: load -> render -> ledger -> plan packages -> make
packages -> write.

Each stage is a module: load.py (discover, parse, validate), render_all.py (with
render.py, parallel.py and cache.py as its services), ledger.py (each card's identity
and change time, from the deck's committed deck.lock), plan.py (with notes.py),
packages.py (with apkg.py), output.py. Nothing is written unless every stage succeeded:
packages and ledgers are written together.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from cardsmith import ledger, notes, output, parallel
from cardsmith.apkg import note_guid
from cardsmith.cache import CACHE_DIR, BuildCache, code_fingerprint
from cardsmith.diagnostics import Report
from cardsmith.errors import ContentError, OutputError
from cardsmith.load import load
from cardsmith.options import BuildOptions, clock
from cardsmith.packages import Output, make_packages
from cardsmith.parallel import Progress
from cardsmith.plan import plan_packages
from cardsmith.render_all import RenderedDeck, render_decks

__all__ = ["BuildResult", "Output", "RenderedDeck", "build", "check", "check_ledgers"]


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote (or left unchanged), its warnings, how its cache fared, and
    each deck's ledger update (new, changed and removed cards)."""

    outputs: list[Output]
    report: Report
    cache_status: str
    ledgers: list[ledger.Update]


def check(
    paths: list[Path],
    options: BuildOptions | None = None,
    cache: BuildCache | None = None,
    progress: Progress | None = None,
    exclude: Path | None = None,
) -> tuple[list[RenderedDeck], Report]:
    """Everything a build does short of packaging; raises ContentError on problems.

    Cards that parsed are rendered even when other cards have errors, so that one run
    reports every problem (a missing image too). exclude: a folder not to read (the
    build's own output).
    """
    options = options or BuildOptions()
    decks, report = load(paths, exclude=exclude)
    rendered = render_decks(decks, report, options, cache, progress)
    if report.failed(options.strict):
        raise ContentError(report)
    return rendered, report


def record(
    rendered: list[RenderedDeck], report: Report, options: BuildOptions, now: int | None = None
) -> list[ledger.Update]:
    """The ledger stage: each deck's cards matched to its deck.lock, which gives them their
    GUIDs, note ids and change times; raises ContentError on a bad or (--locked) stale one."""
    now = clock() if now is None else now
    updates = []
    note_ids: set[int] = set()  # note ids are unique across the decks of a build
    for deck in rendered:
        config = deck.deck.config
        errors = len(report.errors)
        old = ledger.read(ledger.ledger_path(config.root), report)
        if len(report.errors) > errors:
            continue  # a broken ledger: its errors say how to repair it
        facts = notes.card_facts(deck)
        ledger.check_kinds(old, (t.kind for t in config.note_types), (f.key for f in facts), report)
        if len(report.errors) > errors:
            continue

        def new_guid(key: str, kind: str, attempt: int, deck_key: str = config.key) -> str:
            return note_guid(deck_key, key if attempt == 0 else f"{key}\x1f{attempt}", kind)

        update = ledger.update(old, facts, new_guid, now, report, note_ids)
        if options.locked and update.stale:
            report.error(update.path, 1, _stale_message(update))
        updates.append(update)
    if report.failed(options.strict):
        raise ContentError(report)
    return updates


def _stale_message(update: ledger.Update) -> str:
    if update.old_text is None:
        return "no ledger (--locked): run `cardsmith build` and commit deck.lock"
    parts = [
        f"{len(items)} {what} ({', '.join(e.key for e in items[:3])}"
        f"{', ...' if len(items) > 3 else ''})"
        for what, items in (
            ("new", update.added),
            ("changed", update.changed),
            ("removed", update.newly_removed),
        )
        if items
    ] or ["its layout differs"]
    return (
        f"the ledger is out of date (--locked): {'; '.join(parts)}; run `cardsmith build` "
        "and commit deck.lock"
    )


def identities(
    rendered: list[RenderedDeck], updates: list[ledger.Update]
) -> dict[Path, dict[str, notes.Identity]]:
    """Per deck.toml, each card key's identity as its ledger entry gives it."""
    return {
        deck.deck.config.toml_path: {
            key: notes.Identity(entry.guid, entry.note_id, entry.changed)
            for key, entry in update.current.items()
        }
        for deck, update in zip(rendered, updates, strict=True)
    }


def check_ledgers(
    paths: list[Path], options: BuildOptions | None = None
) -> tuple[list[RenderedDeck], list[ledger.Update], Report]:
    """`cardsmith check`: everything a build does short of packaging and writing."""
    options = options or BuildOptions()
    rendered, report = check(paths, options)
    return rendered, record(rendered, report, options), report


def build(
    paths: list[Path],
    out_dir: Path,
    options: BuildOptions | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Check everything, then package every deck, then write: nothing is written on errors.

    The cache (under out_dir) skips rendering unchanged cards and rewriting unchanged
    packages; the packages are byte-for-byte those of a cold, serial build.
    """
    options = options or BuildOptions()
    cache_dir = out_dir / CACHE_DIR if options.use_cache else None
    cache = BuildCache.load(cache_dir, code_fingerprint())
    if cache.status != "loaded":
        parallel.prestart(options.jobs)  # everything renders: a large deck needs workers
    rendered, report = check(paths, options, cache, progress, exclude=out_dir)
    updates = record(rendered, report, options)
    plans = plan_packages(rendered, report, identities(rendered, updates))
    if report.failed(options.strict):
        raise ContentError(report)
    outputs = make_packages(plans, out_dir, cache)
    ledgers = [(u.path, u.text.encode()) for u in updates if u.stale]
    try:
        output.remove_stale_temps(out_dir)
        if cache_dir is not None:
            output.remove_stale_temps(cache_dir)
        output.write_all([*((o.path, o.data) for o in outputs if o.data is not None), *ledgers])
        for update in updates:
            ledger.remember(update)
        cache.save(functools.partial(output.write_atomic, durable=False))
    except OSError as error:  # the disk, not the content: full, read-only, not a folder
        raise OutputError.from_os_error(error, out_dir) from None
    return BuildResult(outputs, report, cache.status, updates)
