"""The transactional outbox: events written in the transaction of the change they
announce, so an event exists exactly when its change committed. This module only
writes and names rows; `platform.jobs` hands them to their handlers."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import insert

from metacrm.platform.db.database import in_list

MAX_DEPTH = 5  # events caused by events caused by ... (automations' loop guard)


def event_ids_in(outbox, conn, ids):
    """`event_id IN ids`, one array parameter on PostgreSQL (see database.in_list)."""
    return in_list(outbox.c.event_id, None, conn.dialect.name, list(ids))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_event(
    topic: str,
    payload: dict,
    *,
    entity: str | None = None,
    record_id: int | None = None,
    depth: int = 0,
    at: dt.datetime | None = None,
) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "topic": topic,
        "entity": entity,
        "record_id": record_id,
        "payload": payload,
        "depth": depth,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": None,
        "created_at": at or now(),
    }


def write_events(conn, state, events: list[dict]) -> list[str]:
    """Add events to the outbox inside the caller's transaction; their ids, to dispatch after it."""
    if not events:
        return []
    conn.execute(insert(state.system["outbox"]), events)
    return [e["event_id"] for e in events]
