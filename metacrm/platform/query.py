"""The list query: field filters, sort, field selection and keyset pagination.

Keyset cursors follow each dialect's native NULL ordering (SQLite: NULLs
lowest; PostgreSQL: NULLs highest), so an index on the sort columns can serve
the query, and pages stay stable while rows are inserted.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from marshmallow import ValidationError
from sqlalchemy import and_, false, or_, select, true

from metacrm.metadata.model import SYSTEM_COLUMNS, Entity
from metacrm.platform.errors import BadQuery
from metacrm.platform.record_schemas import parse_value

RESERVED_PARAMS = {"filter", "sort", "limit", "cursor", "fields", "q"}
OPERATORS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull"}
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SORTABLE_SYSTEM = {"id", "created_at", "updated_at", "owner_id", "version"}


@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool


def parse_sort(entity: Entity, raw: str | None) -> list[SortKey]:
    keys: list[SortKey] = []
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        name = part.lstrip("-")
        f = entity.fields.get(name)
        if name not in SORTABLE_SYSTEM and (
            f is None or not f.stored or f.type in ("json", "tags", "multi_select", "attachment")
        ):
            raise BadQuery(
                f"cannot sort by '{name}'",
                [{"field": name, "message": "unknown or unsortable field", "param": "sort"}],
            )
        keys.append(SortKey(name, part.startswith("-")))
    if not any(k.name == "id" for k in keys):
        keys.append(SortKey("id", False))
    return keys


def _system_type(name: str) -> str:
    return "datetime" if name.endswith("_at") else "integer"


def _coerce(entity: Entity, name: str, raw: str):
    f = entity.fields.get(name)
    if f is None:
        from metacrm.metadata.build import build_field

        f = build_field(name, {"type": _system_type(name)}, "system")
    return parse_value(f, raw)


def build_filters(entity: Entity, table, params: dict[str, list[str]]) -> list:
    conditions, errors = [], []
    for key, values in params.items():
        if key in RESERVED_PARAMS:
            continue
        name, _, op = key.partition("__")
        op = op or "eq"
        f = entity.fields.get(name)
        if (
            (f is None and name not in SYSTEM_COLUMNS)
            or name == "deleted_at"
            or (f is not None and not f.stored)
        ):
            errors.append(
                {
                    "field": name,
                    "message": f"unknown filter field '{name}' of '{entity.name}'",
                    "param": key,
                }
            )
            continue
        if op not in OPERATORS:
            errors.append(
                {
                    "field": name,
                    "message": f"unknown operator '{op}' (use {', '.join(sorted(OPERATORS))})",
                    "param": key,
                }
            )
            continue
        column = table.c[name]
        for raw in values:
            try:
                if op == "isnull":
                    if raw not in ("true", "false"):
                        raise ValidationError("use true or false")
                    conditions.append(column.is_(None) if raw == "true" else column.is_not(None))
                elif op == "in":
                    conditions.append(
                        column.in_([_coerce(entity, name, v) for v in raw.split(",") if v != ""])
                    )
                else:
                    value = _coerce(entity, name, raw)
                    conditions.append(
                        {
                            "eq": column == value,
                            "ne": or_(column != value, column.is_(None)),
                            "gt": column > value,
                            "gte": column >= value,
                            "lt": column < value,
                            "lte": column <= value,
                        }[op]
                    )
            except ValidationError as exc:
                msg = exc.messages[0] if isinstance(exc.messages, list) else str(exc.messages)
                errors.append({"field": name, "message": f"bad value {raw!r}: {msg}", "param": key})
    if errors:
        raise BadQuery("bad filter: " + "; ".join(e["message"] for e in errors), errors)
    return conditions


def encode_cursor(sort: list[SortKey], values: list) -> str:
    payload = {"s": [("-" if k.descending else "") + k.name for k in sort], "v": values}
    return base64.urlsafe_b64encode(json.dumps(payload, default=str).encode()).decode().rstrip("=")


def decode_cursor(entity: Entity, sort: list[SortKey], cursor: str) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        names = [("-" if k.descending else "") + k.name for k in sort]
        if payload["s"] != names or len(payload["v"]) != len(sort):
            raise ValueError("sort changed")
        return [
            None if v is None else _coerce(entity, k.name, str(v))
            for k, v in zip(sort, payload["v"], strict=True)
        ]
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise BadQuery(
            "invalid cursor (it belongs to another query or was altered)",
            [{"field": None, "message": str(exc), "param": "cursor"}],
        ) from exc


def keyset_condition(table, sort: list[SortKey], values: list, nulls_high: bool):
    """Rows strictly after `values` in the order of `sort` (native NULL order)."""
    clauses = []
    for i, key in enumerate(sort):
        col, v = table.c[key.name], values[i]
        nulls_after = nulls_high != key.descending
        if v is None:
            after = false() if nulls_after else col.is_not(None)
        else:
            cmp = col < v if key.descending else col > v
            after = or_(cmp, col.is_(None)) if nulls_after else cmp
        prefix = [
            table.c[k.name].is_(None) if values[j] is None else table.c[k.name] == values[j]
            for j, k in enumerate(sort[:i])
        ]
        clauses.append(and_(*prefix, after) if prefix else after)
    return or_(*clauses) if clauses else true()


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise BadQuery(
            "limit must be an integer",
            [{"field": None, "message": "not an integer", "param": "limit"}],
        ) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(
            f"limit must be between 1 and {MAX_LIMIT}",
            [{"field": None, "message": "out of range", "param": "limit"}],
        )
    return limit


def parse_fields(entity: Entity, raw: str | None, default: list[str]) -> list[str]:
    if not raw:
        return default
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if n not in default]
    if bad:
        raise BadQuery(
            f"unknown fields {bad}",
            [{"field": n, "message": "unknown or not listable", "param": "fields"} for n in bad],
        )
    return ["id", "version", *[n for n in names if n not in ("id", "version")]]


def list_records(service, entity_name: str, params: dict[str, list[str]]) -> dict:
    """GET /records/{entity}: {"data": [...], "next_cursor": str | None}."""
    entity = service.entity(entity_name)
    table = service.state.tables[entity.name]
    single = {k: v[-1] for k, v in params.items()}
    if single.get("filter"):
        raise BadQuery(
            "filter= expressions are not available yet; use field=value filters",
            [{"field": None, "message": "unsupported", "param": "filter"}],
        )
    if single.get("q"):
        raise BadQuery(
            "q= full-text search is not available yet",
            [{"field": None, "message": "unsupported", "param": "q"}],
        )
    sort = parse_sort(entity, single.get("sort"))
    limit = parse_limit(single.get("limit"))
    columns = parse_fields(entity, single.get("fields"), service.columns(entity))
    conditions = [table.c.deleted_at.is_(None), *build_filters(entity, table, params)]
    dialect = service.state.engine.dialect.name
    if single.get("cursor"):
        values = decode_cursor(entity, sort, single["cursor"])
        conditions.append(keyset_condition(table, sort, values, nulls_high=dialect != "sqlite"))
    order = [table.c[k.name].desc() if k.descending else table.c[k.name].asc() for k in sort]
    sort_cols = [k.name for k in sort if k.name not in columns]
    query = (
        select(*[table.c[c] for c in columns + sort_cols])
        .where(*conditions)
        .order_by(*order)
        .limit(limit + 1)
    )
    with service.state.engine.connect() as conn:
        rows = conn.execute(query).all()
    serialize = service.serializer(entity, columns)
    data = [serialize(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]._mapping
        values = []
        for k in sort:
            v = last[k.name]
            values.append(
                v.isoformat()
                if hasattr(v, "isoformat")
                else (str(v) if v is not None and not isinstance(v, (int, str, bool)) else v)
            )
        next_cursor = encode_cursor(sort, values)
    return {"data": data, "next_cursor": next_cursor}
