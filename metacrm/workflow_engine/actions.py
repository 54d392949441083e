"""What an automation can do to the record that triggered it, one function per action kind.

Each runs inside the event's transaction (platform.jobs), so its writes and the
event's done mark commit together. Effects outside the database (email,
webhooks) are not done here: they become outbox events of their own, sent by
their handlers with retries, after this transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select

from metacrm.metadata.model import Action, Entity, label_text
from metacrm.platform.db import locks
from metacrm.platform.db.audit import to_json
from metacrm.platform.jobs.handlers import HandlerRun
from metacrm.platform.records.service import RecordService
from metacrm.workflow_engine import assignment
from metacrm.workflow_engine.evaluate import compile_expression
from metacrm.workflow_engine.notices import notify
from metacrm.workflow_engine.pools import Pools

TEMPLATES = ImmutableSandboxedEnvironment(autoescape=False)
V = TypeVar("V")


class Stop(Exception):
    """An action that could not do its part ends its automation's run (noted, not an error)."""


class ActionFailed(Exception):
    """An action that raised: the message names the automation, the action and the field."""


def given(value: V | None, name: str) -> V:
    """A parameter the action's kind requires (the metadata schema makes sure of it)."""
    if value is None:
        raise Stop(f"the action has no {name}")
    return value


@dataclass(frozen=True)
class PluginAction:
    """An automation action a plugin adds (hook `metacrm_automation_actions`)."""

    name: str
    fn: Callable[[Any, dict], str | None]  # (target: Target, params) -> a note
    # JSON Schema of `params`: automations that call the action are checked against it
    # when metadata compiles (`metacrm metadata validate`, startup, the designer)
    params_schema: dict | None = None


@dataclass
class Target:
    """The record an automation acts on, and where it runs."""

    run: HandlerRun
    service: RecordService
    entity: Entity
    raw: dict
    values: dict
    automation: str
    label: str
    extra: dict = field(default_factory=dict)


def recipients(t: Target, to: str) -> list[int]:
    if to == "owner":
        return [t.raw["owner_id"]] if t.raw.get("owner_id") else []
    if to == "manager":
        users = t.run.state.system["users"]
        manager = t.run.conn.scalar(
            select(users.c.manager_id).where(users.c.id == t.raw.get("owner_id"))
        )
        return [manager] if manager else []
    return [t.raw[to]] if t.raw.get(to) else []


def set_values(entity: Entity, compiled, values: dict, ctx, body: dict) -> list[str]:
    """Evaluate a set action's values into `body` (JSON) and `values`; the fields that change."""
    from metacrm.platform.records.rules import CoerceError, coerce

    changed = []
    for fname, c in compiled:
        try:
            value = coerce(entity.fields[fname], c(values, ctx))
        except CoerceError as exc:
            raise CoerceError(f"{entity.name}.{fname}: {exc}") from exc
        if to_json(value) != to_json(values.get(fname)):
            body[fname] = to_json(value)
            values[fname] = value
            changed.append(fname)
    return changed


def set_note(changed: list[str]) -> str:
    return f"set {', '.join(sorted(changed)) or 'nothing (already so)'}"


def do_set(t: Target, action: Action, compiled) -> str:
    body: dict = {}
    changed = set_values(t.entity, compiled, t.values, t.service.eval_ctx, body)
    if body:
        t.service.update(t.entity.name, t.raw["id"], body, t.run.conn)
    return set_note(changed)


def do_create(t: Target, action: Action, compiled) -> str:
    from metacrm.platform.records.rules import coerce

    state = t.run.state
    target = state.model.entities[action.entity]
    body = {
        fname: to_json(coerce(target.fields[fname], c(t.values, t.service.eval_ctx)))
        for fname, c in compiled
    }
    created = t.service.create_records(target.name, [body], bulk=False, conn=t.run.conn)
    return f"created {target.name} {created[0]['id']}"


def do_notify(t: Target, action: Action, compiled) -> str:
    users = recipients(t, given(action.to, "to"))
    notify(
        t.run.conn,
        t.run.state,
        users,
        t.label,
        label_text(given(action.message, "message"), "en"),
        t.entity.name,
        t.raw["id"],
        f"automation:{t.automation}",
        t.service.context.now,
    )
    return f"notified {len(users)}"


