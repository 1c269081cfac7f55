"""Running the two tools: wall time, CPU time and peak RSS of one run, checks that a run wrote
the right packages, markdown-anki-decks' own venv, and the cold and rebuild series of a size.

A failed run, or one that wrote wrong or stale packages, stops the benchmark (SystemExit), so
it is never reported as fast.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import CARDS_PER_FILE, edit_card, generate_corpus

MAD_VERSION = "1.1.1"
HELP_RUNS = 5
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
WAIT_FACTOR = 1.25


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a timed run: ours, but Python may write bytecode caches.

    With PYTHONDONTWRITEBYTECODE set (as on some sandboxes), cardsmith's own modules, an
    editable install, would be compiled again on every run, while the reference's, installed
    by pip, are compiled once; users have the caches, so the warm-up build writes them.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **(extra or {})}


# --------------------------------------------------------------------------- the corpus


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    rss_mb: float

    @property
    def waited(self) -> bool:
        """Wall time well above CPU time for a single-process tool: likely another
        program took the CPU (a parallel tool has CPU time above wall time instead)."""
        return self.seconds > WAIT_FACTOR * self.cpu_seconds


def _tree_rss(session: int) -> int:
    """Bytes resident in every process of a session (the child and anything it started)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with Path(entry.path, "stat").open("rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[3]) == session:  # field 6, the session id
            total += int(fields[21]) * PAGE_SIZE  # field 24, rss in pages
    return total


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Run:
    """Run cmd once: wall time, and its peak RSS.

    Peak RSS is the larger of two readings: wait4's ru_maxrss for this one child (the largest
    single process among it and the children it waited for, exact and per run), and the
    peak of the summed RSS of its whole process tree, sampled every 50 ms, which counts
    worker processes running at the same time. Output goes to log; a failure stops the run.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(env),
            start_new_session=True,
        )
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    rss = max(usage.ru_maxrss * 1024, peak)  # ru_maxrss is in KiB on Linux
    return Run(seconds, usage.ru_utime + usage.ru_stime, rss / 2**20)


def apkg_notes(path: Path, needles: tuple[str, ...] = ()) -> tuple[int, list[int]]:
    """Notes in an .apkg, and for each needle how many notes' fields contain it."""
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp, "collection.anki2")
        db.write_bytes(archive.read("collection.anki2"))
        conn = sqlite3.connect(db)
        try:
            (count,) = conn.execute("SELECT count(*) FROM notes").fetchone()
            hits = [
                conn.execute(
                    "SELECT count(*) FROM notes WHERE instr(flds, ?) > 0", (n,)
                ).fetchone()[0]
                for n in needles
            ]
        finally:
            conn.close()
    return count, hits


# --------------------------------------------------------------------------- the two tools


class Tool:
    def __init__(self, key: str, title: str) -> None:
        self.key = key
        self.title = title

    def command(self, corpus: Path, out: Path) -> list[str]:
        raise NotImplementedError

    def verify(self, out: Path, cards: int, edit: tuple[str, str] | None) -> None:
        raise NotImplementedError


class Cardsmith(Tool):
    def __init__(self, key: str, title: str, python: Path) -> None:
        """python: the interpreter of the venv whose cardsmith is timed."""
        super().__init__(key, title)
        self.python = python
        self.executable = python.parent / "cardsmith"

    def command(self, corpus: Path, out: Path) -> list[str]:
        return [str(self.executable), "build", str(corpus), "--out", str(out)]

    def verify(self, out: Path, cards: int, edit: tuple[str, str] | None) -> None:
        # The all-levels package holds every card; the corpus has only the default level,
        # so bench-N-basic.apkg holds them all too.
        for name in (f"bench-{cards}.apkg", f"bench-{cards}-basic.apkg"):
            _check(out / name, cards, edit)


