"""Forms: new and edit (`/app/{entity}/new`, `/app/{entity}/{id}/edit`), the live
visible_if/required_if round trip, and what a stale save shows. Saves go through the
RecordService; an invalid one answers 422 with the form again and nothing written."""

from __future__ import annotations

import json

from flask import redirect, render_template, request, url_for

from metacrm.form_engine import display, forms
from metacrm.form_engine.screens import _entity, _layout, bp
from metacrm.metadata.model import Entity
from metacrm.platform.api.common import service
from metacrm.platform.errors import ServiceError


def _layout_of_form(entity: Entity) -> list[tuple]:
    """The form's sections: the fields this user may write (writable ones their role
    neither hides nor makes read-only), as the entity's form view lays them out."""
    svc = service()
    grant = svc.grant(entity)
    editable = {n for n in svc.schema(entity).writable_keys if grant.level(n) == "write"}
    return forms.sections(entity, _layout(entity), editable, grant.hidden)


def _form_fields(entity: Entity) -> list:
    return [f for _, fs, _ in _layout_of_form(entity) for f in fs]


def _form(
    entity: Entity,
    record: dict | None,
    errors=None,
    status: int = 200,
    values=None,
    conflict: list[dict] | None = None,
):
    svc = service()
    layout = _layout_of_form(entity)
    shown = values if values is not None else (record or {})
    fields = [f for _, fs, _ in layout for f in fs]
    new = record is None
    if new and request.method == "GET":  # a blank form starts from the fields' defaults
        shown = {**{f.name: f.default for f in fields if f.default is not None}, **shown}
    conditions = svc.field_conditions(
        entity.name, {f.name: shown.get(f.name) for f in fields}, new=new
    )
    shown = {**shown, **conditions["defaults"]}  # a new record shows its defaults
    lookups = display.Lookups(svc)
    lookups.load(entity, [shown], [f.name for f in fields])
    by_field = forms.errors_by_field(errors)
    return render_template(
        "screens/form.html",
        entity=entity,
        record=record,
        values=shown,
        sections=layout,
        widget=forms.widget,
        errors=by_field,
        error_list=errors or [],
        show_value=lambda f, v: display.show(f, v, lookups),
        visible=conditions["visible"],
        required=conditions["required"],
        conditional=any(
            f.visible_if or f.required_if or (new and f.default_expression) for f in fields
        ),
        new=new,
        defaulted=set(conditions["defaults"]),
        multipart=any(forms.widget(f.kind) == "file" for f in fields),
        conflict=conflict,
    ), status


def _posted(entity: Entity) -> tuple[dict, list[dict]]:
    """The form's values as the API takes them, and what its uploads could not store."""
    svc = service()
    fields = _form_fields(entity)
    body = forms.parse_form(request.form, fields, svc.state.timezone)
    refused = _store_uploads(entity, fields, body)
    if any(f.visible_if for f in fields):  # a field the form no longer shows is sent empty
        visible = svc.field_conditions(entity.name, body)["visible"]
        body = {k: (v if visible.get(k, True) else None) for k, v in body.items()}
    return body, refused


def _store_uploads(entity: Entity, fields: list, body: dict) -> list[dict]:
    """Files chosen in the form's file inputs, stored and added to their fields (a new
    file replaces the one a single-file field held). One the field refuses is named, and
    nothing is saved; the stored ones stay in the form, so they need not be chosen again."""
    svc = service()
    refused: list[dict] = []
    for f in fields:
        if forms.widget(f.kind) != "file":
            continue
        for upload in request.files.getlist(f.name):
            if not upload.filename:
                continue
            try:
                stored = svc.upload_file(upload.filename, upload.read(), entity.name, f.name)
            except ServiceError as exc:
                refused.append({"field": f.name, "message": exc.messages()})
                continue
            body[f.name] = [*(body[f.name] or []), stored] if f.spec.multiple else stored
    return refused


@bp.post("/<entity_name>/conditions")
def conditions(entity_name: str):
    """The form's live round trip: which fields the typed values show and require now
    (the server evaluates visible_if/required_if; the page only applies the answer)."""
    entity = _entity(entity_name)
    svc = service()
    fields = _form_fields(entity)
    body = forms.parse_form(request.form, fields, svc.state.timezone)
    answer = svc.field_conditions(entity.name, body, new=bool(request.args.get("new")))
    shown = {f.name for f in fields}
    answer["defaults"] = {
        n: forms.input_text(entity.fields[n], v) for n, v in answer["defaults"].items()
    }
    event = {k: {n: v for n, v in answer[k].items() if n in shown} for k in answer}
    return "", 204, {"HX-Trigger": json.dumps({"metacrm:conditions": event})}


@bp.route("/<entity_name>/new", methods=["GET", "POST"])
def new_record(entity_name: str):
    entity = _entity(entity_name)
    svc = service()
    svc.require(entity, "create")
    if request.method == "GET":
        prefill = {k: v for k, v in request.args.items() if k in entity.fields}
        values = forms.parse_form(
            request.args, [entity.fields[k] for k in prefill], svc.state.timezone
        )
        return _form(entity, None, values=values)
    body, refused = _posted(entity)
    if refused:
        return _form(entity, None, refused, 422, values=body)
    try:
        created = svc.create(entity.name, body)
    except ServiceError as exc:
        return _form(entity, None, _errors(exc), _status(exc), values=body)
    return redirect(
        url_for("screens.record_page", entity_name=entity.name, record_id=created["id"])
    )


@bp.route("/<entity_name>/<id:record_id>/edit", methods=["GET", "POST"])
def edit_record(entity_name: str, record_id: int):
    entity = _entity(entity_name)
    svc = service()
    record = svc.get(entity.name, record_id)
    svc.require(entity, "update")
    if request.method == "GET":
        return _form(entity, record)
    body, refused = _posted(entity)
    version = request.form.get("version", "")
    if version.isdigit():
        body["version"] = int(version)
    if refused:
        return _form(entity, record, refused, 422, values={**record, **body})
    try:
        svc.update(entity.name, record_id, body)
    except ServiceError as exc:
        stale = exc.status == 409 and record["version"] != body.get("version")
        conflict = _differences(entity, record, body) if stale else None
        return _form(
            entity, record, _errors(exc), _status(exc), values={**record, **body}, conflict=conflict
        )
    return redirect(url_for("screens.record_page", entity_name=entity.name, record_id=record_id))


def _differences(entity: Entity, current: dict, mine: dict) -> list[dict]:
    """Someone saved first: the fields where their saved value and this form's differ."""
    lookups = display.Lookups(service())
    names = [n for n in mine if n in entity.fields]
    lookups.load(entity, [current, mine], names)
    out = []
    for name in names:
        f = entity.fields[name]
        theirs, yours = (
            display.show(f, current.get(name), lookups),
            display.show(f, mine[name], lookups),
        )
        if theirs != yours:
            out.append({"field": f, "theirs": theirs, "yours": yours})
    return out


def _errors(exc: ServiceError) -> list[dict]:
    return exc.errors or [{"field": None, "message": exc.detail}]


def _status(exc: ServiceError) -> int:
    return exc.status if exc.status in (403, 409, 422) else 422
