"""The designer's field screens: add a field of any type the form configures (with a
schema-plan preview), and edit one: labels, help, required, hidden, and a pick list's
options (add, relabel, reorder; an option records still use cannot go). The API name and
the type never change, so records keep their values."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import String, func, select

from metacrm.form_engine import display
from metacrm.form_engine.designer import (
    API_NAME,
    FORM_TYPES,
    LINK_TYPES,
    RESULT_TYPES,
    SELECT_TYPES,
    _entity,
    _model,
    _type_labels,
    apply_change,
    bp,
    origin_text,
    save_or_preview,
)
from metacrm.form_engine.designer_field_kinds import (
    LITERAL_DEFAULT_TYPES,
    rollup_fields,
    rollup_links,
    rollup_source,
    typed_default,
)
from metacrm.metadata.model import Entity
from metacrm.platform.api.common import runtime
from metacrm.platform.errors import NotFound
from metacrm.platform.tenancy import overlay_edits

NUMBER_TYPES = ("integer", "decimal", "currency", "percent")

ON_DELETE = ("set_null", "restrict", "cascade")


@bp.route("/entities/<entity_name>/fields/new", methods=["GET", "POST"])
def new_field(entity_name: str):
    entity = _entity(entity_name)
    form = request.form
    errors: dict[str | None, list[str]] = {}
    plan, diff = None, []
    if request.method == "POST":
        name, declaration, errors = _declaration(entity, form)
        if not errors:
            mutation = overlay_edits.add_field(entity.name, name, declaration)
            saved = _("Field %(label)s added: it is on the form now.", label=form["label"])
            then = url_for("setup.entity_page", entity_name=entity.name)
            outcome = save_or_preview(mutation, saved, then, about=name)
            if outcome.done:
                return outcome.done
            plan, diff, errors = outcome.plan, outcome.diff, outcome.errors
    return render_template(
        "setup/field_new.html",
        entity=entity,
        values=form,
        errors=errors,
        plan=plan,
        diff=diff,
        types=[(t, labels[t]) for labels in [_type_labels()] for t in FORM_TYPES],
        select_types=SELECT_TYPES,
        link_types=LINK_TYPES,
        result_types=RESULT_TYPES,
        targets=sorted(_model().entities.values(), key=lambda e: display.label(e.label)),
        number_types=NUMBER_TYPES,
        unique_types=[t for t in FORM_TYPES if _kind_unique(t)],
        literal_default_types=LITERAL_DEFAULT_TYPES,
        rollup_links=rollup_links(entity),
        rollup_fields=rollup_fields(entity),
    ), (422 if errors else 200)


def _kind_unique(name: str) -> bool:
    kind = runtime().field_types.get(name)
    return bool(kind is not None and kind.unique_capable)


def _declaration(entity: Entity, form) -> tuple[str, dict, dict[str | None, list[str]]]:
    """The posted form -> (API name, field declaration, errors by form control)."""
    errors: dict[str | None, list[str]] = {}

    def refuse(control: str | None, message: str) -> None:
        errors.setdefault(control, []).append(message)

    name = form.get("name", "").strip()
    if not name:
        refuse("name", _("Give the field an API name."))
    elif not API_NAME.match(name):
        refuse("name", _("Use a-z, 0-9 and _, starting with a letter (at most 63)."))
    elif name in entity.fields:
        refuse(
            "name",
            _(
                "%(entity)s already has a field named %(name)s.",
                entity=display.label(entity.label),
                name=name,
            ),
        )
    kind = form.get("type", "")
    if kind not in FORM_TYPES:
        refuse("type", _("Pick a type."))
    label_en = form.get("label", "").strip()
    if not label_en:
        refuse("label", _("Give the field a label."))
    label: Any = {"en": label_en}
    if form.get("label_zh", "").strip():
        label["zh-CN"] = form["label_zh"].strip()
    declaration: dict[str, Any] = {"type": kind, "label": label}
    if form.get("required") == "true":
        declaration["required"] = True
    if form.get("help", "").strip():
        declaration["help"] = {"en": form["help"].strip()}
    if kind in SELECT_TYPES:
        options = [line.strip() for line in form.get("options", "").splitlines() if line.strip()]
        if not options:
            refuse("options", _("Write the options, one per line."))
        repeated = sorted({o for o in options if options.count(o) > 1})
        if repeated:
            refuse("options", _("Each option once: %(options)s", options=", ".join(repeated)))
        declaration["options"] = options
    if kind in LINK_TYPES:
        target = form.get("entity", "")
        if target not in _model().entities:
            refuse("entity", _("Pick the entity it links to."))
        declaration["entity"] = target
        if kind == "reference":
            on_delete = form.get("on_delete", "set_null")
            declaration["on_delete"] = on_delete if on_delete in ON_DELETE else "set_null"
    if kind == "formula":
        declaration["expression"] = form.get("expression", "").strip()
        declaration["result_type"] = form.get("result_type", "text")
        if not declaration["expression"]:
            refuse("expression", _("Write the formula."))
    if form.get("unique") == "true":
        declaration["unique"] = True
    if kind in NUMBER_TYPES:
        for bound in ("min", "max"):
            raw = form.get(bound, "").strip()
            if raw:
                try:
                    declaration[bound] = int(raw) if kind == "integer" else float(raw)
                except ValueError:
                    refuse(bound, _("Write a number."))
    if kind == "text" and form.get("max_length", "").strip():
        raw = form["max_length"].strip()
        if raw.isdigit() and 0 < int(raw) <= 10_000:
            declaration["max_length"] = int(raw)
        else:
            refuse("max_length", _("A whole number from 1 to 10000."))
    if kind == "rollup":
        rollup_source(entity, form, declaration, refuse)
    if kind in LITERAL_DEFAULT_TYPES and form.get("default", "").strip():
        try:
            declaration["default"] = typed_default(kind, form["default"].strip(), declaration)
        except ValueError as exc:
            refuse("default", str(exc))
    if form.get("default_expression", "").strip():
        declaration["default_expression"] = form["default_expression"].strip()
    if kind == "auto_number":
        declaration["pattern"] = form.get("pattern", "").strip() or "{seq:05}"
    return name, declaration, errors


@bp.route("/entities/<entity_name>/fields/<field_name>", methods=["GET", "POST"])
def edit_field(entity_name: str, field_name: str):
    """Labels, help, required, hidden and a pick list's options (add, relabel, reorder,
    color, deactivate). The API name and the type never change: records keep their values."""
    entity = _entity(entity_name)
    field = entity.fields.get(field_name)
    if field is None:
        raise NotFound(
            _("%(entity)s has no field named %(name)s.", entity=entity.name, name=field_name)
        )
    errors: dict[str | None, list[str]] = {}
    if request.method == "POST":
        changes, errors = _changes(entity, field, request.form)
        if not errors and not changes:
            flash(_("Nothing to change."), "info")
            return redirect(url_for("setup.entity_page", entity_name=entity.name))
        if not errors:
            _plan, errors = apply_change(
                overlay_edits.modify_field(entity, field.name, changes), field.name
            )
            if not errors:
                flash(_("Field %(label)s saved.", label=display.label(field.label)), "success")
                return redirect(url_for("setup.entity_page", entity_name=entity.name))
    return render_template(
        "setup/field_edit.html",
        entity=entity,
        field=field,
        values=request.form if request.method == "POST" else _current(field),
        errors=errors,
        kinds=_type_labels(),
        origin_text=origin_text,
        has_options=field.type in SELECT_TYPES,
        option_rows=_option_rows(field) if field.type in SELECT_TYPES else [],
        palette=list(PALETTE),
    ), (422 if errors else 200)


def _current(field) -> dict:
    label = dict(field.label)
    values = {
        "label": label.get("en", ""),
        "label_zh": label.get("zh-CN", ""),
        "help": dict(field.help).get("en", "") if field.help else "",
        "required": "true" if field.required else "",
        "hidden": "true" if field.hidden else "",
        "visible_if": field.visible_if or "",
        "required_if": field.required_if or "",
    }
    return values


def _changes(entity: Entity, field, form) -> tuple[dict, dict[str | None, list[str]]]:
    """What the form changes, as a field modification (only what differs)."""
    errors: dict[str | None, list[str]] = {}
    current = _current(field)
    changes: dict[str, Any] = {}
    label_en = form.get("label", "").strip()
    if not label_en:
        errors["label"] = [_("Give the field a label.")]
    if (label_en, form.get("label_zh", "").strip()) != (current["label"], current["label_zh"]):
        label = {**dict(field.label), "en": label_en}
        zh = form.get("label_zh", "").strip()
        if zh:
            label["zh-CN"] = zh
        else:
            label.pop("zh-CN", None)
        changes["label"] = label
    help_text = form.get("help", "").strip()
    if help_text != current["help"]:
        changes["help"] = {**(dict(field.help) if field.help else {}), "en": help_text}
    for flag in ("required", "hidden"):
        wanted = form.get(flag) == "true"
        if wanted != (current[flag] == "true"):
            changes[flag] = wanted
    for rule, neutral in (("visible_if", "true"), ("required_if", "false")):
        wanted = form.get(rule, "").strip()
        if wanted != current[rule]:
            # emptied: the tenant's own condition goes; a package's is overruled
            changes[rule] = wanted or (None if _own(entity, field, rule) else neutral)
    if field.type in SELECT_TYPES:
        options, problems = _options(entity, field, form)
        if problems:
            errors["options"] = problems
        elif options != declared_options(field):
            changes["options"] = options
    return changes, errors


def _own(entity: Entity, field, prop: str) -> bool:
    """Whether the tenant's overlay (not a package) sets `prop` of the field."""
    overlay = g.metacrm_state.overlay or {}
    if field.origin == "overlay":
        return True
    modified = overlay.get("extend", {}).get(entity.name, {}).get("modify", {})
    return prop in modified.get(field.name, {})


