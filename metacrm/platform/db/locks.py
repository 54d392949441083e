"""Record locks: a record under approval (or any other hold) that only an admin may change.

The platform owns the lock and enforces it on every write path (update, delete,
merge, cascades, bulk); engines and plugins place and lift locks in their own
transactions, so a lock and the state that needs it commit together.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from metacrm.platform.errors import Locked


def lock(conn: Connection, state, entity: str, record_id: int, reason: str, by, at) -> None:
    conn.execute(
        insert(state.system["record_locks"]).values(
            entity=entity, record_id=record_id, reason=reason, locked_by=by, locked_at=at
        )
    )


def unlock(conn: Connection, state, entity: str, record_id: int) -> None:
    table = state.system["record_locks"]
    conn.execute(delete(table).where(table.c.entity == entity, table.c.record_id == record_id))


def locks_of(conn: Connection, state, entity: str, ids: list[int]) -> dict[int, str]:
    table = state.system["record_locks"]
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(table.c.record_id, table.c.reason).where(
                table.c.entity == entity, table.c.record_id.in_(ids[start : start + 500])
            )
        )
        found.update({r.record_id: r.reason for r in rows})
    return found


def ensure_unlocked(conn: Connection, state, context, entity: str, ids: list[int]) -> None:
    """423 if one of the records is locked (administrators may still change them)."""
    if context.is_admin or not ids:
        return
    found = locks_of(conn, state, entity, list(ids))
    if found:
        rid = min(found)
        raise Locked(
            f"{entity} {rid} is locked ({found[rid]}); it cannot be changed until that ends",
            locked=[{"id": i, "reason": r} for i, r in sorted(found.items())],
        )
