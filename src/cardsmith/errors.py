"""One exception hierarchy: each error knows its exit code and how it is shown.

The library raises these; only cli.py turns them into output and an exit status, in
one place (like click's exceptions).
"""

from __future__ import annotations

from pathlib import Path

from cardsmith.diagnostics import Report, quote_path


class CardsmithError(Exception):
    """Base class: a problem the user can act on. Shown as lines on stderr."""

    exit_code = 1

    def lines(self) -> list[str]:
        """What to print, one problem a line."""
        return [str(self)]


class ContentError(CardsmithError):
    """The sources have problems; `report` holds every one of them."""

    def __init__(self, report: Report) -> None:
        super().__init__(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
        self.report = report

    def lines(self) -> list[str]:
        errors, warnings = len(self.report.errors), len(self.report.warnings)
        return [
            *map(str, self.report.sorted()),
            f"failed: {errors} error(s), {warnings} warning(s); nothing written",
        ]


class OutputError(CardsmithError):
    """The disk, not the content: a file could not be written (full, read-only, ...)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"cardsmith: error: cannot write {quote_path(path)}: {reason}")

    @classmethod
    def from_os_error(cls, error: OSError, fallback: Path) -> OutputError:
        return cls(error.filename or fallback, error.strerror or str(error))


class UsageError(CardsmithError):
    """The command was called wrongly (a file where a folder is needed, ...): exit 2."""

    exit_code = 2


class PackageError(CardsmithError):
    """A file given to verify is missing, not an Anki package, or unreadable: exit 2."""

    exit_code = 2
