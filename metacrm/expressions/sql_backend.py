"""AST -> a SQLAlchemy expression: one visitor per node class, bound parameters always.

Columns come from a `resolve(path)` callback, so the caller decides how a dotted
path reaches another table (the platform joins through reference fields).
Null semantics match the Python back end (see `python_backend`); SQL's own
three-valued logic gives most of it, the rest is spelled out here (`x / 0`,
date/datetime comparison on SQLite, min/max ignoring nulls).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NoReturn

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    case,
    cast,
    literal,
    not_,
    null,
    type_coerce,
)
from sqlalchemy.sql import ColumnElement

from metacrm.expressions import nodes as n
from metacrm.expressions import types as T
from metacrm.expressions.checker import RECORD_STATE, Checked, Scope, TypeChecker, check
from metacrm.expressions.functions import EvalContext, Registry, builtin_registry

SQL_TYPES = {
    T.INTEGER: Integer(),
    T.DECIMAL: Numeric(asdecimal=True),
    T.TEXT: String(),
    T.BOOLEAN: Boolean(),
    T.DATE: Date(),
    T.DATETIME: DateTime(timezone=True),
}


def sql_type(expr_type: str):
    return SQL_TYPES.get(expr_type, String())


class _SqlCompiler(n.NodeVisitor):
    def __init__(
        self, resolve: Callable, dialect: str, scope: Scope, registry: Registry, ctx: EvalContext
    ):
        self.resolve = resolve
        self.dialect = dialect
        self.types = TypeChecker(scope, registry)
        self.registry = registry
        self.ctx = ctx

    def _datetime_param(self, value: dt.datetime):
        if self.dialect == "sqlite":  # SQLite stores naive UTC text
            value = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
            return literal(value, DateTime())
        return literal(value, DateTime(timezone=True))

    def visit_Literal(self, node: n.Literal):
        if node.value is None:
            return null()
        if node.kind == "boolean":
            return literal(node.value, Boolean())  # a bound value: true()/false() do not compare
        if node.kind == "number":
            return literal(
                node.value, Integer() if isinstance(node.value, int) else Numeric(asdecimal=True)
            )
        if node.kind == "date":
            return literal(node.value, Date())
        return literal(node.value, String())

    def visit_FieldRef(self, node: n.FieldRef):
        return self.resolve(node.path)

    def visit_Negate(self, node: n.Negate):
        return -self.visit(node.operand)

    def visit_Not(self, node: n.Not):
        return not_(self.visit(node.operand))

    def visit_Arithmetic(self, node: n.Arithmetic):
        left, right = self.visit(node.left), self.visit(node.right)
        if node.op == "+" and T.TEXT in (self.types.visit(node.left), self.types.visit(node.right)):
            return type_coerce(left.op("||")(right), String())
        if node.op == "/":
            numerator = cast(left, Float() if self.dialect == "sqlite" else Numeric())
            return type_coerce(
                case((right == 0, null()), else_=numerator / right), Numeric(asdecimal=True)
            )
        return {"+": left + right, "-": left - right, "*": left * right}[node.op]

    def _as_datetime(self, node: n.Node, other: n.Node, expr):
        if self.types.visit(node) == T.DATE and self.types.visit(other) == T.DATETIME:
            if self.dialect == "sqlite":
                return expr.op("||")(literal(" 00:00:00.000000", String()))
            return cast(expr, DateTime(timezone=True))
        return expr

    def visit_Compare(self, node: n.Compare):
        left = self._as_datetime(node.left, node.right, self.visit(node.left))
        right = self._as_datetime(node.right, node.left, self.visit(node.right))
        if (
            self.dialect == "postgresql"
            and node.op not in ("=", "!=")
            and self.types.visit(node.left) == T.TEXT
        ):
            # text order is code-point order in both back ends, whatever the database collation
            left, right = left.collate("C"), right.collate("C")
        return {
            "=": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[node.op]

    def visit_Logical(self, node: n.Logical):
        left, right = self.visit(node.left), self.visit(node.right)
        return (left & right) if node.op == "and" else (left | right)

    def visit_InList(self, node: n.InList):
        operand = self.visit(node.operand)
        items = [self.visit(i) for i in node.items]
        return operand.not_in(items) if node.negated else operand.in_(items)

    def visit_IsNull(self, node: n.IsNull):
        operand = self.visit(node.operand)
        return operand.is_not(None) if node.negated else operand.is_(None)

    def visit_Call(self, node: n.Call):  # the special forms: see SQL_SPECIAL_FORMS
        if node.name == "if":
            cond, then, other = (self.visit(a) for a in node.args)
            result_type = self.types.visit(node)
            return type_coerce(case((cond, then), else_=other), sql_type(result_type))
        if node.name == "now":
            return self._datetime_param(self.ctx.now)
        if node.name in RECORD_STATE:
            from metacrm.expressions.errors import ExpressionError

            raise ExpressionError(
                f"{node.name}() reads the record being written: it works in validation rules,"
                " stage rules and conditions, not in a database filter",
                node.line,
                node.column,
            )
        function = self.registry[node.name]
        if function.sql is None:
            raise_unsupported(node)
        args = [self.visit(a) for a in node.args]
        return function.sql(self.dialect, self.ctx, *args)


def raise_unsupported(node: n.Call) -> NoReturn:
    from metacrm.expressions.errors import ExpressionError

    raise ExpressionError(
        f"{node.name}() cannot be used in a database filter", node.line, node.column
    )


def compile_sql(
    checked: Checked | str,
    scope: Scope,
    resolve: Callable[[tuple[str, ...]], ColumnElement],
    dialect: str,
    registry: Registry | None = None,
    ctx: EvalContext | None = None,
    expect: str | None = None,
) -> ColumnElement:
    """The SQLAlchemy expression of `checked`, typed so results come back as Python values."""
    registry = registry or builtin_registry()
    if isinstance(checked, str):
        checked = check(checked, scope, registry, expect)
    compiler = _SqlCompiler(resolve, dialect, scope, registry, ctx or EvalContext())
    expr = compiler.visit(checked.node)
    if checked.type == T.NULL:
        return null()
    return type_coerce(expr, sql_type(checked.type))


SQL_SPECIAL_FORMS = frozenset({"if", "now"})  # compiled by the visitor itself


def has_sql_form(registry: Registry, name: str) -> bool:
    """Whether a call of `name` compiles to SQL (a plugin function may be Python only)."""
    if name in SQL_SPECIAL_FORMS:
        return True
    try:
        return registry[name].sql is not None
    except KeyError:
        return False
