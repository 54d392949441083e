"""Property tests: random well-typed expressions over random records give the same
value in Python and in SQL, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    select,
    text,
)

from metacrm.expressions import DictScope, EvalContext, check, compile_python, compile_sql, parse
from metacrm.expressions.unparse import unparse
from tests.conftest import _postgres_or_skip
from tests.expressions import strategies as S

SCOPE = DictScope(S.FIELDS)
CTX = EvalContext(now=dt.datetime(2026, 11, 22, 15, 30, tzinfo=dt.UTC), timezone="Asia/Shanghai")


def make_table(metadata):
    return Table(
        "probe",
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("i", BigInteger),
        Column("j", BigInteger),
        Column("d", Numeric(18, 4)),
        Column("t", String(50)),
        Column("u", String(50)),
        Column("b", Boolean),
        Column("day", Date),
        Column("ts", DateTime(timezone=True)),
    )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def probe(request):
    metadata = MetaData()
    table = make_table(metadata)
    if request.param == "sqlite":
        engine = create_engine("sqlite://")
        schema = None
    else:
        url = _postgres_or_skip().replace("postgresql://", "postgresql+psycopg://", 1)
        schema = f"probe_{uuid.uuid4().hex[:8]}"
        engine = create_engine(
            url, connect_args={"options": f"-csearch_path={schema} -ctimezone=UTC"}
        )
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    metadata.create_all(engine)
    yield engine, table
    if schema:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def normalize(value, expr_type):
    if value is None:
        return None
    if expr_type in ("integer", "decimal"):
        return decimal.Decimal(str(value))
    if expr_type == "datetime" and isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if expr_type == "boolean":
        return bool(value)
    return value


def same(a, b, expr_type) -> bool:
    a, b = normalize(a, expr_type), normalize(b, expr_type)
    if a is None or b is None:
        return a is None and b is None
    if expr_type in ("integer", "decimal"):
        return abs(a - b) <= decimal.Decimal("1e-9") * max(1, abs(a))
    return a == b


def evaluate_both(engine, table, node, record):
    checked = check(node, SCOPE)
    py_value = compile_python(checked, SCOPE)(record, CTX)
    expr = compile_sql(checked, SCOPE, lambda path: table.c[path[0]], engine.dialect.name, ctx=CTX)
    with engine.begin() as conn:
        conn.execute(table.delete())
        conn.execute(table.insert().values(id=1, **record))
        sql_value = conn.execute(select(expr).select_from(table)).scalar_one()
    return checked.type, py_value, sql_value


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(node=S.any_expr(2), record=S.records)
def test_python_and_sql_agree(probe, node, record):
    engine, table = probe
    expr_type, py_value, sql_value = evaluate_both(engine, table, node, record)
    assert same(py_value, sql_value, expr_type), (unparse(node), record, py_value, sql_value)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    left=st.one_of(S.integer_expr(1), S.decimal_expr(1)),
    right=st.one_of(S.integer_expr(1), S.decimal_expr(1)),
    record=S.records,
)
def test_division_agrees_and_zero_gives_null(probe, left, right, record):
    from metacrm.expressions import nodes as n

    engine, table = probe
    expr_type, py_value, sql_value = evaluate_both(
        engine, table, n.Arithmetic("/", left, right), record
    )
    assert same(py_value, sql_value, expr_type), (
        unparse(n.Arithmetic("/", left, right)),
        record,
        py_value,
        sql_value,
    )


@settings(max_examples=200, deadline=None)
@given(node=S.any_expr(2), record=S.records)
def test_unparse_parses_back_to_the_same_meaning(node, record):
    checked = check(node, SCOPE)
    again = check(parse(unparse(node)), SCOPE)
    assert again.type == checked.type
    a = compile_python(checked, SCOPE)(record, CTX)
    b = compile_python(again, SCOPE)(record, CTX)
    assert same(a, b, checked.type)


EDGES = [
    "ends_with(t, '')",
    "starts_with(t, '')",
    "contains(t, '')",
    "ends_with(u, '')",
    "min(t, u)",
    "max(i, null)",
    "concat(t, null)",
]


@pytest.mark.parametrize("source", EDGES)
@pytest.mark.parametrize("t", [None, "", "abc"])
def test_edge_cases_found_by_the_property_test(probe, source, t):
    engine, table = probe
    record = {"i": None, "j": None, "d": None, "t": t, "u": "x", "b": None, "day": None, "ts": None}
    expr_type, py_value, sql_value = evaluate_both(engine, table, parse(source), record)
    assert same(py_value, sql_value, expr_type), (source, t, py_value, sql_value)
