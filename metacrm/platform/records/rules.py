"""Expression rules on the write path: defaults, formulas, visible_if/required_if, validation rules.

Run by the record service inside its write transaction, after marshmallow has
typed the body and before references and uniqueness are checked. Validation
rules follow SQL CHECK semantics: a rule fails only when its expression is
false (null passes), so an empty optional field never trips a rule by accident.
Conditions (visible_if, required_if) hold only when true.
"""

from __future__ import annotations

import decimal
import functools
from typing import Any

from metacrm.expressions import EvalContext, Registry
from metacrm.metadata.field_types import CoerceError
from metacrm.metadata.model import Entity, Field
from metacrm.platform.records.computed import (
    WritePlan,
    build_write_plan,
    fetch_related,
    select_gate,
)

EMPTY: tuple = (None, "", [])


def coerce(f: Field, value: Any):
    """An expression's value -> what the field's column holds (or CoerceError)."""
    if value is None:
        return None
    return f.value_kind.coerce(f, value)


def write_plan(state, entity: Entity, registry: Registry, locale: str) -> WritePlan:
    key = f"writeplan:{entity.name}:{locale}"
    plan = state.cache.get(key)
    if plan is None:
        plan = state.cache[key] = build_write_plan(state.model, entity, registry, locale)
    return plan


def apply_rules(
    conn,
    state,
    entity: Entity,
    items: list[tuple],
    ctx: EvalContext,
    registry: Registry,
    locale: str,
    errors: list[dict],
) -> None:
    """items: (index, data, provided_keys, previous_raw or None); `data` gets defaults and stored formulas."""
    plan = write_plan(state, entity, registry, locale)
    if plan.empty:
        return
    merged = [{**(previous or {}), **data} for _, data, _, previous in items]
    related = fetch_related(conn, state, entity, plan, merged, ctx, registry)

    def error(index, field, message, rule=None):
        err = {"field": field, "message": message}
        if rule:
            err["rule"] = rule
        if index is not None:
            err["index"] = index
        errors.append(err)

    for (index, data, provided, previous), values, extra in zip(
        items, merged, related, strict=True
    ):
        values.update(extra)
        values["@new"], values["@old"] = previous is None, previous or {}  # is_new(), ...
        if previous is None:
            for name, compiled in plan.defaults:
                if name in provided or values.get(name) is not None:
                    continue
                try:
                    values[name] = data[name] = coerce(entity.fields[name], compiled(values, ctx))
                except (CoerceError, decimal.InvalidOperation) as exc:
                    error(index, name, f"default: {exc}")
            for name, _ in plan.defaults:
                if entity.fields[name].required and values.get(name) is None:
                    error(index, name, "Missing data for required field.")
        for name, compiled, stored in plan.formulas:
            value = compiled(values, ctx)
            if stored:
                try:
                    value = coerce(entity.fields[name], value)
                except (CoerceError, decimal.InvalidOperation) as exc:
                    error(index, name, str(exc))
                    value = None
                data[name] = value
            values[name] = value
        for name, compiled in plan.visible_if:
            if name in provided and data.get(name) not in EMPTY and not compiled.holds(values, ctx):
                error(
                    index,
                    name,
                    f"is not shown here (visible_if: {compiled.checked.source}); leave it empty",
                )
        for name, compiled in plan.required_if:
            if values.get(name) in EMPTY and compiled.holds(values, ctx):
                error(index, name, f"is required when {compiled.checked.source}")
        for name, message, compiled in plan.rules:
            if compiled(values, ctx) is False:
                error(index, None, message, rule=name)
        if plan.pipelines:
            check_stage(plan.pipelines, values, previous, ctx, functools.partial(error, index))


def field_conditions(
    conn,
    state,
    entity: Entity,
    values: dict,
    ctx: EvalContext,
    registry: Registry,
    locale: str,
    new: bool = False,
) -> dict[str, dict]:
    """Which fields `values` (a record being edited) shows and requires: visible_if and
    required_if evaluated as a save would, formulas and related records included; for a
    `new` record also the default expressions of the fields still empty, as the save
    would fill them (so a form can show them as the user types)."""
    visible = {name: True for name in entity.fields}
    required = {name: f.required for name, f in entity.fields.items()}
    defaults: dict[str, Any] = {}
    plan = write_plan(state, entity, registry, locale)
    if plan.visible_if or plan.required_if or (new and plan.defaults):
        values = {**values, **fetch_related(conn, state, entity, plan, [values], ctx, registry)[0]}
        if new:
            for name, compiled in plan.defaults:
                if values.get(name) is not None:
                    continue
                try:
                    value = coerce(entity.fields[name], compiled(values, ctx))
                except (CoerceError, decimal.InvalidOperation):
                    continue  # the save will say what is wrong with it
                if value is not None:
                    values[name] = defaults[name] = value
        for name, compiled, _stored in plan.formulas:
            values[name] = compiled(values, ctx)
        for name, compiled in plan.visible_if:
            visible[name] = compiled.holds(values, ctx)
        for name, compiled in plan.required_if:
            required[name] = required[name] or compiled.holds(values, ctx)
    return {"visible": visible, "required": required, "defaults": defaults}


def check_stage(gates, values: dict, previous: dict | None, ctx: EvalContext, error) -> None:
    """A record entering a stage must meet its entry requirements and those of the open
    stages before it (computed.cumulative_stages), and may only come from a stage that
    allows the move. Only moves are checked: a record already in a
    stage keeps it even if the requirements grew later."""
    gate = select_gate(gates, values, ctx)
    if gate is None:
        return
    target = values.get(gate.field)
    current = (previous or {}).get(gate.field)
    if target is not None and target == current and target not in gate.stages:
        # not a move, but another pipeline governs the record now (its applies_if changed)
        error(
            gate.field,
            f"the record is now governed by the {gate.name} pipeline, which has no stage "
            f"'{target}': move it to one of {', '.join(gate.stages)} in the same change",
            rule=gate.name,
        )
        return
    if target is None or target == current:
        return
    stage = gate.stages.get(target)
    if stage is None:
        error(gate.field, f"'{target}' is not a stage of the {gate.name} pipeline", rule=gate.name)
        return
    origin = gate.stages.get(current) if current is not None else None
    if origin is not None and origin.transitions is not None and target not in origin.transitions:
        allowed = ", ".join(origin.transitions) or "none"
        error(
            gate.field,
            f"cannot move from '{current}' to '{target}' (allowed: {allowed})",
            rule=f"{gate.name}.{current}.transitions",
        )
    missing: set[str] = set()
    for name in gate.gates[target]:  # its own requirements and those of the stages it passes
        by = "" if name == target else f" ('{name}' requires it)"
        for fname in gate.stages[name].requires:
            if values.get(fname) in EMPTY and fname not in missing:
                missing.add(fname)
                error(
                    fname, f"is required to enter stage '{target}'{by}", rule=f"{gate.name}.{name}"
                )
        for rule, message, compiled in gate.entry_rules[name]:  # CHECK semantics, as rules
            if compiled(values, ctx) is False:
                error(gate.field, message, rule=rule)
