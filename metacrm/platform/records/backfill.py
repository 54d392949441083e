"""Stored formulas added to a table that has rows: compute them for the rows already there.

A stored formula is computed on every write; a new one would stay empty on existing
rows until each is saved. The plan's `backfill_formula` steps compute it in the
migration's transaction, in batches of rows, with the write path's own code
(`build_write_plan` + `fetch_related`): the backfilled value is the value the next save
would store, to the digit, whatever it reads (other records through references,
rollups, virtual formulas, functions with no SQL form).

When a new formula reads another new one (a contact's formula reads the account's new
total), the entities are filled in dependency order; a cycle between entities is run
twice, which settles any chain of two.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, select, update

from metacrm.expressions import EvalContext, Registry, builtin_registry, check
from metacrm.expressions import nodes as n
from metacrm.metadata.model import Entity, Model
from metacrm.metadata.scope import EntityScope
from metacrm.platform.records.computed import build_write_plan, fetch_related
from metacrm.platform.records.rules import CoerceError, coerce

BATCH = 500


@dataclass
class _Schema:
    """What fetch_related reads of a tenant's state, for a model not served yet."""

    model: Model
    tables: dict
    engine: Connection  # only its .dialect is read
    cache: dict = field(default_factory=dict)


def backfill(
    conn: Connection,
    model: Model,
    tables: dict,
    pending: list[tuple[str, str]],
    *,
    registry: Registry | None,
    timezone: str = "UTC",
) -> None:
    """Fill the stored formulas `pending` [(entity, field)] on every existing row
    (a db.migrations.FormulaFiller once registry and timezone are bound)."""
    registry = registry or builtin_registry()
    schema = _Schema(model, tables, conn)
    ctx = EvalContext(timezone=timezone)
    by_entity: dict[str, list[str]] = {}
    for entity_name, name in pending:
        by_entity.setdefault(entity_name, []).append(name)
    for entity_name in _fill_order(model, registry, by_entity):
        _fill(conn, schema, model.entities[entity_name], by_entity[entity_name], ctx, registry)


def _fill(conn, schema, entity: Entity, names: list[str], ctx, registry) -> None:
    table = schema.tables[entity.name]
    plan = build_write_plan(schema.model, entity, registry)
    statement = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({name: bindparam(f"_v_{name}") for name in names})
    )
    last = 0
    while True:
        rows = conn.execute(
            select(table).where(table.c.id > last).order_by(table.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        records = [dict(row._mapping) for row in rows]
        related = fetch_related(conn, schema, entity, plan, records, ctx, registry)
        params = []
        for values, extra in zip(records, related, strict=True):
            values.update(extra)
            for name, compiled, stored in plan.formulas:
                value = compiled(values, ctx)
                if stored:
                    try:
                        value = coerce(entity.fields[name], value)
                    except (CoerceError, decimal.InvalidOperation):
                        value = None  # what does not fit stays empty; the next save says why
                values[name] = value
            params.append({"_id": values["id"], **{f"_v_{n}": values[n] for n in names}})
        conn.execute(statement, params)


def _fill_order(model: Model, registry: Registry, by_entity: dict[str, list[str]]) -> list[str]:
    """Entities whose new formulas are read by others' first; a cycle runs twice."""
    pending = {(e, name) for e, names in by_entity.items() for name in names}
    needs = {e: _reads(model, registry, e, names, pending) - {e} for e, names in by_entity.items()}
    order: list[str] = []
    while len(order) < len(needs):
        ready = [e for e in needs if e not in order and needs[e] <= set(order)]
        if not ready:  # a cycle: what is left, twice
            rest = [e for e in needs if e not in order]
            return order + rest + rest
        order += ready
    return order


def _reads(model, registry, entity_name: str, names: list[str], pending: set) -> set[str]:
    """The entities whose pending formulas the formulas `names` read (through references,
    virtual formulas and rollups)."""
    found: set[str] = set()
    entity = model.entities[entity_name]
    stack = [(entity_name, entity.fields[name].spec.expression) for name in names]
    seen: set = set()
    while stack:
        item = stack.pop()
        if item in seen:
            continue
        seen.add(item)
        where, source = item
        node = check(source, EntityScope(model, where), registry).node
        for path in n.field_paths(node):
            owner, f, name = EntityScope(model, where).walk(path)[-1]
            if (owner.name, name) in pending:
                found.add(owner.name)
            if f is not None and f.type == "formula" and not f.spec.stored:
                stack.append((owner.name, f.spec.expression))
            elif f is not None and f.type == "rollup":
                child = model.entities[f.spec.entity]
                if (child.name, f.spec.field) in pending:
                    found.add(child.name)
                inner = child.fields.get(f.spec.field)
                if inner is not None and inner.type == "formula" and not inner.spec.stored:
                    stack.append((child.name, inner.spec.expression))
                if f.spec.filter:
                    stack.append((child.name, f.spec.filter))
    return found
