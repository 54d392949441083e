"""AST -> a Python function, compiled once (as Jinja2 compiles templates).

The generated source only ever contains our own operators and generated names:
literals and field paths are passed in as constants (`_c0`, `_c1`, ...), and
functions come from the registry (`_f0`, ...). No text of the expression is
pasted into code, so an expression cannot reach anything but its inputs.

Null semantics (shared with the SQL back end, see `metacrm.expressions`):
comparisons and arithmetic with null give null; `and`/`or`/`not` follow
three-valued (Kleene) logic; `x / 0` is null; `if(c, a, b)` takes `b` unless
`c` is true; a condition holds only when it is true (null does not hold).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from metacrm.expressions import nodes as n
from metacrm.expressions import types as T
from metacrm.expressions.checker import RECORD_STATE, Checked, Scope, TypeChecker, check
from metacrm.expressions.errors import ExpressionError
from metacrm.expressions.functions import EvalContext, Registry, builtin_registry

PY_COMPARE = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _div(a, b):
    if a is None or b is None or b == 0:
        return None
    try:
        return decimal.Decimal(a) / decimal.Decimal(b)
    except (decimal.InvalidOperation, decimal.Overflow):
        return None


def _to_datetime(value):
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def _safe(function):
    """Domain errors inside a function (overflow, invalid decimal) give null, never an exception."""

    def call(*args):
        try:
            return function(*args)
        except (ArithmeticError, ValueError, OverflowError, TypeError):
            return None

    return call


class _Compiler(n.NodeVisitor):
    def __init__(self, scope: Scope, registry: Registry):
        self.types = TypeChecker(scope, registry)
        self.registry = registry
        self.namespace: dict[str, Any] = {"_div": _div, "_to_datetime": _to_datetime}
        self.counter = 0

    def const(self, value) -> str:
        name = f"_c{self.counter}"
        self.counter += 1
        self.namespace[name] = value
        return name

    def temp(self) -> str:
        self.counter += 1
        return f"_t{self.counter}"

    def nullable(self, node: n.Node) -> bool:
        return not (isinstance(node, n.Literal) and node.value is not None) and not isinstance(
            node, (n.IsNull,)
        )

    def guard(self, parts: list[tuple[n.Node, str]], body) -> str:
        """`None if any nullable part is None else body(temps)`."""
        names, checks = [], []
        for node, code in parts:
            if self.nullable(node):
                t = self.temp()
                names.append(t)
                checks.append(f"({t} := {code}) is None")
            else:
                names.append(f"({code})")
        result = body(*names)
        return f"(None if {' or '.join(checks)} else {result})" if checks else f"({result})"

    def visit_Literal(self, node: n.Literal) -> str:
        return "None" if node.value is None else self.const(node.value)

    def visit_FieldRef(self, node: n.FieldRef) -> str:
        key = node.path[0] if len(node.path) == 1 else node.path
        return f"_v.get({self.const(key)})"

    def visit_Negate(self, node: n.Negate) -> str:
        return self.guard([(node.operand, self.visit(node.operand))], lambda a: f"-{a}")

    def visit_Not(self, node: n.Not) -> str:
        return self.guard([(node.operand, self.visit(node.operand))], lambda a: f"(not {a})")

    def visit_Arithmetic(self, node: n.Arithmetic) -> str:
        left, right = self.visit(node.left), self.visit(node.right)
        if node.op == "/":
            return f"_div({left}, {right})"
        return self.guard(
            [(node.left, left), (node.right, right)], lambda a, b: f"{a} {node.op} {b}"
        )

    def _comparable_code(self, node: n.Node, other: n.Node, code: str) -> str:
        mine, theirs = self.types.visit(node), self.types.visit(other)
        if mine == T.DATE and theirs == T.DATETIME:
            return f"_to_datetime({code})"
        return code

    def visit_Compare(self, node: n.Compare) -> str:
        left = self._comparable_code(node.left, node.right, self.visit(node.left))
        right = self._comparable_code(node.right, node.left, self.visit(node.right))
        op = PY_COMPARE[node.op]
        return self.guard([(node.left, left), (node.right, right)], lambda a, b: f"{a} {op} {b}")

    def visit_Logical(self, node: n.Logical) -> str:
        left, right = self.visit(node.left), self.visit(node.right)
        a, b = self.temp(), self.temp()
        if node.op == "and":
            return f"(False if ({a} := {left}) is False else (False if ({b} := {right}) is False else (None if {a} is None or {b} is None else True)))"
        return f"(True if ({a} := {left}) is True else (True if ({b} := {right}) is True else (None if {a} is None or {b} is None else False)))"

    def visit_InList(self, node: n.InList) -> str:
        operand = self.visit(node.operand)
        literals = [i for i in node.items if isinstance(i, n.Literal)]
        if len(literals) == len(node.items):
            values = [i.value for i in literals]
            try:
                pool = self.const(frozenset(values))
            except TypeError:
                pool = self.const(tuple(values))
        else:
            pool = "(" + ", ".join(self.visit(i) for i in node.items) + ",)"
        op = "not in" if node.negated else "in"
        return self.guard([(node.operand, operand)], lambda a: f"{a} {op} {pool}")

    def visit_IsNull(self, node: n.IsNull) -> str:
        return f"({self.visit(node.operand)} is {'not ' if node.negated else ''}None)"

    def visit_Call(self, node: n.Call) -> str:
        if node.name == "if":
            cond, then, other = (self.visit(a) for a in node.args)
            return f"({then} if ({cond}) is True else {other})"
        if node.name in RECORD_STATE:
            return self._record_state(node)
        function = self.registry[node.name]
        fname = self.const(_safe(function.python))
        args = [(a, self.visit(a)) for a in node.args]
        prefix = ["_ctx"] if function.needs_context else []
        if function.null_in_null_out and args:
            return self.guard(args, lambda *names: f"{fname}({', '.join(prefix + list(names))})")
        return f"{fname}({', '.join(prefix + [code for _, code in args])})"

    def _record_state(self, node: n.Call) -> str:
        """The write being checked, from the values' `@new` (True on a create, False on
        an update, absent outside a write) and `@old` (the stored row)."""
        if node.name == "is_new":
            return '_v.get("@new")'
        field = node.args[0].path[0]  # type: ignore[attr-defined]  # (checked)
        old = f'(_v.get("@old") or {{}}).get({self.const(field)})'
        new = self.temp()
        if node.name == "previous":
            return f'(None if ({new} := _v.get("@new")) is None or {new} else {old})'
        current = f"_v.get({self.const(field)})"
        return f'(None if ({new} := _v.get("@new")) is None else (False if {new} else {old} != {current}))'


@dataclass(frozen=True)
class CompiledPython:
    checked: Checked
    source: str
    function: Callable[[Mapping, EvalContext], Any]

    def __call__(self, values: Mapping, ctx: EvalContext | None = None):
        return self.function(values, ctx or EvalContext())

    def holds(self, values: Mapping, ctx: EvalContext | None = None) -> bool:
        """A condition holds only when it is true (null does not hold)."""
        return self.function(values, ctx or EvalContext()) is True


def compile_python(
    checked: Checked | str,
    scope: Scope,
    registry: Registry | None = None,
    expect: str | None = None,
) -> CompiledPython:
    """Compile a checked expression (or source text) into a Python function of (values, ctx)."""
    registry = registry or builtin_registry()
    if isinstance(checked, str):
        checked = check(checked, scope, registry, expect)
    compiler = _Compiler(scope, registry)
    body = compiler.visit(checked.node)
    source = f"def _expression(_v, _ctx):\n    return {body}\n"
    try:
        code = compile(source, "<expression>", "exec")
    except (
        SyntaxError,
        RecursionError,
        MemoryError,
    ) as exc:  # pragma: no cover - bounded by the parser
        raise ExpressionError(f"expression too complex to compile: {type(exc).__name__}") from None
    namespace = dict(compiler.namespace)
    namespace["__builtins__"] = {}
    exec(code, namespace)  # noqa: S102 - generated from the AST, no user text in it
    return CompiledPython(checked, source, namespace["_expression"])
