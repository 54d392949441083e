"""Automations (`automations/*.yaml`): a trigger, a condition, actions.

They run from the outbox (platform.jobs) as one event handler: the record's
change commits with its event, the handler runs inline or on a worker, and every
action writes through the record service on the event's own connection, so the
actions and the event's done mark commit together (effects once). Writes made by
actions are events one level deeper: the jobs' loop guard ends a chain that
would feed itself.

A batch of events (`_run_batch`) runs the same rules faster: events whose
automations only set fields, on records that appear once in the batch, are read
together and written with one `update_many` per entity, after the other events
of the batch have run one by one in outbox order.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

from marshmallow import ValidationError

from metacrm.expressions import EvalContext
from metacrm.expressions.python_backend import CompiledPython, compile_python
from metacrm.metadata.model import Automation, Entity, label_text
from metacrm.metadata.scope import EntityScope
from metacrm.platform.errors import NotFound
from metacrm.platform.jobs.handlers import EventHandler, HandlerRun
from metacrm.platform.records.computed import WritePlan, fetch_related
from metacrm.platform.records.core import MAX_BULK
from metacrm.platform.records.service import RecordService
from metacrm.workflow_engine.actions import (
    RUNNERS,
    ActionFailed,
    Stop,
    Target,
    set_note,
    set_values,
)


@dataclass
class Compiled:
    automation: Automation
    condition: CompiledPython | None
    actions: list[tuple]  # (kind, action, [(field, compiled)])
    paths: set = field(default_factory=set)


def _compile(state, registry, entity: Entity) -> list[Compiled]:
    key = ("automations", entity.name)
    cached = state.cache.get(key)
    if cached is not None:
        return cached
    model = state.model
    scope = EntityScope(model, entity.name)
    out = []
    for automation in model.automations.values():
        if automation.entity != entity.name or not automation.enabled:
            continue
        item = Compiled(automation, None, [])
        if automation.condition:
            item.condition = compile_python(automation.condition, scope, registry)
            item.paths |= set(item.condition.checked.paths)
        for action in automation.actions:
            compiled = []
            for fname, source in action.values:
                c = compile_python(source, scope, registry)
                item.paths |= set(c.checked.paths)
                compiled.append((fname, c))
            item.actions.append((action.kind, action, compiled))
        out.append(item)
    state.cache[key] = out
    return out


def _stage_field_categories(model, entity_name: str) -> dict[str, dict[str, str]]:
    """stage field -> {stage: category} over the entity's pipelines."""
    out: dict[str, dict[str, str]] = {}
    for pipeline in model.pipelines.values():
        if pipeline.entity == entity_name:
            stages = out.setdefault(pipeline.field, {})
            stages.update({s.name: s.category for s in pipeline.stages})
    return out


def triggered(automation: Automation, model, topic: str, payload: dict) -> bool:
    trigger = automation.trigger
    changes = payload.get("changes", {})
    if trigger.on == "created":
        return topic == "record.created"
    if trigger.on in ("date", "cron"):  # fired by scheduled_triggers for this automation
        return topic == "automation.scheduled" and payload.get("automation") == automation.name
    if trigger.on == "approval_decided":
        return (
            topic == "approval.decided"
            and (not trigger.flows or payload.get("flow") in trigger.flows)
            and (trigger.outcome is None or payload.get("outcome") == trigger.outcome)
        )
    if topic != "record.updated":
        return False
    if trigger.on == "updated":
        return True
    if trigger.on == "field_changed":
        return any(f in changes for f in trigger.fields)
    for stage_field, categories in _stage_field_categories(model, automation.entity).items():
        if stage_field not in changes:
            continue
        new = changes[stage_field][1]
        if trigger.to and new not in trigger.to:
            continue
        if trigger.to_category and categories.get(new) != trigger.to_category:
            continue
        return True
    return False


TOPICS = {
    "created": "record.created",
    "approval_decided": "approval.decided",
    "date": "automation.scheduled",
    "cron": "automation.scheduled",
}


def _wants(model, entity: str | None, topic: str) -> bool:
    for automation in model.automations.values():
        if automation.entity != entity or not automation.enabled:
            continue
        if TOPICS.get(automation.trigger.on, "record.updated") == topic:
            return True
    return False


def _candidates(run: HandlerRun) -> tuple[Entity | None, list[Compiled]]:
    """The event's entity and the automations its event triggers."""
    entity = run.state.model.entities.get(run.event["entity"])
    if entity is None:
        return None, []
    payload = run.event["payload"] or {}
    return entity, [
        c
        for c in _compile(run.state, run.runtime.registry, entity)
        if triggered(c.automation, run.state.model, run.event["topic"], payload)
    ]


