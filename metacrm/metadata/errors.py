"""Errors that name the file, line and path of a bad declaration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class MetadataError:
    """One problem in one declaration: `file:line path: message`."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


class MetadataInvalid(Exception):
    """Raised with *every* error found, never just the first."""

    def __init__(self, errors: list[MetadataError]):
        self.errors = sorted(set(errors))
        super().__init__("\n".join(str(e) for e in self.errors))
