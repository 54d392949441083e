"""The pieces of the OpenAPI document: a field's JSON Schema (as input, output and
filter value), the patterns of list parameters, standard responses, and the links
from a record to what can be done with it next."""

from __future__ import annotations

import re

from metacrm.metadata.model import DecimalSpec, Entity, Field, Model, label_text
from metacrm.platform.query.aggregate import BUCKETS, groupable, measurable
from metacrm.platform.query.lists import SORTABLE_SYSTEM
from metacrm.platform.records.schemas import MAX_ID, PHONE

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


def field_schema(f: Field) -> dict:
    t = f.type if f.type != "formula" else f.spec.result_type
    spec = f.spec
    if t in ("text", "long_text", "phone", "auto_number"):
        s: dict = {"type": "string"}
        if getattr(spec, "max_length", None):
            s["maxLength"] = spec.max_length
        if t == "phone":  # as record_schemas.PHONE
            s.update(pattern=PHONE.pattern, maxLength=40)
        elif getattr(spec, "pattern", None):
            s["pattern"] = spec.pattern
        else:
            s["pattern"] = NO_NUL  # PostgreSQL cannot store U+0000: refused
    elif t == "integer":
        s = {"type": "integer"}
    elif t in ("decimal", "currency", "percent"):
        s = {"type": "number"}
    elif t == "boolean":
        s = {"type": "boolean"}
    elif t == "date":
        s = {"type": "string", "format": "date"}
    elif t == "datetime":
        s = {"type": "string", "format": "date-time"}
    elif t == "email":
        s = {"type": "string", "format": "email", "maxLength": 254}
    elif t == "url":
        # what the server takes: an absolute web or FTP address with a dotted host name
        s = {"type": "string", "format": "uri", "maxLength": 2048, "pattern": URL_PATTERN}
    elif t == "select":
        s = {"type": "string", "enum": list(spec.values)}
    elif t == "multi_select":
        s = {"type": "array", "items": {"type": "string", "enum": list(spec.values)}}
        if spec.max_selected:
            s["maxItems"] = spec.max_selected
    elif t == "tags":
        s = {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 50},
            "maxItems": 100,
        }
    elif t in ("reference", "user"):
        s = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    elif t == "many_to_many":
        s = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
    elif t == "rollup":
        s = {"type": "number"}
    else:
        s = {}
    if (
        t in ("integer", "decimal", "currency", "percent")
        and getattr(spec, "min", None) is not None
    ):
        s["minimum"] = spec.min
    if (
        t in ("integer", "decimal", "currency", "percent")
        and getattr(spec, "max", None) is not None
    ):
        s["maximum"] = spec.max
    if t == "integer":  # the column's range, as the server enforces it
        s.setdefault("minimum", -(2**63))
        s.setdefault("maximum", 2**63 - 1)
    if t in ("decimal", "currency", "percent") and isinstance(spec, DecimalSpec):
        bound = 10 ** (spec.precision - spec.scale)  # digits before the point
        if "maximum" not in s:
            s["exclusiveMaximum"] = bound
        if "minimum" not in s:
            s["exclusiveMinimum"] = -bound
    if s.get("type"):
        s["type"] = [s["type"], "null"]
        if "enum" in s:
            s["enum"] = [*s["enum"], None]
    s["title"] = label_text(f.label)
    if not f.writable:
        s["readOnly"] = True
    return s


def input_schema(f: Field) -> dict:
    """What a write accepts: a required field may not be null (the server refuses it)."""
    s = {k: v for k, v in field_schema(f).items() if k != "readOnly"}
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


NO_NUL = "^[^\\u0000]*$"
FILTER_SCHEMA = {  # an expression (docs/expressions.md); one that does not parse is a 400
    "type": "string",
    "format": "metacrm-expression",
    "maxLength": 4000,
    "pattern": NO_NUL,
}
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
URL_PATTERN = (
    rf"^(https?|ftps?)://{_LABEL}(\.{_LABEL})*\.[A-Za-z]{{2,}}(:[1-9][0-9]{{0,3}})?"
    r"(/[A-Za-z0-9._~/-]*)?$"
)


def sortable(e: Entity) -> list[str]:
    """As query.parse_sort accepts them."""
    unsortable = ("json", "tags", "multi_select", "attachment")
    stored = [n for n, f in e.fields.items() if f.stored and f.type not in unsortable]
    return [*sorted(SORTABLE_SYSTEM), *stored]


def listable(e: Entity) -> list[str]:
    """As query.parse_fields accepts them: system columns, stored and computed fields."""
    computed = [n for n, f in e.fields.items() if not f.stored and f.type in ("formula", "rollup")]
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
    t = f.type if f.type != "formula" else f.spec.result_type
    if t in ("integer", "reference", "user"):
        low = 1 if t != "integer" else -(2**63)
        return {"type": "integer", "minimum": low, "maximum": 2**63 - 1}
    if t == "boolean":
        return {"type": "boolean"}
    if t == "select":  # a value taken out of the list still matches the records that keep it
        return {
            "type": "string",
            "minLength": 1,
            "pattern": NO_NUL,
            "examples": list(f.spec.values),
        }
    if t == "date":
        return {"type": "string", "format": "date"}
    if t == "datetime":
        return {"type": "string", "format": "date-time"}
    if t in ("decimal", "currency", "percent", "rollup"):
        return {"type": "number"}
    return {"type": "string", "minLength": 1, "pattern": NO_NUL}
