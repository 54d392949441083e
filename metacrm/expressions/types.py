"""The types of the expression language and how field types map onto them."""

from __future__ import annotations

INTEGER, DECIMAL, TEXT, BOOLEAN, DATE, DATETIME, LIST, NULL = (
    "integer",
    "decimal",
    "text",
    "boolean",
    "date",
    "datetime",
    "list",
    "null",
)
NUMERIC = frozenset({INTEGER, DECIMAL})
ALL = frozenset({INTEGER, DECIMAL, TEXT, BOOLEAN, DATE, DATETIME, LIST})


def comparable(a: str, b: str) -> bool:
    """Whether values of types a and b may be compared (null compares with anything)."""
    if NULL in (a, b):
        return True
    if a in NUMERIC and b in NUMERIC:
        return True
    if {a, b} == {DATE, DATETIME}:
        return True
    return a == b


def unify(types: list[str]) -> str | None:
    """The common type of branches (if/coalesce/min/max), or None when there is none."""
    concrete = [t for t in types if t != NULL]
    if not concrete:
        return NULL
    if all(t in NUMERIC for t in concrete):
        return INTEGER if all(t == INTEGER for t in concrete) else DECIMAL
    if all(t in (DATE, DATETIME) for t in concrete):
        return DATE if all(t == DATE for t in concrete) else DATETIME
    first = concrete[0]
    return first if all(t == first for t in concrete) else None
