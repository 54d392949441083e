"""The list query: field filters, sort, field selection and keyset pagination.

Empty values sort highest on both back ends: last ascending, first descending
(PostgreSQL's native order, so its indexes serve the sort; SQLite is told with
NULLS LAST / NULLS FIRST). Keyset cursors follow the same order, so pages stay
stable while rows are inserted.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import and_, bindparam, false, func, or_, select, true

from metacrm.metadata.build import build_field
from metacrm.metadata.field_types import FieldType
from metacrm.metadata.field_types.base import OPERATORS
from metacrm.metadata.model import SYSTEM_COLUMNS, Entity, Field
from metacrm.platform.access.permissions import AccessScope, scope_binds
from metacrm.platform.db.search import search_condition
from metacrm.platform.errors import BadQuery
from metacrm.platform.records.schemas import parse_value
from metacrm.platform.records.service import RecordService

RESERVED_PARAMS = {"filter", "sort", "limit", "cursor", "fields", "q", "with_total"}
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SORTABLE_SYSTEM = {"id", "created_at", "updated_at", "owner_id", "version"}


@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool


def parse_sort(entity: Entity, raw: str | None, hidden: frozenset = frozenset()) -> list[SortKey]:
    keys: list[SortKey] = []
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        name = part.lstrip("-")
        f = entity.fields.get(name)
        if (
            name in hidden
            or name not in SORTABLE_SYSTEM
            and (f is None or not f.stored or not f.value_kind.sortable)
        ):
            raise BadQuery(
                f"cannot sort by '{name}'",
                [{"field": name, "message": "unknown or unsortable field", "param": "sort"}],
            )
        keys.append(SortKey(name, part.startswith("-")))
    if not any(k.name == "id" for k in keys):
        keys.append(SortKey("id", False))
    return keys


@functools.cache
def _system_field(name: str) -> Field:
    """A stand-in field for a system column: `*_at` are datetimes, the rest integers."""
    return build_field(name, {"type": "datetime" if name.endswith("_at") else "integer"}, "system")


def _field(entity: Entity, name: str) -> Field:
    return entity.fields.get(name) or _system_field(name)


def _kind(entity: Entity, name: str) -> FieldType:
    return _field(entity, name).value_kind


def _coerce(entity: Entity, name: str, raw: str):
    return parse_value(_field(entity, name), raw)


@dataclass(frozen=True)
class FilterSpec:
    name: str
    op: str
    bind: str
    value: object  # coerced value (a list for `in`, a bool for `isnull`)


def parse_filters(
    entity: Entity, params: dict[str, list[str]], hidden: frozenset = frozenset()
) -> list[FilterSpec]:
    """`field=value` / `field__op=value` parameters -> typed filter specs (400 on any problem)."""
    specs: list[FilterSpec] = []
    errors = []
    for key, values in params.items():
        if key in RESERVED_PARAMS:
            continue
        name, _, op = key.partition("__")
        op = op or "eq"
        f = entity.fields.get(name)
        if name in hidden or (
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
        allowed = _kind(entity, name).operators
        if op not in allowed:
            what = "unknown operator" if op not in OPERATORS else f"a {name} filter has no operator"
            errors.append(
                {
                    "field": name,
                    "message": f"{what} '{op}' (use {', '.join(sorted(allowed))})",
                    "param": key,
                }
            )
            continue
        if op == "in" and len(values) > 1:  # in=a&in=b (a generated client's list) = in=a,b
            values = [",".join(values)]
        for raw in values:
            if raw == "":
                errors.append(
                    {
                        "field": name,
                        "message": f"empty value for '{key}': leave it out, or use "
                        f"{name}__isnull=true",
                        "param": key,
                    }
                )
                continue
            try:
                if op == "isnull":
                    if raw not in ("true", "false"):
                        raise ValidationError("use true or false")
                    value: object = raw == "true"
                elif op == "in":
                    value = [_coerce(entity, name, v) for v in raw.split(",") if v != ""]
                else:
                    value = _coerce(entity, name, raw)
            except ValidationError as exc:
                msg = exc.messages[0] if isinstance(exc.messages, list) else str(exc.messages)
                errors.append({"field": name, "message": f"bad value {raw!r}: {msg}", "param": key})
                continue
            specs.append(FilterSpec(name, op, f"f{len(specs)}", value))
    if errors:
        raise BadQuery("bad filter: " + "; ".join(e["message"] for e in errors), errors)
    return specs


def filter_condition(table, spec: FilterSpec):
    column = table.c[spec.name]
    if spec.op == "isnull":
        return column.is_(None) if spec.value else column.is_not(None)
    if spec.op == "in":
        return column.in_(bindparam(spec.bind, expanding=True))
    value = bindparam(spec.bind, type_=column.type)
    if spec.op == "ne":
        return or_(column != value, column.is_(None))
    return {
        "eq": column == value,
        "gt": column > value,
        "gte": column >= value,
        "lt": column < value,
        "lte": column <= value,
    }[spec.op]


def build_filters(
    entity: Entity, table, params: dict[str, list[str]], hidden: frozenset = frozenset()
) -> tuple[list, dict]:
    """Conditions (with bound parameters) and their values, for callers outside the list path."""
    specs = parse_filters(entity, params, hidden)
    return [filter_condition(table, s) for s in specs], {
        s.bind: s.value for s in specs if s.op != "isnull"
    }


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


def order_by(table, sort: list[SortKey]) -> list:
    """ORDER BY with empty values highest (last ascending, first descending)."""
    return [
        table.c[k.name].desc().nulls_first() if k.descending else table.c[k.name].asc().nulls_last()
        for k in sort
    ]


def keyset_condition(table, sort: list[SortKey], values: list):
    """Rows strictly after `values` in the order of `sort` (NULLs highest, as order_by).

    Values are bound parameters `k0, k1, ...`; only which of them are NULL shapes the SQL.
    """
    clauses = []
    for i, key in enumerate(sort):
        col, v = table.c[key.name], values[i]
        nulls_after = not key.descending  # NULLs highest
        if v is None:
            after = false() if nulls_after else col.is_not(None)
        else:
            param = bindparam(f"k{i}", type_=col.type)
            cmp = col < param if key.descending else col > param
            after = or_(cmp, col.is_(None)) if nulls_after else cmp
        prefix = [
            table.c[k.name].is_(None)
            if values[j] is None
            else table.c[k.name] == bindparam(f"k{j}", type_=table.c[k.name].type)
            for j, k in enumerate(sort[:i])
        ]
        clauses.append(and_(*prefix, after) if prefix else after)
    return or_(*clauses) if clauses else true()


def parse_limit(raw: str | None) -> int:
    if raw is None:
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
    # each column once: a name asked for twice would misalign the row and its names
    return list(dict.fromkeys(["id", "version", *names]))


def compile_filter(service: RecordService, entity: Entity, resolver, source: str):
    """`filter=` text -> a SQL condition (400 with the position on any problem).

    Checked first against what the user may read: a hidden field, or a field of
    an entity their roles do not grant, is as unknown as a misspelt one.
    """
    from metacrm.expressions import ExpressionError, check

    try:
        check(
            source,
            AccessScope(service.state.model, entity.name, service.context.access),
            service.registry,
            "boolean",
        )
        return resolver.compile(source, "boolean")
    except ExpressionError as exc:
        where = f" at {exc.line}:{exc.column}" if exc.line else ""
        raise BadQuery(
            f"bad filter: {exc.message}{where}",
            [
                {
                    "field": None,
                    "message": exc.message,
                    "param": "filter",
                    "line": exc.line,
                    "column": exc.column,
                }
            ],
        ) from None


def parse_flag(single: dict[str, str], name: str) -> bool:
    """A boolean query parameter: true/false (1/0); anything else is a 400, not a guess."""
    raw = single.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadQuery(
            f"{name} must be true or false",
            [{"field": name, "message": "true or false", "param": name}],
        )
    return raw in ("true", "1")


def list_records(service: RecordService, entity_name: str, params: dict[str, list[str]]) -> dict:
    """GET /records/{entity}: {"data": [...], "next_cursor": str | None}.

    The SELECT is built once per query *shape* (filters, operators, `filter=`
    text, sort, fields, limit, which cursor values are NULL) and cached with
    bound parameters. Virtual formulas and rollups are computed in the query.
    """
    entity = service.entity(entity_name)
    service.require(entity, "read")
    hidden = service.grant(entity).hidden
    table = service.state.tables[entity.name]
    single = {k: v[-1] for k, v in params.items()}
    dialect = service.state.engine.dialect.name
    search, search_binds = search_condition(entity, table, dialect, single.get("q") or "")
    if single.get("q") and not entity.search_fields:
        raise BadQuery(
            f"{entity.name} has no search fields",
            [{"field": None, "message": "not searchable", "param": "q"}],
        )
    sort = parse_sort(entity, single.get("sort"), hidden)
    limit = parse_limit(single.get("limit"))
    with_total = parse_flag(single, "with_total")
    columns = parse_fields(entity, single.get("fields"), service.readable(entity))
    specs = parse_filters(entity, params, hidden)
    binds = {s.bind: s.value for s in specs if s.op != "isnull"}
    binds.update(scope_binds(service.context.access))
    binds.update(search_binds)
    cursor_values = decode_cursor(entity, sort, single["cursor"]) if single.get("cursor") else None
    if cursor_values is not None:
        binds.update({f"k{i}": v for i, v in enumerate(cursor_values) if v is not None})
    filter_text = single.get("filter") or None
    time_key = service.time_key(entity)
    if filter_text and ("now" in filter_text or "today" in filter_text):
        time_key = (
            None if time_key is None or "now" in filter_text else service.eval_ctx.today.isoformat()
        )
    shape = (
        "list",
        entity.name,
        tuple((s.name, s.op, s.value if s.op == "isnull" else None) for s in specs),
        filter_text,
        tuple(sort),
        tuple(columns),
        limit,
        None if cursor_values is None else tuple(v is None for v in cursor_values),
        time_key,
        service.access_key(entity),
        search is not None,
    )

    def matching(resolver) -> list:
        """Every condition of the query but the cursor's (so a total counts all pages)."""
        conditions = [table.c.deleted_at.is_(None), *(filter_condition(table, s) for s in specs)]
        scope = service.scope(entity, table)
        if scope is not None:
            conditions.append(scope)
        if search is not None:
            conditions.append(search)
        if filter_text:
            conditions.append(compile_filter(service, entity, resolver, filter_text))
        return conditions

    query = service.state.cache.get(shape) if time_key is not None else None
    if query is None:
        resolver = service.resolver(entity)
        conditions = matching(resolver)
        if cursor_values is not None:
            conditions.append(keyset_condition(table, sort, cursor_values))
        order = order_by(table, sort)
        stored = set(service.columns(entity))
        selected = [table.c[c] if c in stored else resolver((c,)).label(c) for c in columns]
        selected += [table.c[k.name].label(f"_sort_{k.name}") for k in sort]
        query = (
            select(*selected)
            .select_from(resolver.apply(table))
            .where(*conditions)
            .order_by(*order)
            .limit(limit + 1)
        )
        if time_key is not None and len(service.state.cache) < 2000:
            service.state.cache[shape] = query
    total = None
    with service.state.engine.connect() as conn:
        rows = conn.execute(query, binds).all()
        if with_total:
            resolver = service.resolver(entity)
            conditions = matching(resolver)
            counter = select(func.count()).select_from(resolver.apply(table)).where(*conditions)
            total = conn.execute(counter, binds).scalar_one()
    serialize = service.serializer(entity, columns)
    data = [serialize(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]._mapping
        values = []
        for k in sort:
            v = last[f"_sort_{k.name}"]
            values.append(
                v.isoformat()
                if hasattr(v, "isoformat")
                else (str(v) if v is not None and not isinstance(v, (int, str, bool)) else v)
            )
        next_cursor = encode_cursor(sort, values)
    out: dict[str, Any] = {"data": data, "next_cursor": next_cursor}
    if total is not None:
        out["total"] = total
    return out
