"""The command line: thin commands over the library; content errors exit 1, usage errors 2."""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from cardsmith import __version__
from cardsmith.diagnostics import Report
from cardsmith.errors import CardsmithError
from cardsmith.options import BuildOptions

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from cardsmith import ledger

# The library modules are imported inside the commands that use them: Markdown, Pygments,
# genanki and the rest take a while to load, and `cardsmith --help` should answer at once.


def _show(error: CardsmithError) -> None:
    for line in error.lines():
        typer.echo(line, err=True)


class _Commands(TyperGroup):
    """Every command's library errors become their lines on stderr and exit code, here."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except CardsmithError as error:
            _show(error)
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=_Commands,
    help="Turn Markdown question/answer files into Anki decks (.apkg), grouped by level.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_PATHS = [Path("content")]

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Files or folders to scan for decks (folders holding a deck.toml). [default: content]",
        show_default=False,
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Treat warnings as errors (exit 1 if there are any).")
]
AllowHtmlOpt = Annotated[
    bool,
    typer.Option(
        "--allow-html",
        help="Trust raw HTML in the Markdown (default: keep only formatting tags, "
        "drop scripts, styles, frames, event handlers and javascript: links).",
    ),
]


def _print_report(report: Report) -> None:
    for item in report.sorted():
        typer.echo(str(item), err=True)


def _print_ledgers(updates: list[ledger.Update]) -> None:
    """What left each deck since its ledger was last written, and how learners find
    every removed card in Anki."""
    from cardsmith.ledger import removed_search

    for update in updates:
        if update.newly_removed:
            keys = ", ".join(e.key for e in update.newly_removed)
            typer.echo(f"removed since the last release ({update.path}): {keys}")
        if update.removed:
            typer.echo(
                f"{_cards(len(update.removed))} removed over the deck's life; learners find "
                f"them in Anki's browser with: {removed_search(update.removed)}"
            )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cardsmith {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Turn Markdown question/answer files into Anki decks (.apkg), grouped by level."""


class _Progress:
    """A rich progress bar that appears only on a terminal, once a build passes one second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.enabled = sys.stdout.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < 1.0:
                return
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.task = self.bar.add_task("rendering cards", total=total)
            self.bar.start()
        assert self.task is not None
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _cards(count: int) -> str:
    return _count(count, "card")


def _build_once(paths: list[Path], out: Path, options: BuildOptions) -> bool:
    """One build with its messages; False if it failed (the messages say why)."""
    from cardsmith import cache, parallel

    if not (options.use_cache and cache.has_cards(out / cache.CACHE_DIR)):
        # Everything will render: start the workers' server before the heavy imports.
        parallel.prestart(options.jobs)
    from cardsmith.build import build as build_decks

    progress = _Progress()
    try:
        result = build_decks(paths, out, options, progress)
    except CardsmithError as error:
        _show(error)
        return False
    finally:
        progress.close()
    _print_report(result.report)
    _print_ledgers(result.ledgers)
    if result.cache_status in ("stale", "corrupt"):
        typer.echo(f"note: the build cache was {result.cache_status}; rendered everything anew")
    for output in result.outputs:
        verb = "wrote" if output.data is not None else "unchanged"
        typer.echo(f"{verb} {output.path} ({_count(output.notes, 'note')}, {_cards(output.cards)})")
    for update in result.ledgers:
        if update.stale:
            counts = f"{len(update.added)} new, {len(update.changed)} changed"
            typer.echo(f"ledger {update.path}: {counts}, {len(update.newly_removed)} removed")
    return True


@app.command()
def build(
    paths: PathsArg = None,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", file_okay=False, help="Folder to write the .apkg files to."),
    ] = Path("build"),
    strict: StrictOpt = False,
    allow_html: AllowHtmlOpt = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes that render cards (default: one per core, for large builds).",
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Render every card and rewrite every package, ignoring OUT/.cardsmith-cache.",
        ),
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="After building, rebuild whenever a source changes (Ctrl-C stops)."
        ),
    ] = False,
    locked: Annotated[
        bool,
        typer.Option(
            "--locked",
            help="Fail if a deck's ledger (deck.lock) is out of date instead of updating it "
            "(for CI: build exactly what was committed).",
        ),
    ] = False,
) -> None:
    """Check the decks, then write one .apkg with every level and one per level, and
    update each deck's ledger (deck.lock)."""
    sources = paths or DEFAULT_PATHS
    options = BuildOptions(
        strict=strict, allow_html=allow_html, jobs=jobs, use_cache=not no_cache, locked=locked
    )
    ok = _build_once(sources, out, options)
    if not watch:
        if not ok:
            raise typer.Exit(1)
        return
    from cardsmith.render_all import prepare as prepare_renderer
    from cardsmith.watch import changes as source_changes

    prepare_renderer()
    typer.echo(f"watching {', '.join(map(str, sources))} (Ctrl-C stops)")

    for changed in source_changes(sources, out):
        typer.echo("changed: " + ", ".join(map(str, changed)))
        started = time.monotonic()
        ok = _build_once(sources, out, options)
        state = "rebuilt" if ok else "failed"
        typer.echo(f"{state} in {time.monotonic() - started:.2f} s")


