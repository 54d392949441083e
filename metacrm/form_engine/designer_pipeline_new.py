"""A new stage pipeline for any entity (a tenant's own "project", or a second pipeline
per business line): its name, the select field that holds the stage (a new `stage` field,
or one the entity has), and the first stages with their categories. Saved in one
version with the field or the options it needs; rules, moves and idle alerts are set
next on the pipeline's own page."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine.designer import (
    API_NAME,
    _entity,
    _model,
    apply_change,
    bp,
    new_name_error,
)
from metacrm.form_engine.designer_inputs import label_from
from metacrm.form_engine.designer_pipelines import CATEGORIES, _stage_options
from metacrm.metadata.model import Entity
from metacrm.platform.tenancy import overlay_edits

NEW_FIELD = "__new__"
ROWS = 8  # stage rows on the form; more are added on the pipeline's page
STARTER = (  # what a blank form offers: a working pipeline as it stands
    ("New", "新建", "open"),
    ("In progress", "进行中", "open"),
    ("Done", "完成", "won"),
    ("Cancelled", "已取消", "lost"),
)


def _stage_name(text: str, index: int, taken: set[str]) -> str:
    """An API name from a stage's label (`In progress` -> `in_progress`); a label with no
    latin letters (`进行中`) gets `stage_<n>`."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]
    if not API_NAME.match(name):
        name = f"stage_{index + 1}"
    while name in taken:
        name += "_2"
    return name


def _select_fields(entity: Entity) -> list[tuple[str, Any]]:
    return [(n, f) for n, f in entity.fields.items() if f.type == "select"]


def _posted_stages(form, errors: dict) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = []
    taken: set[str] = set()
    for i in range(ROWS):
        label = label_from(form, f"stage_label.{i}", f"stage_label_zh.{i}")
        if label is None:
            continue
        category = form.get(f"stage_category.{i}", "open")
        if category not in CATEGORIES:
            errors.setdefault(f"stage_category.{i}", []).append(_("Choose open, won or lost."))
        name = _stage_name(label["en"], i, taken)
        taken.add(name)
        stages.append({"name": name, "label": label, "category": category})
    if not stages:
        errors.setdefault("stage_label.0", []).append(_("Give the pipeline at least one stage."))
    return stages


def _edits(entity: Entity, form, name: str, label: dict, stages: list[dict], errors: dict):
    """The overlay edits: the pipeline, plus the new stage field or the options the
    chosen field still lacks (a stage is always an option of its field)."""
    labels = {s["name"]: s["label"] for s in stages}
    choice = form.get("field", NEW_FIELD)
    if choice == NEW_FIELD:
        field = form.get("new_field", "").strip()
        taken = _("%(name)s is already a field here.", name=field)
        if problems := new_name_error(field, entity.fields, taken):
            errors["new_field"] = problems
        declaration = {
            "type": "select",
            "label": {"en": "Stage", "zh-CN": "阶段"},
            "options": [{"value": n, "label": lab} for n, lab in labels.items()],
            **({"default": stages[0]["name"]} if stages else {}),
        }
        edits = [overlay_edits.add_field(entity.name, field, declaration)]
    elif choice in dict(_select_fields(entity)):
        field = choice
        options = _stage_options(entity, field, labels, [])  # None: it has them all
        edits = [overlay_edits.modify_field(entity, field, {"options": options})] if options else []
    else:
        errors["field"] = [_("Choose the field that holds the stage.")]
        return None
    for s in stages:
        del s["label"]  # the label lives on the field's option, as for every stage
    document = {"name": name, "label": label, "entity": entity.name, "field": field}
    document["stages"] = stages
    return overlay_edits.chain(*edits, overlay_edits.put_document("pipeline", name, document))


@bp.route("/entities/<entity_name>/pipelines/new", methods=["GET", "POST"])
def new_pipeline(entity_name: str):
    entity = _entity(entity_name)
    form = request.form
    errors: dict[str | None, list[str]] = {}
    if request.method == "POST":
        name = form.get("name", "").strip()
        taken = _("There is already a pipeline named %(name)s.", name=name)
        if problems := new_name_error(name, _model().pipelines, taken):
            errors["name"] = problems
        label = label_from(form, "label", "label_zh")
        if label is None:
            errors["label"] = [_("Write how people call it.")]
        stages = _posted_stages(form, errors)
        mutation = _edits(entity, form, name, label or {}, stages, errors)
        if not errors and mutation is not None:
            _plan, errors = apply_change(mutation)
            if not errors:
                flash(_("The pipeline is saved. Set its rules and moves here."), "success")
                return redirect(url_for("setup.pipeline_page", name=name))
    taken = any(f.name == "stage" for f in entity.fields.values())
    return render_template(
        "setup/pipeline_new.html",
        entity=entity,
        selects=_select_fields(entity),
        new_field_key=NEW_FIELD,
        suggested_field=f"{entity.name}_stage" if taken else "stage",
        rows=ROWS,
        starter=STARTER,
        categories=CATEGORIES,
        values=form,
        errors=errors,
    ), (422 if errors else 200)
