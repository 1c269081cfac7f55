"""Reading files the user gave: only regular files, never blocking, sizes bounded.

A FIFO or a device named like a source file would block a plain open() or read
forever (/dev/zero); a symlink loop, a dangling link or a path longer than the
system allows raise errors that are not about the content. Each becomes a
FileProblem with one line saying what is wrong with the path.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

# Limits documented in docs/format.md ("Limits and odd input"): a Markdown file, a
# deck.toml, an image.
MAX_MARKDOWN_BYTES = 64 * 1024 * 1024
MAX_TOML_BYTES = 1024 * 1024
MAX_MEDIA_BYTES = 100 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileProblem(Exception):
    """A path that cannot be read as a file; str() is the reason, without the path."""


def reason(error: OSError, path: Path | None = None) -> str:
    """What an OSError means for a path the user gave, in words."""
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    if error.errno == errno.ENOENT and path is not None and path.is_symlink():
        return f"broken symbolic link (to {str(path.readlink())!r})"
    if error.errno == errno.ENAMETOOLONG:
        return "path too long for this system"
    return error.strerror or str(error)


def clear_way(path: Path, for_folder: bool = False) -> None:
    """Remove whatever is at path unless it is a regular file (or, for_folder, a real
    folder): a FIFO, a link, a folder where a file goes, so that cardsmith can write
    what it owns there again."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode) if for_folder else stat.S_ISREG(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def not_utf8(path: Path) -> bool:
    """True when a path's name cannot be written as UTF-8 (Python keeps such bytes as
    surrogates): Anki, JSON and the terminal need text."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_regular(path: Path) -> os.stat_result:
    """The stat of path (following links) if it is a regular file, else FileProblem."""
    try:
        info = path.stat()
    except OSError as error:
        raise FileProblem(reason(error, path)) from None
    except RuntimeError:  # pathlib's own symlink-loop check
        raise FileProblem("symbolic link loop") from None
    for test, kind in _KINDS:
        if test(info.st_mode):
            raise FileProblem(f"not a regular file but {kind}")
    return info


def read_regular(path: Path, limit: int, follow: bool = True) -> bytes:
    """The bytes of a regular file of at most limit bytes; FileProblem otherwise.

    Opened without blocking and checked after opening, so a FIFO swapped in after a
    check cannot block the read. follow=False refuses a symbolic link (for files
    cardsmith wrote itself, such as its cache, where a link can only be a trick).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        raise FileProblem(reason(error, path)) from None
    try:
        info = os.fstat(fd)
        for test, kind in _KINDS:
            if test(info.st_mode):
                raise FileProblem(f"not a regular file but {kind}")
        if info.st_size > limit:
            raise FileProblem(f"file is larger than the limit of {limit // (1024 * 1024)} MB")
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:  # grew while being read
                raise FileProblem(f"file is larger than the limit of {limit // (1024 * 1024)} MB")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as error:
        raise FileProblem(reason(error, path)) from None
    finally:
        os.close(fd)
