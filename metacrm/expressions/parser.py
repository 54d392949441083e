"""Source text -> AST, with lark (LALR) and a transformer into frozen nodes.

Bounded: at most MAX_LENGTH characters and MAX_DEPTH levels of nesting, checked
before parsing, so any input either parses or raises ExpressionError.
"""

from __future__ import annotations

import datetime as dt
import decimal
from functools import cache
from typing import cast

from lark import Lark, Token, Transformer
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from metacrm.expressions import nodes as n
from metacrm.expressions.errors import ExpressionError

MAX_LENGTH = 4000
MAX_DEPTH = 48

GRAMMAR = r"""
start: expr
?expr: or_expr
?or_expr: and_expr | or_expr OR and_expr -> or_op
?and_expr: not_expr | and_expr AND not_expr -> and_op
?not_expr: comparison | NOT not_expr -> not_op
?comparison: sum
    | sum COMP_OP sum -> compare
    | sum IN list -> in_op
    | sum NOT IN list -> not_in_op
    | sum IS NULL -> is_null
    | sum IS NOT NULL -> is_not_null
?sum: product | sum ADD_OP product -> arithmetic
?product: unary | product MUL_OP unary -> arithmetic
?unary: atom | "-" unary -> negate
?atom: NUMBER -> number
    | STRING -> string
    | DATE -> date
    | TRUE -> true
    | FALSE -> false
    | NULL -> null
    | NAME "(" [args] ")" -> call
    | path
    | "(" expr ")"
list: "[" [args] "]"
args: expr ("," expr)*
path: NAME ("." NAME)*

COMP_OP: "==" | "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/"
AND.2: /and\b/i
OR.2: /or\b/i
NOT.2: /not\b/i
IN.2: /in\b/i
IS.2: /is\b/i
NULL.2: /null\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NAME: /[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /[0-9]+(\.[0-9]+)?/
DATE: /#[0-9]{4}-[0-9]{2}-[0-9]{2}/
STRING: /'(?:[^'\\\n]|\\.)*'/ | /"(?:[^"\\\n]|\\.)*"/

%import common.WS
%ignore WS
"""

COMPARE_OPS = {
    "==": "=",
    "=": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def _pos(token_or_meta) -> dict:
    return {
        "line": getattr(token_or_meta, "line", 0) or 0,
        "column": getattr(token_or_meta, "column", 0) or 0,
    }


def _unescape(raw: str, token: Token) -> str:
    out, i = [], 1
    while i < len(raw) - 1:
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            if nxt not in ESCAPES:
                raise ExpressionError(
                    f"unknown escape \\{nxt} in a string", token.line, token.column
                )
            out.append(ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _ToNodes(Transformer):
    def start(self, children):
        return children[0]

    def number(self, children):
        tok = children[0]
        value = int(tok) if "." not in tok else decimal.Decimal(str(tok))
        return n.Literal(value, "number", **_pos(tok))

    def string(self, children):
        tok = children[0]
        return n.Literal(_unescape(str(tok), tok), "text", **_pos(tok))

    def date(self, children):
        tok = children[0]
        try:
            value = dt.date.fromisoformat(str(tok)[1:])
        except ValueError:
            raise ExpressionError(f"invalid date {tok}", tok.line, tok.column) from None
        return n.Literal(value, "date", **_pos(tok))

    def true(self, children):
        return n.Literal(True, "boolean", **_pos(children[0]))

    def false(self, children):
        return n.Literal(False, "boolean", **_pos(children[0]))

    def null(self, children):
        return n.Literal(None, "null", **_pos(children[0]))

    def path(self, children):
        return n.FieldRef(tuple(str(c) for c in children), **_pos(children[0]))

    def args(self, children):
        return tuple(children)

    def list(self, children):
        return children[0] if children and children[0] is not None else ()

    def call(self, children):
        name, args = (
            children[0],
            children[1] if len(children) > 1 and children[1] is not None else (),
        )
        return n.Call(str(name).lower(), tuple(args), **_pos(name))

    def negate(self, children):
        return n.Negate(children[0], **_pos(children[0]))

    def not_op(self, children):
        return n.Not(children[1], **_pos(children[0]))

    def arithmetic(self, children):
        left, op, right = children
        return n.Arithmetic(str(op), left, right, **_pos(op))

    def compare(self, children):
        left, op, right = children
        return n.Compare(COMPARE_OPS[str(op)], left, right, **_pos(op))

    def and_op(self, children):
        return n.Logical("and", children[0], children[2], **_pos(children[1]))

    def or_op(self, children):
        return n.Logical("or", children[0], children[2], **_pos(children[1]))

    def in_op(self, children):
        return n.InList(children[0], tuple(children[2]), False, **_pos(children[1]))

    def not_in_op(self, children):
        return n.InList(children[0], tuple(children[3]), True, **_pos(children[1]))

    def is_null(self, children):
        return n.IsNull(children[0], False, **_pos(children[1]))

    def is_not_null(self, children):
        return n.IsNull(children[0], True, **_pos(children[1]))


@cache
def _parser() -> Lark:
    # the transformer runs inside the LALR parser: no intermediate parse tree is built
    return Lark(
        GRAMMAR,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        transformer=_ToNodes(),
    )


def _nesting_depth(text: str) -> int:
    depth = best = 0
    quote = None
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
            best = max(best, depth)
        elif ch in ")]":
            depth -= 1
    return best


def _describe(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedEOF):
        return "the expression ends too early"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return "the expression ends too early"
        return f"unexpected {exc.token.value!r}"
    return "syntax error"


def parse(text: str) -> n.Node:
    """Parse `text`; raises ExpressionError (never another exception) on bad input."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be text")
    if not text.strip():
        raise ExpressionError("the expression is empty", 1, 1)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    if _nesting_depth(text) > MAX_DEPTH:
        raise ExpressionError(f"the expression nests deeper than {MAX_DEPTH} levels")
    try:
        return cast(n.Node, _parser().parse(text))  # the transformer builds our nodes
    except UnexpectedInput as exc:
        raise ExpressionError(
            _describe(exc),
            exc.line if exc.line != -1 else None,
            exc.column if exc.column != -1 else None,
            text,
        ) from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, ExpressionError):
            raise exc.orig_exc from None
        raise ExpressionError(f"cannot read the expression: {exc.orig_exc}") from None
    except (LarkError, RecursionError) as exc:
        raise ExpressionError(f"cannot read the expression: {type(exc).__name__}") from None
