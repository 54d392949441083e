"""The designer's automation editor: the trigger (created, updated, a field changed, a
stage reached, an approval decided, a date, a schedule), the condition, and the
actions as forms in order (set, create, assign, notify, email, webhook, return to pool;
an installed plugin action with its params as a form from its schema, one not
installed kept as it is); and the automation's recent runs with their errors, from the
job log. Saved as an overlay `documents.automation` entry."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from metacrm.form_engine import designer_plugin_actions as plugin_actions
from metacrm.form_engine.designer import (
    API_NAME,
    _entity,
    _model,
    bp,
    current_document,
    origin_text,
    save_or_preview,
)
from metacrm.form_engine.designer_inputs import (
    assignments,
    assignments_text,
    label_from,
    people_choices,
    person,
    person_value,
)
from metacrm.form_engine.timeline import automation_runs
from metacrm.metadata.model import Entity
from metacrm.platform.api.common import service
from metacrm.platform.tenancy import overlay_edits

TRIGGERS = (
    "created",
    "updated",
    "field_changed",
    "stage_changed",
    "approval_decided",
    "date",
    "cron",
)
ACTION_KINDS = ("set", "create", "assign", "notify", "email", "webhook", "return_to_pool")
RUNS = 20


def _trigger(form, errors: dict) -> dict[str, Any]:
    on = form.get("on", "created")
    if on not in TRIGGERS:
        errors["on"] = [_("Choose when it runs.")]
        return {"on": "created"}
    trigger: dict[str, Any] = {"on": on}
    if on == "field_changed":
        trigger["fields"] = form.getlist("trigger_fields")
        if not trigger["fields"]:
            errors["trigger_fields"] = [_("Tick the fields whose change starts it.")]
    elif on == "stage_changed":
        if form.getlist("trigger_to"):
            trigger["to"] = form.getlist("trigger_to")
        if form.get("trigger_to_category") in ("open", "won", "lost"):
            trigger["to_category"] = form["trigger_to_category"]
    elif on == "approval_decided":
        if form.getlist("trigger_flows"):
            trigger["flows"] = form.getlist("trigger_flows")
        if form.get("trigger_outcome") in ("approved", "rejected", "recalled"):
            trigger["outcome"] = form["trigger_outcome"]
    elif on == "date":
        trigger["field"] = form.get("trigger_field", "")
        offset = form.get("trigger_offset", "").strip()
        if offset:
            if not re.fullmatch(r"-?\d{1,4}", offset):
                errors["trigger_offset"] = [_("A whole number of days (negative: before).")]
            else:
                trigger["offset_days"] = int(offset)
    elif on == "cron":
        trigger["cron"] = form.get("trigger_cron", "").strip()
    return trigger


def _rules(text: str, key: str, errors: dict) -> list[dict]:
    """Lines `condition -> role:x, user:y` (assignment rules)."""
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        when, sep, who = line.rpartition("->")
        people = [p for p in (person(w.strip()) for w in who.split(",")) if p]
        if not sep or not when.strip() or not people:
            errors.setdefault(key, []).append(
                _("Line %(n)s: write condition -> role:name, user:name.", n=number)
            )
            continue
        rules.append({"when": when.strip(), "to": people})
    return rules


def _action(form, key: str, errors: dict) -> dict[str, Any] | None:
    kind = form.get(f"kind.{key}")
    control = f"action.{key}"
    if kind == "set":
        return {"set": assignments(form, f"values.{key}", errors)}
    if kind == "create":
        return {
            "create": {
                "entity": form.get(f"create_entity.{key}", ""),
                "values": assignments(form, f"values.{key}", errors),
            }
        }
    if kind == "notify":
        message = label_from(form, f"message.{key}", f"message_zh.{key}") or {"en": ""}
        return {"notify": {"to": form.get(f"to.{key}", "owner"), "message": message}}
    if kind == "email":
        return {
            "email": {
                "to": form.get(f"to.{key}", "owner"),
                "subject": form.get(f"subject.{key}", "").strip(),
                "body": form.get(f"body.{key}", "").strip(),
            }
        }
    if kind == "webhook":
        return {"webhook": {"url": form.get(f"url.{key}", "").strip()}}
    if kind == "assign":
        spec: dict[str, Any] = {"strategy": form.get(f"strategy.{key}", "round_robin")}
        people = [p for p in map(person, form.getlist(f"people.{key}")) if p]
        if people:
            spec["to"] = people
        rules = _rules(form.get(f"rules.{key}", ""), control, errors)
        if rules:
            spec["rules"] = rules
        if form.get(f"open_filter.{key}", "").strip():
            spec["open_filter"] = form[f"open_filter.{key}"].strip()
        if not people and not rules:
            errors.setdefault(control, []).append(_("Say whom to assign to."))
        return {"assign": spec}
    if kind == "return_to_pool":
        spec = {"reason": form.get(f"reason.{key}", "").strip()}
        if form.get(f"pool.{key}"):
            spec["pool"] = form[f"pool.{key}"]
        return {"return_to_pool": spec}
    if kind == "plugin":
        name = form.get(f"plugin_name.{key}", "")
        if name in plugin_actions.installed():  # drawn as a form: read it back
            return plugin_actions.posted(form, key, name, errors)
        return json.loads(form.get(f"plugin.{key}", "{}")) or None  # kept as it is
    return None


def _draft(doc: dict, form, is_new: bool) -> tuple[dict, dict[str | None, list[str]]]:
    errors: dict[str | None, list[str]] = {}
    draft: dict[str, Any] = {"name": doc.get("name", ""), "entity": doc["entity"]}
    if is_new:
        draft["name"] = form.get("name", "").strip()
        if not API_NAME.match(draft["name"]):
            errors["name"] = [_("Lower-case letters, digits and _; it starts with a letter.")]
        elif draft["name"] in _model().automations:
            errors["name"] = [_("%(name)s is already taken.", name=draft["name"])]
    label = label_from(form, "label", "label_zh", doc.get("label"))
    if label:
        draft["label"] = label
    if form.get("enabled") != "true":
        draft["enabled"] = False
    draft["trigger"] = _trigger(form, errors)
    if form.get("condition", "").strip():
        draft["condition"] = form["condition"].strip()
    actions = []
    for key in form.getlist("action"):
        if form.get(f"remove_action.{key}") == "true":
            continue
        action = _action(form, key, errors)
        if action:
            actions.append(action)
    adding = form.get("add_action", "")
    if adding in ACTION_KINDS:
        actions.append(_blank(adding))
    elif adding.removeprefix("plugin:") in plugin_actions.installed():
        actions.append({"plugin": {"name": adding.removeprefix("plugin:"), "params": {}}})
    draft["actions"] = actions
    if not actions:
        errors.setdefault(None, []).append(_("Add at least one action."))
    return draft, errors


def _blank(kind: str) -> dict[str, Any]:
    blanks: dict[str, dict[str, Any]] = {
        "set": {"set": {}},
        "create": {"create": {"entity": "", "values": {}}},
        "assign": {"assign": {"strategy": "round_robin"}},
        "notify": {"notify": {"to": "owner", "message": {"en": ""}}},
        "email": {"email": {"to": "owner", "subject": "", "body": ""}},
        "webhook": {"webhook": {"url": ""}},
        "return_to_pool": {"return_to_pool": {"reason": ""}},
    }
    return blanks[kind]


ACTION_PATH = re.compile(r"actions\[(\d+)\]")


def _placed(exc, keys: list[str]) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = {}
    for e in exc.errors:
        path = e.path or ""
        found = ACTION_PATH.search(path)
        if found and int(found.group(1)) < len(keys):
            control: str | None = f"action.{keys[int(found.group(1))]}"
        elif path.startswith("trigger"):
            control = "on"
        else:
            control = "condition" if path.startswith("condition") else None
        out.setdefault(control, []).append(e.message)
    return out


def recent_runs(name: str, entity: str) -> list[dict]:
    """The automation's latest runs: when, which record, what it did or why it failed."""
    svc = service()
    log = svc.state.system["job_log"]
    with svc.state.engine.connect() as conn:
        rows = conn.execute(
            select(log.c.record_id, log.c.status, log.c.detail, log.c.at, log.c.attempt)
            .where(
                log.c.handler.in_(("automations", "-")),  # "-": the event failed whole
                log.c.entity == entity,
                or_(
                    log.c.detail.like(f"{name}: %"),
                    log.c.detail.like(f"%; {name}: %"),
                    log.c.detail.like(f"%automation {name}, action %"),
                ),
            )
            .order_by(log.c.id.desc())
            .limit(RUNS)
        ).all()
    runs = []
    for r in rows:
        if r.status == "error":
            runs.append({"at": r.at, "record": r.record_id, "ok": False, "text": r.detail})
            continue
        what = dict(automation_runs(r.detail)).get(name)
        runs.append(
            {"at": r.at, "record": r.record_id, "ok": True, "text": what or _("condition not met")}
        )
    return runs