def do_assign(t: Target, action: Action, compiled) -> str:
    state, conn = t.run.state, t.run.conn
    if locks.locks_of(conn, state, t.entity.name, [t.raw["id"]]):
        raise Stop("not assigned: the record is locked")
    people, key = action.people, f"{t.automation}:{t.extra['index']}"
    for r, rule in enumerate(action.rules):
        when = compile_expression(state, t.service.registry, t.entity, rule.when)
        if when.holds(t.values, t.service.eval_ctx):
            people, key = rule.people, f"{key}:{r}"
            break
    users = assignment.candidates(conn, state, people)
    if not users:
        raise Stop("not assigned: no active candidate")
    if action.strategy == "load_balanced":
        table = state.tables[t.entity.name]
        condition, from_clause = None, None
        if action.open_filter:
            resolver = t.service.resolver(t.entity)
            condition = resolver.compile(action.open_filter, "boolean")
            from_clause = resolver.apply(table)
        chosen = assignment.least_loaded(conn, table, users, condition, from_clause)
    else:
        chosen = assignment.round_robin(conn, state, key, users)
    t.service.assign_owner(conn, t.entity.name, [t.raw["id"]], chosen)
    t.raw["owner_id"] = t.values["owner_id"] = chosen
    return f"assigned to user {chosen} ({action.strategy})"


def do_return_to_pool(t: Target, action: Action, compiled) -> str:
    state = t.run.state
    pool = state.model.pools.get(action.pool) if action.pool else None
    if pool is None:
        pool = next(
            p for p in state.model.pools.values() if p.entity == t.entity.name and p.default
        )
    Pools(t.service).put(t.run.conn, pool, t.entity, [t.raw["id"]], action.reason, "return")
    t.raw["owner_id"] = t.values["owner_id"] = None
    return f"returned to {pool.name}"


def _follow_up(t: Target, topic: str, payload: dict) -> None:
    """An outbox event of its own (sent by its handler after this transaction commits)."""
    t.service.record_events(t.run.conn, t.entity, topic, [(t.raw["id"], payload)])


def _addresses(t: Target, to: str) -> list[str]:
    f = t.entity.fields.get(to)
    if f is not None and f.type == "email":
        return [t.raw[to]] if t.raw.get(to) else []
    users = t.run.state.system["users"]
    ids = recipients(t, to)
    rows = t.run.conn.scalars(select(users.c.email).where(users.c.id.in_(ids))) if ids else []
    return [e for e in rows if e]


def do_email(t: Target, action: Action, compiled) -> str:
    to = _addresses(t, given(action.to, "to"))
    if not to:
        return "no email address"
    record = {k: to_json(v) for k, v in t.values.items() if isinstance(k, str)}
    subject = TEMPLATES.from_string(given(action.subject, "subject")).render(record=record)
    body = TEMPLATES.from_string(given(action.body, "body")).render(record=record)
    _follow_up(t, "email.send", {"to": to, "subject": subject[:300], "body": body})
    return f"email queued to {len(to)}"


def do_webhook(t: Target, action: Action, compiled) -> str:
    record = t.service.get(t.entity.name, t.raw["id"], t.run.conn)
    body = {
        "automation": t.automation,
        "entity": t.entity.name,
        "record": record,
        "trigger_event": t.run.event["event_id"],
    }
    _follow_up(t, "webhook.call", {"url": action.url, "body": body})
    return "webhook queued"  # the URL stays out of logs that non-admins read


def do_plugin(t: Target, action: Action, compiled) -> str:
    registered = t.run.runtime.plugin_actions  # gathered once, at start
    found = registered.get(action.name)
    if found is None:
        raise LookupError(
            f"automation {t.automation}: no plugin action '{action.name}' "
            f"(registered: {sorted(registered)})"
        )
    note = found.fn(t, dict(action.params))
    name = given(action.name, "name")
    return f"{name}: {note}" if note else name


RUNNERS = {
    "set": do_set,
    "create": do_create,
    "notify": do_notify,
    "assign": do_assign,
    "return_to_pool": do_return_to_pool,
    "email": do_email,
    "webhook": do_webhook,
    "plugin": do_plugin,
}
