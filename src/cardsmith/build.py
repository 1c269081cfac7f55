"""The pipeline, top to bottom: load -> render -> plan packages -> make packages -> write.

Each stage is a module: load.py (discover, parse, validate), render_all.py (with
render.py, parallel.py and cache.py as its services), plan.py (with notes.py),
packages.py (with apkg.py), output.py. Nothing is written unless every stage succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cardsmith import output
from cardsmith.cache import CACHE_DIR, BuildCache, code_fingerprint
from cardsmith.diagnostics import Report
from cardsmith.errors import ContentError, OutputError
from cardsmith.load import load
from cardsmith.options import BuildOptions
from cardsmith.packages import Output, make_packages
from cardsmith.parallel import Progress
from cardsmith.plan import plan_packages
from cardsmith.render_all import RenderedDeck, render_decks

__all__ = ["BuildResult", "Output", "RenderedDeck", "build", "check"]


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote (or left unchanged), its warnings, and how its cache fared."""

    outputs: list[Output]
    report: Report
    cache_status: str


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
    rendered, report = check(paths, options, cache, progress, exclude=out_dir)
    plans = plan_packages(rendered, report)
    if report.failed(options.strict):
        raise ContentError(report)
    outputs = make_packages(plans, out_dir, cache)
    try:
        output.remove_stale_temps(out_dir)
        if cache_dir is not None:
            output.remove_stale_temps(cache_dir)
        output.write_all([(o.path, o.data) for o in outputs if o.data is not None])
        cache.save(output.write_atomic)
    except OSError as error:  # the disk, not the content: full, read-only, not a folder
        raise OutputError.from_os_error(error, out_dir) from None
    return BuildResult(outputs, report, cache.status)
