"""The designer's role screen: one role's permission matrix on one page (per entity the
actions it may take, the scope of records it sees, and per field read-only or hidden
access), and new roles. Saved as an overlay `documents.role` entry; who holds a role
is the user administration's business."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine import display
from metacrm.form_engine.designer import (
    API_NAME,
    _model,
    bp,
    current_document,
    origin_text,
    save_or_preview,
)
from metacrm.platform.tenancy import overlay_edits

ACTIONS = ("create", "read", "update", "delete", "export")
SCOPES = ("own", "team", "all")
FIELD_ACCESS = ("read", "none", "write")


def _matrix(doc: dict, form) -> tuple[dict[str, Any], dict[str | None, list[str]]]:
    """`entities` as the matrix sets it (rows with no action are left out)."""
    errors: dict[str | None, list[str]] = {}
    entities: dict[str, Any] = {}
    for name in ["*", *_model().entities]:
        actions = [a for a in ACTIONS if a in form.getlist(f"act.{name}")]
        fields = {
            f: form[f"field.{name}.{f}"]
            for f in (_model().entities[name].fields if name != "*" else ())
            if form.get(f"field.{name}.{f}") in FIELD_ACCESS
        }
        if not actions:
            if fields:
                errors.setdefault(f"act.{name}", []).append(
                    _("Field access needs the entity to be readable: tick read.")
                )
            continue
        if "read" not in actions:
            errors.setdefault(f"act.{name}", []).append(
                _("Tick read too: a role cannot change what it cannot see.")
            )
        access: dict[str, Any] = {"actions": actions}
        scope = form.get(f"scope.{name}", "own")
        access["scope"] = scope if scope in SCOPES else "own"
        if fields:
            access["fields"] = fields
        entities[name] = access
    return entities, errors


def _editor(doc: dict, is_new: bool):
    errors: dict[str | None, list[str]] = {}
    plan, diff = None, []
    draft = doc
    if request.method == "POST":
        form = request.form
        draft = {k: v for k, v in doc.items() if k not in ("entities", "label", "description")}
        if is_new:
            draft["name"] = form.get("name", "").strip()
            if not API_NAME.match(draft["name"]):
                errors["name"] = [_("Lower-case letters, digits and _; it starts with a letter.")]
            elif draft["name"] in _model().roles:
                errors["name"] = [_("%(name)s is already taken.", name=draft["name"])]
        label = {"en": form.get("label", "").strip()}
        if form.get("label_zh", "").strip():
            label["zh-CN"] = form["label_zh"].strip()
        if not label["en"]:
            errors["label"] = [_("Give the role a label.")]
        draft["label"] = label
        if form.get("description", "").strip():
            draft["description"] = form["description"].strip()
        if not draft.get("admin"):
            entities, problems = _matrix(doc, form)
            errors.update(problems)
            if entities:
                draft["entities"] = entities
        if not errors:
            mutation = overlay_edits.put_document("role", draft["name"], draft)
            then = url_for("setup.role_page", name=draft["name"])
            outcome = save_or_preview(mutation, _("The role is saved."), then)
            if outcome.done:
                return outcome.done
            plan, diff, errors = outcome.plan, outcome.diff, outcome.errors
    _doc, origin = current_document("role", doc.get("name") or "")
    label = draft.get("label") or {}
    return render_template(
        "setup/role.html",
        doc=draft,
        label_en=label.get("en", "") if isinstance(label, dict) else label,
        label_zh=label.get("zh-CN", "") if isinstance(label, dict) else "",
        is_new=is_new,
        origin=origin_text(origin) if origin else None,
        entities=sorted(_model().entities.values(), key=lambda e: display.label(e.plural)),
        grants=draft.get("entities") or {},
        actions=ACTIONS,
        scopes=SCOPES,
        errors=errors,
        plan=plan,
        diff=diff,
    ), (422 if errors else 200)


@bp.route("/roles/<name>", methods=["GET", "POST"])
def role_page(name: str):
    doc, _origin = current_document("role", name)
    if doc is None or name not in _model().roles:
        abort(404)
    return _editor(doc, is_new=False)


@bp.route("/roles/new", methods=["GET", "POST"])
def new_role():
    return _editor({"name": ""}, is_new=True)
