"""The write stage: files replaced atomically, all of a build's packages together.

Readers see the old file or the new one, never a part. A build first writes every new
package to a temporary file beside its target, and only then renames them all into
place, so a disk error part-way leaves every earlier package untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cardsmith.errors import OutputError
from cardsmith.lifeline import alive

TEMP_SUFFIX = ".cardsmith-tmp"


def write_temp(path: Path, data: bytes | Iterable[bytes], durable: bool = True) -> Path:
    """Write data to a new temporary file beside path (synced if durable), and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in [data] if isinstance(data, bytes) else data:
                handle.write(chunk)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        Path(tmp).chmod(0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: Path, data: bytes | Iterable[bytes], durable: bool = True) -> None:
    """Write to a temporary file beside path, then rename it into place.

    Two builds writing the same file at once each rename a whole file of their own,
    and the last one wins. durable=False skips the fsync: for files that may be lost
    in a crash (the build cache, whose checksums catch a torn file).
    """
    tmp = write_temp(path, data, durable)
    try:
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_all(files: list[tuple[Path, bytes]]) -> None:
    """Write every file, then rename them all into place: all or (on a write error) none.

    Raises OutputError; if a rename fails after others succeeded, the message names
    the files that were already replaced.
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            temps.append((write_temp(path, data), path))
    except OSError as error:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise OutputError.from_os_error(error, files[len(temps)][0]) from None
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise
    done: list[Path] = []
    for n, (tmp, path) in enumerate(temps):
        try:
            tmp.replace(path)
        except OSError as error:
            for left, _ in temps[n:]:
                left.unlink(missing_ok=True)
            replaced = ", ".join(map(str, done)) or "none"
            reason = f"{error.strerror or error} (already replaced: {replaced})"
            raise OutputError(path, reason) from None
        done.append(path)


def remove_stale_temps(out_dir: Path) -> list[Path]:
    """Delete temporary files left by a build that was killed (its process is gone)."""
    removed: list[Path] = []
    if not out_dir.is_dir():
        return removed
    for tmp in out_dir.glob(f".*{TEMP_SUFFIX}"):
        parts = tmp.name.rsplit(".", 3)
        pid = int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else None
        if pid is not None and not alive(pid):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