@app.command()
def check(
    paths: PathsArg = None, strict: StrictOpt = False, allow_html: AllowHtmlOpt = False
) -> None:
    """Validate the decks without writing anything; list cards removed since the ledger."""
    from cardsmith.build import check_ledgers
    from cardsmith.kinds import kind_of

    options = BuildOptions(strict=strict, allow_html=allow_html)
    rendered, updates, report = check_ledgers(paths or DEFAULT_PATHS, options)
    _print_report(report)
    _print_ledgers(updates)
    notes = sum(len(r.cards) for r in rendered)
    cards = sum(
        len(kind.card_ords(kind.note_fields(c.front, c.back, "", c.sections)))
        for r in rendered
        for _, c in r.cards
        for kind in [kind_of(c.card)]
    )
    typer.echo(
        f"ok: {len(rendered)} deck(s), {_count(notes, 'note')}, {_cards(cards)}, "
        f"{len(report.warnings)} warning(s)"
    )


@app.command()
def stats(paths: PathsArg = None) -> None:
    """Print a table of note counts per deck, level and topic."""
    from cardsmith.load import load_or_raise
    from cardsmith.stats import count_cards

    decks, report = load_or_raise(paths or DEFAULT_PATHS)
    _print_report(report)
    rows = count_cards(decks)
    headers = ("deck", "level", "topic", "notes")
    table = [headers, *((r.deck, r.level, r.topic, str(r.cards)) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for n, row in enumerate(table):
        cells = [c.ljust(w) for c, w in zip(row[:3], widths, strict=False)]
        typer.echo("  ".join([*cells, row[3].rjust(widths[3])]).rstrip())
        if n == 0:
            typer.echo("  ".join("-" * w for w in widths))
    totals: dict[str, int] = {}
    for row_ in rows:
        totals[row_.deck] = totals.get(row_.deck, 0) + row_.cards
    for deck, total in totals.items():
        typer.echo(f"{deck}: {total} notes")


@app.command()
def ids(
    paths: PathsArg = None,
    write: Annotated[
        bool,
        typer.Option("--write", help="Write the ids into the files (default: only list them)."),
    ] = False,
) -> None:
    """Give every card without an explicit {#id} one made from its question.

    With --write, each deck's ledger moves the card's identity (GUID) to its new id, so
    learners' notes keep updating in place.
    """
    from cardsmith.ids import plan_ids, write_ids
    from cardsmith.load import load_or_raise

    decks, report = load_or_raise(paths or DEFAULT_PATHS)
    _print_report(report)
    planned = plan_ids(decks)
    for new in planned:
        typer.echo(f"{new.path}:{new.line}: {{#{new.card_id}}}")
    if write:
        changed, kept = write_ids(paths or DEFAULT_PATHS, planned)
        for line in kept:
            typer.echo(line)
        typer.echo(f"added {len(planned)} id(s) in {len(changed)} file(s)")
    elif planned:
        typer.echo(f"{len(planned)} card(s) without an id; run with --write to add them")
    else:
        typer.echo("every card has an id")


@app.command("push")
def push_command(
    paths: PathsArg = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="An Anki profile in Anki's data folder (default: the only one there).",
        ),
    ] = None,
    collection: Annotated[
        Path | None,
        typer.Option("--collection", help="A collection.anki2 file, or a profile folder."),
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            file_okay=False,
            help="Anki's data folder (default: ~/.local/share/Anki2, macOS ~/Library/"
            "Application Support/Anki2, Windows %APPDATA%\\Anki2).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change and stop.")
    ] = False,
    delete_removed: Annotated[
        bool,
        typer.Option(
            "--delete-removed",
            help="Delete the notes of cards removed from the deck (default: suspend and tag "
            "them cardsmith::removed).",
        ),
    ] = False,
    strict: StrictOpt = False,
    allow_html: AllowHtmlOpt = False,
) -> None:
    """Put the decks straight into a local Anki collection (Anki must be closed).

    Shows what changes (new, updated, unchanged, removed), backs the collection up as
    Anki does, imports as File > Import does (update if newer), then suspends and tags
    the notes of removed cards.
    """
    from cardsmith.push import collection_path, push

    target = collection_path(profile, collection, base)
    options = BuildOptions(strict=strict, allow_html=allow_html)
    result = push(paths or DEFAULT_PATHS, target, options, dry_run, delete_removed)
    typer.echo(f"collection: {result.collection}")
    change = result.change
    for label, keys in (("new", change.new), ("updated", change.updated)):
        for key in keys:
            typer.echo(f"{label}: {key}")
    for key in change.removed:
        typer.echo(f"removed: {key}")
    typer.echo(
        f"{len(change.new)} new, {len(change.updated)} updated, "
        f"{len(change.unchanged)} unchanged, {len(change.removed)} removed"
    )
    if result.dry_run:
        typer.echo("dry run: nothing written")
        return
    backup = result.backup or "none needed (no change since the last backup)"
    typer.echo(f"backup: {backup}")
    counts = ", ".join(f"{count} {kind}" for kind, count in result.imported.items() if count)
    typer.echo(f"imported: {counts or 'nothing'}")
    if result.removed_action:
        typer.echo(f"removed cards: {result.removed_action}")


