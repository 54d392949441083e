"""The designer's layout screens: an entity's record form (sections, their labels and
columns, which field goes where and in what order, by drag and drop or a menu per
field) and its default list view (columns in order, default sort). Each is saved as an
overlay `documents.view` entry, previewed first with the plan and the metadata diff."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine import display
from metacrm.form_engine.columns import SYSTEM_FIELDS, pick_view
from metacrm.form_engine.designer import (
    _entity,
    _model,
    bp,
    current_document,
    save_or_preview,
)
from metacrm.metadata.model import Entity
from metacrm.platform.tenancy import overlay_edits

COLUMN_CHOICES = (1, 2, 3, 4)


def _form_view(entity: Entity) -> tuple[str, dict]:
    """The entity's form view document, or a new one holding every field in one section."""
    for view in _model().views.values():
        if view.entity == entity.name and view.kind == "form":
            doc, _origin = current_document("view", view.name)
            if doc is not None:
                return view.name, doc
    name = f"{entity.name}_form"
    return name, {"name": name, "entity": entity.name, "kind": "form", "sections": []}


def _sections_of(entity: Entity, doc: dict) -> list[dict[str, Any]]:
    """The document's sections as the editor shows them (fields it names that exist)."""
    out = []
    for s in doc.get("sections", ()):
        label = s.get("label") or {}
        label = {"en": label} if isinstance(label, str) else label
        out.append(
            {
                "label_en": label.get("en", ""),
                "label_zh": label.get("zh-CN", ""),
                "columns": s.get("columns"),
                "fields": [f for f in s["fields"] if f in entity.fields],
            }
        )
    # no form view yet: the form shows every field in one section, and so does the editor
    return out or [{"label_en": "", "label_zh": "", "columns": None, "fields": list(entity.fields)}]


def _posted_sections(entity: Entity, form) -> list[dict[str, Any]]:
    """Sections from the editor's form: per section its labels and columns; per field
    (`order`, in the page's order after any drag) the section it was placed in."""
    labels_en = form.getlist("section_label")
    labels_zh = form.getlist("section_label_zh")
    columns = form.getlist("section_columns")
    sections = []
    for i, label_en in enumerate(labels_en):
        cols = columns[i] if i < len(columns) else ""
        sections.append(
            {
                "label_en": label_en.strip(),
                "label_zh": labels_zh[i].strip() if i < len(labels_zh) else "",
                "columns": int(cols) if cols.isdigit() and int(cols) in COLUMN_CHOICES else None,
                "fields": [],
            }
        )
    for name in form.getlist("order"):
        place = form.get(f"place.{name}", "")
        if name in entity.fields and place.isdigit() and int(place) < len(sections):
            target = sections[int(place)]["fields"]
            if name not in target:
                target.append(name)
    return sections


def _document_sections(sections: list[dict[str, Any]]) -> list[dict]:
    out = []
    for s in sections:
        if not s["fields"]:
            continue  # an empty section is dropped
        section: dict[str, Any] = {}
        if s["label_en"]:
            section["label"] = {"en": s["label_en"]}
            if s["label_zh"]:
                section["label"]["zh-CN"] = s["label_zh"]
        if s["columns"]:
            section["columns"] = s["columns"]
        section["fields"] = s["fields"]
        out.append(section)
    return out


@bp.route("/entities/<entity_name>/layout", methods=["GET", "POST"])
def form_layout(entity_name: str):
    entity = _entity(entity_name)
    view_name, doc = _form_view(entity)
    errors: dict[str | None, list[str]] = {}
    plan, diff = None, []
    sections = _sections_of(entity, doc)
    if request.method == "POST":
        sections = _posted_sections(entity, request.form)
        if "add_section" in request.form:
            sections.append({"label_en": "", "label_zh": "", "columns": None, "fields": []})
        else:
            data = {**doc, "sections": _document_sections(sections)}
            if "related_order" in request.form:  # (a form without the list keeps it)
                data.pop("related", None)
                related = _posted_related(entity, request.form)
                if related is not None:
                    data["related"] = related
            if not data["sections"]:
                errors[None] = [_("Put at least one field in a section.")]
            else:
                mutation = overlay_edits.put_document("view", view_name, data)
                then = url_for("setup.form_layout", entity_name=entity.name)
                outcome = save_or_preview(mutation, _("The form's layout is saved."), then)
                if outcome.done:
                    return outcome.done
                plan, diff, errors = outcome.plan, outcome.diff, outcome.errors
    placed = {f for s in sections for f in s["fields"]}
    shown = (
        _posted_related(entity, request.form)
        if "related_order" in request.form
        else doc.get("related")
    )
    links = _related_links(entity)
    if shown is None:
        shown = links
    return render_template(
        "setup/layout.html",
        related_rows=[
            (link, link in shown) for link in shown + [k for k in links if k not in shown]
        ],
        related_label=lambda link: _related_label(link),
        entity=entity,
        sections=sections,
        rest=[f for f in entity.fields if f not in placed],
        column_choices=COLUMN_CHOICES,
        errors=errors,
        plan=plan,
        diff=diff,
        preview="preview" in request.form and not errors,
    ), (422 if errors else 200)


