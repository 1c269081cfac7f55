"""The real Anki desktop app (PyPI's aqt, Qt 6) on a virtual X screen, for the desktop tests.

A fresh base folder holds a profile and the add-on in tests/desktop_addon/, which imports
packages with Anki's own import code, shows cards in the reviewer and writes measurements
as JSON. One app launch runs a whole job. Needs Debian's xvfb and the Qt/WebEngine system
libraries (.ci/run installs them) and `pip install -e '.[test]'` (aqt[qt6]).

Run as a script to refresh the README screenshots from the real reviewer:
    .venv/bin/python -m tests.desktophelp docs/img
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ADDON = Path(__file__).resolve().parent / "desktop_addon"
XVFB = shutil.which("Xvfb") or "/usr/bin/Xvfb"
PROFILE = "User 1"
# Anki's minimum main-window width, and a desktop window.
PHONE, DESKTOP = 400, 1000
SCREENSHOT_CARD = "How can memoization speed up a recursive function?"
SCREENSHOT_WIDTH, SCREENSHOT_SCALE = PHONE, 2


class AppDidNotStart(RuntimeError):
    """Anki never opened its profile: a missing library, no X server, a crash at start."""


def anki_launcher() -> Path:
    """The `anki` script installed beside this Python (aqt has no __main__ module)."""
    return Path(sys.executable).parent / "anki"


def missing() -> str | None:
    """Why the desktop app cannot run here, or None when it can."""
    if not os.access(XVFB, os.X_OK):
        return f"{XVFB} not found (apt-get install xvfb; see .ci/run for the Qt libraries)"
    try:
        import aqt  # noqa: F401
    except ImportError as error:
        return f"the Anki desktop app is not installed (pip install -e '.[test]'): {error}"
    if not anki_launcher().exists():
        return f"{anki_launcher()} not found (pip install -e '.[test]')"
    return None


@contextmanager
def virtual_screen(width: int = 1600, height: int = 2400) -> Iterator[str]:
    """An Xvfb server on a free display number; yields the DISPLAY value."""
    read, write = os.pipe()
    size = f"{width}x{height}x24"
    server = subprocess.Popen(
        [XVFB, "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", size],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError(f"Xvfb did not start (exit code {server.poll()})")
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def prepare_base(base: Path, scale: float = 1) -> None:
    """A fresh Anki base folder: English, one profile, no update checks, our add-on."""
    from aqt.profiles import ProfileManager, VideoDriver

    base.mkdir(parents=True, exist_ok=True)
    pm = ProfileManager(base)
    pm.setupMeta()
    pm.setLang("en_US")  # what the first-run language dialog would store
    pm.meta["updates"] = False
    pm.meta["check_for_addon_updates"] = False
    pm.meta["uiScale"] = scale
    pm.create(PROFILE)
    # Software rendering: Xvfb has no GPU (and Anki then skips its fade-in animation).
    pm.set_video_driver(VideoDriver.Software)
    assert pm.db is not None
    pm.db.execute("update profiles set data = ? where name = '_global'", pm._pickle(pm.meta))
    pm.db.commit()
    pm.db.close()
    shutil.copytree(ADDON, base / "addons21" / "cardsmith_probe")


def run_job(job: dict[str, Any], timeout: float, scale: float = 1) -> dict[str, Any]:
    """Start Anki once on a virtual screen, let the add-on run the job, return its JSON."""
    with tempfile.TemporaryDirectory(prefix="cardsmith-anki-") as tmp:
        base = Path(tmp) / "base"
        prepare_base(base, scale)
        output = Path(tmp) / "result.json"
        job_file = Path(tmp) / "job.json"
        job_file.write_text(json.dumps({**job, "output": str(output)}), encoding="utf-8")
        log = Path(tmp) / "anki.log"
        screen = virtual_screen(1600 * int(scale), 2400 * int(scale))
        with screen as display, log.open("wb") as sink:
            env = {
                **os.environ,
                "DISPLAY": display,
                "QT_QPA_PLATFORM": "xcb",
                "QTWEBENGINE_DISABLE_SANDBOX": "1",
                "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox --disable-gpu",
                # Anki sets this from the profile's scale only after creating the app.
                "QT_SCALE_FACTOR": str(scale),
                "CARDSMITH_DESKTOP_JOB": str(job_file),
                "HOME": tmp,
                "XDG_RUNTIME_DIR": tmp,
            }
            app = subprocess.Popen(
                [str(anki_launcher()), "-b", str(base), "-p", PROFILE],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = app.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(app.pid, 9)
                app.wait()
                code = None
        tail = log.read_text(errors="replace")[-3000:]
        if not Path(f"{output}.started").exists():
            raise AppDidNotStart(f"exit code {code}, no profile opened:\n{tail}")
        if code is None:
            raise RuntimeError(f"Anki did not finish within {timeout} s:\n{tail}")
        if not output.exists():
            raise RuntimeError(f"Anki exited with {code} and wrote no results:\n{tail}")
        result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
        if "error" in result:
            raise RuntimeError(f"the add-on failed:\n{result['error']}\n{tail}")
        result["log"] = tail
        return result


def write_readme_screenshots(out: Path, timeout: float = 600) -> list[Path]:
    """Build the shipped deck, show one card's answer in the reviewer, light and night, at
    Anki's minimum window width and twice the pixels, and photograph the window."""
    out.mkdir(parents=True, exist_ok=True)
    targets = [out / "card-light.png", out / "card-night.png"]
    with tempfile.TemporaryDirectory(prefix="cardsmith-shots-") as tmp:
        cardsmith = Path(sys.executable).parent / "cardsmith"
        subprocess.run(
            [str(cardsmith), "build", str(ROOT / "content"), "--out", tmp],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        package = Path(tmp) / "python-interview.apkg"
        job = {
            "packages": [str(package)],
            "decks": ["Python Interview"],
            "study": "Python Interview",
            "modes": [],
            "widths": [],
            "screenshots": [
                {"question": SCREENSHOT_CARD, "mode": mode, "width": SCREENSHOT_WIDTH,
                 "path": str(target)}
                for mode, target in zip(("light", "night"), targets, strict=True)
            ],
        }  # fmt: skip
        run_job(job, timeout, scale=SCREENSHOT_SCALE)
    return targets


if __name__ == "__main__":
    reason = missing()
    if reason:
        sys.exit(f"error: {reason}")
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
    for written in write_readme_screenshots(target):
        print(f"wrote {written}")
