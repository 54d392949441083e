"""Automations (`automations/*.yaml`): a trigger, a condition, actions.

They run from the outbox (platform.jobs) as one event handler: the record's
change commits with its event, the handler runs inline or on a worker, and every
action writes through the record service on the event's own connection, so the
actions and the event's done mark commit together (effects once). Writes made by
actions are events one level deeper: the jobs' loop guard ends a chain that
would feed itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metacrm.expressions import EvalContext
from metacrm.expressions.python_backend import CompiledPython, compile_python
from metacrm.metadata.model import Automation, Entity, label_text
from metacrm.metadata.scope import EntityScope
from metacrm.platform.computed import WritePlan, fetch_related
from metacrm.platform.errors import NotFound
from metacrm.platform.jobs import EventHandler, HandlerRun
from metacrm.workflow_engine.actions import RUNNERS, Stop, Target


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


def _run(run: HandlerRun) -> None:
    state, event = run.state, run.event
    entity = state.model.entities.get(event["entity"])
    if entity is None:
        return
    payload = event["payload"] or {}
    candidates = [
        c
        for c in _compile(state, run.runtime.registry, entity)
        if triggered(c.automation, state.model, event["topic"], payload)
    ]
    if not candidates:
        return
    service = run.service()
    try:
        raw = service._raw(run.conn, entity, event["record_id"])
    except NotFound:
        run.note("the record is gone")
        return
    values = dict(raw)
    ctx: EvalContext = service.eval_ctx
    paths = {p for c in candidates for p in c.paths if len(p) > 1}
    if paths:
        plan = WritePlan(entity, related_paths=paths)
        values.update(
            fetch_related(run.conn, state, entity, plan, [values], ctx, service.registry)[0]
        )
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
        run.note(f"{name}: {'; '.join(done)}")


HANDLER = EventHandler("automations", _run, _wants)
