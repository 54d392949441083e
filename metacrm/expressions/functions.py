"""The function registry: each function's signature, Python body and SQL body.

A registry is an immutable mapping built once per runtime (`builtin_registry()`
plus plugin functions); only functions in it can be called from an expression.
Null handling is part of each definition: most functions return null when an
argument is null ("null in, null out"); coalesce/concat/is_blank/min/max say
otherwise in their docs.
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    and_,
    func,
    literal,
    null,
    or_,
)

from metacrm.expressions import types as T
from metacrm.expressions.function_sql import (
    sql_add_days,
    sql_add_months,
    sql_ceil,
    sql_concat,
    sql_contains,
    sql_days_between,
    sql_ends_with,
    sql_floor,
    sql_fold,
    sql_len,
    sql_part,
    sql_round,
    sql_starts_with,
)
from metacrm.expressions.translatable import N_


@dataclass(frozen=True)
class EvalContext:
    """What `today()` and `now()` read: the current instant and the tenant's timezone."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    timezone: str = "UTC"

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(ZoneInfo(self.timezone)).date()


class SignatureError(ValueError):
    pass


@dataclass(frozen=True)
class Function:
    name: str
    doc: str
    signature: Callable[[list[str]], str]  # argument types -> result type (raises SignatureError)
    python: Callable  # (*values) or (ctx, *values) when needs_context
    sql: Callable | None  # (dialect_name, ctx, *sql_args) -> ColumnElement
    needs_context: bool = False
    null_in_null_out: bool = True


def _want(types_: list[str], allowed: list[frozenset | set], name: str) -> None:
    if len(types_) != len(allowed):
        raise SignatureError(f"{name}() takes {len(allowed)} argument(s), {len(types_)} given")
    for i, (got, ok) in enumerate(zip(types_, allowed, strict=True)):
        if got != T.NULL and got not in ok:
            raise SignatureError(
                f"argument {i + 1} of {name}() must be {' or '.join(sorted(ok))}, not {got}"
            )


def fixed(name: str, params: list, result: str):
    def check(types_: list[str]) -> str:
        _want(
            types_,
            [frozenset(p) if isinstance(p, (set, frozenset)) else frozenset({p}) for p in params],
            name,
        )
        return result

    check.fixed = (name, params, result)  # type: ignore[attr-defined]  # (see usage.py)
    return check


DATEISH = frozenset({T.DATE, T.DATETIME})


# --- Python bodies ---------------------------------------------------------------------
def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.date()
    return value


def _add_months(value: dt.date, months: int) -> dt.date | None:
    value = _as_date(value)
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        return None
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(value.day, last))


def _add_days(value, days: int):
    try:
        return _as_date(value) + dt.timedelta(days=days)
    except OverflowError:
        return None


def _round(value, places=0):
    exp = decimal.Decimal(1).scaleb(-int(places))
    return decimal.Decimal(value).quantize(exp, rounding=decimal.ROUND_HALF_UP)


def _floor(value):
    return int(decimal.Decimal(value).to_integral_value(rounding=decimal.ROUND_FLOOR))


def _ceil(value):
    return int(decimal.Decimal(value).to_integral_value(rounding=decimal.ROUND_CEILING))