class MarkdownAnkiDecks(Tool):
    def __init__(self, key: str, title: str, venv: Path) -> None:
        super().__init__(key, title)
        self.venv = venv

    def command(self, corpus: Path, out: Path) -> list[str]:
        out.mkdir(parents=True, exist_ok=True)  # it does not create its output folder
        return [str(self.venv / "bin" / "mdankideck"), str(corpus), str(out)]

    def verify(self, out: Path, cards: int, edit: tuple[str, str] | None) -> None:
        packages = sorted(out.glob("*.apkg"))
        if len(packages) != cards // CARDS_PER_FILE:
            raise SystemExit(f"{out}: {len(packages)} packages, expected one per Markdown file")
        total, hits = 0, [0, 0]
        for package in packages:
            count, found = apkg_notes(package, edit or ())
            total += count
            hits = [h + f for h, f in zip(hits, found, strict=False)]
        if total != cards:
            raise SystemExit(f"{out}: {total} notes in all, expected {cards}")
        if edit and hits != [0, 1]:
            raise SystemExit(f"{out}: the edited answer is not packaged (old, new: {hits})")


def _check(package: Path, cards: int, edit: tuple[str, str] | None) -> None:
    if not package.is_file():
        raise SystemExit(f"missing package {package}")
    count, hits = apkg_notes(package, edit or ())
    if count != cards:
        raise SystemExit(f"{package}: {count} notes, expected {cards}")
    if edit and hits != [0, 1]:
        raise SystemExit(f"{package}: the edited answer is not packaged (old, new: {hits})")


def pip_versions(python: Path, names: list[str]) -> dict[str, str]:
    """Installed versions of names in the venv of python ('-' when missing)."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try:\n"
        "        return m.version(n)\n"
        "    except m.PackageNotFoundError:\n"
        "        return '-'\n"
        "print(json.dumps({n: v(n) for n in sys.argv[1:]}))\n"
    )
    out = subprocess.run(
        [str(python), "-c", script, *names], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout))


def ensure_mad_venv(venv: Path, cs_python: Path) -> None:
    """markdown-anki-decks in its own venv, with the Markdown, Pygments and genanki of
    cardsmith's venv (cs_python its interpreter)."""
    ours = pip_versions(cs_python, ["markdown", "pygments", "genanki"])
    requirements = [
        f"markdown-anki-decks=={MAD_VERSION}",
        "click<8.2",  # typer 0.4 (which it pins) breaks with click 8.2
        # Not a declared dependency: without it codehilite silently skips highlighting.
        f"pygments=={ours['pygments']}",
        f"markdown=={ours['markdown']}",
        f"genanki=={ours['genanki']}",
    ]
    stamp = venv / ".bench-installed"
    wanted = "\n".join(requirements) + "\n"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return
    print(f"installing markdown-anki-decks {MAD_VERSION} into {venv} ...", flush=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        check=True,
    )
    stamp.write_text(wanted, encoding="utf-8")


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Result:
    cards: int
    kind: str  # "cold" or "rebuild"
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def best(self, tool: str) -> float | None:
        runs = self.runs.get(tool)
        return min(r.seconds for r in runs) if runs else None

    def rss(self, tool: str) -> float | None:
        runs = self.runs.get(tool)
        return max(r.rss_mb for r in runs) if runs else None

    def ratio(self) -> float | None:
        ours, theirs = self.best("cardsmith"), self.best("mad")
        return ours / theirs if ours is not None and theirs else None


def cold_run(tool: Tool, corpus: Path, cards: int, out: Path, cache: Path, log: Path) -> Run:
    """One checked build into a fresh output folder with a fresh XDG cache."""
    for fresh in (out, cache):
        if fresh.exists():
            shutil.rmtree(fresh)
    cache.mkdir(parents=True)
    run = measure(tool.command(corpus, out), log, {"XDG_CACHE_HOME": str(cache)})
    tool.verify(out, cards, None)
    return run


