"""Stored formulas added to a table that has rows: compute them for the rows already there.

A stored formula is computed on every write; a new one starts empty on existing rows
unless the migration fills it. The plan's `backfill_formula` step runs one
`UPDATE table SET column = <the formula in SQL>` in the migration's transaction,
when the formula reads only this table's columns and every function it calls has an
SQL form. Otherwise the step says why it leaves the column empty (each record then
gets its value the next time it is saved).
"""

from __future__ import annotations

from sqlalchemy import Connection, update

from metacrm.expressions import ExpressionError, Registry, builtin_registry, check, compile_sql
from metacrm.expressions import nodes as n
from metacrm.expressions.sql_backend import has_sql_form
from metacrm.metadata.model import Entity, Field, Model
from metacrm.metadata.scope import EntityScope, field_expression_type


def why_not(model: Model, entity: Entity, f: Field, registry: Registry | None) -> str | None:
    """Why `f` cannot be backfilled in SQL, or None when it can."""
    registry = registry or builtin_registry()
    try:
        checked = check(f.spec.expression, EntityScope(model, entity.name), registry)
    except ExpressionError as exc:
        return f"the expression does not check here ({exc.message})"
    for node in n.walk(checked.node):
        if isinstance(node, n.Call) and not has_sql_form(registry, node.name):
            return f"{node.name}() has no SQL form"
        if isinstance(node, n.FieldRef):
            target = entity.fields.get(node.path[0])
            if len(node.path) > 1 or (target is not None and not target.stored):
                return f"it reads {'.'.join(node.path)}, which is not a column of {entity.name}"
    return None


def backfill(
    conn: Connection, model: Model, entity: Entity, table, f: Field, registry: Registry | None
) -> None:
    """UPDATE every row's `f` from its formula (call only when why_not() is None)."""
    expression = compile_sql(
        f.spec.expression,
        EntityScope(model, entity.name),
        lambda path: table.c[path[0]],
        conn.dialect.name,
        registry or builtin_registry(),
        expect=field_expression_type(f),
    )
    conn.execute(update(table).values({f.name: expression}))
