"""Benchmark cardsmith against markdown-anki-decks 1.1.1, side by side (issue 5).

Run it with `make bench`, or directly: `.venv/bin/python bench/run.py [--sizes ...] [--runs ...]`.
Standard library only. This file is the entry point; the work is in three modules:
corpus.py (the generated decks), measure.py (running and timing both tools) and report.py
(writing bench/results.md).

What it does, in order:

1. Creates bench/work/venv-mad once (reused after) with markdown-anki-decks 1.1.1, `click<8.2`
   (it needs both to run), and the same Markdown, Pygments and genanki versions as cardsmith's
   own venv, so that both tools highlight code with the same libraries.
2. For each size (default 1,000, 5,000 and 20,000 cards) generates a corpus, deterministically
   (fixed seed; a card's text depends only on its number, so the 1k corpus is the first 20
   files of the 5k one): one folder holding a deck.toml (with `default_level`) and Markdown
   files of 50 cards each. Each file has a `# ` title and `## ` questions, which is also
   markdown-anki-decks' format (one deck per file, titled by the `# ` heading; it ignores the
   deck.toml), so both tools read the very same files.
3. Times, per size: a cold build (fresh output folder, fresh XDG_CACHE_HOME) and a rebuild
   after editing one answer in one file (same output folder and cache as the last cold
   build), for both tools, each run followed by a check of the packages it wrote (note
   counts; after an edit, that the new answer is packaged and the old one is gone), so a
   failed or stale run is never reported as fast. Wall time is the best of N runs; peak RSS
   is the largest over those runs of the process tree's peak (see `measure`).
4. Times `cardsmith --help` (best of 5), works out issue 16's cold-build limit, and times
   one-edit rebuilds of the 5,000-card corpus in `cardsmith build --watch` (one long-lived
   process), then prints a table and writes bench/results.md with the targets of issues 5
   and 16 marked PASS or FAIL.

Benchmarks are not tests: a missed target is reported, not an error. The exit status is
non-zero only when a tool fails or writes the wrong packages.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure, report
from bench.corpus import CARDS_PER_FILE
from bench.measure import Cardsmith, MarkdownAnkiDecks, Result, Tool

BENCH = Path(__file__).resolve().parent
DEFAULT_WORK = BENCH / "work"
DEFAULT_RESULTS = BENCH / "results.md"
DEFAULT_SIZES = (1_000, 5_000, 20_000)


def parse_runs(spec: str | None, sizes: list[int]) -> dict[int, int]:
    """--runs N for every size, or SIZE=N,SIZE=N; default 3, and 1 from 20k cards up."""
    runs = {c: (1 if c >= 20_000 else 3) for c in sizes}
    if spec:
        if spec.isdigit():
            return dict.fromkeys(sizes, int(spec))
        for part in spec.split(","):
            size, _, n = part.partition("=")
            if int(size) in runs:
                runs[int(size)] = int(n)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="comma-separated card counts (multiples of 50) [default: %(default)s]",
    )
    parser.add_argument(
        "--runs",
        help="runs per measurement, best kept: N for all sizes, or SIZE=N,... "
        "[default: 3, and 1 for 20000 cards and more]",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="time cardsmith only (no ratios); handy while optimising",
    )
    parser.add_argument(
        "--cardsmith-venv",
        type=Path,
        help="time the cardsmith installed in this venv instead of the one running me "
        "(e.g. a baseline build of another commit)",
    )
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch folder")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="report to write")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if odd := [c for c in sizes if c % CARDS_PER_FILE]:
        parser.error(f"sizes must be multiples of {CARDS_PER_FILE}, got {odd[0]}")

    started = time.perf_counter()
    # The venv whose cardsmith is timed: by default the one running this script (the
    # project's .venv, editable install of src/); --cardsmith-venv picks another.
    cs_python = (
        args.cardsmith_venv.resolve() / "bin" / "python"
        if args.cardsmith_venv
        else Path(sys.executable)
    )
    cardsmith = Cardsmith("cardsmith", "cardsmith", cs_python)
    if not cardsmith.executable.exists():
        raise SystemExit(
            f"{cardsmith.executable} not found: run me with the project's .venv/bin/python"
        )
    package = report.cardsmith_package(cs_python)
    sources = report.source_fingerprint(package)
    load_start = os.getloadavg()
    if load_start[0] > 1:
        print(f"warning: the machine is busy (load {report.loadavg(load_start)})", file=sys.stderr)
    runs_by_size = parse_runs(args.runs, sizes)
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    mad_venv = work / "venv-mad"
    tools: list[Tool] = [cardsmith]
    if not args.no_reference:
        measure.ensure_mad_venv(mad_venv, cs_python)
        tools.append(MarkdownAnkiDecks("mad", "markdown-anki-decks", mad_venv))

    measure.warm_up(tools, work)
    results: list[Result] = []
    for cards in sizes:
        print(f"{cards:,} cards, best of {runs_by_size[cards]}:", flush=True)
        results += measure.bench_size(cards, runs_by_size[cards], tools, work)
    help_s = measure.help_time(cardsmith.executable, work)
    floor = measure.render_floor(cardsmith, work) if 5_000 in sizes else None
    rebuild_floor = measure.rebuild_floor(cardsmith, work) if 5_000 in sizes else None
    watch = (
        measure.watch_rebuilds(cardsmith, work, 5_000, runs_by_size[5_000])
        if 5_000 in sizes
        else None
    )

    command = " ".join(["bench/run.py", *(a if " " not in a else repr(a) for a in sys.argv[1:])])
    elapsed = time.perf_counter() - started
    if (now := report.source_fingerprint(package)) != sources:
        sources += f" (CHANGED during the run, now {now}: numbers are mixed)"
        print(f"warning: cardsmith's sources changed during the run; {sources}", file=sys.stderr)
    facts = report.machine_facts(tools, mad_venv, package, sources, cs_python)
    load_text = f"{report.loadavg(load_start)} and {report.loadavg(os.getloadavg())}"
    text = report.render(
        results,
        help_s,
        facts,
        command,
        elapsed,
        runs_by_size,
        load_text,
        floor,
        watch,
        rebuild_floor,
    )
    waited = sum(run.waited for r in results for runs in r.runs.values() for run in runs)
    if waited:
        print(
            f"warning: {waited} run(s) waited for the CPU "
            f"(wall > {measure.WAIT_FACTOR} x CPU time); "
            f"load average at start and end: {load_text}",
            file=sys.stderr,
        )
    print()
    print("\n".join(report.table(results)))
    print(f"\ncardsmith --help: {help_s:.3f} s")
    linear = report.linear_note(results)[1]
    print("\n".join(report.targets(results, help_s, linear, floor, watch)))
    print("\n".join(report.rebuild_floor_lines(rebuild_floor)))
    args.results.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.results} ({elapsed:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