def _least(*values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _greatest(*values):
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _numeric_result(types_: list[str]) -> str:
    return T.INTEGER if all(t == T.INTEGER for t in types_ if t != T.NULL) else T.DECIMAL


def _variadic_same(name: str, minimum: int):
    def check(types_: list[str]) -> str:
        if len(types_) < minimum:
            raise SignatureError(f"{name}() takes at least {minimum} arguments")
        result = T.unify(types_)
        if result is None:
            raise SignatureError(
                f"the arguments of {name}() must have one type, not {', '.join(types_)}"
            )
        if result == T.LIST:
            raise SignatureError(f"{name}() cannot take lists")
        return result

    return check


def _round_sig(types_: list[str]) -> str:
    if len(types_) == 1:
        _want(types_, [T.NUMERIC], "round")
    else:
        _want(types_, [T.NUMERIC, {T.INTEGER}], "round")
    return T.DECIMAL


def _concat_sig(types_: list[str]) -> str:
    if not types_:
        raise SignatureError("concat() takes at least 1 argument")
    for i, t in enumerate(types_):
        if t not in (T.TEXT, T.INTEGER, T.DECIMAL, T.NULL):
            raise SignatureError(f"argument {i + 1} of concat() must be text or a number, not {t}")
    return T.TEXT


def _abs_sig(types_):
    _want(types_, [T.NUMERIC], "abs")
    return _numeric_result(types_)


BUILTINS: tuple[Function, ...] = (
    Function(
        "today",
        N_("today's date in the tenant's timezone"),
        fixed("today", [], T.DATE),
        lambda ctx: ctx.today,
        lambda d, ctx: literal(ctx.today, Date),
        needs_context=True,
    ),
    Function(
        "now",
        N_("the current date and time"),
        fixed("now", [], T.DATETIME),
        lambda ctx: ctx.now,
        None,
        needs_context=True,
    ),
    Function(
        "days_between",
        N_("days from the first date to the second (negative when earlier)"),
        fixed("days_between", [DATEISH, DATEISH], T.INTEGER),
        lambda a, b: (_as_date(b) - _as_date(a)).days,
        sql_days_between,
    ),
    Function(
        "add_days",
        N_("the date N days later (earlier when negative)"),
        fixed("add_days", [DATEISH, {T.INTEGER}], T.DATE),
        _add_days,
        sql_add_days,
    ),
    Function(
        "add_months",
        N_("the date N months later; the day is clamped to the month's end"),
        fixed("add_months", [DATEISH, {T.INTEGER}], T.DATE),
        _add_months,
        sql_add_months,
    ),
    Function(
        "year",
        N_("the year of a date"),
        fixed("year", [DATEISH], T.INTEGER),
        lambda a: _as_date(a).year,
        sql_part("year", "%Y"),
    ),
    Function(
        "month",
        N_("the month (1-12) of a date"),
        fixed("month", [DATEISH], T.INTEGER),
        lambda a: _as_date(a).month,
        sql_part("month", "%m"),
    ),
    Function(
        "day",
        N_("the day of the month of a date"),
        fixed("day", [DATEISH], T.INTEGER),
        lambda a: _as_date(a).day,
        sql_part("day", "%d"),
    ),
    Function(
        "lower",
        N_("lower case (ASCII letters on SQLite)"),
        fixed("lower", [T.TEXT], T.TEXT),
        str.lower,
        lambda d, ctx, a: func.lower(a),
    ),
    Function(
        "upper",
        N_("upper case (ASCII letters on SQLite)"),
        fixed("upper", [T.TEXT], T.TEXT),
        str.upper,
        lambda d, ctx, a: func.upper(a),
    ),
    Function(
        "trim",
        N_("without leading and trailing spaces"),
        fixed("trim", [T.TEXT], T.TEXT),
        lambda a: a.strip(" "),
        lambda d, ctx, a: func.trim(a),
    ),
    Function(
        "len", N_("the number of characters"), fixed("len", [T.TEXT], T.INTEGER), len, sql_len
    ),
    Function(
        "contains",
        N_("whether the text contains the other (case-sensitive)"),
        fixed("contains", [T.TEXT, T.TEXT], T.BOOLEAN),
        lambda a, b: b in a,
        sql_contains,
    ),
    Function(
        "starts_with",
        N_("whether the text starts with the other"),
        fixed("starts_with", [T.TEXT, T.TEXT], T.BOOLEAN),
        lambda a, b: a.startswith(b),
        sql_starts_with,
    ),
    Function(
        "ends_with",
        N_("whether the text ends with the other"),
        fixed("ends_with", [T.TEXT, T.TEXT], T.BOOLEAN),
        lambda a, b: a.endswith(b),
        sql_ends_with,
    ),
    Function(
        "round",
        N_("rounded half away from zero to N decimals (default 0)"),
        _round_sig,
        _round,
        sql_round,
    ),
    Function(
        "floor",
        N_("the largest integer not above the number"),
        fixed("floor", [T.NUMERIC], T.INTEGER),
        _floor,
        sql_floor,
    ),
    Function(
        "ceil",
        N_("the smallest integer not below the number"),
        fixed("ceil", [T.NUMERIC], T.INTEGER),
        _ceil,
        sql_ceil,
    ),
    Function("abs", N_("the absolute value"), _abs_sig, abs, lambda d, ctx, a: func.abs(a)),
    Function(
        "coalesce",
        N_("the first argument that is not null"),
        _variadic_same("coalesce", 2),
        lambda *a: next((v for v in a if v is not None), None),
        lambda d, ctx, *a: func.coalesce(*a),
        null_in_null_out=False,
    ),
    Function(
        "min",
        N_("the smallest argument, ignoring nulls"),
        _variadic_same("min", 2),
        _least,
        sql_fold("min"),
        null_in_null_out=False,
    ),
    Function(
        "max",
        N_("the largest argument, ignoring nulls"),
        _variadic_same("max", 2),
        _greatest,
        sql_fold("max"),
        null_in_null_out=False,
    ),
    Function(
        "concat",
        N_("the arguments joined as text; null counts as empty"),
        _concat_sig,
        lambda *a: "".join("" if v is None else str(v) for v in a),
        sql_concat,
        null_in_null_out=False,
    ),
    Function(
        "is_blank",
        N_("whether the text is null or only spaces"),
        fixed("is_blank", [T.TEXT], T.BOOLEAN),
        lambda a: a is None or a.strip(" ") == "",
        lambda d, ctx, a: or_(a.is_(None), func.trim(a) == ""),
        null_in_null_out=False,
    ),
)

# `if` is not a function: only the chosen branch is evaluated; `is_new()`,
# `previous(f)` and `changed(f)` read the write being checked (see checker.py). They
# live in the back ends; their names are reserved here so no plugin can take them.
RESERVED = frozenset({"if", "is_new", "previous", "changed"})


class Registry(Mapping):
    """An immutable name -> Function mapping; duplicate names are refused."""

    def __init__(self, functions: tuple[Function, ...] | list[Function]):
        table: dict[str, Function] = {}
        for f in functions:
            if f.name in table or f.name in RESERVED:
                raise ValueError(f"expression function '{f.name}' is defined twice")
            table[f.name] = f
        self._table = MappingProxyType(table)

    def __getitem__(self, key: str) -> Function:
        return self._table[key]

    def __iter__(self):
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def extended(self, functions) -> Registry:
        return Registry([*self._table.values(), *functions])


@cache
def builtin_registry() -> Registry:
    return Registry(BUILTINS)


__all__ = [
    "EvalContext",
    "Function",
    "Registry",
    "SignatureError",
    "builtin_registry",
    "fixed",
    "and_",
    "null",
]
