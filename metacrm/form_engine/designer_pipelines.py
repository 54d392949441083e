"""The designer's pipeline editor: a pipeline's stages in order (drag to reorder), each
with its label (the stage field's option label), category, probability, required fields,
entry rules (an expression and its message in en/zh-CN), allowed next stages and idle
alert; add a stage (it becomes an option of the stage field in the same change) or
remove one no record is in. Saved as an overlay `documents.pipeline` entry."""

from __future__ import annotations

import re
from typing import Any

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine.designer import (
    API_NAME,
    _model,
    bp,
    current_document,
    origin_text,
    save_or_preview,
)
from metacrm.form_engine.designer_fields import _in_use, declared_options
from metacrm.form_engine.designer_inputs import label_from
from metacrm.metadata.errors import MetadataInvalid
from metacrm.metadata.model import Entity, Pipeline
from metacrm.platform.tenancy import overlay_edits

CATEGORIES = ("open", "won", "lost")


def _pipeline(name: str) -> tuple[Pipeline, dict, Entity]:
    pipeline = _model().pipelines.get(name)
    doc, _origin = current_document("pipeline", name)
    if pipeline is None or doc is None:
        abort(404)
    return pipeline, doc, _model().entities[pipeline.entity]


def _new_stage_rule(form, errors: dict) -> dict[str, Any]:
    """The entry rule typed with a new stage (`new_rule`, `new_rule_message[_zh]`)."""
    expression = form.get("new_rule", "").strip()
    message = form.get("new_rule_message", "").strip()
    if not expression and not message:
        return {}
    if not expression or not message:
        errors.setdefault("new_rule", []).append(
            _("A rule needs both its condition and the message people see when it fails.")
        )
        return {}
    text = {"en": message}
    if form.get("new_rule_message_zh", "").strip():
        text["zh-CN"] = form["new_rule_message_zh"].strip()
    return {"entry_rules": [{"expression": expression, "message": text}]}


def _posted_stage(form, old: dict, errors: dict) -> dict[str, Any]:
    """One stage's settings from the form (`<setting>.<stage>` controls)."""
    name = old["name"]
    stage: dict[str, Any] = {"name": name, "category": form.get(f"category.{name}", "open")}
    if stage["category"] not in CATEGORIES:
        errors.setdefault(f"category.{name}", []).append(_("Choose open, won or lost."))
    for key, control, top in (
        ("probability", "probability", 100),
        ("idle_alert_days", "idle", None),
    ):
        raw = form.get(f"{control}.{name}", "").strip()
        if not raw:
            continue
        if not raw.isdigit() or (top is not None and int(raw) > top):
            errors.setdefault(f"{control}.{name}", []).append(
                _("A whole number from 0 to 100.") if top else _("A whole number of days.")
            )
            continue
        stage[key] = int(raw)
    requires = form.getlist(f"requires.{name}")
    if requires:
        stage["requires"] = requires
    rules = []
    expressions = form.getlist(f"rule.{name}")
    messages = form.getlist(f"rule_message.{name}")
    messages_zh = form.getlist(f"rule_message_zh.{name}")
    for i, expression in enumerate(expressions):
        expression = expression.strip()
        message = messages[i].strip() if i < len(messages) else ""
        if not expression and not message:
            continue
        if not expression or not message:
            errors.setdefault(f"rule.{name}", []).append(
                _("A rule needs both its condition and the message people see when it fails.")
            )
            continue
        text = {"en": message}
        if i < len(messages_zh) and messages_zh[i].strip():
            text["zh-CN"] = messages_zh[i].strip()
        rules.append({"expression": expression, "message": text})
    if rules:
        stage["entry_rules"] = rules
    if form.get(f"transitions_mode.{name}") == "listed":
        stage["transitions"] = form.getlist(f"transitions.{name}")
    if form.get(f"optional.{name}") == "true":
        stage["optional"] = True
    return stage


def _option_labels(entity: Entity, field: str) -> dict[str, dict]:
    return {o.value: dict(o.label) for o in entity.fields[field].spec.options}


