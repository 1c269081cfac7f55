"""Benchmark cardsmith against markdown-anki-decks 1.1.1, side by side (issue 5).

Run it with `make bench`, or directly: `.venv/bin/python bench/run.py [--sizes ...] [--runs ...]`.
Standard library only.

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
4. Times `cardsmith --help` (best of 5), prints a table and writes bench/results.md with the
   targets of issue 5 marked PASS or FAIL.

Benchmarks are not tests: a missed target is reported, not an error. The exit status is
non-zero only when a tool fails or writes the wrong packages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import os
import platform
import random
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

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DEFAULT_WORK = BENCH / "work"
DEFAULT_RESULTS = BENCH / "results.md"
# The venv whose cardsmith is timed: by default the one running this script (the project's
# .venv, editable install of src/); --cardsmith-venv picks another, e.g. a baseline.
CS_PYTHON = Path(sys.executable)
CARDSMITH = CS_PYTHON.parent / "cardsmith"

MAD_VERSION = "1.1.1"
CARDS_PER_FILE = 50
DEFAULT_SIZES = (1_000, 5_000, 20_000)
SEED = 20_261_124
HELP_RUNS = 5

# Targets from issue 5.
COLD_RATIO_TARGET = 1 / 4  # 5k cold build: cardsmith time / markdown-anki-decks time
REBUILD_RATIO_TARGET = 1 / 20  # 5k rebuild after editing one card
RSS_TARGET_MB = 250  # 20k cold build
HELP_TARGET_S = 0.3
# "Cost grows linearly": the marginal seconds per 1k cards from the middle to the largest
# size may be at most this many times the marginal cost from the smallest to the middle size.
LINEAR_TOLERANCE = 1.3

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


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


WORDS = _words(
    "buffer cache closure context cursor decorator dictionary event frame generator "
    "handle index iterator journal kernel ledger lock mapping module mutex namespace "
    "object packet parser pointer queue record registry scheduler schema segment session "
    "signal snapshot socket stream struct table thread token tuple vector view widget "
    "worker"
)
VERBS = _words(
    "allocate borrow cache close copy decode drain encode evict flush freeze hash index "
    "iterate join lock merge parse patch pickle poll release resolve retry sort split "
    "stream sync unpack validate yield"
)
ADJECTIVES = _words(
    "atomic cold lazy eager immutable mutable nested ordered partial pure shared sparse "
    "stale strict thread-safe typed unbounded weak"
)
IDENTS = _words(
    "alpha beta gamma delta epsilon items values rows keys nodes edges jobs tasks users "
    "orders events chunks pages lines"
)
LANGUAGES = ("python", "javascript", "bash", "sql", "rust", "json")


def marker(card_no: int, revision: int) -> str:
    """The sentence a rebuild edits: unique to one card and one revision."""
    return f"Card {card_no:06d} revision {revision}."


def code_block(rng: random.Random, lang: str) -> list[str]:
    """A small, plausible code sample in lang."""
    a, b = rng.sample(IDENTS, 2)
    verb = rng.choice(VERBS)
    k = rng.randint(2, 9)
    body: dict[str, list[str]] = {
        "python": [
            f"def {verb}_{a}({b}):",
            f'    """{verb.capitalize()} every {a} in {b}."""',
            "    total = 0",
            f"    for item in {b}:",
            f"        if item % {k} == 0:",
            "            total += item",
            "    return total",
            "",
            f"print({verb}_{a}(range({k * 10})))",
        ],
        "javascript": [
            f"function {verb}{a.capitalize()}({b}) {{",
            "  const seen = new Map();",
            f"  for (const item of {b}) {{",
            f"    seen.set(item, (seen.get(item) ?? 0) + {k});",
            "  }",
            "  return [...seen.entries()].filter(([, n]) => n > 1);",
            "}",
            f"console.log({verb}{a.capitalize()}(['{a}', '{b}', '{a}']));",
        ],
        "bash": [
            "#!/usr/bin/env bash",
            "set -euo pipefail",
            f'for f in "${{{a.upper()}_DIR:-.}}"/*.log; do',
            f'  grep -c "{verb}" "$f" | awk \'$1 > {k} {{ print FILENAME ": " $1 }}\'',
            "done",
            f'echo "{b}: done"',
        ],
        "sql": [
            f"SELECT {a}.id, COUNT(*) AS n_{b}",
            f"FROM {a}",
            f"JOIN {b} ON {b}.{a}_id = {a}.id",
            f"WHERE {b}.created_at > now() - interval '{k} days'",
            f"GROUP BY {a}.id",
            f"HAVING COUNT(*) > {k}",
            "ORDER BY n_" + b + " DESC;",
        ],
        "rust": [
            f"fn {verb}_{a}({b}: &[u32]) -> u32 {{",
            f"    {b}.iter()",
            f"        .filter(|&&x| x % {k} == 0)",
            "        .copied()",
            "        .sum()",
            "}",
            "",
            "fn main() {",
            f'    println!("{{}}", {verb}_{a}(&[1, 2, 3, {k}, {k * 2}]));',
            "}",
        ],
        "json": [
            "{",
            f'  "name": "{verb}-{a}",',
            f'  "limit": {k},',
            f'  "{b}": ["{a}", "{verb}", null],',
            f'  "nested": {{"enabled": true, "ratio": 0.{k}}}',
            "}",
        ],
    }
    return [f"```{lang}", *body[lang], "```"]


def card_text(card_no: int) -> list[str]:
    """One card: a `## ` question, then prose with bold and inline code, a 3-item list, and
    on every other card a fenced code block. Depends only on card_no (and the seed)."""
    rng = random.Random(SEED * 1_000_003 + card_no)
    noun, other = rng.sample(WORDS, 2)
    verb = rng.choice(VERBS)
    adjective = rng.choice(ADJECTIVES)
    question = f"## Q{card_no:06d}: Why would you {verb} a {adjective} {noun} before the {other}?"
    sentences = [
        f"To {verb} a **{adjective} {noun}** you call `{noun}.{verb}()` once per {other}.",
        f"The **{other}** keeps its own `{rng.choice(IDENTS)}` list, so nothing is copied.",
        f"If the {noun} is shared, take the `{rng.choice(WORDS)}_lock` first"
        f" and release it after {rng.randint(2, 99)} steps.",
        marker(card_no, 0),
    ]
    items = [
        f"- `{rng.choice(IDENTS)}`: the {rng.choice(ADJECTIVES)} {rng.choice(WORDS)}",
        f"- **{rng.choice(VERBS)}** before you {rng.choice(VERBS)} the {rng.choice(WORDS)}",
        f"- costs O({rng.choice(['1', 'n', 'log n', 'n log n'])}) per {rng.choice(WORDS)}",
    ]
    lines = [question, "", " ".join(sentences), "", *items, ""]
    if card_no % 2 == 0:
        lines += [*code_block(rng, rng.choice(LANGUAGES)), ""]
    return lines


def file_name(file_no: int) -> str:
    return f"topic-{file_no:04d}.md"


def generate_corpus(folder: Path, cards: int) -> list[Path]:
    """Write a fresh corpus of `cards` cards into folder; returns the Markdown files."""
    if cards % CARDS_PER_FILE:
        raise SystemExit(f"sizes must be multiples of {CARDS_PER_FILE}, got {cards}")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "deck.toml").write_text(
        f'name = "Bench {cards}"\n'
        'levels = ["basic", "intermediate", "advanced"]\n'
        'default_level = "basic"\n',
        encoding="utf-8",
    )
    files = []
    for file_no in range(1, cards // CARDS_PER_FILE + 1):
        first = (file_no - 1) * CARDS_PER_FILE + 1
        lines = [f"# Topic {file_no:04d}", ""]
        for card_no in range(first, first + CARDS_PER_FILE):
            lines += card_text(card_no)
        path = folder / file_name(file_no)
        path.write_text("\n".join(lines), encoding="utf-8")
        files.append(path)
    return files


def edit_card(folder: Path, cards: int, revision: int) -> tuple[str, str]:
    """Change one answer in one file (a card in the middle of the corpus) to `revision`.

    Returns the old and the new marker sentence.
    """
    file_no = cards // CARDS_PER_FILE // 2 + 1
    card_no = (file_no - 1) * CARDS_PER_FILE + CARDS_PER_FILE // 2
    path = folder / file_name(file_no)
    old, new = marker(card_no, revision - 1), marker(card_no, revision)
    text = path.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise SystemExit(f"{path}: expected {old!r} once")
    path.write_text(text.replace(old, new), encoding="utf-8")
    return old, new


# --------------------------------------------------------------------------- measuring


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
    def command(self, corpus: Path, out: Path) -> list[str]:
        return [str(CARDSMITH), "build", str(corpus), "--out", str(out)]

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


def ensure_mad_venv(venv: Path) -> None:
    """markdown-anki-decks in its own venv, with cardsmith's Markdown, Pygments, genanki."""
    ours = pip_versions(CS_PYTHON, ["markdown", "pygments", "genanki"])
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
            for fresh in (outs[tool.key], caches[tool.key]):
                if fresh.exists():
                    shutil.rmtree(fresh)
            caches[tool.key].mkdir(parents=True)
            run = measure(
                tool.command(corpus, outs[tool.key]),
                logs / f"{tool.key}-{cards}-cold-{n}.log",
                env_for(tool),
            )
            tool.verify(outs[tool.key], cards, None)
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