def bench_size(cards: int, runs: int, tools: list[Tool], work: Path) -> tuple[Result, Result]:
    corpus = work / f"corpus-{cards}"
    generate_corpus(corpus, cards)
    cold, rebuild = Result(cards, "cold"), Result(cards, "rebuild")
    outs = {t.key: work / "out" / f"{t.key}-{cards}" for t in tools}
    caches = {t.key: work / "cache" / f"{t.key}-{cards}" for t in tools}
    logs = work / "logs"

    def env_for(tool: Tool) -> dict[str, str]:
        return {"XDG_CACHE_HOME": str(caches[tool.key])}

    for n in range(runs):
        for tool in tools:
            run = cold_run(
                tool, corpus, cards, outs[tool.key], caches[tool.key],
                logs / f"{tool.key}-{cards}-cold-{n}.log",
            )  # fmt: skip
            cold.runs.setdefault(tool.key, []).append(run)
            print(f"  {cards:>6} cold    {tool.title:<22} {run.seconds:8.2f} s", flush=True)

    for n in range(runs):
        edit = edit_card(corpus, cards, n + 1)
        for tool in tools:
            run = measure(
                tool.command(corpus, outs[tool.key]),
                logs / f"{tool.key}-{cards}-rebuild-{n}.log",
                env_for(tool),
            )
            tool.verify(outs[tool.key], cards, edit)
            rebuild.runs.setdefault(tool.key, []).append(run)
            print(f"  {cards:>6} rebuild {tool.title:<22} {run.seconds:8.2f} s", flush=True)
    return cold, rebuild


def warm_up(tools: list[Tool], work: Path) -> None:
    """One untimed small build per tool, so byte-compilation never lands in a timing."""
    corpus = work / "corpus-warmup"
    generate_corpus(corpus, CARDS_PER_FILE * 2)
    for tool in tools:
        out = work / "out" / f"{tool.key}-warmup"
        if out.exists():
            shutil.rmtree(out)
        measure(tool.command(corpus, out), work / "logs" / f"{tool.key}-warmup.log")


def help_time(cardsmith: Path, work: Path) -> float:
    """Best of HELP_RUNS of `cardsmith --help` (cardsmith: the executable)."""
    return min(
        measure([str(cardsmith), "--help"], work / "logs" / "cardsmith-help.log").seconds
        for _ in range(HELP_RUNS)
    )


# --------------------------------------------------------------------------- issue 16's limit

# Renders every card of a corpus in this one process, the way each render worker does
# (render_all.render_cards over chunks, one renderer kept), and prints the CPU seconds
# per card, the renderer's construction excluded (it is start-up).
_RENDER_CPU = """
import sys, time
from pathlib import Path
from cardsmith.load import load
from cardsmith.render_all import render_cards
decks, _ = load([Path(sys.argv[1])])
deck = decks[0]
cards = [card for f in deck.files for card in f.cards]
root = deck.config.root.resolve()
render_cards(root, False, cards[:1])
start = time.process_time()
for i in range(1, len(cards), 200):
    render_cards(root, False, cards[i : i + 200])
print((time.process_time() - start) / (len(cards) - 1))
"""


def _run_on_corpus(cardsmith: Cardsmith, work: Path, cards: int, script: str) -> str:
    """The last line a Python script prints, run by cardsmith's interpreter with a fresh
    corpus of `cards` cards as its argument."""
    corpus = work / f"corpus-{cards}"
    generate_corpus(corpus, cards)
    out = subprocess.run(
        [str(cardsmith.python), "-c", script, str(corpus)],
        check=True,
        capture_output=True,
        text=True,
        env=child_env({"XDG_CACHE_HOME": str(work / "cache" / "floor")}),
    )
    return out.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Floor:
    """What a cold build cannot beat: rendering spread over the cores, plus start-up."""

    cpu_per_card: float  # render CPU seconds per card, one process
    startup: float  # wall seconds of a cold one-card build
    cores: int

    def limit(self, cards: int) -> float:
        return self.cpu_per_card * cards / self.cores + self.startup


def render_floor(cardsmith: Cardsmith, work: Path, cards: int = 5_000) -> Floor:
    """Render CPU per card (on the corpus of `cards`) and the start-up time (best of
    HELP_RUNS cold builds of a one-file deck), as issue 16 defines its speed limit."""
    per_card = float(_run_on_corpus(cardsmith, work, cards, _RENDER_CPU))
    tiny = work / "corpus-startup"
    generate_corpus(tiny, CARDS_PER_FILE)
    startups = []
    for n in range(HELP_RUNS):
        run = cold_run(
            cardsmith, tiny, CARDS_PER_FILE, work / "out" / "startup",
            work / "cache" / "startup", work / "logs" / f"cardsmith-startup-{n}.log",
        )  # fmt: skip
        startups.append(run.seconds)
    per_card_startup = min(startups) - CARDS_PER_FILE * per_card  # the deck's own cards
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return Floor(per_card, per_card_startup, cores)


