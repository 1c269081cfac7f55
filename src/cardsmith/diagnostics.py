"""Problems found in the sources, reported as `path:line: severity: message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

# Every character that str.splitlines (and so many terminals and editors) breaks a line at.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_ESCAPES = {ord(c): repr(c)[1:-1] for c in _LINE_BREAKS}


def one_line(text: str) -> str:
    """text with line-breaking characters written as escapes, so a message stays one line."""
    return text.translate(_ESCAPES)


def quote_path(path: Path | str) -> str:
    """A path as shown in messages; quoted when it holds line breaks or colon tricks,
    so that a file name can never forge a `path:line: error:` line."""
    text = str(path)
    if text != one_line(text) or any(ord(c) < 32 or c == "\x7f" for c in text):
        return repr(text)
    if any("\udc80" <= c <= "\udcff" for c in text):  # bytes that are not UTF-8
        return ascii(text)
    return text


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place in a source file."""

    path: Path
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return (
            f"{quote_path(self.path)}:{self.line}: {self.severity.value}: {one_line(self.message)}"
        )


@dataclass
class Report:
    """Every problem found in one run, in the order they were found."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, path: Path, line: int, message: str) -> None:
        self.items.append(Diagnostic(path, line, Severity.ERROR, message))

    def warning(self, path: Path, line: int, message: str) -> None:
        self.items.append(Diagnostic(path, line, Severity.WARNING, message))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def failed(self, strict: bool = False) -> bool:
        """True when the run must stop: any error, or any warning under --strict."""
        return bool(self.errors or (strict and self.warnings))

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (str(d.path), d.line))
