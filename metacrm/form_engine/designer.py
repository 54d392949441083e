"""The designer (`/setup`, administrators only): its blueprint, the entity pages, the
expression check, and `apply_change`, how the field and entity screens (designer_fields)
change the tenant's overlay (history and import say their refusals their own way): the
same compile -> plan -> apply path as the meta API (`TenantRegistry.update_overlay`: one
transaction, refused whole), visible to the next request in every process; a dry run
shows the plan.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from flask import Blueprint, flash, g, redirect, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from metacrm.expressions import ExpressionError, check
from metacrm.expressions import types as T
from metacrm.expressions.usage import usage_of
from metacrm.form_engine import display
from metacrm.form_engine.designer_inputs import assignment_lines
from metacrm.form_engine.error_links import name_error_links
from metacrm.metadata.errors import MetadataInvalid
from metacrm.metadata.model import Entity
from metacrm.metadata.process_checks import COMPUTED_TYPES
from metacrm.metadata.scope import EntityScope, field_expression_type
from metacrm.platform.api.common import runtime
from metacrm.platform.db.migrations import MigrationFailed, MigrationRefused
from metacrm.platform.errors import Forbidden, NotFound, ServiceError

bp = Blueprint("setup", __name__, url_prefix="/setup", template_folder="templates")

API_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# the types the new-field form configures completely
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
    "rollup",
    "auto_number",
)
SELECT_TYPES = ("select", "multi_select")
LINK_TYPES = ("reference", "many_to_many")
RESULT_TYPES = ("text", "integer", "decimal", "currency", "percent", "boolean", "date")


@bp.before_request
def _administrators_only():
    if not g.metacrm_context.is_admin:
        raise Forbidden(_("Only administrators may change how the CRM is set up."))


@bp.after_request
def _named_error_links(response: Response) -> Response:
    if response.mimetype == "text/html" and not response.direct_passthrough:
        response.set_data(name_error_links(response.get_data(as_text=True)))
    return response


@bp.errorhandler(ServiceError)
def _refused(exc: ServiceError):
    return render_template("screens/error.html", error=exc), exc.status


def new_name_error(name: str, taken, taken_text: str) -> list[str]:
    """What is wrong with a new API name (`taken_text` when it exists already), or []."""
    if not API_NAME.match(name):
        return [_("Use a-z, 0-9 and _, starting with a letter (at most 63).")]
    return [taken_text] if name in taken else []


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
    model = _model()
    return render_template(
        "setup/home.html",
        entities=entities,
        origin_text=origin_text,
        model=model,
        pipelines=list(model.pipelines.values()),
        approvals=list(model.approvals.values()),
        roles=list(model.roles.values()),
        automations=list(model.automations.values()),
        pools=list(model.pools.values()),
        conflicts=g.metacrm_state.conflicts,
    )


@bp.get("/entities/<entity_name>")
def entity_page(entity_name: str):
    entity = _entity(entity_name)
    return render_template(
        "setup/entity.html",
        entity=entity,
        origin_text=origin_text,
        kinds=_type_labels(),
        pipelines=[p for p in _model().pipelines.values() if p.entity == entity.name],
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


def apply_change(mutation, about: str | None = None, dry_run: bool = False, place=None):
    """Apply an overlay edit as the signed-in administrator: (plan, {}), or (None, errors by
    form control) with nothing applied. `about`: the field whose controls errors belong to;
    `place(exc)`: a screen's own mapping of compile errors to its controls."""
    try:
        state, plan = runtime().tenants.update_overlay(
            g.metacrm_context.tenant, mutation, actor_id=g.metacrm_context.user_id, dry_run=dry_run
        )
    except MetadataInvalid as exc:
        if about:
            return None, _metadata_errors(exc, about)
        if place is not None:
            return None, place(exc)
        return None, {None: [str(e) for e in exc.errors]}
    except (MigrationRefused, MigrationFailed, ServiceError) as exc:
        return None, {None: [str(exc)]}
    if not dry_run:
        g.metacrm_state = state  # the rest of this request sees the change
    return plan, {}


@dataclass
class Outcome:
    """What a designer form's submit led to: a preview (plan and diff), errors by control,
    or a saved change (`done`: the redirect to answer)."""

    plan: Any = None
    diff: list[str] = field(default_factory=list)
    errors: dict[str | None, list[str]] = field(default_factory=dict)
    done: Response | None = None


def save_or_preview(mutation, saved: str, then: str, place=None, about: str | None = None):
    """The editors' submit: with the form's `preview` button, the plan and the overlay
    diff and nothing applied; else the change applied, `saved` flashed and a redirect
    to `then`. Refusals come back as errors either way."""
    preview = "preview" in request.form
    plan, errors = apply_change(mutation, about, dry_run=preview, place=place)
    if errors:
        return Outcome(errors=errors)
    if preview:
        return Outcome(plan=plan, diff=overlay_diff(mutation))
    flash(saved, "success")
    return Outcome(done=redirect(then))


def overlay_diff(mutation) -> list[str]:
    """What an edit changes in the tenant's overlay, as unified-diff lines of its YAML
    (shown with the plan before anything is applied)."""
    before = g.metacrm_state.overlay or {}
    try:
        after = mutation(copy.deepcopy(before))
    except ServiceError:
        return []

    def text(doc: dict) -> list[str]:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).splitlines()

    lines = difflib.unified_diff(text(before), text(after), "before", "after", lineterm="", n=2)
    return [line for line in lines if not line.startswith(("---", "+++"))]


