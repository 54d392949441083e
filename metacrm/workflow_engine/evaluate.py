"""Expressions of workflow metadata evaluated on one stored record (conditions, set values).

Shared by automations and approval flows: compile once per model (cached in the
tenant state), fetch the related values the expressions read through references,
and turn `field: expression` pairs into a record-service body.
"""

from __future__ import annotations

from sqlalchemy import Connection

from metacrm.expressions.python_backend import CompiledPython, compile_python
from metacrm.metadata.model import Entity
from metacrm.metadata.scope import EntityScope
from metacrm.platform.db.audit import to_json
from metacrm.platform.records.computed import WritePlan, fetch_related
from metacrm.platform.records.rules import coerce


def compile_expression(state, registry, entity: Entity, source: str) -> CompiledPython:
    key = ("workflow_expression", entity.name, source)
    compiled = state.cache.get(key)
    if compiled is None:
        compiled = compile_python(source, EntityScope(state.model, entity.name), registry)
        state.cache[key] = compiled
    return compiled


def record_values(
    conn: Connection, service, entity: Entity, raw: dict, compiled: list[CompiledPython]
) -> dict:
    """The stored row plus every `reference.field` path the expressions read."""
    values = dict(raw)
    paths = {p for c in compiled for p in c.checked.paths if len(p) > 1}
    if paths:
        plan = WritePlan(entity, related_paths=paths)
        values.update(
            fetch_related(
                conn, service.state, entity, plan, [values], service.eval_ctx, service.registry
            )[0]
        )
    return values


def body_of(
    target: Entity, pairs: list[tuple[str, CompiledPython]], values: dict, ctx, current=None
) -> dict:
    """{field: JSON value} for the record service; fields already so are left out when
    `current` (the target's stored row) is given."""
    body = {}
    for fname, compiled in pairs:
        value = to_json(coerce(target.fields[fname], compiled(values, ctx)))
        if current is None or value != to_json(current.get(fname)):
            body[fname] = value
    return body