def help_time(work: Path) -> float:
    return min(
        measure([str(CARDSMITH), "--help"], work / "logs" / "cardsmith-help.log").seconds
        for _ in range(HELP_RUNS)
    )


# --------------------------------------------------------------------------- reporting


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: list[Result]) -> list[str]:
    head = (
        "| cards | build | cardsmith s | cards/s | peak RSS MB "
        "| markdown-anki-decks s | cards/s | peak RSS MB | ratio |"
    )
    lines = [head, "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        cells = [f"{r.cards:,}", r.kind]
        for tool in ("cardsmith", "mad"):
            best = r.best(tool)
            cells += [
                fmt(best, ".2f"),
                fmt(r.cards / best if best else None, ",.0f"),
                fmt(r.rss(tool), ".0f"),
            ]
        cells.append(fmt(r.ratio(), ".3f"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def linear_note(results: list[Result]) -> tuple[list[str], bool | None]:
    """Seconds per 1k cards at each size, and whether the marginal cost stays flat."""
    lines = ["| build | tool | " + " | ".join(f"{r.cards:,}" for r in results if r.kind == "cold")]
    lines[0] += " | marginal s/1k, small→mid | marginal s/1k, mid→large |"
    cols = len([r for r in results if r.kind == "cold"])
    lines.append("|---|---|" + "---:|" * (cols + 2))
    verdict: bool | None = None
    for kind in ("cold", "rebuild"):
        rows = [r for r in results if r.kind == kind]
        for tool, title in (("cardsmith", "cardsmith"), ("mad", "markdown-anki-decks")):
            points = [(r.cards, best) for r in rows if (best := r.best(tool)) is not None]
            if not points:
                continue
            per_k = [fmt(s / c * 1000, ".3f") for c, s in points]
            marginal = [
                (s1 - s0) / (c1 - c0) * 1000 for (c0, s0), (c1, s1) in itertools.pairwise(points)
            ]
            m = [fmt(x, ".3f") for x in marginal[:2]] + ["-"] * (2 - len(marginal[:2]))
            lines.append(f"| {kind} | {title} | " + " | ".join(per_k + m) + " |")
            if kind == "cold" and tool == "cardsmith" and len(marginal) >= 2:
                verdict = marginal[-1] <= LINEAR_TOLERANCE * marginal[-2]
    return lines, verdict


def loadavg(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def verdict_cell(ok: bool | None) -> str:
    return "not measured" if ok is None else ("PASS" if ok else "FAIL")


def targets(results: list[Result], help_s: float, linear: bool | None) -> list[str]:
    def find(cards: int, kind: str) -> Result | None:
        return next((r for r in results if r.cards == cards and r.kind == kind), None)

    cold5, reb5, cold20 = find(5_000, "cold"), find(5_000, "rebuild"), find(20_000, "cold")
    cold_ratio = cold5.ratio() if cold5 else None
    reb_ratio = reb5.ratio() if reb5 else None
    rss20 = cold20.rss("cardsmith") if cold20 else None
    rows = [
        (
            "5k cold build ≤ 1/4 of markdown-anki-decks",
            fmt(cold_ratio, ".3f"),
            None if cold_ratio is None else cold_ratio <= COLD_RATIO_TARGET,
        ),
        (
            "5k rebuild after one edit ≤ 1/20 of markdown-anki-decks",
            fmt(reb_ratio, ".3f"),
            None if reb_ratio is None else reb_ratio <= REBUILD_RATIO_TARGET,
        ),
        (
            f"20k cold build peak RSS ≤ {RSS_TARGET_MB} MB",
            "-" if rss20 is None else f"{rss20:.0f} MB",
            None if rss20 is None else rss20 <= RSS_TARGET_MB,
        ),
        (
            f"cold cost grows linearly (marginal s/1k, mid→large ≤ {LINEAR_TOLERANCE} x small→mid)",
            "see below",
            linear,
        ),
        (f"`cardsmith --help` < {HELP_TARGET_S} s", f"{help_s:.3f} s", help_s < HELP_TARGET_S),
    ]
    lines = ["| target | measured | result |", "|---|---:|---|"]
    lines += [f"| {name} | {value} | {verdict_cell(ok)} |" for name, value, ok in rows]
    return lines


def cardsmith_package() -> Path:
    """The folder of the cardsmith package that the timed venv imports."""
    out = subprocess.run(
        [str(CS_PYTHON), "-c", "import cardsmith; print(cardsmith.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip()).parent


def source_fingerprint(package: Path) -> str:
    """A hash of the timed cardsmith's sources as they are on disk (committed or not)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def machine_facts(tools: list[Tool], mad_venv: Path, package: Path, sources: str) -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if package.is_relative_to(ROOT):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        origin = f"this repository at commit {commit or '?'}"
    else:
        origin = f"{package}"
    names = ["cardsmith", "markdown", "pygments", "genanki", "typer", "click"]
    ours = pip_versions(CS_PYTHON, names)
    facts = [
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {cpu}, "
        f"{platform.system()} {platform.release()}",
        f"- Python: {platform.python_version()} (harness: {sys.executable}; "
        f"cardsmith: {CS_PYTHON})",
        f"- cardsmith {ours['cardsmith']} from {origin}, sources {sources}; "
        + ", ".join(f"{n} {ours[n]}" for n in names[1:]),
    ]
    if any(t.key == "mad" for t in tools):
        theirs = pip_versions(
            mad_venv / "bin" / "python", ["markdown-anki-decks", *names[1:], "beautifulsoup4"]
        )
        facts.append(
            f"- markdown-anki-decks {theirs['markdown-anki-decks']} (own venv); "
            + ", ".join(f"{n} {theirs[n]}" for n in [*names[1:], "beautifulsoup4"])
        )
    return facts


def report(
    results: list[Result],
    help_s: float,
    facts: list[str],
    command: str,
    elapsed: float,
    runs_by_size: dict[int, int],
    load_text: str,
) -> str:
    linear_lines, linear = linear_note(results)
    runs_text = ", ".join(f"{c:,} cards: {n}" for c, n in runs_by_size.items())
    raw = []
    for r in results:
        for tool, runs in r.runs.items():
            times = ", ".join(f"{x.seconds:.2f}" + ("*" if x.waited else "") for x in runs)
            cpu = ", ".join(f"{x.cpu_seconds:.2f}" for x in runs)
            rss = ", ".join(f"{x.rss_mb:.0f}" for x in runs)
            raw.append(f"| {r.cards:,} | {r.kind} | {tool} | {times} | {cpu} | {rss} |")
    parts = [
        "# Benchmark: cardsmith vs markdown-anki-decks",
        "",
        f"Written by `{command}` (`make bench` runs it with the defaults). "
        f"The whole run took {elapsed / 60:.1f} minutes.",
        "",
        "## Machine",
        "",
        *facts,
        "",
        "## Results",
        "",
        f"Wall time is the best of N runs ({runs_text}); peak RSS is the largest over those "
        "runs; ratio is cardsmith's time / markdown-anki-decks' time (lower is better for "
        "cardsmith).",
        "",
        *table(results),
        "",
        f"`cardsmith --help`: {help_s:.3f} s (best of {HELP_RUNS}).",
        "",
        "## Targets (issue 5)",
        "",
        *targets(results, help_s, linear),
        "",
        "## Linear growth",
        "",
        "Seconds per 1,000 cards at each size (best time / cards * 1000), and the marginal "
        "cost between sizes ((t2 - t1) / (n2 - n1) * 1000), which leaves out the fixed "
        "start-up cost. Growth is linear when the marginal cost stays flat.",
        "",
        *linear_lines,
        "",
        "## Method",
        "",
        f"- Corpus: `bench/work/corpus-N/`, generated with a fixed seed: a `deck.toml` "
        f'(`levels = ["basic", "intermediate", "advanced"]`, `default_level = "basic"`) and '
        f"N/{CARDS_PER_FILE} files `topic-NNNN.md` of {CARDS_PER_FILE} cards, each with a "
        "`# Topic NNNN` title and no front matter. Each card: a `## ` question, a paragraph "
        "with bold and inline code, a 3-item list, and on every other card a fenced code "
        f"block in one of {', '.join(LANGUAGES)}.",
        "- Both tools read the same files. markdown-anki-decks makes one deck (and one "
        ".apkg) per Markdown file, titled by its `# ` heading, and ignores `deck.toml`; "
        "cardsmith makes one deck of N cards in subdecks per topic and writes two packages, "
        "`bench-N.apkg` (every level) and `bench-N-basic.apkg` (the one level with cards), "
        "so it packages every card twice.",
        "- markdown-anki-decks 1.1.1 runs in its own venv (`bench/work/venv-mad`) with "
        "`click<8.2` and the same Markdown, Pygments and genanki versions as cardsmith; "
        "Pygments is installed there on purpose (it is not a declared dependency, and without "
        "it the codehilite extension skips highlighting, which would make it look faster).",
        "- Cold build: an empty output folder and an empty `XDG_CACHE_HOME` for each run. "
        "Rebuild: one answer in one file (a card in the middle of the corpus) is changed, "
        "then each tool builds again into the output folder (and cache) of its last cold "
        "build. Every run is checked: the packages must hold N notes and, after an edit, the "
        "new answer and not the old one.",
        "- Peak RSS: the larger of wait4's `ru_maxrss` for the run (its largest single "
        "process) and the peak of the summed RSS of its process tree sampled every 50 ms "
        "(counts worker processes running side by side).",
        "- One untimed warm-up build per tool first, so byte-compilation is never timed. The "
        "two tools alternate within each repetition; nothing else runs.",
        "",
        "## Every run",
        "",
        f"Wall seconds marked * exceeded {WAIT_FACTOR} x the run's CPU seconds: the run "
        "probably waited for the CPU (another program was busy), so treat it with care. "
        "Load average (1, 5, 15 min) at the start and end of the run: "
        f"{load_text}.",
        "",
        "| cards | build | tool | wall seconds | CPU seconds | peak RSS MB |",
        "|---:|---|---|---|---|---|",
        *raw,
        "",
    ]
    return "\n".join(parts)


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

    started = time.perf_counter()
    global CS_PYTHON, CARDSMITH
    if args.cardsmith_venv:
        CS_PYTHON = args.cardsmith_venv.resolve() / "bin" / "python"
        CARDSMITH = CS_PYTHON.parent / "cardsmith"
    if not CARDSMITH.exists():
        raise SystemExit(f"{CARDSMITH} not found: run me with the project's .venv/bin/python")
    package = cardsmith_package()
    sources = source_fingerprint(package)
    load_start = os.getloadavg()
    if load_start[0] > 1:
        print(f"warning: the machine is busy (load {loadavg(load_start)})", file=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    runs_by_size = parse_runs(args.runs, sizes)
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    mad_venv = work / "venv-mad"
    tools: list[Tool] = [Cardsmith("cardsmith", "cardsmith")]
    if not args.no_reference:
        ensure_mad_venv(mad_venv)
        tools.append(MarkdownAnkiDecks("mad", "markdown-anki-decks", mad_venv))

    warm_up(tools, work)
    results: list[Result] = []
    for cards in sizes:
        print(f"{cards:,} cards, best of {runs_by_size[cards]}:", flush=True)
        results += bench_size(cards, runs_by_size[cards], tools, work)
    help_s = help_time(work)

    command = " ".join(["bench/run.py", *(a if " " not in a else repr(a) for a in sys.argv[1:])])
    elapsed = time.perf_counter() - started
    if (now := source_fingerprint(package)) != sources:
        sources += f" (CHANGED during the run, now {now}: numbers are mixed)"
        print(f"warning: cardsmith's sources changed during the run; {sources}", file=sys.stderr)
    facts = machine_facts(tools, mad_venv, package, sources)
    load_text = f"{loadavg(load_start)} and {loadavg(os.getloadavg())}"
    text = report(results, help_s, facts, command, elapsed, runs_by_size, load_text)
    waited = sum(run.waited for r in results for runs in r.runs.values() for run in runs)
    if waited:
        print(
            f"warning: {waited} run(s) waited for the CPU (wall > {WAIT_FACTOR} x CPU time); "
            f"load average at start and end: {load_text}",
            file=sys.stderr,
        )
    print()
    print("\n".join(table(results)))
    print(f"\ncardsmith --help: {help_s:.3f} s")
    print("\n".join(targets(results, help_s, linear_note(results)[1])))
    args.results.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.results} ({elapsed:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