# What every new `cardsmith build` process pays before it reads a source: the
# interpreter, the imports and the renderer (built for the one changed card), and making
# the 5,000-card package again (SQLite and zip), which a one-edit rebuild must do.
_STARTUP = (
    "import cardsmith.cli, cardsmith.build, cardsmith.render_all; cardsmith.render_all.prepare()"
)
_PACKAGING = """
import sys, time
from pathlib import Path
from cardsmith import apkg, build
from cardsmith.options import BuildOptions
from cardsmith.render import code_css
options = BuildOptions()
rendered, report = build.check([Path(sys.argv[1])], options)
updates = build.record(rendered, report, options)
plans = build.plan_packages(rendered, report, build.identities(rendered, updates))
plan, css = plans[0], code_css()
best = None
for _ in range(3):
    start = time.perf_counter()
    apkg.package_bytes(plan.notes, {}, dict(plan.descriptions), css)
    took = time.perf_counter() - start
    best = took if best is None else min(best, took)
print(len(plan.notes), best)
"""


@dataclass(frozen=True)
class RebuildFloor:
    """The fixed part of a one-edit rebuild in a new process."""

    startup: float  # wall: interpreter, imports, renderer built, exit
    packaging: float  # making the package of `notes` notes (best of 3, in one process)
    notes: int

    @property
    def total(self) -> float:
        return self.startup + self.packaging


def rebuild_floor(cardsmith: Cardsmith, work: Path, cards: int = 5_000) -> RebuildFloor:
    """Start-up (best of HELP_RUNS `python -c` runs that import what a build imports and
    build the renderer) and the time to make the package of the `cards` corpus."""
    startup = min(
        measure([str(cardsmith.python), "-c", _STARTUP], work / "logs" / "startup.log").seconds
        for _ in range(HELP_RUNS)
    )
    notes, packaging = _run_on_corpus(cardsmith, work, cards, _PACKAGING).split()
    return RebuildFloor(startup, float(packaging), int(notes))


# --------------------------------------------------------------------------- watch mode

WATCH_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class WatchRebuild:
    """One rebuild of `cardsmith build --watch` after a one-answer edit."""

    seconds: float  # the rebuild, as cardsmith prints it ("rebuilt in X s")
    edit_to_done: float  # from the edit to that line: adds the file watcher's latency


def watch_rebuilds(cardsmith: Cardsmith, work: Path, cards: int, runs: int) -> list[WatchRebuild]:
    """Start `cardsmith build --watch` on a fresh corpus, edit one answer `runs` times and
    time each rebuild; every package is checked after each."""
    corpus = work / f"corpus-{cards}-watch"
    generate_corpus(corpus, cards)
    out, cache = work / "out" / f"watch-{cards}", work / "cache" / f"watch-{cards}"
    for fresh in (out, cache):
        if fresh.exists():
            shutil.rmtree(fresh)
    cache.mkdir(parents=True)
    command = [*cardsmith.command(corpus, out), "--watch"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env({"XDG_CACHE_HOME": str(cache), "PYTHONUNBUFFERED": "1"}),
    )
    lines: list[str] = []

    def wait_for(prefix: str | tuple[str, ...]) -> tuple[str, float]:
        deadline = time.monotonic() + WATCH_TIMEOUT_S
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith(prefix):
                return line, time.monotonic()
        process.kill()
        raise SystemExit(f"`{' '.join(command)}` never printed {prefix!r}:\n{''.join(lines)}")

    rebuilds = []
    try:
        wait_for("watching ")
        cardsmith.verify(out, cards, None)
        for n in range(runs):
            time.sleep(0.3)  # the watcher settles; nothing else is pending
            edit = edit_card(corpus, cards, n + 1)
            started = time.monotonic()
            line, done = wait_for(("rebuilt in ", "failed in "))
            if not line.startswith("rebuilt in "):
                raise SystemExit(f"watch rebuild failed:\n{''.join(lines)}")
            cardsmith.verify(out, cards, edit)
            rebuilds.append(WatchRebuild(float(line.split()[2]), done - started))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return rebuilds
