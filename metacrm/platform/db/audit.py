"""Audit: field history of audited entities, and the tenant's audit log.

Written in the same transaction as the change they describe, so history never
disagrees with the data. Values are stored as JSON (decimals as text, dates ISO).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import insert, select

from metacrm.metadata.model import SYSTEM_COLUMNS, Entity
from metacrm.platform.timestamps import rfc3339


def to_json(value: Any) -> Any:
    """A stored value as JSON can hold it (decimals as text, dates in ISO 8601)."""
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def changed_fields(entity: Entity, previous: dict, values: dict) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for every field whose value really changes."""
    out = []
    for name, new in values.items():
        if name in SYSTEM_COLUMNS or name not in entity.fields:
            continue
        old = previous.get(name)
        if to_json(old) != to_json(new):
            out.append((name, old, new))
    return out


def record_history(
    conn,
    state,
    entity: Entity,
    record_id: int,
    operation: str,
    actor: int | None,
    at: dt.datetime,
    changes=(),
) -> None:
    """One row per changed field on update; one row for create, delete and restore."""
    rows = history_rows(entity, record_id, operation, actor, at, changes)
    if rows:
        conn.execute(insert(state.system["history"]), rows)


def history_rows(
    entity: Entity, record_id: int, operation: str, actor: int | None, at: dt.datetime, changes=()
) -> list[dict]:
    """The history rows of one change (none when the entity is not audited)."""
    if not entity.audit:
        return []
    base = {
        "entity": entity.name,
        "record_id": record_id,
        "operation": operation,
        "changed_at": at,
        "changed_by": actor,
    }
    return [
        {**base, "field": name, "old_value": to_json(old), "new_value": to_json(new)}
        for name, old, new in changes
    ] or [{**base, "field": None, "old_value": None, "new_value": None}]


def record_histories(
    conn,
    state,
    entity: Entity,
    record_ids: list[int],
    operation: str,
    actor: int | None,
    at: dt.datetime,
) -> None:
    """One row per record for a create, delete or restore of many."""
    rows = [r for rid in record_ids for r in history_rows(entity, rid, operation, actor, at)]
    if rows:
        conn.execute(insert(state.system["history"]), rows)


def history(conn, state, entity: Entity, record_id: int, hidden: frozenset) -> list[dict]:
    table = state.system["history"]
    query = (
        select(
            table.c.operation,
            table.c.field,
            table.c.old_value,
            table.c.new_value,
            table.c.changed_at,
            table.c.changed_by,
        )
        .where(table.c.entity == entity.name, table.c.record_id == record_id)
        .order_by(table.c.id)
    )
    out = []
    for row in conn.execute(query):
        if row.field is not None and row.field in hidden:
            continue
        out.append(
            {
                "operation": row.operation,
                "field": row.field,
                "old": row.old_value,
                "new": row.new_value,
                "at": rfc3339(row.changed_at),
                "by": row.changed_by,
            }
        )
    return out


def log_event(conn, state, event: str, actor: int | None, detail: dict) -> None:
    """The tenant's audit log: logins, permission and role changes, token changes, shares."""
    conn.execute(
        insert(state.system["audit_log"]).values(
            event=event, actor=actor, detail=to_json(detail), at=dt.datetime.now(dt.UTC)
        )
    )


def audit_log(state, limit: int = 200) -> list[dict]:
    table = state.system["audit_log"]
    with state.engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.id.desc()).limit(limit)).all()
    return [
        {
            "id": r.id,
            "event": r.event,
            "actor": r.actor,
            "detail": r.detail,
            "at": rfc3339(r.at),
        }
        for r in rows
    ]
