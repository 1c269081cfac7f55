"""Nothing of a build outlives it, even when it is killed with SIGKILL.

Scratch folders are named after their process; each build removes those of processes
that have ended (scratch_folder).


The render stage's forkserver and worker processes would otherwise wait for work that
never comes (each worker holds the forkserver's "alive" pipe open, so neither notices
on its own). Each runs a small thread that watches the build process and exits at once
when it is gone. The forkserver imports this module (parallel.PRELOAD), which starts
its watch on its parent, the build; each worker starts its own in the pool's
initializer (a thread does not survive fork).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

POLL_SECONDS = 0.2


def alive(pid: int) -> bool:
    """True while process pid runs (a zombie, killed but not yet reaped, is not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill()
    return state != b"Z"


def watch(pid: int) -> None:
    """Exit this process, without cleanup, as soon as process pid has ended."""

    def run() -> None:
        while alive(pid):
            time.sleep(POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=run, name="cardsmith-lifeline", daemon=True).start()


SCRATCH_PREFIX = "cardsmith-"


@contextlib.contextmanager
def scratch_folder(kind: str = "build") -> Iterator[Path]:
    """A temporary folder named after this process, removed afterwards.

    A build killed with SIGKILL cannot remove its own; the next one removes the folders
    of processes that no longer run (remove_dead_scratch).
    """
    remove_dead_scratch()
    folder = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{kind}-{os.getpid()}-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_SCRATCH_RE = re.compile(rf"{SCRATCH_PREFIX}[a-z]+-(\d+)-")
_swept = False


def remove_dead_scratch(force: bool = False) -> list[Path]:
    """Remove this user's scratch folders of cardsmith processes that have ended (once
    a process, unless force)."""
    global _swept
    if _swept and not force:
        return []
    _swept = True
    removed = []
    base = Path(tempfile.gettempdir())
    try:
        entries = list(base.glob(f"{SCRATCH_PREFIX}*"))
    except OSError:
        return []
    for entry in entries:
        match = _SCRATCH_RE.match(entry.name)
        if match is None:
            continue  # another program's folder that starts with our prefix
        try:
            mine = entry.is_dir() and not entry.is_symlink() and entry.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and not alive(int(match[1])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def imported_by_forkserver() -> bool:
    """Is the module being imported the forkserver's preload (parallel.PRELOAD)?"""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and Path(code.co_filename).name == "forkserver.py":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


if imported_by_forkserver():
    watch(os.getppid())  # the forkserver's parent is the build
