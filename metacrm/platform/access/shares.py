"""Explicit shares of one record with one user or with one team.

A team is named by its head: sharing with the team of user H reaches H and
everyone reporting to H, transitively (the same reporting line `scope: team`
uses). The read path lives in permissions.scope_condition; this module writes,
lists, removes and re-points shares (merge).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select

from metacrm.platform.db.audit import log_event
from metacrm.platform.errors import NotFound, RecordInvalid

if TYPE_CHECKING:
    from metacrm.platform.records.service import RecordService

_TARGETS = {"user": ("shares", "user_id"), "team": ("team_shares", "team_head_id")}


def _parse(body) -> tuple[str, int, str]:
    """(kind, target id, access) from {"user": id} or {"team": head_id} plus "access"."""
    kinds = [k for k in _TARGETS if isinstance(body, dict) and k in body]
    access = body.get("access", "read") if isinstance(body, dict) else None
    errors = []
    if len(kinds) != 1:
        errors.append({"field": "user", "message": 'give exactly one of "user" or "team"'})
    elif not isinstance(body[kinds[0]], int) or isinstance(body[kinds[0]], bool):
        errors.append({"field": kinds[0], "message": "a user id"})
    if access not in ("read", "write"):
        errors.append({"field": "access", "message": "read or write"})
    if errors:
        raise RecordInvalid(
            'send {"user": id} or {"team": head_user_id}, with "access": "read" | "write"', errors
        )
    return kinds[0], body[kinds[0]], str(access)


def share(service: RecordService, entity_name: str, record_id: int, body) -> dict:
    """Share one record with a user or a team; the caller must be able to change the record."""
    entity = service.entity(entity_name)
    service.require(entity, "update")
    kind, target, access = _parse(body)
    state = service.state
    table_name, column = _TARGETS[kind]
    table, users = state.system[table_name], state.system["users"]
    with state.write.begin() as conn:
        service.writable_row(conn, entity, record_id)  # 404 unless the caller may write it
        if conn.execute(select(users.c.id).where(users.c.id == target)).first() is None:
            raise RecordInvalid(
                f"no user with id {target}", [{"field": kind, "message": "no such user"}]
            )
        where = (
            table.c.entity == entity.name,
            table.c.record_id == record_id,
            table.c[column] == target,
        )
        conn.execute(delete(table).where(*where))
        conn.execute(
            insert(table).values(
                entity=entity.name,
                record_id=record_id,
                access=access,
                created_at=dt.datetime.now(dt.UTC),
                created_by=service.context.user_id,
                **{column: target},
            )
        )
        result = {"entity": entity.name, "record_id": record_id, kind: target, "access": access}
        log_event(conn, state, "record.shared", service.context.user_id, result)
    return result


def unshare(
    service: RecordService, entity_name: str, record_id: int, kind: str, target: int
) -> None:
    entity = service.entity(entity_name)
    service.require(entity, "update")
    table_name, column = _TARGETS[kind]
    table = service.state.system[table_name]
    with service.state.write.begin() as conn:
        service.writable_row(conn, entity, record_id)
        removed = conn.execute(
            delete(table).where(
                table.c.entity == entity.name,
                table.c.record_id == record_id,
                table.c[column] == target,
            )
        ).rowcount
        if not removed:
            raise NotFound(f"record {record_id} is not shared with {kind} {target}")
        log_event(
            conn,
            service.state,
            "record.unshared",
            service.context.user_id,
            {"entity": entity.name, "record_id": record_id, kind: target},
        )


def list_shares(service: RecordService, entity_name: str, record_id: int) -> list[dict]:
    """Who the record is shared with; visible to whoever may change the record."""
    entity = service.entity(entity_name)
    service.require(entity, "update")
    state = service.state
    out: list[dict] = []
    with state.write.connect() as conn:
        service.writable_row(conn, entity, record_id)
        for kind, (table_name, column) in _TARGETS.items():
            table = state.system[table_name]
            rows = conn.execute(
                select(table.c[column], table.c.access)
                .where(table.c.entity == entity.name, table.c.record_id == record_id)
                .order_by(table.c[column])
            )
            out.extend({kind: row[0], "access": row[1]} for row in rows)
    return out


def repoint(conn, state, entity_name: str, losers: list[int], winner_id: int, ctx) -> None:
    """Move the merged records' shares to the winner (the stronger access wins)."""
    for table_name, column in _TARGETS.values():
        table = state.system[table_name]
        rows = conn.execute(
            select(table).where(table.c.entity == entity_name, table.c.record_id.in_(losers))
        ).all()
        for row in rows:
            conn.execute(delete(table).where(table.c.id == row.id))
            existing = conn.execute(
                select(table.c.id, table.c.access).where(
                    table.c.entity == entity_name,
                    table.c.record_id == winner_id,
                    table.c[column] == row._mapping[column],
                )
            ).first()
            if existing is not None and (existing.access == "write" or row.access == "read"):
                continue
            if existing is not None:
                conn.execute(delete(table).where(table.c.id == existing.id))
            conn.execute(
                insert(table).values(
                    entity=entity_name,
                    record_id=winner_id,
                    access=row.access,
                    created_at=ctx.now,
                    created_by=ctx.user_id,
                    **{column: row._mapping[column]},
                )
            )
