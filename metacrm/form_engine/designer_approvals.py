"""The designer's approval flow editor: entry criteria and message, steps in order (drag
to reorder; each with a condition, approvers by user, role, a manager or a user field,
any/all, a timeout and whom it escalates to), outcomes; and simulation: for a record, or
values typed in, which steps the flow as edited would run and who would approve, before
it is saved. Saved as an overlay `documents.approval` entry."""

from __future__ import annotations

import re
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine.designer import (
    API_NAME,
    _entity,
    _model,
    apply_change,
    bp,
    current_document,
    origin_text,
    overlay_diff,
)
from metacrm.form_engine.designer_inputs import (
    assignments,
    assignments_text,
    label_from,
    people_choices,
    person,
    person_value,
)
from metacrm.metadata import build
from metacrm.metadata.model import Entity
from metacrm.platform.api.common import service
from metacrm.platform.query.lists import list_records
from metacrm.platform.tenancy import overlay_edits

OUTCOMES = ("on_submit", "on_approve", "on_reject", "on_recall")
NEW = "_new"  # the key of the blank step the editor offers


def _posted_step(form, key: str, old: dict, errors: dict) -> dict[str, Any] | None:
    name = old.get("name") or form.get(f"step_name.{key}", "").strip()
    if key == NEW and not name:
        return None
    if not API_NAME.match(name):
        errors.setdefault(f"step_name.{key}", []).append(
            _("Lower-case letters, digits and _; it starts with a letter.")
        )
    step: dict[str, Any] = {"name": name}
    label = label_from(form, f"step_label.{key}", f"step_label_zh.{key}", old.get("label"))
    if label:
        step["label"] = label
    if form.get(f"condition.{key}", "").strip():
        step["condition"] = form[f"condition.{key}"].strip()
    approvers = [a for a in map(person, form.getlist(f"approver.{key}")) if a]
    if not approvers:
        errors.setdefault(f"approver.{key}", []).append(_("Choose who approves this step."))
    step["approvers"] = approvers
    step["mode"] = "all" if form.get(f"mode.{key}") == "all" else "any"
    timeout = form.get(f"timeout.{key}", "").strip()
    escalate = [a for a in map(person, form.getlist(f"escalate.{key}")) if a]
    if timeout:
        try:
            hours = float(timeout)
            if hours <= 0:
                raise ValueError(timeout)
            step["timeout_hours"] = int(hours) if hours.is_integer() else hours
        except ValueError:
            errors.setdefault(f"timeout.{key}", []).append(_("A number of hours above 0."))
    if escalate:
        if not timeout:
            errors.setdefault(f"timeout.{key}", []).append(
                _("Escalation happens after a timeout: give the hours.")
            )
        step["escalate_to"] = escalate
    return step


def _posted_outcome(form, key: str, old: dict | None, errors: dict) -> dict | None:
    """Lines `field = expression` -> {"set": {...}}, and the stage chosen to move to.
    Without the stage menu (the entity keeps stages in several fields) a stage the
    outcome had is kept as it was."""
    values = assignments(form, key, errors)
    outcome = {k: v for k, v in (old or {}).items() if k != "set"}
    if values:
        outcome["set"] = values
    if f"{key}_stage" in form:
        outcome.pop("stage", None)
        if form[f"{key}_stage"]:
            outcome["stage"] = form[f"{key}_stage"]
    return outcome or None


def _outcome_stages(entity: Entity) -> list[tuple[str, Any]]:
    """The stages an outcome may move a record to (name, label): those of the entity's
    pipelines when they all keep the stage in one field. With several fields a stage
    name would not say which, so the outcome sets the field itself."""
    pipelines = [p for p in _model().pipelines.values() if p.entity == entity.name]
    if len({p.field for p in pipelines}) != 1:
        return []
    seen: dict[str, Any] = {}
    for pipeline in pipelines:
        for stage in pipeline.stages:
            seen.setdefault(stage.name, stage.label)
    return list(seen.items())


def _draft(doc: dict, form, is_new: bool) -> tuple[dict, dict[str | None, list[str]]]:
    """The flow document as the form edits it, and what is wrong with it."""
    errors: dict[str | None, list[str]] = {}
    draft: dict[str, Any] = {k: v for k, v in doc.items() if k not in OUTCOMES}
    if is_new:
        draft["name"] = form.get("name", "").strip()
        if not API_NAME.match(draft["name"]):
            errors["name"] = [_("Lower-case letters, digits and _; it starts with a letter.")]
        elif draft["name"] in _model().approvals:
            errors["name"] = [_("%(name)s is already taken.", name=draft["name"])]
    label = label_from(form, "label", "label_zh", doc.get("label"))
    if label:
        draft["label"] = label
    for key in ("entry", "entry_message", "enabled", "lock"):
        draft.pop(key, None)
    if form.get("entry", "").strip():
        draft["entry"] = form["entry"].strip()
        message = label_from(form, "entry_message", "entry_message_zh", doc.get("entry_message"))
        if message:
            draft["entry_message"] = message
    if form.get("enabled") != "true":
        draft["enabled"] = False
    if form.get("lock") != "true":
        draft["lock"] = False
    old_steps = {s["name"]: s for s in doc.get("steps", ())}
    steps = []
    for key in form.getlist("step"):
        if form.get(f"remove_step.{key}") == "true" or (key != NEW and key not in old_steps):
            continue
        step = _posted_step(form, key, old_steps.get(key, {}), errors)
        if step is not None:
            steps.append(step)
    if not steps:
        errors.setdefault(None, []).append(_("A flow needs at least one step."))
    names = [s["name"] for s in steps]
    if len(set(names)) != len(names):
        errors.setdefault(f"step_name.{NEW}", []).append(_("Each step needs its own name."))
    draft["steps"] = steps
    for key in OUTCOMES:
        outcome = _posted_outcome(form, key, doc.get(key), errors)
        if outcome:
            draft[key] = outcome
    return draft, errors