@app.command("import")
def import_command(
    package: Annotated[
        Path | None,
        typer.Argument(
            help="An Anki package to import: .apkg (a shared deck) or .colpkg (a whole "
            "collection).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The deck folder to write (new or empty; see --force).",
            show_default=False,
        ),
    ] = None,
    collection: Annotated[
        Path | None,
        typer.Option(
            "--collection",
            help="Read a local collection (collection.anki2 or its profile folder; Anki "
            "closed) instead of a package; it is not modified.",
        ),
    ] = None,
    deck: Annotated[
        str | None,
        typer.Option(
            "--deck",
            help="The deck to import, by its full name (needed when there are several).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace what a non-empty --out folder holds.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the files it would write; write nothing.")
    ] = False,
) -> None:
    """Turn an Anki deck into a deck folder that `cardsmith build` accepts, keeping every
    note's identity (GUID, note id, note type) so learners' notes update in place."""
    from cardsmith.importer import import_collection, import_package

    if out is None:
        raise typer.BadParameter("--out DIR is required", param_hint="--out")
    if (package is None) == (collection is None):
        raise typer.BadParameter("give a PACKAGE or --collection PATH (one of the two)")
    if collection is not None:
        if deck is None:
            raise typer.BadParameter("--collection needs --deck NAME", param_hint="--deck")
        result = import_collection(collection, deck, out, force, dry_run)
    else:
        assert package is not None
        result = import_package(package, out, deck, force, dry_run)
    for warning in result.warnings:
        typer.echo(warning, err=True)
    verb = "would write" if result.dry_run else "wrote"
    for name in result.files:
        typer.echo(f"{verb} {result.out / name}")
    summary = (
        f"{_count(result.notes, 'note')}, {_count(result.note_types, 'declared note type')}, "
        f"{_count(result.media, 'media file')}"
    )
    if result.dry_run:
        typer.echo(f"dry run: {summary}; nothing written")
    else:
        typer.echo(f"imported {summary} into {result.out}; next: cardsmith build {result.out}")


@app.command("verify")
def verify_command(
    packages: Annotated[
        list[Path],
        typer.Argument(help="The .apkg files to check (any Anki package, not only cardsmith's)."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of text.")
    ] = False,
) -> None:
    """Import packages into a throwaway collection with the real Anki backend and report problems.

    Exit 1 on duplicate GUIDs, missing or unused media, blank fronts or template errors;
    2 if a file is missing or not a package, or the Anki backend is not installed.
    """
    from cardsmith.verify import verify_packages

    reports = verify_packages(packages)
    if as_json:
        ok = all(r.ok for r in reports)
        typer.echo(json.dumps({"ok": ok, "packages": [r.to_json() for r in reports]}, indent=2))
    else:
        for report in reports:
            typer.echo("\n".join(report.summary()))
            for line in report.problem_lines():
                typer.echo(line, err=True)
        problems = sum(len(r.problems) for r in reports)
        bad = sum(not r.ok for r in reports)
        if problems:
            typer.echo(
                f"failed: {problems} problem(s) in {bad} of {len(reports)} package(s)", err=True
            )
        else:
            typer.echo(f"ok: {len(reports)} package(s), no problems")
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


@app.command("preview")
def preview_command(
    paths: PathsArg = None,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for the preview site (replaced on each run)."),
    ] = Path("build/preview"),
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the preview in the web browser when written.")
    ] = False,
    strict: StrictOpt = False,
    allow_html: AllowHtmlOpt = False,
) -> None:
    """Write a static site showing every card as Anki renders it: phone, desktop, night mode."""
    from cardsmith.preview import build_preview

    options = BuildOptions(strict=strict, allow_html=allow_html)
    result = build_preview(paths or DEFAULT_PATHS, out, options)
    _print_report(result.report)
    for warning in result.preview.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"wrote {result.index} ({len(result.preview.cards)} cards)")
    if open_browser:
        import webbrowser

        webbrowser.open(result.index.resolve().as_uri())


# Objects a run allocates before Python's cyclic garbage collector runs its youngest
# generation (default 700). A build keeps every card alive to its end, so the default
# walks them again and again for no garbage: 50,000 takes ~5 % off a one-edit 5k
# rebuild and ~2 % off a 20k cold build (mypy raises it for the same reason). Only the
# command line sets it; a library caller keeps its own.
GC_THRESHOLD = 50_000


def main() -> None:
    """Console entry point."""
    gc.set_threshold(GC_THRESHOLD)
    app()
