"""GET /api/v1/aggregate/{entity}: group by fields (and date buckets), count/sum/avg/min/max, filter=.

Everything happens in one SQL statement; the filter is an expression compiled
to SQL (bound parameters), so aggregates obey the same language as lists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, cast, func, literal, select

from metacrm.metadata.field_types import FieldType, builtin_field_types
from metacrm.metadata.field_types.numbers import decimal_output, summary_scale
from metacrm.platform.access.permissions import scope_binds
from metacrm.platform.errors import BadQuery
from metacrm.platform.query.lists import build_filters, compile_filter
from metacrm.platform.records.service import RecordService

BUCKETS = ("day", "week", "month", "quarter", "year")
MAX_GROUPS = 1000


def _bucket(dialect: str, column, bucket: str):
    if dialect == "sqlite" and bucket == "week":
        # ISO week: the week's Thursday decides the year; SQLite 3.40 has no %V
        thursday = func.date(column, "-3 days", "weekday 4")
        week = (cast(func.strftime("%j", thursday), Integer) - 1) // 7 + 1
        return (
            func.strftime("%Y", thursday)
            .op("||")(literal("-W"))
            .op("||")(func.printf("%02d", week))
        )
    if dialect == "sqlite":
        year = func.strftime("%Y", column)
        if bucket == "quarter":
            month = cast(func.strftime("%m", column), Integer)
            return year.op("||")(literal("-Q")).op("||")(cast((month + 2) // 3, String))
        return func.strftime({"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}[bucket], column)
    return func.to_char(
        column,
        {
            "day": "YYYY-MM-DD",
            "week": 'IYYY-"W"IW',
            "month": "YYYY-MM",
            "quarter": 'YYYY-"Q"Q',
            "year": "YYYY",
        }[bucket],
    )


SYSTEM_KINDS = {"created_at": "datetime", "updated_at": "datetime", "owner_id": "user"}


def _kind(entity, name: str) -> FieldType | None:
    """The type of a column's values (None: no column to group or measure)."""
    f = entity.fields.get(name)
    if f is None:
        system = SYSTEM_KINDS.get(name)
        return builtin_field_types()[system] if system else None
    return f.value_kind if f.stored else None


def _measure_output(entity, name: str, func_name: str):
    """Sums, averages and extremes of numbers as rollups answer them (`summary_scale`):
    integers, or decimal strings; None for dates (created_at, a date field)."""
    f = entity.fields.get(name)
    scale = None if f is None else summary_scale(f, func_name)
    if scale is None:
        return None
    return decimal_output(scale) if scale else int


def groupable(entity) -> tuple[list[str], list[str]]:
    """(fields to group by, date fields that also take a :bucket), as aggregate() accepts."""
    names = ["created_at", "updated_at", "owner_id", *entity.fields]
    kinds = {n: _kind(entity, n) for n in names}
    plain = [n for n, k in kinds.items() if k is not None and k.groupable]
    return plain, [n for n in plain if kinds[n].dated]  # type: ignore[union-attr]


def measurable(entity) -> tuple[list[str], list[str]]:
    """(fields sum/avg take, fields min/max take), as aggregate() accepts."""
    names = ["created_at", "updated_at", *entity.fields]
    kinds = {n: _kind(entity, n) for n in names}
    return [n for n, k in kinds.items() if k is not None and k.summable], [
        n for n, k in kinds.items() if k is not None and k.ordered
    ]


def aggregate(service: RecordService, entity_name: str, params: dict[str, list[str]]) -> dict:
    entity = service.entity(entity_name)
    service.require(entity, "read")
    hidden = service.grant(entity).hidden
    table = service.state.tables[entity.name]
    dialect = service.state.engine.dialect.name
    single = {k: v[-1] for k, v in params.items()}
    errors: list[dict[str, Any]] = []
    groups = []
    converters: dict[str, Any] = {}
    for raw in [g for g in (single.get("group_by") or "").split(",") if g.strip()]:
        name, _, bucket = raw.strip().partition(":")
        kind = None if name in hidden else _kind(entity, name)
        if kind is None or not kind.groupable:
            errors.append(
                {"field": name, "message": f"cannot group by '{name}'", "param": "group_by"}
            )
            continue
        column = table.c[name]
        if bucket:
            if bucket not in BUCKETS or not kind.dated:
                errors.append(
                    {
                        "field": name,
                        "message": f"'{bucket}' is not a bucket of a {kind.name} field (use {', '.join(BUCKETS)} on dates)",
                        "param": "group_by",
                    }
                )
                continue
            column = _bucket(dialect, column, bucket)
        groups.append((raw.strip().replace(":", "_"), column))
        f = entity.fields.get(name)
        output = f.value_kind.output(f) if f is not None and not bucket else None
        if output is not None:
            converters[name] = output  # a decimal group: as records hold it
    measures = []
    for raw in [m.strip() for m in (single.get("measures") or "count").split(",") if m.strip()]:
        func_name, _, name = raw.partition(":")
        if func_name == "count" and not name:
            measures.append(("count", func.count()))
            continue
        kind = None if name in hidden else _kind(entity, name)
        allowed = {"sum": "summable", "avg": "summable", "min": "ordered", "max": "ordered"}
        if func_name not in allowed:
            errors.append(
                {
                    "field": name or None,
                    "message": f"unknown measure '{raw}' (use count, sum:f, avg:f, min:f, max:f)",
                    "param": "measures",
                }
            )
        elif kind is None or not getattr(kind, allowed[func_name]):
            errors.append(
                {"field": name, "message": f"cannot {func_name} '{name}'", "param": "measures"}
            )
        else:
            measures.append((f"{func_name}_{name}", getattr(func, func_name)(table.c[name])))
            output = _measure_output(entity, name, func_name)
            if output is not None:
                converters[f"{func_name}_{name}"] = output
    if not measures and not errors:  # `measures=,` names none: count, as when it is absent
        measures.append(("count", func.count()))
    filter_params = {k: v for k, v in params.items() if k not in ("group_by", "measures")}
    try:
        conditions, binds = build_filters(entity, table, filter_params, hidden)
    except BadQuery as exc:
        errors += exc.errors
        conditions, binds = [], {}
    resolver = service.resolver(entity)
    if single.get("filter"):
        try:
            conditions.append(compile_filter(service, entity, resolver, single["filter"]))
        except BadQuery as exc:
            errors += exc.errors
    scope = service.scope(entity, table)
    if scope is not None:
        conditions.append(scope)
    binds.update(scope_binds(service.context.access))  # joined entities may be scoped too
    if errors:
        raise BadQuery("bad aggregate query: " + "; ".join(e["message"] for e in errors), errors)
    columns = [c.label(n) for n, c in groups] + [m.label(n) for n, m in measures]
    query = (
        select(*columns)
        .select_from(resolver.apply(table))
        .where(table.c.deleted_at.is_(None), *conditions)
    )
    if groups:
        query = (
            query.group_by(*[c for _, c in groups])
            .order_by(*[c for _, c in groups])
            .limit(MAX_GROUPS + 1)
        )
    with service.state.engine.connect() as conn:
        rows = conn.execute(query, binds).all()
    names = [n for n, _ in groups] + [n for n, _ in measures]
    data = []
    for row in rows[:MAX_GROUPS]:
        item = {}
        for name, value in zip(names, row, strict=True):
            if value is not None and name in converters:
                value = converters[name](value)
            elif hasattr(value, "as_tuple"):
                value = int(value)  # a count (PostgreSQL's may come as a Decimal)
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            item[name] = value
        data.append(item)
    return {"data": data, "truncated": len(rows) > MAX_GROUPS}
