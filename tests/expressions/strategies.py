"""Hypothesis strategies: random well-typed expressions and random records.

The generated language stays inside what both back ends define the same way on
every database: ASCII lowercase text (SQLite's lower()/upper() are ASCII-only,
collations agree on it), moderate magnitudes (PostgreSQL bigint overflows,
SQLite would switch to floats), decimals that floats represent exactly.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import strategies as st

from metacrm.expressions import nodes as n

FIELDS = {
    "i": "integer",
    "j": "integer",
    "d": "decimal",
    "t": "text",
    "u": "text",
    "b": "boolean",
    "day": "date",
    "ts": "datetime",
}

ints = st.integers(min_value=-1000, max_value=1000)
decimals = st.integers(min_value=-4000, max_value=4000).map(
    lambda v: Decimal(v) / 4
)  # exact in binary
texts = st.text(alphabet="abcxyz", max_size=5)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31))
datetimes = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 12, 31)
).map(lambda v: v.replace(microsecond=0, tzinfo=dt.UTC))

records = st.fixed_dictionaries(
    {
        "i": st.none() | ints,
        "j": st.none() | ints,
        "d": st.none() | decimals,
        "t": st.none() | texts,
        "u": st.none() | texts,
        "b": st.none() | st.booleans(),
        "day": st.none() | dates,
        "ts": st.none() | datetimes,
    }
)


def lit(value, kind):
    return n.Literal(value, kind)


def field(name):
    return n.FieldRef((name,))


def integer_expr(depth: int):
    leaf = st.one_of(ints.map(lambda v: lit(v, "number")), st.sampled_from(["i", "j"]).map(field))
    if depth <= 0:
        return leaf
    sub = integer_expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(st.sampled_from(["+", "-", "*"]), sub, sub).map(
            lambda a: n.Arithmetic(a[0], a[1], a[2])
        ),
        sub.map(n.Negate),
        sub.map(lambda a: n.Call("abs", (a,))),
        st.tuples(text_expr(depth - 1)).map(lambda a: n.Call("len", a)),
        st.tuples(date_expr(depth - 1), date_expr(depth - 1)).map(
            lambda a: n.Call("days_between", a)
        ),
        date_expr(depth - 1).map(lambda a: n.Call(st_choice_part(a), (a,))),
        st.tuples(boolean_expr(depth - 1), sub, sub).map(lambda a: n.Call("if", a)),
        st.tuples(sub, sub).map(lambda a: n.Call("coalesce", a)),
        st.tuples(sub, sub).map(lambda a: n.Call("min", a)),
        st.tuples(sub, sub).map(lambda a: n.Call("max", a)),
        decimal_expr(depth - 1).map(lambda a: n.Call("floor", (a,))),
        decimal_expr(depth - 1).map(lambda a: n.Call("ceil", (a,))),
    )


def st_choice_part(node):
    return ["year", "month", "day"][hash(repr(node)) % 3]


def decimal_expr(depth: int):
    leaf = st.one_of(decimals.map(lambda v: lit(v, "number")), st.just(field("d")))
    if depth <= 0:
        return leaf
    sub = decimal_expr(depth - 1)
    num = st.one_of(sub, integer_expr(depth - 1))
    return st.one_of(
        leaf,
        st.tuples(st.sampled_from(["+", "-"]), sub, num).map(
            lambda a: n.Arithmetic(a[0], a[1], a[2])
        ),
        st.tuples(num, num).map(lambda a: n.Arithmetic("/", a[0], a[1])),
        sub.map(lambda a: n.Call("round", (a,))),
        sub.map(lambda a: n.Call("abs", (a,))),
        st.tuples(boolean_expr(depth - 1), sub, sub).map(lambda a: n.Call("if", a)),
    )


def text_expr(depth: int):
    leaf = st.one_of(texts.map(lambda v: lit(v, "text")), st.sampled_from(["t", "u"]).map(field))
    if depth <= 0:
        return leaf
    sub = text_expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, sub).map(lambda a: n.Arithmetic("+", a[0], a[1])),
        sub.map(lambda a: n.Call("upper", (a,))),
        sub.map(lambda a: n.Call("lower", (a,))),
        sub.map(lambda a: n.Call("trim", (a,))),
        st.tuples(sub, sub).map(lambda a: n.Call("coalesce", a)),
        st.tuples(sub, integer_expr(depth - 1)).map(lambda a: n.Call("concat", a)),
        st.tuples(boolean_expr(depth - 1), sub, sub).map(lambda a: n.Call("if", a)),
    )


def date_expr(depth: int):
    leaf = st.one_of(dates.map(lambda v: lit(v, "date")), st.just(field("day")))
    if depth <= 0:
        return leaf
    small = st.integers(min_value=-400, max_value=400).map(lambda v: lit(v, "number"))
    months = st.integers(min_value=-30, max_value=30).map(lambda v: lit(v, "number"))
    return st.one_of(
        leaf,
        st.tuples(date_expr(depth - 1), small).map(lambda a: n.Call("add_days", a)),
        st.tuples(date_expr(depth - 1), months).map(lambda a: n.Call("add_months", a)),
        st.just(field("ts")).map(lambda a: n.Call("add_days", (a, lit(0, "number")))),
    )


def boolean_expr(depth: int):
    ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
    leaf = st.one_of(st.booleans().map(lambda v: lit(v, "boolean")), st.just(field("b")))
    if depth <= 0:
        return leaf
    sub = boolean_expr(depth - 1)
    ints_ = integer_expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(ops, ints_, st.one_of(ints_, decimal_expr(depth - 1))).map(
            lambda a: n.Compare(a[0], a[1], a[2])
        ),
        st.tuples(ops, text_expr(depth - 1), text_expr(depth - 1)).map(
            lambda a: n.Compare(a[0], a[1], a[2])
        ),
        st.tuples(ops, date_expr(depth - 1), date_expr(depth - 1)).map(
            lambda a: n.Compare(a[0], a[1], a[2])
        ),
        st.tuples(ops, st.just(field("ts")), date_expr(depth - 1)).map(
            lambda a: n.Compare(a[0], a[1], a[2])
        ),
        st.tuples(st.sampled_from(["=", "!="]), sub, sub).map(
            lambda a: n.Compare(a[0], a[1], a[2])
        ),
        st.tuples(st.sampled_from(["and", "or"]), sub, sub).map(
            lambda a: n.Logical(a[0], a[1], a[2])
        ),
        sub.map(n.Not),
        st.tuples(st.sampled_from(["t", "u", "i", "d", "day", "b"]).map(field), st.booleans()).map(
            lambda a: n.IsNull(a[0], a[1])
        ),
        st.tuples(
            ints_,
            st.lists(ints.map(lambda v: lit(v, "number")), min_size=1, max_size=4),
            st.booleans(),
        ).map(lambda a: n.InList(a[0], tuple(a[1]), a[2])),
        st.tuples(
            text_expr(depth - 1),
            st.lists(texts.map(lambda v: lit(v, "text")), min_size=1, max_size=3),
        ).map(lambda a: n.InList(a[0], tuple(a[1]))),
        st.tuples(text_expr(depth - 1), text_expr(depth - 1)).map(lambda a: n.Call("contains", a)),
        st.tuples(text_expr(depth - 1), text_expr(depth - 1)).map(
            lambda a: n.Call("starts_with", a)
        ),
        st.tuples(text_expr(depth - 1), text_expr(depth - 1)).map(lambda a: n.Call("ends_with", a)),
        text_expr(depth - 1).map(lambda a: n.Call("is_blank", (a,))),
    )


def any_expr(depth: int = 2):
    return st.one_of(
        integer_expr(depth),
        decimal_expr(depth),
        text_expr(depth),
        date_expr(depth),
        boolean_expr(depth),
    )
