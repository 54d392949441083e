"""The one exception the expression language raises for bad input."""

from __future__ import annotations


class ExpressionError(ValueError):
    """A problem in an expression, with its position (1-based line and column)."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        source: str | None = None,
    ):
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        where = f" at {line}:{column}" if line is not None else ""
        super().__init__(f"{message}{where}")
