"""The designer (`/setup`, administrators only): entities and their fields, and adding a
field without code. Every change is a tenant-overlay edit through the same compile ->
plan -> apply path as the meta API (`TenantRegistry.update_overlay`: one transaction,
refused whole), so the record form shows a new field on the next request, in every
process. "Preview" runs the same path as a dry run and shows the schema plan first.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine import display
from metacrm.metadata.errors import MetadataInvalid
from metacrm.metadata.model import Entity
from metacrm.platform.api.common import runtime
from metacrm.platform.db.migrations import MigrationFailed, MigrationRefused
from metacrm.platform.errors import Forbidden, NotFound, ServiceError
from metacrm.platform.tenancy import overlay_edits

bp = Blueprint("setup", __name__, url_prefix="/setup", template_folder="templates")

API_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# the types this form configures completely (a rollup needs its source: the API for now)
FORM_TYPES = (
    "text",
    "long_text",
    "integer",
    "decimal",
    "currency",
    "percent",
    "boolean",
    "date",
    "datetime",
    "email",
    "phone",
    "url",
    "select",
    "multi_select",
    "tags",
    "reference",
    "many_to_many",
    "user",
    "attachment",
    "json",
    "formula",
    "auto_number",
)
SELECT_TYPES = ("select", "multi_select")
LINK_TYPES = ("reference", "many_to_many")
RESULT_TYPES = ("text", "integer", "decimal", "currency", "percent", "boolean", "date")


@bp.before_request
def _administrators_only():
    if not g.metacrm_context.is_admin:
        raise Forbidden(_("Only administrators may change how the CRM is set up."))


@bp.errorhandler(ServiceError)
def _refused(exc: ServiceError):
    return render_template("screens/error.html", error=exc), exc.status


def _model():
    return g.metacrm_state.model


def _entity(name: str) -> Entity:
    entity = _model().entities.get(name)
    if entity is None:
        raise NotFound(_("There is no entity named %(name)s.", name=name))
    return entity


def origin_text(origin: str) -> str:
    """Where a declaration comes from, as the designer marks it."""
    if origin == "overlay":
        return _("This tenant")
    package = origin.removeprefix("package:")
    return _("Base") if package == "crm" else _("Pack: %(name)s", name=package)


@bp.get("")
def home():
    entities = sorted(_model().entities.values(), key=lambda e: display.label(e.plural).casefold())
    return render_template("setup/home.html", entities=entities, origin_text=origin_text)


@bp.get("/entities/<entity_name>")
def entity_page(entity_name: str):
    entity = _entity(entity_name)
    return render_template(
        "setup/entity.html",
        entity=entity,
        origin_text=origin_text,
        kinds=_type_labels(),
    )


def _type_labels() -> dict[str, str]:
    return {
        "text": _("Text"),
        "long_text": _("Long text"),
        "integer": _("Whole number"),
        "decimal": _("Decimal number"),
        "currency": _("Money"),
        "percent": _("Percent"),
        "boolean": _("Yes / no"),
        "date": _("Date"),
        "datetime": _("Date and time"),
        "email": _("Email"),
        "phone": _("Phone"),
        "url": _("Web address"),
        "select": _("Pick list"),
        "multi_select": _("Pick list, several values"),
        "tags": _("Tags"),
        "reference": _("Link to a record"),
        "many_to_many": _("Links to several records"),
        "user": _("User"),
        "attachment": _("Files"),
        "json": _("JSON (for integrations)"),
        "formula": _("Formula"),
        "auto_number": _("Auto number"),
        "rollup": _("Rollup"),
    }


@bp.route("/entities/<entity_name>/fields/new", methods=["GET", "POST"])
def new_field(entity_name: str):
    entity = _entity(entity_name)
    form = request.form
    errors: dict[str | None, list[str]] = {}
    plan = None
    if request.method == "POST":
        name, declaration, errors = _declaration(entity, form)
        if not errors:
            preview = "preview" in form
            try:
                state, plan = runtime().tenants.update_overlay(
                    g.metacrm_context.tenant,
                    overlay_edits.add_field(entity.name, name, declaration),
                    actor_id=g.metacrm_context.user_id,
                    dry_run=preview,
                )
            except MetadataInvalid as exc:
                errors = _metadata_errors(exc, name)
            except (MigrationRefused, MigrationFailed, ServiceError) as exc:
                errors = {None: [str(exc)]}
            else:
                if not preview:
                    g.metacrm_state = state
                    flash(
                        _("Field %(label)s added: it is on the form now.", label=form["label"]),
                        "success",
                    )
                    return redirect(url_for("setup.entity_page", entity_name=entity.name))
    return render_template(
        "setup/field_new.html",
        entity=entity,
        values=form,
        errors=errors,
        plan=plan,
        types=[(t, _type_labels().get(t, t)) for t in FORM_TYPES],
        select_types=SELECT_TYPES,
        link_types=LINK_TYPES,
        result_types=RESULT_TYPES,
        targets=sorted(_model().entities.values(), key=lambda e: display.label(e.label)),
    ), (422 if errors else 200)


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
            declaration["on_delete"] = "set_null"
    if kind == "formula":
        declaration["expression"] = form.get("expression", "").strip()
        declaration["result_type"] = form.get("result_type", "text")
        if not declaration["expression"]:
            refuse("expression", _("Write the formula."))
    if kind == "auto_number":
        declaration["pattern"] = form.get("pattern", "").strip() or "{seq:05}"
    return name, declaration, errors


def _metadata_errors(exc: MetadataInvalid, name: str) -> dict[str | None, list[str]]:
    """A compile error, next to the control it is about (by the path in the field)."""
    out: dict[str | None, list[str]] = {}
    controls = ("options", "expression", "entity", "pattern", "label", "help", "type")
    for e in exc.errors:
        path = e.path or ""
        after = path.split(f"fields.{name}", 1)[1] if f"fields.{name}" in path else ""
        control = next((c for c in controls if after.lstrip(".").startswith(c)), None)
        if control is None and after == "":
            control = "name" if f"fields.{name}" in path else None
        out.setdefault(control, []).append(e.message)
    return out