STEP_PATH = re.compile(r"steps\[(\d+)\]\.(\w+)")
TOP_CONTROLS = ("entry_message", "entry", *OUTCOMES)


def _placed(exc, steps: list[dict], keys: list[str]):
    out: dict[str | None, list[str]] = {}
    for e in exc.errors:
        path = e.path or ""
        found = STEP_PATH.search(path)
        control = None
        if found and int(found.group(1)) < len(keys):
            prop = {"condition": "condition", "approvers": "approver", "escalate_to": "escalate"}
            if found.group(2) in prop:
                control = f"{prop[found.group(2)]}.{keys[int(found.group(1))]}"
        else:
            control = next((c for c in TOP_CONTROLS if path.startswith(c)), None)
        out.setdefault(control, []).append(e.message)
    return out


def _simulation(flow_doc: dict, entity: Entity, form) -> dict:
    simulate = current_app.extensions.get("metacrm_simulate_approval")
    if simulate is None:
        return {"errors": {None: _("Approvals are not installed.")}, "steps": []}
    record = form.get("simulate_record", "")
    typed = {
        k.removeprefix("sim."): v for k, v in form.items() if k.startswith("sim.") and v.strip()
    }
    return simulate(
        build.build_approval(flow_doc), int(record) if record.isdigit() else None, typed
    )


def _named_fields(doc: dict, entity: Entity) -> list[str]:
    """The entity's fields the flow's conditions name (what simulation lets you type)."""
    text = " ".join(
        [doc.get("entry") or ""] + [s.get("condition") or "" for s in doc.get("steps", ())]
    )
    words = set(re.findall(r"[a-z_][a-z0-9_]*", text))
    return [n for n in entity.fields if n in words]


def _recent(entity: Entity) -> list[tuple[int, str]]:
    page = list_records(service(), entity.name, {"limit": ["50"], "sort": ["-updated_at"]})
    title = entity.title_field or "id"
    return [(r["id"], str(r.get(title) or r["id"])) for r in page["data"]]


def _editor(doc: dict, entity: Entity, is_new: bool):
    errors: dict[str | None, list[str]] = {}
    plan, diff, simulation = None, [], None
    draft = doc
    if request.method == "POST":
        form = request.form
        draft, errors = _draft(doc, form, is_new)
        if not errors:
            name = draft["name"]
            keys = [k for k in form.getlist("step") if form.get(f"remove_step.{k}") != "true"]
            mutation = overlay_edits.put_document("approval", name, draft)
            dry = "preview" in form or "simulate" in form
            plan, errors = apply_change(
                mutation, dry_run=dry, place=lambda exc: _placed(exc, draft["steps"], keys)
            )
            if not errors and "simulate" in form:
                simulation = _simulation(draft, entity, form)
                plan = None
            elif not errors and dry:
                diff = overlay_diff(mutation)
            elif not errors:
                flash(_("The approval flow is saved."), "success")
                return redirect(url_for("setup.approval_page", name=name))
    _doc, origin = current_document("approval", doc.get("name") or "")
    return render_template(
        "setup/approval.html",
        doc=draft,
        entity=entity,
        is_new=is_new,
        origin=origin_text(origin) if origin else None,
        choices=people_choices(entity),
        person_value=person_value,
        outcome_text=lambda o: assignments_text((o or {}).get("set")),
        outcome_stages=_outcome_stages(entity),
        named_fields=_named_fields(draft, entity),
        recent=_recent(entity),
        simulation=simulation,
        values=request.form,
        errors=errors,
        plan=plan,
        diff=diff,
        new_key=NEW,
        saved_steps={s["name"] for s in doc.get("steps", ())},
    ), (422 if errors else 200)


@bp.route("/approvals/<name>", methods=["GET", "POST"])
def approval_page(name: str):
    doc, _origin = current_document("approval", name)
    if doc is None or name not in _model().approvals:
        abort(404)
    return _editor(doc, _entity(doc["entity"]), is_new=False)


@bp.route("/entities/<entity_name>/approvals/new", methods=["GET", "POST"])
def new_approval(entity_name: str):
    entity = _entity(entity_name)
    return _editor({"name": "", "entity": entity.name, "steps": []}, entity, is_new=True)
