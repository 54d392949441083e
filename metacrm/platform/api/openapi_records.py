"""The OpenAPI document's record operations that generated clients need declared one by
one: each `field__op` filter, and bulk create as its own operation."""

from __future__ import annotations

from metacrm.platform.api.openapi_schemas import filter_schema, json_content, responses

OPERATOR_TEXT = {
    "ne": "is not",
    "gt": "is greater than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "in": "is one of (comma separated)",
    "isnull": "is empty (true) or filled (false)",
}


def in_param(name: str, value: dict) -> dict:
    """`field__in=a,b,c`: a list of values as `field=` takes them, sent comma separated
    (OpenAPI's form style without explode), so a text item cannot hold a comma."""
    item = dict(value)
    if item.get("type") == "string" and "enum" not in item and "format" not in item:
        item["pattern"] = "^[^,\\u0000]+$"
    return {
        "name": name,
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "items": item, "minItems": 1},
        "description": f"filter: {name.partition('__')[0]} {OPERATOR_TEXT['in']}",
    }


def operator_params(e) -> list[dict]:
    """`field__op=value` filters, each declared (a generated client gets a keyword each)."""
    out = []
    for n, f in e.fields.items():
        if not (f.stored and f.value_kind.filterable):
            continue
        for op in sorted(f.value_kind.operators - {"eq"}):
            if op == "isnull":
                schema: dict = {"type": "boolean"}
            elif op == "in":
                out.append(in_param(f"{n}__{op}", filter_schema(f)))
                continue
            else:
                schema = filter_schema(f)
            out.append(
                {
                    "name": f"{n}__{op}",
                    "in": "query",
                    "required": False,
                    "schema": schema,
                    "description": f"filter: {n} {OPERATOR_TEXT[op]}",
                }
            )
    return out


def bulk_path(spec, name: str, ref: dict, tag: str) -> None:
    """POST /records/{name}/bulk: its own operation, so a generated client gets one
    request and one response type for it."""
    spec.path(
        path=f"/records/{name}/bulk",
        operations={
            "post": {
                "operationId": f"create_{name}_bulk",
                "tags": [tag],
                "description": "Create up to 1,000 records at once: all of them, or none "
                "(a 422 lists each problem with its index).",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "items": {"$ref": f"#/components/schemas/{name}_input"},
                                "minItems": 1,
                                "maxItems": 1000,
                            }
                        }
                    },
                },
                "responses": responses(
                    {
                        "201": json_content(
                            {
                                "type": "object",
                                "properties": {
                                    "data": {"type": "array", "items": ref},
                                    "count": {"type": "integer"},
                                },
                                "required": ["data", "count"],
                                "additionalProperties": False,
                            },
                            "Created",
                        )
                    },
                    400,
                    401,
                    409,
                    422,
                ),
            }
        },
    )
