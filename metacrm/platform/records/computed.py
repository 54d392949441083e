"""Expressions at work in the platform: SQL with joins, and per-entity write plans.

`SqlResolver` turns field paths into columns of the entity's table or of
outer-joined tables (one alias per reference path), inlines virtual formulas and
builds rollups as correlated subqueries. `WritePlan` holds, per entity, the
compiled Python of its defaults, formulas, visibility rules and validation
rules, and knows which related values (dotted paths, rollups) to fetch first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Numeric, and_, false, func, select, true, type_coerce

from metacrm.expressions import (
    CompiledPython,
    EvalContext,
    Registry,
    check,
    compile_python,
    compile_sql,
    parse,
)
from metacrm.expressions import nodes as n
from metacrm.expressions import types as T
from metacrm.metadata.model import Entity, label_text
from metacrm.metadata.scope import EntityScope, field_expression_type


class SqlResolver:
    """Field path -> SQL expression, collecting the outer joins it needs."""

    def __init__(
        self,
        state,
        entity: str,
        table,
        ctx: EvalContext,
        registry: Registry,
        root: SqlResolver | None = None,
        prefix: tuple = (),
        access: Any = None,
    ):
        self.state = state
        self.entity = entity
        self.table = table
        self.ctx = ctx
        self.registry = registry
        self.root = root or self
        self.prefix = prefix
        # a reader's Access: records reached through a reference are joined only when
        # the reader may see them (else the path is null), so `account.industry` in a
        # filter or a virtual formula cannot reveal a record the reader cannot read
        self.access: Any = access if root is None else root.access
        if root is None:
            self.joins: dict[tuple, tuple] = {}  # path prefix -> (alias, onclause)
        self.dialect = state.engine.dialect.name

    def __call__(self, path: tuple[str, ...]):
        scope = EntityScope(self.state.model, self.entity)
        steps = scope.walk(path)
        table, prefix = self.table, self.prefix
        for _entity, f, name in steps[:-1]:
            assert f is not None  # a path goes on only through reference fields
            prefix = (*prefix, name)
            joined = self.root.joins.get(prefix)
            if joined is None:
                alias = self.state.tables[f.spec.entity].alias(f"j{len(self.root.joins) + 1}")
                onclause = and_(alias.c.id == table.c[name], alias.c.deleted_at.is_(None))
                if self.access is not None and not self.access.is_admin:
                    onclause = and_(onclause, self._visible(f.spec.entity, alias))
                self.root.joins[prefix] = joined = (alias, onclause)
            table = joined[0]
        entity, f, name = steps[-1]
        if f is None or f.stored:
            return table.c[name]
        sub = SqlResolver(
            self.state,
            entity.name,
            table,
            self.ctx,
            self.registry,
            self.root,
            prefix[: len(prefix)],
        )
        if f.type == "formula":
            return sub.compile(f.spec.expression, field_expression_type(f))
        if f.type == "rollup":
            return sub.rollup(f)
        raise KeyError(f"'{name}' cannot be used in a query")

    def _visible(self, entity_name: str, alias):
        from metacrm.platform.access.permissions import scope_condition

        if not self.access.entity(entity_name).can("read"):
            return false()
        condition = scope_condition(
            self.state, self.state.model.entities[entity_name], alias, self.access
        )
        return condition if condition is not None else true()

    def compile(self, source: str, expect: str | None = None):
        scope = EntityScope(self.state.model, self.entity)
        checked = check(source, scope, self.registry, expect)
        return compile_sql(checked, scope, self, self.dialect, self.registry, self.ctx)

    def rollup(self, f):
        spec = f.spec
        child = self.state.tables[spec.entity].alias(f"r{id(f) % 100000}_{len(self.root.joins)}")
        inner = SqlResolver(self.state, spec.entity, child, self.ctx, self.registry)
        conditions = [child.c[spec.via] == self.table.c.id, child.c.deleted_at.is_(None)]
        if spec.filter:
            conditions.append(inner.compile(spec.filter, T.BOOLEAN))
        if spec.function == "count":
            measure = func.count()
        else:
            column = inner((spec.field,))
            aggregate: Any = {"sum": func.sum, "min": func.min, "max": func.max, "avg": func.avg}
            measure = aggregate[spec.function](column)
        query = select(measure).select_from(inner.apply(child)).where(*conditions).scalar_subquery()
        result = func.coalesce(query, 0) if spec.function in ("count", "sum") else query
        return type_coerce(result, Numeric(asdecimal=True))

    def apply(self, from_clause):
        """`from_clause` with the outer joins the resolved paths need."""
        for alias, onclause in self.joins.values():
            from_clause = from_clause.outerjoin(alias, onclause)
        return from_clause


@dataclass
class WritePlan:
    """Compiled expressions of one entity for the write path."""

    entity: Entity
    defaults: list[tuple[str, CompiledPython]] = field(default_factory=list)
    formulas: list[tuple[str, CompiledPython, bool]] = field(
        default_factory=list
    )  # name, compiled, stored
    visible_if: list[tuple[str, CompiledPython]] = field(default_factory=list)
    required_if: list[tuple[str, CompiledPython]] = field(default_factory=list)
    rules: list[tuple[str, str, CompiledPython]] = field(
        default_factory=list
    )  # name, message, compiled
    related_paths: set[tuple[str, ...]] = field(
        default_factory=set
    )  # dotted paths and rollups to fetch
    pipelines: list[PipelineGate] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.defaults
            or self.formulas
            or self.visible_if
            or self.required_if
            or self.rules
            or self.pipelines
        )


@dataclass
class PipelineGate:
    """A stage pipeline as the write path enforces it: which records it governs
    (`applies_if`), and per stage its required fields and compiled entry rules."""

    name: str
    field: str
    applies_if: CompiledPython | None
    stages: dict  # stage name -> metadata Stage
    entry_rules: dict  # stage name -> [(rule id, message, compiled)]
    gates: dict = dataclasses.field(default_factory=dict)  # stage -> stages it checks


def cumulative_stages(pipeline) -> dict[str, tuple[str, ...]]:
    """Per stage, the stages whose requirements a record entering it must meet: its own,
    and (for open and won stages) those of every earlier open stage it passes, except
    stages marked optional. A lost stage checks only its own: a deal may be lost early."""
    out: dict[str, tuple[str, ...]] = {}
    passed: list[str] = []
    for stage in pipeline.stages:
        out[stage.name] = (*passed, stage.name) if stage.category != "lost" else (stage.name,)
        if stage.category == "open" and not stage.optional:
            passed.append(stage.name)
    return out


CLOCK_FUNCTIONS = frozenset({"today", "now"})


def clock_calls(model, entity: Entity, names: list[str]) -> set[str]:
    """Which of today()/now() the computed fields `names` read, looked up in their ASTs
    (through formulas and rollups they read in turn, on this and referenced entities)."""
    found: set[str] = set()
    seen: set[tuple[str, str]] = set()
    stack = [(entity.name, name) for name in names]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        owner = model.entities[key[0]]
        f = owner.fields.get(key[1])
        if f is None or f.type not in ("formula", "rollup"):
            continue
        if f.type == "formula":
            sources = [(owner.name, f.spec.expression)]
        else:
            sources = [(f.spec.entity, f.spec.filter)] if f.spec.filter else []
            if f.spec.field:
                stack.append((f.spec.entity, f.spec.field))
        for where, source in sources:
            for node in n.walk(parse(source)):
                if isinstance(node, n.Call) and node.name in CLOCK_FUNCTIONS:
                    found.add(node.name)
                elif isinstance(node, n.FieldRef):
                    try:
                        steps = EntityScope(model, where).walk(node.path)
                    except KeyError:
                        continue
                    last_entity, last_field, last_name = steps[-1]
                    if last_field is not None:
                        stack.append((last_entity.name, last_name))
    return found


def select_gate(gates: list[PipelineGate], values: dict, ctx) -> PipelineGate | None:
    """The pipeline governing a record: the first whose applies_if holds, else the catch-all."""
    return next((g for g in gates if g.applies_if is None or g.applies_if.holds(values, ctx)), None)


def _formula_order(entity: Entity, model, registry) -> list[str]:
    """Formula fields ordered so each comes after the formulas it reads (cycles are refused at compile)."""
    formulas = {name: f for name, f in entity.fields.items() if f.type == "formula"}
    deps = {}
    for name, f in formulas.items():
        node = check(f.spec.expression, EntityScope(model, entity.name), registry).node
        deps[name] = {p[0] for p in n.field_paths(node) if len(p) == 1 and p[0] in formulas}
    ordered, done = [], set()

    def visit(name):
        if name in done:
            return
        done.add(name)
        for dep in deps[name]:
            visit(dep)
        ordered.append(name)

    for name in formulas:
        visit(name)
    return ordered


def build_write_plan(model, entity: Entity, registry: Registry, locale: str = "en") -> WritePlan:
    scope = EntityScope(model, entity.name)
    plan = WritePlan(entity)
    paths: set[tuple[str, ...]] = set()

    def compiled(source: str, expect: str | None) -> CompiledPython:
        c = compile_python(check(source, scope, registry, expect), scope, registry)
        paths.update(c.checked.paths)
        return c

    for name, f in entity.fields.items():
        if f.default_expression:
            plan.defaults.append((name, compiled(f.default_expression, field_expression_type(f))))
        if f.visible_if:
            plan.visible_if.append((name, compiled(f.visible_if, T.BOOLEAN)))
        if f.required_if:
            plan.required_if.append((name, compiled(f.required_if, T.BOOLEAN)))
    for name in _formula_order(entity, model, registry):
        f = entity.fields[name]
        plan.formulas.append(
            (name, compiled(f.spec.expression, field_expression_type(f)), f.spec.stored)
        )
    for rule in entity.validation_rules:
        plan.rules.append(
            (rule.name, label_text(rule.message, locale), compiled(rule.expression, T.BOOLEAN))
        )
    for pipeline in model.pipelines.values():
        if pipeline.entity != entity.name:
            continue
        gate = PipelineGate(
            pipeline.name,
            pipeline.field,
            compiled(pipeline.applies_if, T.BOOLEAN) if pipeline.applies_if else None,
            {stage.name: stage for stage in pipeline.stages},
            {},
            cumulative_stages(pipeline),
        )
        for stage in pipeline.stages:
            gate.entry_rules[stage.name] = [
                (
                    f"{pipeline.name}.{stage.name}.{i}",
                    label_text(message, locale),
                    compiled(source, T.BOOLEAN),
                )
                for i, (source, message) in enumerate(stage.entry_rules, start=1)
            ]
        # a pipeline with a condition is tried before the catch-all one
        plan.pipelines.append(gate)
    plan.pipelines.sort(key=lambda g: g.applies_if is None)
    for path in paths:
        if len(path) > 1:
            plan.related_paths.add(path)
        else:
            own = entity.fields.get(path[0])
            if own is not None and own.type == "rollup":
                plan.related_paths.add(path)
    return plan


def fetch_related(
    conn,
    state,
    entity: Entity,
    plan: WritePlan,
    records: list[dict],
    ctx: EvalContext,
    registry: Registry,
) -> list[dict]:
    """Values of dotted paths and rollups for each record: [{path: value}], one query per first hop."""
    out: list[dict] = [{} for _ in records]
    if not plan.related_paths:
        return out
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for path in plan.related_paths:
        by_first.setdefault(path[0], []).append(path)
    for first, paths in by_first.items():
        f = entity.fields[first]
        if f.type == "rollup":  # a rollup of the record itself: it must exist already
            table = state.tables[entity.name]
            ids = sorted({r["id"] for r in records if r.get("id")})
            if ids:
                resolver = SqlResolver(state, entity.name, table, ctx, registry)
                expr = resolver((first,))
                rows = dict(
                    conn.execute(
                        select(table.c.id, expr)
                        .select_from(resolver.apply(table))
                        .where(table.c.id.in_(ids))
                    ).all()
                )
                for i, r in enumerate(records):
                    out[i][first] = rows.get(
                        r.get("id"), 0 if f.spec.function in ("count", "sum") else None
                    )
            else:
                for i in range(len(records)):
                    out[i][first] = 0 if f.spec.function in ("count", "sum") else None
            continue
        target_name = f.spec.entity
        table = state.tables[target_name]
        ids = sorted({r.get(first) for r in records if r.get(first) is not None})
        values: dict[int, tuple] = {}
        if ids:
            resolver = SqlResolver(state, target_name, table, ctx, registry)
            exprs = [resolver(p[1:]) for p in paths]
            query = (
                select(table.c.id, *exprs)
                .select_from(resolver.apply(table))
                .where(table.c.id.in_(ids), table.c.deleted_at.is_(None))
            )
            values = {row[0]: tuple(row[1:]) for row in conn.execute(query)}
        for i, r in enumerate(records):
            row = values.get(r[first]) if r.get(first) is not None else None
            for j, p in enumerate(paths):
                out[i][p] = row[j] if row is not None else None
    return out