def _edit(pipeline: Pipeline, doc: dict, entity: Entity, form):
    """(new pipeline document, new stage-field options or None, errors by control)."""
    errors: dict[str | None, list[str]] = {}
    old_stages = {s["name"]: s for s in doc["stages"]}
    labels = _option_labels(entity, pipeline.field)
    order = [n for n in form.getlist("order") if n in old_stages]
    order += [n for n in old_stages if n not in order]
    removed = [n for n in order if form.get(f"remove.{n}") == "true"]
    stages = [_posted_stage(form, old_stages[n], errors) for n in order if n not in removed]
    new_labels = {}
    for n in order:
        label = label_from(form, f"label.{n}", f"label_zh.{n}", labels.get(n))
        if label is None and n not in removed:
            errors.setdefault(f"label.{n}", []).append(_("Give the stage a label."))
        new_labels[n] = label or dict(labels.get(n) or {})
    new_name = form.get("new_stage", "").strip()
    if new_name:
        if not API_NAME.match(new_name):
            errors.setdefault("new_stage", []).append(
                _("Lower-case letters, digits and _; it starts with a letter.")
            )
        elif new_name in labels:
            errors.setdefault("new_stage", []).append(
                _("%(name)s is already a stage or an option of this field.", name=new_name)
            )
        label = label_from(form, "new_label", "new_label_zh")
        if label is None:
            errors.setdefault("new_label", []).append(_("Give the stage a label."))
        new_labels[new_name] = label or {}
        stage = {"name": new_name, "category": form.get("new_category", "open")}
        if form.get("new_probability", "").strip().isdigit():
            stage["probability"] = min(100, int(form["new_probability"]))
        stage.update(_new_stage_rule(form, errors))
        before = form.get("new_before", "")
        at = next((i for i, s in enumerate(stages) if s["name"] == before), len(stages))
        stages.insert(at, stage)
    for value, count in _in_use(entity, entity.fields[pipeline.field], removed):
        errors.setdefault(f"remove.{value}", []).append(
            _("%(count)d records are in this stage: move them first.", count=count)
        )
    names = {s["name"] for s in stages}
    for s in stages:  # a removed stage leaves the lists that named it
        if "transitions" in s:
            s["transitions"] = [t for t in s["transitions"] if t in names]
    options = _stage_options(entity, pipeline.field, new_labels, removed)
    return {**doc, "stages": stages}, options, errors


def _stage_options(entity: Entity, field: str, labels: dict, removed: list[str]):
    """The stage field's options with the stages' labels (new stages added, removed ones
    dropped), or None when nothing about them changed."""
    current = declared_options(entity.fields[field])
    options = [
        {**o, "label": labels.get(o["value"], o["label"])}
        for o in current
        if o["value"] not in removed
    ]
    known = {o["value"] for o in current}
    options += [{"value": n, "label": lab} for n, lab in labels.items() if n not in known]
    return None if options == current else options


STAGE_PATH = re.compile(r"stages\[(\d+)\]\.(\w+)")
CONTROLS = {
    "entry_rules": "rule",
    "requires": "requires",
    "transitions": "transitions",
    "probability": "probability",
    "idle_alert_days": "idle",
    "category": "category",
}


def _placed(exc: MetadataInvalid, stages: list[dict], new_name: str) -> dict[str | None, list[str]]:
    """A compile error about a stage, next to that stage's control."""
    out: dict[str | None, list[str]] = {}
    for e in exc.errors:
        found = STAGE_PATH.search(e.path or "")
        control = None
        if found and int(found.group(1)) < len(stages):
            prop = CONTROLS.get(found.group(2))
            stage = stages[int(found.group(1))]["name"]
            control = f"{prop}.{stage}" if prop else None
            if stage == new_name:  # the stage being added: its controls are the new_ ones
                control = "new_rule" if prop == "rule" else None
        out.setdefault(control, []).append(e.message)
    return out


@bp.route("/pipelines/<name>", methods=["GET", "POST"])
def pipeline_page(name: str):
    pipeline, doc, entity = _pipeline(name)
    errors: dict[str | None, list[str]] = {}
    plan, diff = None, []
    stages, labels = doc["stages"], _option_labels(entity, pipeline.field)
    if request.method == "POST":
        new_doc, options, errors = _edit(pipeline, doc, entity, request.form)
        stages = new_doc["stages"]
        labels = {**labels, **_posted_labels(request.form, stages)}
        if not errors:
            edits = [overlay_edits.put_document("pipeline", name, new_doc)]
            if options is not None:
                edits.append(
                    overlay_edits.modify_field(entity, pipeline.field, {"options": options})
                )
            mutation = overlay_edits.chain(*edits)
            new_stage = request.form.get("new_stage", "").strip()
            outcome = save_or_preview(
                mutation,
                _("The pipeline is saved."),
                url_for("setup.pipeline_page", name=name),
                place=lambda exc: _placed(exc, stages, new_stage),
            )
            if outcome.done:
                return outcome.done
            plan, diff, errors = outcome.plan, outcome.diff, outcome.errors
    _origin, origin = current_document("pipeline", name)
    return render_template(
        "setup/pipeline.html",
        pipeline=pipeline,
        entity=entity,
        stages=stages,
        labels=labels,
        origin=origin_text(origin or "overlay"),
        categories=CATEGORIES,
        errors=errors,
        values=request.form,
        plan=plan,
        diff=diff,
    ), (422 if errors else 200)


def _posted_labels(form, stages: list[dict]) -> dict[str, dict]:
    out = {}
    for s in stages:
        n = s["name"]
        keys = (
            (f"label.{n}", f"label_zh.{n}")
            if f"label.{n}" in form
            else ("new_label", "new_label_zh")
        )
        out[n] = {"en": form.get(keys[0], ""), "zh-CN": form.get(keys[1], "")}
    return out
