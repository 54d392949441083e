"""GET /api/v1/openapi.json: an OpenAPI 3.1 document generated from the tenant's model."""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType

from flask import Blueprint, g, jsonify

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


def _input_schema(f: Field) -> dict:
    """What a write accepts: a required field may not be null (the server refuses it)."""
    s = {k: v for k, v in field_schema(f).items() if k != "readOnly"}
    if f.required and isinstance(s.get("type"), list):
        s["type"] = [t for t in s["type"] if t != "null"]
        if "enum" in s:
            s["enum"] = [v for v in s["enum"] if v is not None]
    return s


def _entity_schemas(spec, e: Entity) -> None:
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
    writable = {n: _input_schema(f) for n, f in e.fields.items() if f.writable}
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


def _responses(ok: dict, *codes: int) -> dict:
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


def _json(schema: dict, description: str = "OK", links: dict | None = None) -> dict:
    out = {"description": description, "content": {"application/json": {"schema": schema}}}
    if links:
        out["links"] = links
    return out


def _child_links(model: Model, parent: str) -> dict:
    """From a created record to creating the records that refer to it (a contact for
    this account): the new id goes into the reference field, the rest is the client's."""
    return {
        f"Create{_camel(e.name)}With{_camel(n)}": {
            "operationId": f"create_{e.name}",
            "requestBody": {n: "$response.body#/id"},
        }
        for e in model.entities.values()
        for n, f in e.fields.items()
        if f.type == "reference" and f.writable and f.spec.entity == parent
    }


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _record_links(entity: str, id_expression: str) -> dict:
    """OpenAPI links from a response that names a record to what can be done with it next:
    clients (and schemathesis's stateful phase) follow them."""
    return {
        f"{verb.capitalize()}{_camel(entity)}": {
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


def _sortable(e: Entity) -> list[str]:
    """As query.parse_sort accepts them."""
    unsortable = ("json", "tags", "multi_select", "attachment")
    stored = [n for n, f in e.fields.items() if f.stored and f.type not in unsortable]
    return [*sorted(SORTABLE_SYSTEM), *stored]


def _listable(e: Entity) -> list[str]:
    """As query.parse_fields accepts them: system columns, stored and computed fields."""
    computed = [n for n, f in e.fields.items() if not f.stored and f.type in ("formula", "rollup")]
    return [*SYSTEM_PROPS, *(n for n, f in e.fields.items() if f.stored), *computed]


def _list_pattern(names: list[str], prefix: str = "") -> str:
    """`a,b,-c`: a comma separated list of `names` (each optionally after `prefix`)."""
    one = f"{prefix}({_alternatives(names)})"
    return f"^({one}(,{one})*)?$"


def _alternatives(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in names) or "(?!)"


def _group_pattern(e: Entity) -> str:
    plain, dated = groupable(e)
    one = f"({_alternatives(plain)}|({_alternatives(dated)}):({'|'.join(BUCKETS)}))"
    return f"^({one}(,{one})*)?$"


def _measure_pattern(e: Entity) -> str:
    numeric, ordered = measurable(e)
    one = f"(count|(sum|avg):({_alternatives(numeric)})|(min|max):({_alternatives(ordered)}))"
    return f"^({one}(,{one})*)?$"


def _filter_schema(f: Field) -> dict:
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


def build_openapi(model: Model, tenant: str) -> dict:
    from apispec import APISpec  # only processes that serve the document load it

    spec = APISpec(
        title=f"metacrm API ({tenant})",
        version=model.content_hash[:12],
        openapi_version="3.1.0",
        info={"description": "Generated from the tenant's compiled metadata."},
        servers=[{"url": "/api/v1"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema(
        "Problem",
        {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": ["string", "null"]},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
            "required": ["title", "status"],
        },
    )
    id_param = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    }
    for e in model.entities.values():
        _entity_schemas(spec, e)
        ref = {"$ref": f"#/components/schemas/{e.name}"}
        filter_params = [
            {
                "name": n,
                "in": "query",
                "required": False,
                "schema": _filter_schema(f),
                "description": f"filter: {n} equals",
            }
            for n, f in e.fields.items()
            if f.stored
            and f.type not in ("json", "tags", "multi_select", "attachment", "many_to_many")
        ]
        list_params = [
            {
                "name": "sort",
                "in": "query",
                "schema": {"type": "string", "pattern": _list_pattern(_sortable(e), "-?")},
                "description": "comma separated, '-' for descending",
            },
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 500},
            },
            {
                "name": "cursor",
                "in": "query",
                "schema": {"type": "string", "format": "metacrm-cursor"},
                "description": "next_cursor of the previous page (opaque; empty: the first page)",
            },
            {
                "name": "fields",
                "in": "query",
                "schema": {"type": "string", "pattern": _list_pattern(_listable(e))},
            },
            {
                "name": "with_total",
                "in": "query",
                "schema": {"type": "boolean"},
                "description": "add the total count",
            },
            {
                "name": "q",
                "in": "query",
                "schema": {"type": "string", "pattern": NO_NUL},
                "description": "full-text search: every word, as a prefix",
            },
            {
                "name": "filter",
                "in": "query",
                "schema": FILTER_SCHEMA,
                "description": "an expression, e.g. amount > 1000 and account.industry = 'retail'",
            },
            *filter_params,
        ]
        tag = label_text(e.plural)
        spec.path(
            path=f"/records/{e.name}",
            operations={
                "get": {
                    "operationId": f"list_{e.name}",
                    "tags": [tag],
                    "parameters": list_params,
                    "responses": _responses(
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "data": {"type": "array", "items": ref},
                                        "next_cursor": {"type": ["string", "null"]},
                                        "total": {"type": "integer"},
                                    },
                                },
                                links=_record_links(e.name, "$response.body#/data/0/id"),
                            )
                        },
                        400,
                        401,
                        414,
                    ),
                },
                "post": {
                    "operationId": f"create_{e.name}",
                    "tags": [tag],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": f"#/components/schemas/{e.name}_input"},
                                        {
                                            "type": "array",
                                            "items": {
                                                "$ref": f"#/components/schemas/{e.name}_input"
                                            },
                                            "minItems": 1,
                                            "maxItems": 1000,
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": _responses(
                        {
                            "201": _json(
                                {
                                    "oneOf": [
                                        ref,
                                        {
                                            "type": "object",
                                            "properties": {
                                                "data": {"type": "array", "items": ref},
                                                "count": {"type": "integer"},
                                            },
                                            "required": ["data", "count"],
                                            "additionalProperties": False,
                                        },
                                    ]
                                },
                                "Created",
                                links={
                                    **_record_links(e.name, "$response.body#/id"),
                                    **_child_links(model, e.name),
                                },
                            )
                        },
                        400,
                        401,
                        409,
                        422,
                    ),
                },
            },
        )
        spec.path(
            path=f"/records/{e.name}/{{id}}",
            parameters=[id_param],
            operations={
                "get": {
                    "operationId": f"get_{e.name}",
                    "tags": [tag],
                    "responses": _responses({"200": _json(ref)}, 401, 404),
                },
                "patch": {
                    "operationId": f"update_{e.name}",
                    "tags": [tag],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{e.name}_patch"}
                            }
                        },
                    },
                    "responses": _responses({"200": _json(ref)}, 400, 401, 404, 409, 422),
                },
                "delete": {
                    "operationId": f"delete_{e.name}",
                    "tags": [tag],
                    "responses": _responses(
                        {"204": {"description": "Deleted (moved to the recycle bin)"}},
                        401,
                        404,
                        409,
                    ),
                },
            },
        )
    for e in model.entities.values():
        spec.path(
            path=f"/aggregate/{e.name}",
            operations={
                "get": {
                    "operationId": f"aggregate_{e.name}",
                    "tags": [label_text(e.plural)],
                    "parameters": [
                        {
                            "name": "group_by",
                            "in": "query",
                            "schema": {"type": "string", "pattern": _group_pattern(e)},
                            "description": "fields, dates as field:day|month|quarter|year",
                        },
                        {
                            "name": "measures",
                            "in": "query",
                            "schema": {"type": "string", "pattern": _measure_pattern(e)},
                            "description": "count, sum:f, avg:f, min:f, max:f",
                        },
                        {"name": "filter", "in": "query", "schema": FILTER_SCHEMA},
                    ],
                    "responses": _responses(
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "data": {"type": "array", "items": {"type": "object"}},
                                        "truncated": {"type": "boolean"},
                                    },
                                }
                            )
                        },
                        400,
                        401,
                        414,
                    ),
                }
            },
        )
    meta_entity = {"type": "object", "additionalProperties": True}
    spec.path(
        path="/meta/entities",
        operations={
            "get": {
                "operationId": "meta_list_entities",
                "tags": ["Metadata"],
                "responses": _responses(
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"data": {"type": "array", "items": meta_entity}},
                            }
                        )
                    },
                    401,
                ),
            },
            "post": {
                "operationId": "meta_create_entity",
                "tags": ["Metadata"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": meta_entity}},
                },
                "responses": _responses(
                    {"201": _json(meta_entity, "Created")}, 400, 401, 403, 409, 422
                ),
            },
        },
    )
    entity_param = {"name": "entity", "in": "path", "required": True, "schema": {"type": "string"}}
    spec.path(
        path="/meta/entities/{entity}",
        parameters=[entity_param],
        operations={
            "get": {
                "operationId": "meta_get_entity",
                "tags": ["Metadata"],
                "responses": _responses({"200": _json(meta_entity)}, 401, 404),
            },
        },
    )
    spec.path(
        path="/meta/entities/{entity}/fields",
        parameters=[entity_param],
        operations={
            "post": {
                "operationId": "meta_add_field",
                "tags": ["Metadata"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": meta_entity}},
                },
                "responses": _responses(
                    {"201": _json(meta_entity, "Created")}, 400, 401, 403, 404, 409, 422
                ),
            },
        },
    )
    spec.path(
        path="/meta/entities/{entity}/fields/{field}",
        parameters=[
            entity_param,
            {"name": "field", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        operations={
            "patch": {
                "operationId": "meta_modify_field",
                "tags": ["Metadata"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": meta_entity}},
                },
                "responses": _responses({"200": _json(meta_entity)}, 400, 401, 403, 404, 409, 422),
            },
        },
    )
    doc = spec.to_dict()
    doc["security"] = [{"bearer": []}]
    return doc


def readable_model(model: Model, access) -> Model:
    """The model as one caller may see it: entities they may read, without hidden fields."""
    entities = {}
    for name, e in model.entities.items():
        grant = access.entity(name)
        if not grant.can("read"):
            continue
        hidden = grant.hidden
        fields = {n: f for n, f in e.fields.items() if n not in hidden}
        entities[name] = dataclasses.replace(e, fields=MappingProxyType(fields)) if hidden else e
    return dataclasses.replace(model, entities=MappingProxyType(entities))


def openapi_route():
    """The document for this caller: what their roles let them read, nothing more."""
    state, access = g.metacrm_state, g.metacrm_context.access
    view = readable_model(state.model, access)
    key = ("openapi", tuple((n, tuple(sorted(e.fields))) for n, e in view.entities.items()))
    doc = state.cache.get(key)
    if doc is None:
        doc = state.cache[key] = build_openapi(view, state.name)
    return jsonify(doc)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/openapi.json", "openapi", openapi_route, methods=["GET"])
