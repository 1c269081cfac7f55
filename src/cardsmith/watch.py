"""Watching sources for changes: the one module that talks to watchfiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from threading import Event

import watchfiles

from cardsmith.ledger import LEDGER_NAME


def _source_filter(out_dir: Path) -> Callable[[watchfiles.Change, str], bool]:
    """Changes that can change a deck: not our own output (packages, ledgers), not hidden
    or editor files."""
    default = watchfiles.DefaultFilter()
    out = out_dir.resolve()

    def accept(change: watchfiles.Change, path: str) -> bool:
        where = Path(path).resolve()
        if where == out or out in where.parents:
            return False
        name = Path(path).name
        return default(change, path) and not name.startswith(".") and name != LEDGER_NAME

    return accept


def changes(
    paths: list[Path], out_dir: Path, stop: Event | None = None, debounce_ms: int = 200
) -> Iterator[list[Path]]:
    """Yield the changed source files, batched, until stop is set (or Ctrl-C)."""
    for batch in watchfiles.watch(
        *paths,
        watch_filter=_source_filter(out_dir),
        debounce=debounce_ms,
        stop_event=stop,
        raise_interrupt=False,
    ):
        yield sorted({Path(p) for _, p in batch})