def current_document(kind: str, name: str) -> tuple[dict | None, str | None]:
    """The source document of a pipeline/view/role/... as it is now, with its origin:
    the tenant's own (overlay) or its package's; (None, None) when there is none."""
    own = (g.metacrm_state.overlay or {}).get("documents", {}).get(kind, {}).get(name)
    if own is not None:
        return copy.deepcopy(own), "overlay"
    for package in runtime().packages():
        for doc in package.docs.get(kind, ()):
            if isinstance(doc.data, dict) and doc.data.get("name") == name:
                return copy.deepcopy(doc.data), package.key
    return None, None


def expression_paths(entity: Entity) -> list[str]:
    """What an expression on `entity` may name, for the editor's completion: its fields,
    and through each link the linked record's fields (`account.industry`)."""
    paths = list(entity.fields)
    for f in entity.fields.values():
        linked = f.kind.target(f) if f.type == "reference" else None
        target = _model().entities.get(linked) if linked else None
        if target is not None:
            paths += [f"{f.name}.{name}" for name in target.fields]
    return paths


def function_list() -> list[tuple[str, str]]:
    """(how it is called, what it does) for every expression function, plugins' too."""
    functions = runtime().registry
    # a built-in's doc is in the catalog (marked N_); a plugin's reads as it wrote it
    listed = [(usage_of(functions[n]), _(functions[n].doc)) for n in sorted(functions)]
    return listed + [
        ("is_new() -> boolean", _("in a rule: true while the record is being created")),
        ("previous(field) -> its type", _("in a rule: the value before this change")),
        ("changed(field) -> boolean", _("in a rule: whether this change alters the field")),
    ]


@bp.app_context_processor
def _expression_editor():
    return {"expression_paths": expression_paths, "function_list": function_list}


def _metadata_errors(exc: MetadataInvalid, name: str) -> dict[str | None, list[str]]:
    """A compile error, next to the control it is about (by the path in the field)."""
    out: dict[str | None, list[str]] = {}
    controls = (
        "options",
        "expression",
        "entity",
        "pattern",
        "label",
        "help",
        "type",
        "min",
        "max",
        "max_length",
        "default_expression",
        "unique",
        "visible_if",
        "required_if",
        "default",
        "via",
        "function",
        "filter",
    )
    for e in exc.errors:
        path = e.path or ""
        marker = next((m for m in (f"fields.{name}", f"modify.{name}") if m in path), None)
        after = path.split(marker, 1)[1] if marker else ""
        longest_first = sorted(controls, key=len, reverse=True)  # max_length before max
        control = next((c for c in longest_first if after.lstrip(".").startswith(c)), None)
        if control is None and after == "":
            control = "name" if marker == f"fields.{name}" else None
        control = {"via": "rollup_link", "function": "rollup_link", "filter": "rollup_filter"}.get(
            control or "", control
        )
        out.setdefault(control, []).append(e.message)
    return out


@bp.post("/entities/<entity_name>/expression-check")
def check_expression(entity_name: str):
    """The expression editor's round trip: type-check what is typed against the entity
    (the compiler's own checker) and say what it gives, or what is wrong and where."""
    entity = _entity(entity_name)
    source = request.form.get(request.args.get("input", "expression"), "")
    expect = request.form.get("result_type") or request.args.get("result_type") or None
    if expect not in (*RESULT_TYPES, "boolean", None):
        expect = None
    if not source.strip():
        return render_template(
            "setup/expression_check.html", source=source, error=None, result=None
        )
    try:
        checked = check(source, EntityScope(_model(), entity.name), runtime().registry, expect)
    except ExpressionError as exc:
        return render_template(
            "setup/expression_check.html",
            source=source,
            error=exc,
            result=None,
            line=source.splitlines()[exc.line - 1] if exc.line and source.splitlines() else source,
        )
    return render_template(
        "setup/expression_check.html", source=source, error=None, result=checked.type
    )


@dataclass(frozen=True)
class LineProblem:
    """What the check template shows: where (line number, column, the line) and what."""

    line: int
    column: int
    text: str
    message: str


def assignment_problem(source: str, entity: Entity, target: Entity) -> LineProblem | None:
    """The first problem of `field = expression` lines that set fields of `target` from a
    record of `entity` (approval outcomes, set and create actions), as the compiler would
    find it on save: a line that is not an assignment, a field that cannot be set
    (computed, many-to-many, a list), an expression that does not give the field's type."""
    scope = EntityScope(_model(), entity.name)
    for number, text, name, expression in assignment_lines(source):
        if name is None:
            return LineProblem(number, 1, text, _("write field = expression"))
        field_ = target.fields.get(name)
        expected = field_expression_type(field_) if field_ is not None else None
        if field_ is None:
            message = _("%(entity)s has no field %(field)s", entity=target.name, field=name)
        elif field_.type in (*COMPUTED_TYPES, "many_to_many") or expected in (None, T.LIST):
            message = _("%(field)s cannot be set by an expression", field=name)
        else:
            try:
                check(expression, scope, runtime().registry, expected)
                continue
            except ExpressionError as exc:
                start = len(text) - len(expression.lstrip())  # where it starts in the line
                return LineProblem(number, start + (exc.column or 1), text, exc.message)
        return LineProblem(number, text.index(name) + 1, text, message)
    return None


@bp.post("/entities/<entity_name>/assignments-check")
def check_assignments(entity_name: str):
    """The live check of a `field = expression` box; `target_input` names the control
    that holds the entity a create action writes to (default: this entity)."""
    entity = _entity(entity_name)
    source = request.form.get(request.args.get("input", "values"), "")
    target_name = request.form.get(request.args.get("target_input", ""), "")
    target = _model().entities.get(target_name) or entity
    problem = assignment_problem(source, entity, target) if source.strip() else None
    return render_template(
        "setup/expression_check.html",
        source=source,
        error=problem,
        line=problem.text if problem else None,
        result=None,
        fine=_("Fine: every line sets a field of its type.") if source.strip() else None,
    )