def _related_links(entity: Entity) -> list[str]:
    """Every `entity.field` that references `entity`: the related lists it may show."""
    return [
        f"{other.name}.{name}"
        for other in _model().entities.values()
        for name, f in other.fields.items()
        if f.type == "reference" and f.kind.target(f) == entity.name
    ]


def _related_label(link: str) -> str:
    other, _dot, name = link.partition(".")
    entity = _model().entities[other]
    return f"{display.label(entity.plural)} ({display.label(entity.fields[name].label)})"


def _posted_related(entity: Entity, form) -> list[str] | None:
    """The related lists ticked, in the page's order; None when that is every one in the
    default order (so a reference added later shows up by itself)."""
    links = _related_links(entity)
    ticked = set(form.getlist("related"))
    chosen = [link for link in form.getlist("related_order") if link in ticked and link in links]
    return None if chosen == links else chosen


def _list_view(entity: Entity) -> tuple[str, dict]:
    """The entity's default list view document, or a new default one."""
    view = pick_view(entity)
    if view is not None:
        doc, _origin = current_document("view", view.name)
        if doc is not None:
            return view.name, doc
    name = f"{entity.name}_list"
    return name, {
        "name": name,
        "label": dict(entity.plural),
        "entity": entity.name,
        "kind": "list",
        "default": True,
        "columns": [entity.title_field or next(iter(entity.fields))],
    }


def _column_choices(entity: Entity) -> list[tuple[str, Any]]:
    fields = [(n, f.label) for n, f in entity.fields.items() if not f.hidden and f.stored]
    return fields + [(n, f.label) for n, f in SYSTEM_FIELDS.items()]


@bp.route("/entities/<entity_name>/list-view", methods=["GET", "POST"])
def list_layout(entity_name: str):
    entity = _entity(entity_name)
    view_name, doc = _list_view(entity)
    choices = dict(_column_choices(entity))
    errors: dict[str | None, list[str]] = {}
    plan, diff = None, []
    columns = list(doc.get("columns", ()))
    sort = (doc.get("sort") or [""])[0]
    if request.method == "POST":
        form = request.form
        chosen = set(form.getlist("column"))
        columns = [c for c in form.getlist("order") if c in chosen and c in choices]
        sort_field = form.get("sort", "")
        sort = ("-" if form.get("direction") == "desc" else "") + sort_field if sort_field else ""
        if not columns:
            errors["column"] = [_("Choose at least one column.")]
        if sort_field and sort_field not in choices:
            errors["sort"] = [_("Sort by one of the entity's fields.")]
        if not errors:
            data = {**doc, "columns": columns}
            data.pop("sort", None)
            if sort:
                data["sort"] = [sort]
            mutation = overlay_edits.put_document("view", view_name, data)
            then = url_for("setup.list_layout", entity_name=entity.name)
            outcome = save_or_preview(mutation, _("The list's columns are saved."), then)
            if outcome.done:
                return outcome.done
            plan, diff, errors = outcome.plan, outcome.diff, outcome.errors
    ordered = columns + [c for c in choices if c not in columns]
    return render_template(
        "setup/list_view.html",
        entity=entity,
        rows=[(c, choices.get(c, c), c in columns) for c in ordered if c in choices],
        sort_field=sort.lstrip("-"),
        descending=sort.startswith("-"),
        sortable=[(c, lab) for c, lab in choices.items()],
        errors=errors,
        plan=plan,
        diff=diff,
        label_of=display.label,
    ), (422 if errors else 200)
