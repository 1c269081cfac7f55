"""The package stage: the bytes of each planned package (apkg.py makes them).

With a cache, a package whose content is what was last written to an unchanged file is
not made again; identical packages (a deck with one level) are made once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cardsmith import apkg
from cardsmith.cache import BuildCache
from cardsmith.files import FileProblem, read_regular
from cardsmith.plan import PackagePlan, output_path
from cardsmith.render import code_css

MAX_PACKAGE_BYTES = 1 << 34


@dataclass(frozen=True)
class Output:
    """One package: where, its bytes (None when the file on disk is already these), counts."""

    path: Path
    data: bytes | None
    notes: int
    cards: int


def make_packages(
    plans: list[PackagePlan], out_dir: Path, cache: BuildCache | None = None
) -> list[Output]:
    """The bytes of every planned package, or None for those already on disk."""
    css = code_css()
    made: dict[str, bytes] = {}
    outputs = []
    for plan in plans:
        media = {name: plan.deck.media.files[name] for name in plan.media}
        descriptions = dict(plan.descriptions)
        fingerprint = apkg.package_fingerprint(plan.notes, media, descriptions, css)
        path = output_path(out_dir, plan)
        cards = sum(len(apkg.card_ords(note)) for note in plan.notes)
        if cache is not None and _unchanged(path, cache.packages.get(plan.filename), fingerprint):
            outputs.append(Output(path, None, len(plan.notes), cards))
            continue
        if fingerprint not in made:
            made[fingerprint] = apkg.package_bytes(plan.notes, media, descriptions, css)
        data = made[fingerprint]
        if cache is not None:
            cache.packages[plan.filename] = (fingerprint, hashlib.sha256(data).hexdigest())
        outputs.append(Output(path, data, len(plan.notes), cards))
    return outputs


def _unchanged(path: Path, recorded: tuple[str, str] | None, fingerprint: str) -> bool:
    """True if path holds exactly the package last written for this fingerprint."""
    if recorded is None or recorded[0] != fingerprint:
        return False
    try:  # not a FIFO or a link to /dev/zero put in its place: that would block
        data = read_regular(path, MAX_PACKAGE_BYTES, follow=False)
    except FileProblem:
        return False
    return hashlib.sha256(data).hexdigest() == recorded[1]
