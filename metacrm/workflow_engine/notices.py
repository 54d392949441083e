"""In-app notices (the `_notifications` inbox) written inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import insert


def notify(conn, state, users, title: str, body, entity, record_id, source: str, at) -> int:
    rows = [
        {
            "user_id": user,
            "title": title[:200],
            "body": body,
            "entity": entity,
            "record_id": record_id,
            "source": source[:120],
            "created_at": at,
        }
        for user in dict.fromkeys(users)
        if user is not None
    ]
    if rows:
        conn.execute(insert(state.system["notifications"]), rows)
    return len(rows)