def _recipients(entity: Entity, email: bool) -> list[tuple[str, str]]:
    from metacrm.form_engine import display

    out = [("owner", _("The owner")), ("manager", _("The owner's manager"))]
    kinds = ("user", "email") if email else ("user",)
    return out + [(n, display.label(f.label)) for n, f in entity.fields.items() if f.type in kinds]


def _editor(doc: dict, entity: Entity, is_new: bool):
    errors: dict[str | None, list[str]] = {}
    plan, diff = None, []
    draft = doc
    if request.method == "POST":
        form = request.form
        draft, errors = _draft(doc, form, is_new)
        if "add_action" in form:
            errors.pop(None, None)  # still being written: not checked, not saved
        elif not errors:
            keys = [k for k in form.getlist("action") if form.get(f"remove_action.{k}") != "true"]
            mutation = overlay_edits.put_document("automation", draft["name"], draft)
            then = url_for("setup.automation_page", name=draft["name"])
            outcome = save_or_preview(
                mutation, _("The automation is saved."), then, place=lambda exc: _placed(exc, keys)
            )
            if outcome.done:
                return outcome.done
            plan, diff, errors = outcome.plan, outcome.diff, outcome.errors
    _doc, origin = current_document("automation", doc.get("name") or "")
    model = _model()
    stage_pipeline = model.pipeline_of(entity.name)
    return render_template(
        "setup/automation.html",
        doc=draft,
        entity=entity,
        is_new=is_new,
        origin=origin_text(origin) if origin else None,
        triggers=TRIGGERS,
        action_kinds=ACTION_KINDS,
        plugin_actions=sorted(plugin_actions.installed()),
        plugin_controls=plugin_actions.controls,
        stages=[s.name for s in stage_pipeline.stages] if stage_pipeline else [],
        flows=[f for f in model.approvals.values() if f.entity == entity.name],
        pools=[p for p in model.pools.values() if p.entity == entity.name],
        entities=model.entities,
        date_fields=[n for n, f in entity.fields.items() if f.type in ("date", "datetime")]
        + ["created_at", "updated_at"],
        recipients=_recipients(entity, email=False),
        email_recipients=_recipients(entity, email=True),
        choices=people_choices(entity, managers=False),
        person_value=person_value,
        assignments_text=assignments_text,
        rules_text=lambda rules: "\n".join(
            f"{r['when']} -> {', '.join(person_value(p) for p in r['to'])}" for r in rules or ()
        ),
        as_json=json.dumps,
        runs=[] if is_new else recent_runs(doc["name"], entity.name),
        errors=errors,
        plan=plan,
        diff=diff,
    ), (422 if errors else 200)


@bp.route("/automations/<name>", methods=["GET", "POST"])
def automation_page(name: str):
    doc, _origin = current_document("automation", name)
    if doc is None or name not in _model().automations:
        abort(404)
    return _editor(doc, _entity(doc["entity"]), is_new=False)


@bp.route("/entities/<entity_name>/automations/new", methods=["GET", "POST"])
def new_automation(entity_name: str):
    entity = _entity(entity_name)
    blank = {"name": "", "entity": entity.name, "trigger": {"on": "created"}, "actions": []}
    return _editor(blank, entity, is_new=True)
