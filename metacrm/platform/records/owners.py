"""Changing records' owners: pool claims and returns, assignment rules, handovers.

An owner change is a record change like any other: the version moves, the field
history and a `record.updated` event (changes `{"owner_id": [old, new]}`, so an
automation on `field_changed: [owner_id]` fires) are written in the same
transaction. Callers check record locks where a user acts. `only_if` narrows the rows
atomically (a claim takes only records still unowned and in its pool): the rows
are read locked, so what is reported as changed is what was written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from metacrm.platform.db import audit

if TYPE_CHECKING:
    from metacrm.platform.records.core import RecordCore


def assign_owner(
    service: RecordCore,
    conn: Connection,
    entity_name: str,
    ids: list[int],
    owner_id: int | None,
    only_if=None,
) -> dict[int, int | None]:
    """Give the live records `ids` (those matching `only_if`) to `owner_id` (None: nobody).

    Returns {record id: previous owner} of the records whose owner changed.
    """
    state, context = service.state, service.context
    entity = service.entity(entity_name)
    table = state.tables[entity.name]
    query = (
        select(table.c.id, table.c.owner_id)
        .where(table.c.id.in_(sorted(set(ids))), table.c.deleted_at.is_(None))
        .order_by(table.c.id)
    )
    if only_if is not None:
        query = query.where(only_if)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    previous = {rid: old for rid, old in conn.execute(query) if old != owner_id}
    if not previous:
        return {}
    changed = sorted(previous)
    conn.execute(
        update(table)
        .where(table.c.id.in_(changed))
        .values(
            owner_id=owner_id,
            updated_at=context.now,
            updated_by=context.user_id,
            version=table.c.version + 1,
        )
    )
    history = [
        row
        for rid in changed
        for row in audit.history_rows(
            entity,
            rid,
            "update",
            context.user_id,
            context.now,
            [("owner_id", previous[rid], owner_id)],
        )
    ]
    if history:
        conn.execute(insert(state.system["history"]), history)
    service.record_events(
        conn,
        entity,
        "record.updated",
        [
            (rid, {"actor": context.user_id, "changes": {"owner_id": [previous[rid], owner_id]}})
            for rid in changed
        ],
    )
    return previous
