"""/api/v1/notifications: the signed-in user's in-app inbox (automations write to it)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, jsonify, request
from sqlalchemy import func, select, update

from metacrm.platform.errors import NotFound
from metacrm.platform.query.lists import parse_flag
from metacrm.platform.timestamps import rfc3339

LIMIT = 200


def inbox(state, user_id: int, unread_only: bool = False) -> list[dict]:
    """The user's notifications, newest first (at most LIMIT)."""
    table = state.system["notifications"]
    query = select(table).where(table.c.user_id == user_id)
    if unread_only:
        query = query.where(table.c.read_at.is_(None))
    with state.engine.connect() as conn:
        rows = conn.execute(query.order_by(table.c.id.desc()).limit(LIMIT)).all()
    return [
        {
            "id": r.id,
            "title": r.title,
            "body": r.body,
            "entity": r.entity,
            "record_id": r.record_id,
            "source": r.source,
            "created_at": rfc3339(r.created_at),
            "read_at": rfc3339(r.read_at),
        }
        for r in rows
    ]


def unread_count(state, user_id: int) -> int:
    table = state.system["notifications"]
    with state.engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(table)
            .where(table.c.user_id == user_id, table.c.read_at.is_(None))
        ).scalar_one()


def mark_read(state, user_id: int, notification_id: int | None = None) -> int:
    """Mark one notification (or, with None, every unread one) of the user read."""
    table = state.system["notifications"]
    where = [table.c.user_id == user_id, table.c.read_at.is_(None)]
    if notification_id is not None:
        where = [table.c.user_id == user_id, table.c.id == notification_id]
    with state.write.begin() as conn:
        return conn.execute(
            update(table).where(*where).values(read_at=dt.datetime.now(dt.UTC))
        ).rowcount


def list_route():
    state, ctx = g.metacrm_state, g.metacrm_context
    return jsonify({"data": inbox(state, ctx.user_id, parse_flag(request.args, "unread"))})


def read_route(notification_id: int):
    if not mark_read(g.metacrm_state, g.metacrm_context.user_id, notification_id):
        raise NotFound(f"no notification {notification_id}")
    return "", 204


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/notifications", "notifications", list_route, methods=["GET"])
    bp.add_url_rule(
        "/notifications/<int(max=9223372036854775807):notification_id>/read",
        "read_notification",
        read_route,
        methods=["POST"],
    )
