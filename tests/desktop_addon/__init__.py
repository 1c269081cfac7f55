"""An Anki add-on that shows cards in the real reviewer and writes what it measured.

Copied into a fresh profile's addons21/ folder by tests/desktophelp.py; Anki loads it at
start-up. It reads the job named by $CARDSMITH_DESKTOP_JOB (JSON: packages to import,
modes, widths, screenshots, output path), runs it in the GUI thread once the profile is
open, writes the results as JSON and ends the app. It uses only Anki's own code paths:
the backend import with the import dialog's default options, the deck tree, the v3
scheduler's queue, mw.reviewer's question and answer, and mw.set_theme.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anki.import_export_pb2 import ImportAnkiPackageRequest
from aqt import colors, gui_hooks, mw
from aqt.qt import QTimer
from aqt.theme import Theme, theme_manager

MEASURE_JS = (Path(__file__).parent / "measure.js").read_text(encoding="utf-8")
PREFIX = "cardsmith-measure:"
WAIT_MS = 30_000  # for one card side to be shown and measured


def _options_dict(options: Any) -> dict[str, Any]:
    """Every field of the import options, defaults included, enums by name."""
    out: dict[str, Any] = {}
    for field in options.DESCRIPTOR.fields:
        value = getattr(options, field.name)
        if field.enum_type is not None:
            value = field.enum_type.values_by_number[value].name
        out[field.name] = value
    return out


def _visible(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def _say(*words: object) -> None:
    """A progress line in Anki's log, for a run that hangs or fails."""
    print("cardsmith-probe:", *words, flush=True)