def declared_options(field) -> list[dict[str, Any]]:
    """The field's options as `_options` writes them (to tell whether anything changed)."""
    out = []
    for o in field.spec.options:
        option: dict[str, Any] = {"value": o.value, "label": dict(o.label)}
        if o.color:
            option["color"] = o.color
        if not o.active:
            option["active"] = False
        out.append(option)
    return out


PALETTE = ("#6b7280", "#2563eb", "#0d9488", "#16a34a", "#d97706", "#dc2626", "#db2777", "#7c3aed")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _options(entity: Entity, field, form) -> tuple[list, list[str]]:
    """The option rows, in the page's order (after any drag): each keeps its value, gets
    its labels, color and whether it is still offered; new rows add options. One that
    records still use cannot be removed (deactivate it instead)."""
    existing = {o.value: o for o in field.spec.options}
    options: list[dict[str, Any]] = []
    problems: list[str] = []
    removed = []
    for value in dict.fromkeys(form.getlist("opt")):
        old = existing.get(value)
        if old is None:
            continue
        if form.get(f"opt_remove.{value}") == "true":
            removed.append(value)
            continue
        label = {**dict(old.label), "en": form.get(f"opt_label.{value}", "").strip() or value}
        zh = form.get(f"opt_label_zh.{value}", "").strip()
        if zh:
            label["zh-CN"] = zh
        else:
            label.pop("zh-CN", None)
        option: dict[str, Any] = {"value": value, "label": label}
        color = form.get(f"opt_color.{value}", "")
        if COLOR.match(color):
            option["color"] = color
        if form.get(f"opt_active.{value}") != "true":
            option["active"] = False
        options.append(option)
    removed += [v for v in existing if v not in form.getlist("opt")]
    seen = set(existing)
    labels_zh = form.getlist("new_opt_label_zh")
    for i, (value, label_en) in enumerate(
        zip(form.getlist("new_opt_value"), form.getlist("new_opt_label"), strict=False)
    ):
        value, label_en = value.strip(), label_en.strip()
        if not value and not label_en:
            continue
        value = value or re.sub(r"[^a-z0-9]+", "_", label_en.lower()).strip("_") or label_en
        if value in seen:
            problems.append(_("Each option once: %(options)s", options=value))
            continue
        seen.add(value)
        option = {"value": value, "label": {"en": label_en or value}}
        if i < len(labels_zh) and labels_zh[i].strip():
            option["label"]["zh-CN"] = labels_zh[i].strip()
        options.append(option)
    if not options:
        problems.append(_("Keep at least one option."))
    for value, count in _in_use(entity, field, removed):
        problems.append(
            _(
                "%(count)d records still have %(value)s: change them first, or deactivate it.",
                count=count,
                value=value,
            )
        )
    return options, problems


def _option_rows(field) -> list[dict[str, Any]]:
    return [
        {
            "value": o.value,
            "label": dict(o.label).get("en", ""),
            "label_zh": dict(o.label).get("zh-CN", ""),
            "color": o.color or "",
            "active": o.active,
        }
        for o in field.spec.options
    ]


def _in_use(entity: Entity, field, values: list[str]) -> list[tuple[str, int]]:
    """How many live records hold each of `values` (a pick list option about to go)."""
    if not values:
        return []
    state = g.metacrm_state
    table = state.tables[entity.name]
    column = table.c[field.name]
    out = []
    with state.engine.connect() as conn:
        for value in values:
            if field.type == "select":
                holds = column == value
            else:  # multi_select: a JSON list; its text holds the quoted value
                holds = func.cast(column, String).like(f'%"{value}"%')
            count = conn.execute(
                select(func.count()).where(holds, table.c.deleted_at.is_(None))
            ).scalar_one()
            if count:
                out.append((value, count))
    return out
