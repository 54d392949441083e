"""GET /api/v1/openapi.json: an OpenAPI 3.1 document generated from the tenant's model."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from flask import Blueprint, g, jsonify

from metacrm.metadata.model import Model, label_text
from metacrm.platform.api.openapi_records import bulk_path, operator_params
from metacrm.platform.api.openapi_schemas import (
    FILTER_SCHEMA,
    NO_NUL,
    child_links,
    entity_schemas,
    filter_schema,
    group_pattern,
    json_content,
    list_pattern,
    listable,
    measure_pattern,
    record_links,
    responses,
    sortable,
)


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
        entity_schemas(spec, e)
        ref = {"$ref": f"#/components/schemas/{e.name}"}
        filter_params = [
            {
                "name": n,
                "in": "query",
                "required": False,
                "schema": filter_schema(f),
                "description": f"filter: {n} equals",
            }
            for n, f in e.fields.items()
            if f.stored and f.value_kind.filterable
        ] + operator_params(e)
        list_params = [
            {
                "name": "sort",
                "in": "query",
                "schema": {"type": "string", "pattern": list_pattern(sortable(e), "-?")},
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
                "schema": {"type": "string", "pattern": list_pattern(listable(e))},
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
                    "responses": responses(
                        {
                            "200": json_content(
                                {
                                    "type": "object",
                                    "properties": {
                                        "data": {"type": "array", "items": ref},
                                        "next_cursor": {"type": ["string", "null"]},
                                        "total": {"type": "integer"},
                                    },
                                },
                                links=record_links(e.name, "$response.body#/data/0/id"),
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
                    "description": f"One record (a list body is also accepted, as on "
                    f"/records/{e.name}/bulk).",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{e.name}_input"}
                            }
                        },
                    },
                    "responses": responses(
                        {
                            "201": json_content(
                                ref,
                                "Created",
                                links={
                                    **record_links(e.name, "$response.body#/id"),
                                    **child_links(model, e.name),
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
        bulk_path(spec, e.name, ref, tag)
        spec.path(
            path=f"/records/{e.name}/{{id}}",
            parameters=[id_param],
            operations={
                "get": {
                    "operationId": f"get_{e.name}",
                    "tags": [tag],
                    "responses": responses({"200": json_content(ref)}, 401, 404),
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
                    "responses": responses({"200": json_content(ref)}, 400, 401, 404, 409, 422),
                },
                "delete": {
                    "operationId": f"delete_{e.name}",
                    "tags": [tag],
                    "responses": responses(
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
                            "schema": {"type": "string", "pattern": group_pattern(e)},
                            "description": "fields, dates as field:day|month|quarter|year",
                        },
                        {
                            "name": "measures",
                            "in": "query",
                            "schema": {"type": "string", "pattern": measure_pattern(e)},
                            "description": "count, sum:f, avg:f, min:f, max:f",
                        },
                        {"name": "filter", "in": "query", "schema": FILTER_SCHEMA},
                    ],
                    "responses": responses(
                        {
                            "200": json_content(
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
                "responses": responses(
                    {
                        "200": json_content(
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
                "responses": responses(
                    {"201": json_content(meta_entity, "Created")}, 400, 401, 403, 409, 422
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
                "responses": responses({"200": json_content(meta_entity)}, 401, 404),
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
                "responses": responses(
                    {"201": json_content(meta_entity, "Created")}, 400, 401, 403, 404, 409, 422
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
                "responses": responses(
                    {"200": json_content(meta_entity)}, 400, 401, 403, 404, 409, 422
                ),
            },
        },
    )
    file_paths(spec, id_param)
    doc = spec.to_dict()
    doc["security"] = [{"bearer": []}]
    return doc


def file_paths(spec, id_param: dict) -> None:
    """Uploads and downloads (api.files): what attachment fields hold."""
    descriptor = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "content_type": {"type": "string"},
        },
        "required": ["id", "name", "size", "content_type"],
    }
    spec.path(
        path="/files",
        operations={
            "post": {
                "operationId": "upload_file",
                "tags": ["Files"],
                "description": "Store a file; give `entity` and `field` to check it against "
                "that attachment field (its size limit and accepted types) now.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "entity": {"type": "string"},
                                    "field": {"type": "string"},
                                },
                                "required": ["file"],
                            }
                        }
                    },
                },
                "responses": responses(
                    {"201": json_content(descriptor, "Created")}, 400, 401, 404, 413, 422
                ),
            }
        },
    )
    spec.path(
        path="/files/{id}",
        parameters=[id_param],
        operations={
            "get": {
                "operationId": "get_file",
                "tags": ["Files"],
                "description": "The file, if you uploaded it or may read a record field "
                "that holds it.",
                "responses": responses(
                    {
                        "200": {
                            "description": "The file",
                            "content": {  # the file's own type
                                "*/*": {"schema": {"type": "string", "format": "binary"}}
                            },
                        }
                    },
                    401,
                    404,
                ),
            }
        },
    )


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