def _load_related(
    run: HandlerRun, service: RecordService, entity: Entity, candidates, rows: list[dict]
) -> None:
    """Add the values of the related paths the candidates' expressions read, in place."""
    paths = {p for c in candidates for p in c.paths if len(p) > 1}
    if paths and rows:
        plan = WritePlan(entity, related_paths=paths)
        related = fetch_related(
            run.conn, run.state, entity, plan, rows, service.eval_ctx, service.registry
        )
        for row, values in zip(rows, related, strict=True):
            row.update(values)


def _with_write(values: dict, entity: Entity, event: dict) -> dict:
    """`values` plus the write that raised the event, for is_new(), previous(f) and
    changed(f) in conditions and set values: a create, or an update and the old values of
    the fields it changed (as the event logged them). Other events (a schedule, an
    approval) were no write: the functions stay null there."""
    if event["topic"] == "record.created":
        values["@new"], values["@old"] = True, {}
    elif event["topic"] == "record.updated":
        old = dict(values)
        for name, (before, _) in ((event["payload"] or {}).get("changes") or {}).items():
            f = entity.fields.get(name)
            old[name] = before  # owner_id, or a value the field no longer takes
            if f is not None:
                with contextlib.suppress(ValidationError):  # JSON -> a decimal, a date
                    old[name] = f.value_kind.marshmallow_field(f, allow_none=True).deserialize(
                        before
                    )
        values["@new"], values["@old"] = False, old
    return values


def _run(run: HandlerRun) -> None:
    entity, candidates = _candidates(run)
    if entity is not None and candidates:
        _apply(run, entity, candidates)


def _apply(run: HandlerRun, entity: Entity, candidates: list[Compiled]) -> None:
    """Run the triggered automations' actions on the event's record, in order."""
    service = run.service()
    try:
        raw = service.writable_row(run.conn, entity, run.event["record_id"])
    except NotFound:
        run.note("the record is gone")
        return
    values = _with_write(dict(raw), entity, run.event)
    _load_related(run, service, entity, candidates, [values])
    ctx: EvalContext = service.eval_ctx
    for item in candidates:
        name = item.automation.name
        if item.condition is not None and not item.condition.holds(values, ctx):
            run.note(f"{name}: condition not met")
            continue
        target = Target(
            run, service, entity, raw, values, name, label_text(item.automation.label, "en")
        )
        done = []
        for index, (kind, action, compiled) in enumerate(item.actions):
            target.extra["index"] = index
            try:
                done.append(RUNNERS[kind](target, action, compiled))
            except Stop as stop:
                done.append(f"stopped: {stop}")
                break
            except Exception as exc:
                raise ActionFailed(
                    f"automation {name}, action {index + 1} ({kind}): {exc}"
                ) from exc
        run.note(f"{name}: {'; '.join(done)}")


def _run_batch(runs: list[HandlerRun]) -> None:
    """Many events: set-only rules in bulk, the rest one by one first (see the module doc)."""
    model = runs[0].state.model
    seen = Counter((r.event["entity"], r.event["record_id"]) for r in runs)
    bulk: dict[tuple, list[tuple[HandlerRun, list[Compiled]]]] = {}
    for run in runs:
        entity, candidates = _candidates(run)
        if entity is None or not candidates:
            continue
        set_only = all(kind == "set" for c in candidates for kind, _, _ in c.actions)
        if set_only and seen[(entity.name, run.event["record_id"])] == 1:
            bulk.setdefault((entity.name, run.event["depth"]), []).append((run, candidates))
        else:
            _apply(run, entity, candidates)
    for (name, _), group in bulk.items():
        _set_many(model.entities[name], group)


def _set_many(entity: Entity, group: list[tuple[HandlerRun, list[Compiled]]]) -> None:
    """Set-only rules on distinct records of one entity: one read, one `update_many`."""
    first = group[0][0]
    service = first.service()
    ids = [run.event["record_id"] for run, _ in group]
    raws = service.writable_rows(first.conn, entity, ids)
    for run, _ in group:
        if run.event["record_id"] not in raws:
            run.note("the record is gone")
    group = [(run, c) for run, c in group if run.event["record_id"] in raws]
    rows = [_with_write(dict(raws[run.event["record_id"]]), entity, run.event) for run, _ in group]
    _load_related(first, service, entity, [c for _, cs in group for c in cs], rows)
    ctx: EvalContext = service.eval_ctx
    items = []
    for (run, candidates), values in zip(group, rows, strict=True):
        body: dict = {}
        for item in candidates:
            name = item.automation.name
            if item.condition is not None and not item.condition.holds(values, ctx):
                run.note(f"{name}: condition not met")
                continue
            done = [set_note(set_values(entity, c, values, ctx, body)) for _, _, c in item.actions]
            run.note(f"{name}: {'; '.join(done)}")
        if body:
            items.append((run.event["record_id"], body))
    for start in range(0, len(items), MAX_BULK):
        service.update_many(entity.name, items[start : start + MAX_BULK], first.conn)


HANDLER = EventHandler("automations", _run, _wants, batch=_run_batch)
