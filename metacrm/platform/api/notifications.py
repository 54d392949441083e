"""/api/v1/notifications: the signed-in user's in-app inbox (automations write to it)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select, update

from metacrm.platform.errors import NotFound
from metacrm.platform.query.lists import parse_flag
from metacrm.platform.timestamps import rfc3339

LIMIT = 200


def list_route():
    state, ctx = g.metacrm_state, g.metacrm_context
    table = state.system["notifications"]
    query = select(table).where(table.c.user_id == ctx.user_id)
    if parse_flag(request.args, "unread"):
        query = query.where(table.c.read_at.is_(None))
    with state.engine.connect() as conn:
        rows = conn.execute(query.order_by(table.c.id.desc()).limit(LIMIT)).all()
    data = [
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
    return jsonify({"data": data})


def read_route(notification_id: int):
    state, ctx = g.metacrm_state, g.metacrm_context
    table = state.system["notifications"]
    with state.write.begin() as conn:
        changed = conn.execute(
            update(table)
            .where(table.c.id == notification_id, table.c.user_id == ctx.user_id)
            .values(read_at=dt.datetime.now(dt.UTC))
        ).rowcount
    if not changed:
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
