"""The settings of one build or check, as one value passed down the pipeline."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class BuildOptions:
    """What the command line (or a caller of the library) asks of a build.

    strict: warnings fail the build. allow_html: trust raw HTML in the Markdown.
    jobs: render processes (None: one per core, for large builds only).
    use_cache: reuse OUT/.cardsmith-cache.
    locked: fail if a deck's ledger (deck.lock) is not exactly what this build would
    write, instead of updating it (CI builds exactly what the author committed).
    """

    strict: bool = False
    allow_html: bool = False
    jobs: int | None = None
    use_cache: bool = True
    locked: bool = False


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH, the reproducible-builds clock, when set to a whole number."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() and len(value) < 20 else None


def seconds_from_env(name: str, default: float) -> float:
    """A time limit in seconds from environment variable name; default if unset or not a
    positive number."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def clock() -> int:
    """Now, for the ledger's change times: SOURCE_DATE_EPOCH when set, else the system clock."""
    epoch = source_date_epoch()
    return epoch if epoch is not None else int(time.time())