class Probe:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.out: dict[str, Any] = {"imports": [], "sides": [], "cards": {}, "timing": {}}
        self.pending: Callable[[dict[str, Any]], None] | None = None
        self.token: object = None
        self.retries = 0
        self.started = time.monotonic()

    # --- plumbing -----------------------------------------------------------------

    def finish(self, error: str | None = None) -> None:
        if error:
            self.out["error"] = error
        self.out["timing"]["total"] = round(time.monotonic() - self.started, 1)
        target = Path(self.job["output"])
        target.write_text(json.dumps(self.out), encoding="utf-8")
        # The profile is a throwaway: no backup, no sync, no close dialogs.
        os._exit(0 if error is None else 3)

    def guarded(self, step: Callable[..., None]) -> Callable[..., None]:
        def run(*args: Any) -> None:
            try:
                step(*args)
            except Exception:
                self.finish(traceback.format_exc())

        return run

    def on_message(self, handled: tuple[bool, Any], message: str, context: Any) -> Any:
        if not message.startswith(PREFIX):
            return handled
        callback, self.pending = self.pending, None
        if callback is not None:
            self.guarded(callback)(json.loads(message[len(PREFIX) :]))
        return (True, None)

    def measure(self, then: Callable[[dict[str, Any]], None], again: Callable[[], None]) -> None:
        """Run the measuring script after the reviewer's pending updates; `again` shows the
        card anew if no answer comes (a page reload can drop queued scripts)."""
        token = object()
        self.pending = then
        self.token = token
        mw.reviewer.web.eval(MEASURE_JS)

        def check() -> None:
            if self.token is not token or self.pending is None:
                return
            self.retries += 1
            _say("no measurement after", WAIT_MS, "ms; showing the card again")
            if self.retries > 5:
                self.finish("no measurement from the reviewer after 5 tries")
                return
            self.pending = None
            mw.reviewer._initWeb()
            again()

        QTimer.singleShot(WAIT_MS, self.guarded(check))

    # --- steps --------------------------------------------------------------------

    def start(self) -> None:
        _say("importing", len(self.job["packages"]), "packages")
        col = mw.col
        presets = col._backend.get_import_anki_package_presets()
        self.out["import_options"] = _options_dict(presets)
        for package in self.job["packages"]:
            request = ImportAnkiPackageRequest(package_path=package, options=presets)
            log = col.import_anki_package(request).log
            self.out["imports"].append(
                {
                    "package": package,
                    **{
                        kind: len(getattr(log, kind))
                        for kind in ("new", "updated", "duplicate", "conflicting",
                                     "missing_notetype", "empty_first_field")
                    },
                }
            )  # fmt: skip
        col.models._clear_cache()
        self.out["timing"]["import"] = round(time.monotonic() - self.started, 1)
        self.record_decks()
        self.record_cards()
        self.study_now()

    def record_decks(self) -> None:
        col = mw.col
        decks = []

        def walk(node: Any, prefix: str) -> None:
            for child in node.children:
                name = f"{prefix}::{child.name}" if prefix else child.name
                deck = col.decks.get(child.deck_id)
                decks.append(
                    {
                        "name": name,
                        "collapsed": bool(deck.get("collapsed", False)),
                        "browser_collapsed": bool(deck.get("browserCollapsed", False)),
                        "description": deck.get("desc", ""),
                        "new": child.new_count,
                        "cards": len(col.find_cards(f'deck:"{name}" -deck:"{name}::*"')),
                    }
                )
                walk(child, name)

        walk(col.sched.deck_due_tree(), "")
        self.out["decks"] = decks

    def card_info(self, cid: int) -> dict[str, Any]:
        col = mw.col
        card = col.get_card(cid)
        note = card.note()
        return {
            "id": cid,
            "note": card.nid,
            "deck": col.decks.name(card.did),
            "note_type": note.note_type()["name"],
            "ord": card.ord,
            "due": card.due,
            "type": card.type,
            "fields": dict(note.items()),
        }

    def record_cards(self) -> None:
        col = mw.col
        self.cards: list[int] = []
        for top in self.job["decks"]:
            ids = sorted(col.find_cards(f'deck:"{top}"'))
            self.out["cards"][top] = [self.card_info(cid) for cid in ids]
            self.cards.extend(ids)

    def study_now(self) -> None:
        col = mw.col
        top = self.job["study"]
        did = col.decks.id_for_name(top)
        col.decks.select(did)
        queued = col.sched.get_queued_cards(fetch_limit=10)
        self.out["study_now"] = [self.card_info(q.card.id) for q in queued.cards]
        # "Study Now" in the deck overview: the reviewer takes its first card from the queue.
        _say("study now")
        mw.moveToState("review")
        self.out["reviewer_first"] = mw.reviewer.card.id if mw.reviewer.card else None
        self.passes = [(mode, width) for mode in self.job["modes"] for width in self.job["widths"]]
        QTimer.singleShot(0, self.guarded(self.next_pass))

    def next_pass(self) -> None:
        if not self.passes:
            self.screenshots()
            return
        self.mode, self.width = self.passes.pop(0)
        _say("pass", self.mode, self.width)
        mw.set_theme(Theme.DARK if self.mode == "night" else Theme.LIGHT)
        mw.resize(self.width, self.job.get("height", 900))
        self.queue = list(self.cards)
        self.pass_started = time.monotonic()
        # Let the resize and the theme reach the webview before the first card.
        QTimer.singleShot(300, self.guarded(self.next_card))

    def next_card(self) -> None:
        if not self.queue:
            key = f"{self.mode}-{self.width}"
            self.out["timing"][key] = round(time.monotonic() - self.pass_started, 1)
            self.next_pass()
            return
        self.show(self.queue.pop(0))

    def show(self, cid: int) -> None:
        """The card's question, measured, then its answer, measured, as a learner sees them."""
        reviewer = mw.reviewer
        reviewer.card = mw.col.get_card(cid)
        reviewer.card.start_timer()
        reviewer._showQuestion()

        def answer(front: dict[str, Any]) -> None:
            self.store(cid, "front", front)
            reviewer._showAnswer()
            self.measure(back, lambda: self.show(cid))

        def back(result: dict[str, Any]) -> None:
            self.store(cid, "back", result)
            self.next_card()

        self.measure(answer, lambda: self.show(cid))

    def store(self, cid: int, side: str, result: dict[str, Any]) -> None:
        self.out["sides"] = [
            s for s in self.out["sides"]
            if (s["card"], s["side"], s["mode"], s["width"]) != (cid, side, self.mode, self.width)
        ]  # fmt: skip
        result.update(
            card=cid,
            side=side,
            mode=self.mode,
            width=self.width,
            window=mw.width(),
            night=theme_manager.night_mode,
            canvas=theme_manager.var(colors.CANVAS),
        )
        self.out["sides"].append(result)

    def screenshots(self) -> None:
        shots = list(self.job.get("screenshots", []))
        if not shots:
            self.finish()
            return
        self.shoot(shots)

    def shoot(self, shots: list[dict[str, Any]]) -> None:
        if not shots:
            self.finish()
            return
        shot = shots.pop(0)
        _say("screenshot", shot["mode"], shot["width"])
        shot["card"] = next(
            card["id"]
            for deck in self.out["cards"].values()
            for card in deck
            if _visible(card["fields"].get("Front", "")) == shot["question"]
        )
        mw.set_theme(Theme.DARK if shot["mode"] == "night" else Theme.LIGHT)
        mw.resize(shot["width"], shot.get("height", 900))
        reviewer = mw.reviewer
        reviewer.card = mw.col.get_card(int(shot["card"]))
        reviewer._showQuestion()
        reviewer._showAnswer()

        def sized(result: dict[str, Any]) -> None:
            # Grow the window until the whole answer fits, then photograph the window.
            extra = mw.height() - mw.reviewer.web.height()
            height = min(result["height"] + extra, shot.get("max_height", 1800))
            mw.resize(shot["width"], height)
            QTimer.singleShot(800, self.guarded(lambda: grab(shot)))

        def grab(shot: dict[str, Any]) -> None:
            mw.reviewer.web.eval("window.scrollTo(0, 0);")
            QTimer.singleShot(300, self.guarded(lambda: save(shot)))

        def save(shot: dict[str, Any]) -> None:
            mw.grab().save(shot["path"], "PNG")
            self.out.setdefault("screenshots", []).append(shot["path"])
            self.shoot(shots)

        def again() -> None:
            shots.insert(0, shot)
            self.shoot(shots)

        QTimer.singleShot(300, self.guarded(lambda: self.measure(sized, again)))


def _setup() -> None:
    job_path = os.environ.get("CARDSMITH_DESKTOP_JOB")
    if not job_path:
        return
    probe = Probe(json.loads(Path(job_path).read_text(encoding="utf-8")))
    gui_hooks.webview_did_receive_js_message.append(probe.on_message)

    started = False

    def begin() -> None:
        nonlocal started
        if started:
            return
        started = True
        _say("starting")
        QTimer.singleShot(1000, probe.guarded(probe.start))

    def opened() -> None:
        Path(f"{probe.job['output']}.started").touch()
        _say("profile open")
        # Start once the main window has drawn the deck list (its own start-up work done),
        # or after a few seconds if that was missed; a page reload after that is survived
        # by showing the card again (Probe.measure).
        gui_hooks.deck_browser_did_render.append(rendered)
        QTimer.singleShot(5000, begin)

    def rendered(*args: Any) -> None:
        gui_hooks.deck_browser_did_render.remove(rendered)
        begin()

    gui_hooks.profile_did_open.append(opened)


_setup()
