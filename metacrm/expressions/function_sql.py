"""The SQL bodies of the built-in functions, per dialect (SQLite and PostgreSQL), kept
apart from their Python bodies in `functions`; the property tests check that the two
agree, nulls included (tests/expressions/test_backends_agree.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Numeric,
    String,
    case,
    cast,
    extract,
    func,
    literal,
    type_coerce,
)


def sql_date(dialect: str, value):
    return func.date(value) if dialect == "sqlite" else cast(value, Date)


def sql_days_between(dialect, ctx, a, b):
    if dialect == "sqlite":
        return cast(func.julianday(func.date(b)) - func.julianday(func.date(a)), Integer)
    return cast(cast(b, Date) - cast(a, Date), Integer)


def sql_add_days(dialect, ctx, a, n):
    if dialect == "sqlite":
        return type_coerce(func.date(a, func.printf("%+d days", n)), Date)
    return cast(cast(a, Date) + cast(n, Integer), Date)


def sql_add_months(dialect, ctx, a, n):
    if dialect == "sqlite":
        day = cast(func.strftime("%d", a), Integer)
        shifted = func.date(
            a, "start of month", func.printf("%+d months", n), func.printf("%+d days", day - 1)
        )
        month_end = func.date(a, "start of month", func.printf("%+d months", n + 1), "-1 day")
        return type_coerce(func.min(shifted, month_end), Date)
    return cast(cast(a, Date) + func.make_interval(0, cast(n, Integer)), Date)


def sql_part(part: str, sqlite_fmt: str):
    def build(dialect, ctx, a):
        if dialect == "sqlite":
            return cast(func.strftime(sqlite_fmt, a), Integer)
        return cast(extract(part, a), Integer)

    return build


def sql_len(dialect, ctx, a):
    return func.length(a) if dialect == "sqlite" else func.char_length(a)


def sql_contains(dialect, ctx, a, b):
    return (func.instr(a, b) if dialect == "sqlite" else func.strpos(a, b)) > 0


def sql_starts_with(dialect, ctx, a, b):
    length = func.length(b) if dialect == "sqlite" else func.char_length(b)
    return func.substr(a, 1, length) == b


def sql_ends_with(dialect, ctx, a, b):
    if dialect == "sqlite":
        # substr(a, -0) is the whole text, so '' needs its own case (null stays null)
        return case((func.length(b) == 0, a == a), else_=func.substr(a, -func.length(b)) == b)
    return func.right(a, func.char_length(b)) == b


def sql_round(dialect, ctx, a, places=None):
    places = places if places is not None else literal(0)
    if dialect == "sqlite":
        return type_coerce(func.round(a, places), Numeric(asdecimal=True))
    return func.round(cast(a, Numeric), places)


def sql_floor(dialect, ctx, a):
    if dialect == "sqlite":
        truncated = cast(a, Integer)
        return truncated - case((a < truncated, 1), else_=0)
    return cast(func.floor(a), Integer)


def sql_ceil(dialect, ctx, a):
    if dialect == "sqlite":
        truncated = cast(a, Integer)
        return truncated + case((a > truncated, 1), else_=0)
    return cast(func.ceil(a), Integer)


def sql_fold(pick: str):
    def build(dialect, ctx, *args):
        if dialect != "sqlite":
            if isinstance(args[0].type, String):  # code-point order, as in Python
                args = tuple(a.collate("C") for a in args)
            return (func.least if pick == "min" else func.greatest)(*args)
        result = args[0]
        for arg in args[1:]:  # SQLite's min()/max() return NULL if any argument is NULL
            f = func.min if pick == "min" else func.max
            result = f(func.coalesce(result, arg), func.coalesce(arg, result))
        return result

    return build


def sql_concat(dialect, ctx, *args):
    parts = [
        func.coalesce(cast(a, String) if not isinstance(a.type, String) else a, "") for a in args
    ]
    out: Any = parts[0]
    for part in parts[1:]:
        out = out.op("||")(part)
    return type_coerce(out, String)
