"""The settings of one build or check, as one value passed down the pipeline."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class BuildOptions:
    """What the command line (or a caller of the library) asks of a build.

    strict: warnings fail the build. allow_html: trust raw HTML in the Markdown.
    jobs: render processes (None: one per core, for large builds only).
    use_cache: reuse OUT/.cardsmith-cache.
    """

    strict: bool = False
    allow_html: bool = False
    jobs: int | None = None
    use_cache: bool = True


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH, the reproducible-builds clock, when set to a whole number."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() and len(value) < 20 else None
