"""Static type checking of an AST against a scope (the fields of an entity).

Errors name the position inside the expression; callers add the file and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from metacrm.expressions import nodes as n
from metacrm.expressions import types as T
from metacrm.expressions.errors import ExpressionError
from metacrm.expressions.functions import Registry, SignatureError, builtin_registry
from metacrm.expressions.parser import parse


class Scope(Protocol):
    def resolve(self, path: tuple[str, ...]) -> str:
        """The expression type of the field at `path`; raises KeyError(message) if unknown."""


class DictScope:
    """A scope from a plain {"name": type} mapping (dotted names for paths)."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields

    def resolve(self, path: tuple[str, ...]) -> str:
        key = ".".join(path)
        if key not in self.fields:
            raise KeyError(f"unknown field '{key}'")
        return self.fields[key]


@dataclass(frozen=True)
class Checked:
    """A parsed, type-checked expression."""

    source: str
    node: n.Node
    type: str
    paths: frozenset[tuple[str, ...]]


def _err(node: n.Node, message: str) -> ExpressionError:
    return ExpressionError(message, node.line or None, node.column or None)


class TypeChecker(n.NodeVisitor):
    def __init__(self, scope: Scope, registry: Registry):
        self.scope = scope
        self.registry = registry

    def visit_Literal(self, node: n.Literal) -> str:
        if node.kind == "number":
            return T.INTEGER if isinstance(node.value, int) else T.DECIMAL
        return {"text": T.TEXT, "boolean": T.BOOLEAN, "date": T.DATE, "null": T.NULL}[node.kind]

    def _record_state(self, node: n.Call, arg_types: list[str]) -> str:
        return _record_state_check(node, arg_types)

    def visit_FieldRef(self, node: n.FieldRef) -> str:
        try:
            return self.scope.resolve(node.path)
        except KeyError as exc:
            raise _err(
                node, str(exc.args[0]) if exc.args else f"unknown field '{'.'.join(node.path)}'"
            ) from None

    def visit_Negate(self, node: n.Negate) -> str:
        t = self.visit(node.operand)
        if t not in T.NUMERIC and t != T.NULL:
            raise _err(node, f"cannot negate a {t}")
        return t if t != T.NULL else T.INTEGER

    def visit_Not(self, node: n.Not) -> str:
        t = self.visit(node.operand)
        if t not in (T.BOOLEAN, T.NULL):
            raise _err(node, f"`not` needs a true/false value, not a {t}")
        return T.BOOLEAN

    def visit_Arithmetic(self, node: n.Arithmetic) -> str:
        left, right = self.visit(node.left), self.visit(node.right)
        if node.op == "+" and T.TEXT in (left, right):
            if {left, right} <= {T.TEXT, T.NULL}:
                return T.TEXT
            raise _err(
                node, f"cannot add a {left} and a {right} (use concat() to join text and numbers)"
            )
        for side in (left, right):
            if side not in T.NUMERIC and side != T.NULL:
                raise _err(node, f"`{node.op}` needs numbers, not a {side}")
        if node.op == "/":
            return T.DECIMAL
        return (
            T.INTEGER if left in (T.INTEGER, T.NULL) and right in (T.INTEGER, T.NULL) else T.DECIMAL
        )

    def visit_Compare(self, node: n.Compare) -> str:
        left, right = self.visit(node.left), self.visit(node.right)
        if T.LIST in (left, right):
            raise _err(node, "lists cannot be compared (use `is null` or contains())")
        if not T.comparable(left, right):
            raise _err(node, f"cannot compare a {left} with a {right}")
        if node.op not in ("=", "!=") and T.BOOLEAN in (left, right):
            raise _err(node, f"true/false values cannot be compared with `{node.op}`")
        return T.BOOLEAN

    def visit_Logical(self, node: n.Logical) -> str:
        for side in (node.left, node.right):
            t = self.visit(side)
            if t not in (T.BOOLEAN, T.NULL):
                raise _err(node, f"`{node.op}` needs true/false values on both sides, not a {t}")
        return T.BOOLEAN

    def visit_InList(self, node: n.InList) -> str:
        operand = self.visit(node.operand)
        if operand == T.LIST:
            raise _err(node, "a list cannot be looked up with `in`")
        if not node.items:
            raise _err(node, "`in` needs at least one value in the list")
        for item in node.items:
            t = self.visit(item)
            if t == T.NULL:
                raise _err(item, "null cannot be in an `in` list (use `is null`)")
            if not T.comparable(operand, t):
                raise _err(item, f"cannot compare a {operand} with a {t}")
        return T.BOOLEAN

    def visit_IsNull(self, node: n.IsNull) -> str:
        self.visit(node.operand)
        return T.BOOLEAN

    def visit_Call(self, node: n.Call) -> str:
        arg_types = [self.visit(a) for a in node.args]
        if node.name == "if":
            if len(arg_types) != 3:
                raise _err(
                    node, f"if() takes 3 arguments (condition, then, else), {len(arg_types)} given"
                )
            if arg_types[0] not in (T.BOOLEAN, T.NULL):
                raise _err(
                    node.args[0], f"the condition of if() must be true/false, not a {arg_types[0]}"
                )
            result = T.unify(arg_types[1:])
            if result is None:
                raise _err(
                    node,
                    f"the branches of if() must have one type, not {arg_types[1]} and {arg_types[2]}",
                )
            return result
        if node.name in RECORD_STATE:
            return self._record_state(node, arg_types)
        function = self.registry.get(node.name)
        if function is None:
            known = ", ".join(sorted(["if", *RECORD_STATE, *self.registry]))
            raise _err(node, f"unknown function '{node.name}' (known: {known})")
        try:
            return function.signature(arg_types)
        except SignatureError as exc:
            raise _err(node, str(exc)) from None


# The write being checked: `is_new()` (a create), `previous(field)` (the stored value
# before this write; null on a create) and `changed(field)` (an update that changes it;
# false on a create). Evaluated in Python only (validation rules, conditions, stage
# rules); a database filter refuses them. Outside a write they are null.
RECORD_STATE = ("is_new", "previous", "changed")


def _record_state_check(node: n.Call, arg_types: list[str]) -> str:
    if node.name == "is_new":
        if node.args:
            raise _err(node, "is_new() takes no argument")
        return T.BOOLEAN
    if len(node.args) != 1 or not (
        isinstance(node.args[0], n.FieldRef) and len(node.args[0].path) == 1
    ):
        raise _err(node, f"{node.name}() takes one field of this record, e.g. {node.name}(stage)")
    return arg_types[0] if node.name == "previous" else T.BOOLEAN


def check(
    source: str | n.Node, scope: Scope, registry: Registry | None = None, expect: str | None = None
) -> Checked:
    """Parse (if needed) and type-check; `expect` = "boolean" for conditions, or a result type."""
    node = parse(source) if isinstance(source, str) else source
    result = TypeChecker(scope, registry or builtin_registry()).visit(node)
    if expect is not None and result != T.NULL:
        ok = (
            result == expect
            or (expect in T.NUMERIC and result in T.NUMERIC)
            or (expect == T.DATETIME and result == T.DATE)
        )
        if not ok:
            what = (
                "a condition must be true or false"
                if expect == T.BOOLEAN
                else f"the result must be {expect}"
            )
            raise ExpressionError(f"{what}, but this expression gives {result}", 1, 1)
    return Checked(
        source if isinstance(source, str) else "", node, result, frozenset(n.field_paths(node))
    )
