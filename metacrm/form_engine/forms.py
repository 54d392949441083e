"""Forms: a widget per field type, and a posted form back to the API's values.

The widget of a type a plugin adds is its nearest built-in ancestor's (a rating,
an IntegerType, gets the number input) until form_engine learns its own.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from metacrm.metadata.field_types import FieldType
from metacrm.metadata.model import Entity, Field, FormSection
from metacrm.platform.transfer.mapping import option_lookup

WIDGETS = {
    "text": "text",
    "long_text": "textarea",
    "integer": "number",
    "decimal": "decimal",
    "currency": "decimal",
    "percent": "decimal",
    "boolean": "checkbox",
    "date": "date",
    "datetime": "datetime",
    "email": "email",
    "phone": "tel",
    "url": "url",
    "select": "select",
    "multi_select": "multiselect",
    "tags": "tags",
    "reference": "reference",
    "user": "user",
    "many_to_many": "records",
    "json": "textarea",
    "attachment": "file",
}


def widget(kind: FieldType) -> str:
    for cls in type(kind).__mro__:
        name = getattr(cls, "name", "")
        if name in WIDGETS:
            return WIDGETS[name]
    return "text"


def sections(
    entity: Entity, layout: tuple[FormSection, ...], allowed: set[str], hidden: frozenset
) -> list[tuple[Any, list[Field], int | None]]:
    """(section label, fields, columns) to show: the form view's sections (`layout`), then
    any field it leaves out; fields the role hides, or `hidden:` ones, never appear."""
    layout = layout or (FormSection(None, tuple(entity.fields)),)
    out: list[tuple[Any, list[Field], int | None]] = []
    shown: set[str] = set()
    for section in layout:
        section_label, names, columns = section.label, section.fields, section.columns
        fields = [
            entity.fields[n]
            for n in names
            if n in entity.fields
            and n in allowed
            and n not in hidden
            and not entity.fields[n].hidden
        ]
        shown |= {f.name for f in fields}
        if fields:
            out.append((section_label, fields, columns))
    rest = [
        f
        for n, f in entity.fields.items()
        if n in allowed and n not in hidden and n not in shown and not f.hidden
    ]
    if rest:
        out.append((None, rest, None))
    return out


def parse_form(form: MultiDict, fields: list[Field], timezone: str) -> dict:
    """The posted values of `fields` as the API takes them ("" is empty: None)."""
    body: dict[str, Any] = {}
    for f in fields:
        kind = widget(f.kind)
        if kind == "checkbox":
            values = form.getlist(f.name)
            body[f.name] = bool(values) and values[-1] == "true"
            continue
        if kind == "multiselect":
            body[f.name] = [v for v in form.getlist(f.name) if v]
            continue
        if kind == "records":  # picked records' ids
            body[f.name] = [int(v) for v in form.getlist(f.name) if v.isdigit()]
            continue
        if kind == "file":  # the files the form keeps (ticked); uploads are added by the caller
            held = [held_file(v) for v in form.getlist(f.name)]
            kept = [h for h in held if h is not None]
            body[f.name] = kept if f.spec.multiple else (kept[-1] if kept else None)
            continue
        raw = form.get(f.name, "").strip()
        if raw == "":
            body[f.name] = [] if f.kind.is_list else None
        elif kind == "datetime":
            try:
                moment = dt.datetime.fromisoformat(raw)
            except ValueError:
                body[f.name] = raw  # the service names the problem
            else:
                if moment.tzinfo is None:  # a datetime-local input: the tenant's time
                    moment = moment.replace(tzinfo=ZoneInfo(timezone))
                body[f.name] = moment.isoformat()
        else:
            body[f.name] = f.kind.import_value(f, raw, option_lookup(f))
    return body


def held_file(raw: str) -> dict | int | None:
    """A kept file's checkbox value: the descriptor the form showed (the service only
    trusts its id), or a bare id."""
    if raw.isdigit():
        return int(raw)
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("id"), int) else None


def errors_by_field(errors: list[dict] | None) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = {}
    for e in errors or ():
        out.setdefault(e.get("field"), []).append(e.get("message", ""))
    return out


def input_text(f: Field, value: Any) -> str:
    """A value as its form control holds it (an ISO date, a plain decimal)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()[:16]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
