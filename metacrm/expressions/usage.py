"""How each expression function is called, for the designer's function list: fixed
signatures describe themselves; the few flexible ones are written out here."""

from __future__ import annotations

from metacrm.expressions.functions import Function

FLEXIBLE = {
    "round": "round(number, places=0) -> decimal",
    "abs": "abs(number) -> number",
    "concat": "concat(value, ...) -> text",
    "coalesce": "coalesce(a, b, ...) -> the type of a",
    "min": "min(a, b, ...) -> the type of a",
    "max": "max(a, b, ...) -> the type of a",
}


def usage_of(function: Function) -> str:
    fixed = getattr(function.signature, "fixed", None)
    if fixed is None:
        return FLEXIBLE.get(function.name, f"{function.name}(...)")
    name, params, result = fixed
    shown = ["|".join(sorted(p)) if isinstance(p, (set, frozenset)) else p for p in params]
    return f"{name}({', '.join(shown)}) -> {result}"
