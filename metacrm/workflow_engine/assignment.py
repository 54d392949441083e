"""Assignment: pick an owner for a record among candidates (users by role or name).

round_robin keeps a cursor per rule (`_assign_cursors`) so turns survive restarts
and are shared by every worker; load_balanced picks whoever owns the fewest open
records (an optional filter says what is open). Ties go to the lowest user id.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select, update


def candidates(conn, state, people) -> list[int]:
    users, roles = state.system["users"], state.system["user_roles"]
    found: set[int] = set()
    for spec in people:
        if spec.kind == "role":
            found |= set(conn.scalars(select(roles.c.user_id).where(roles.c.role == spec.value)))
        elif spec.kind == "user":
            found |= set(conn.scalars(select(users.c.id).where(users.c.username == spec.value)))
    if not found:
        return []
    return sorted(
        conn.scalars(select(users.c.id).where(users.c.id.in_(found), users.c.is_active.is_(True)))
    )


def round_robin(conn, state, key: str, users: list[int]) -> int:
    cursors = state.system["assign_cursors"]
    query = select(cursors.c.last_user).where(cursors.c.key == key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    last = conn.execute(query).scalar()
    chosen = next((u for u in users if last is None or u > last), users[0])
    if last is None:
        conn.execute(insert(cursors).values(key=key, last_user=chosen))
    else:
        conn.execute(update(cursors).where(cursors.c.key == key).values(last_user=chosen))
    return chosen


def least_loaded(conn, table, users: list[int], open_condition=None, from_clause=None) -> int:
    query = (
        select(table.c.owner_id, func.count())
        .where(table.c.owner_id.in_(users), table.c.deleted_at.is_(None))
        .group_by(table.c.owner_id)
    )
    if from_clause is not None:
        query = query.select_from(from_clause)
    if open_condition is not None:
        query = query.where(open_condition)
    load = dict(conn.execute(query).all())
    return min(users, key=lambda u: (load.get(u, 0), u))
