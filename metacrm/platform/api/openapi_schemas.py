"""The pieces of the OpenAPI document: a field's JSON Schema (as input, output and
filter value), the patterns of list parameters, standard responses, and the links
from a record to what can be done with it next."""

from __future__ import annotations

import re

from metacrm.metadata.field_types import NO_NUL
from metacrm.metadata.model import Entity, Field, Model, label_text
from metacrm.platform.query.aggregate import BUCKETS, groupable, measurable
from metacrm.platform.query.lists import SORTABLE_SYSTEM

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SYSTEM_PROPS = {
    "id": {"type": "integer", "readOnly": True},
    "version": {
        "type": "integer",
        "readOnly": True,
        "description": "optimistic lock; send it back on PATCH",
    },
    "owner_id": {"type": ["integer", "null"], "readOnly": True},
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "created_by": {"type": ["integer", "null"], "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_by": {"type": ["integer", "null"], "readOnly": True},
}


def field_schema(f: Field, s: dict | None = None) -> dict:
    """A field's values as its type documents them, which may be null unless required."""
    s = f.value_kind.json_schema(f) if s is None else s
    kind = s.get("type")
    if kind:
        s["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
        if "enum" in s:
            s["enum"] = [*s["enum"], None]
    s["title"] = label_text(f.label)
    if not f.writable:
        s["readOnly"] = True
    return s


def input_schema(f: Field) -> dict:
    """What a write accepts: a required field may not be null (the server refuses it)."""
    s = field_schema(f, f.value_kind.input_json_schema(f))
    s.pop("readOnly", None)
    if f.required and isinstance(s.get("type"), list):
        s["type"] = [t for t in s["type"] if t != "null"]
        if "enum" in s:
            s["enum"] = [v for v in s["enum"] if v is not None]
    return s


def entity_schemas(spec, e: Entity) -> None:
    props = {n: field_schema(f) for n, f in e.fields.items()}
    spec.components.schema(
        f"{e.name}",
        {
            "type": "object",
            "title": label_text(e.label),
            "properties": {
                **SYSTEM_PROPS,
                **props,
                "warnings": {"type": "array", "items": {"type": "object"}, "readOnly": True},
            },
            "required": ["id", "version"],
            "additionalProperties": False,
        },
    )
    writable = {n: input_schema(f) for n, f in e.fields.items() if f.writable}
    required = [n for n, f in e.fields.items() if f.writable and f.required and f.default is None]
    spec.components.schema(
        f"{e.name}_input",
        {
            "type": "object",
            "properties": writable,
            "additionalProperties": False,
            **({"required": required} if required else {}),
        },
    )
    spec.components.schema(
        f"{e.name}_patch",
        {
            "type": "object",
            "properties": {**writable, "version": {"type": "integer"}},
            "additionalProperties": False,
        },
    )


def responses(ok: dict, *codes: int) -> dict:
    out = dict(ok)
    texts = {
        400: "Bad query",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        413: "The request body is over the upload limit (METACRM_MAX_UPLOAD_MB)",
        414: "The request line is over 8190 bytes (the URL-encoded query counts): "
        "filter in fewer words",
        422: "Validation failed",
    }
    for code in codes:
        out[str(code)] = {
            "description": texts[code],
            "content": {"application/problem+json": {"schema": PROBLEM_REF}},
        }
    return out


def json_content(schema: dict, description: str = "OK", links: dict | None = None) -> dict:
    out = {"description": description, "content": {"application/json": {"schema": schema}}}
    if links:
        out["links"] = links
    return out


def child_links(model: Model, parent: str) -> dict:
    """From a created record to creating the records that refer to it (a contact for
    this account): the new id goes into the reference field, the rest is the client's."""
    return {
        f"Create{camel(e.name)}With{camel(n)}": {
            "operationId": f"create_{e.name}",
            "requestBody": {n: "$response.body#/id"},
        }
        for e in model.entities.values()
        for n, f in e.fields.items()
        if f.type == "reference" and f.writable and f.spec.entity == parent
    }


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def record_links(entity: str, id_expression: str) -> dict:
    """OpenAPI links from a response that names a record to what can be done with it next:
    clients (and schemathesis's stateful phase) follow them."""
    return {
        f"{verb.capitalize()}{camel(entity)}": {
            "operationId": f"{verb}_{entity}",
            "parameters": {"id": id_expression},
        }
        for verb in ("get", "update", "delete")
    }


FILTER_SCHEMA = {  # an expression (docs/expressions.md); one that does not parse is a 400
    "type": "string",
    "format": "metacrm-expression",
    "maxLength": 4000,
    "pattern": NO_NUL,
}


def sortable(e: Entity) -> list[str]:
    """As query.parse_sort accepts them."""
    stored = [n for n, f in e.fields.items() if f.stored and f.value_kind.sortable]
    return [*sorted(SORTABLE_SYSTEM), *stored]


def listable(e: Entity) -> list[str]:
    """As query.parse_fields accepts them: system columns, stored and computed fields."""
    computed = [n for n, f in e.fields.items() if not f.stored and f.kind.computed]
    return [*SYSTEM_PROPS, *(n for n, f in e.fields.items() if f.stored), *computed]


def list_pattern(names: list[str], prefix: str = "") -> str:
    """`a,b,-c`: a comma separated list of `names` (each optionally after `prefix`)."""
    one = f"{prefix}({alternatives(names)})"
    return f"^({one}(,{one})*)?$"


def alternatives(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in names) or "(?!)"


def group_pattern(e: Entity) -> str:
    plain, dated = groupable(e)
    one = f"({alternatives(plain)}|({alternatives(dated)}):({'|'.join(BUCKETS)}))"
    return f"^({one}(,{one})*)?$"


def measure_pattern(e: Entity) -> str:
    numeric, ordered = measurable(e)
    one = f"(count|(sum|avg):({alternatives(numeric)})|(min|max):({alternatives(ordered)}))"
    return f"^({one}(,{one})*)?$"


def filter_schema(f: Field) -> dict:
    """What `?field=value` accepts: the field's own value (empty is not a value)."""
    return f.value_kind.filter_schema(f)
