"""The expression language (a leaf package): one language for rules, formulas,
conditions and filters.

    parse (lark LALR)  ->  frozen AST (`nodes`)  ->  type check (`checker`)
        -> Python function (`python_backend`)   or   SQLAlchemy expression (`sql_backend`)

Rule: imports nothing from metacrm (only lark and SQLAlchemy's expression
language). A sandbox: no attribute access, no calls outside the function
registry, bounded length and depth; any input parses or raises ExpressionError.

Null semantics, defined once and followed by both back ends:
- a comparison or arithmetic with null is null; `x / 0` is null;
- `and`/`or`/`not` use three-valued logic (false and null = false, true or null = true);
- `x in [..]` is null when x is null; `is null` / `is not null` are never null;
- `if(c, a, b)` gives `b` unless `c` is true; `coalesce`, `concat`, `min`, `max`
  and `is_blank` skip nulls; other functions give null for a null argument;
- a condition (rule, filter, visible_if) holds only when it is true.
"""

from metacrm.expressions.checker import Checked, DictScope, Scope, check
from metacrm.expressions.errors import ExpressionError
from metacrm.expressions.functions import EvalContext, Function, Registry, builtin_registry
from metacrm.expressions.parser import parse
from metacrm.expressions.python_backend import CompiledPython, compile_python
from metacrm.expressions.sql_backend import compile_sql

__all__ = [
    "Checked",
    "CompiledPython",
    "DictScope",
    "EvalContext",
    "ExpressionError",
    "Function",
    "Registry",
    "Scope",
    "builtin_registry",
    "check",
    "compile_python",
    "compile_sql",
    "parse",
]
