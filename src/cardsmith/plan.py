"""The package plan: which .apkg files a build makes, and what goes into each.

The rule: one package with every level of a deck, plus one per level that has cards.
File names come from slugs, never from raw names, and must be distinct across decks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cardsmith.apkg import NoteSpec
from cardsmith.diagnostics import Report
from cardsmith.model import slugify
from cardsmith.notes import Identity, plan_notes
from cardsmith.render_all import RenderedDeck


@dataclass(frozen=True)
class PackagePlan:
    """One package: its file name (inside the output folder), notes, media and decks."""

    filename: str
    notes: tuple[NoteSpec, ...]
    media: tuple[str, ...]  # packaged media names, sorted
    descriptions: tuple[tuple[str, str], ...]  # (deck name, description HTML)
    deck: RenderedDeck
    everything: bool  # the all-levels package (False: one level's)


def plan_deck(
    rendered: RenderedDeck, identities: Mapping[str, Identity] | None = None
) -> list[PackagePlan]:
    """The all-levels package and one package per level with cards.

    identities: card key -> GUID, note id and time from the deck's ledger (None: a preview).
    """
    config = rendered.deck.config
    notes = plan_notes(rendered, identities)
    descriptions = ((config.name, rendered.description),)

    def make(
        filename: str, chosen: list[tuple[NoteSpec, tuple[str, ...]]], every: bool
    ) -> PackagePlan:
        media = sorted({name for _, names in chosen for name in names})
        specs = tuple(spec for spec, _ in chosen)
        return PackagePlan(filename, specs, tuple(media), descriptions, rendered, every)

    plans = [make(f"{config.slug}.apkg", [(n.spec, n.media) for n in notes], True)]
    for level in config.levels:
        chosen = [(n.spec, n.media) for n in notes if n.level == level]
        if chosen:
            plans.append(make(f"{config.slug}-{slugify(level) or 'level'}.apkg", chosen, False))
    return plans


def plan_packages(
    rendered: list[RenderedDeck],
    report: Report,
    identities: Mapping[Path, Mapping[str, Identity]] | None = None,
) -> list[PackagePlan]:
    """Every deck's packages; two decks whose file names clash are an error, not a loss.

    identities: per deck.toml path, each card's identity from the deck's ledger.
    """
    plans: list[PackagePlan] = []
    owners: dict[str, RenderedDeck] = {}
    for deck in rendered:
        chosen = None if identities is None else identities[deck.deck.config.toml_path]
        for plan in plan_deck(deck, chosen):
            key = plan.filename.casefold()  # case-insensitive disks (macOS, Windows) too
            first = owners.setdefault(key, deck)
            if first is not deck:
                config = deck.deck.config
                report.error(
                    config.toml_path,
                    1,
                    f"package {plan.filename} would also be written by deck "
                    f"{first.deck.config.name!r} ({first.deck.config.toml_path}): give one "
                    'of them another file name with `slug = "..."` in its deck.toml',
                )
                continue
            plans.append(plan)
    return plans


def output_path(out_dir: Path, plan: PackagePlan) -> Path:
    """Where a package goes; the name is a slug, so it cannot leave out_dir."""
    path = out_dir / plan.filename
    assert path.parent == out_dir and "/" not in plan.filename and ".." not in plan.filename
    return path
