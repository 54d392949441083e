"""Jobs through the API: a record's execution log (whoever may read the record), and
the outbox for administrators (pending, dead-letter list, retry)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select, update

from metacrm.platform.api.common import require_admin, service
from metacrm.platform.errors import BadQuery, Conflict, NotFound
from metacrm.platform.timestamps import rfc3339

STATUSES = ("pending", "dispatched", "running", "done", "dead")
LIMIT = 200


def _iso(value):
    return rfc3339(value)


def executions_route(entity: str, record_id: int):
    svc = service()
    svc.get(entity, record_id)  # 404 unless this user may read it
    log = svc.state.system["job_log"]
    with svc.state.engine.connect() as conn:
        rows = conn.execute(
            select(log)
            .where(log.c.entity == svc.entity(entity).name, log.c.record_id == record_id)
            .order_by(log.c.id.desc())
            .limit(LIMIT)
        ).all()
    data = [
        {
            "event_id": r.event_id,
            "topic": r.topic,
            "handler": r.handler,
            "status": r.status,
            "detail": r.detail,
            "attempt": r.attempt,
            "at": _iso(r.at),
        }
        for r in rows
    ]
    return jsonify({"data": data})


def _event(r) -> dict:
    return {
        "event_id": r.event_id,
        "topic": r.topic,
        "entity": r.entity,
        "record_id": r.record_id,
        "status": r.status,
        "attempts": r.attempts,
        "depth": r.depth,
        "next_attempt_at": _iso(r.next_attempt_at),
        "last_error": r.last_error,
        "created_at": _iso(r.created_at),
        "finished_at": _iso(r.finished_at),
    }


def list_jobs_route():
    require_admin()
    status = request.args.get("status", "dead")
    if status not in STATUSES:
        raise BadQuery(
            f"unknown status '{status}'",
            [{"param": "status", "message": f"one of {', '.join(STATUSES)}"}],
        )
    outbox = g.metacrm_state.system["outbox"]
    with g.metacrm_state.engine.connect() as conn:
        rows = conn.execute(
            select(outbox).where(outbox.c.status == status).order_by(outbox.c.id).limit(LIMIT)
        ).all()
    return jsonify({"data": [_event(r) for r in rows]})


def retry_job_route(event_id: str):
    """Give a dead event a fresh set of attempts and hand it on now."""
    require_admin()
    state = g.metacrm_state
    outbox = state.system["outbox"]
    with state.write.begin() as conn:
        row = conn.execute(select(outbox.c.status).where(outbox.c.event_id == event_id)).first()
        if row is None:
            raise NotFound(f"no event {event_id}")
        if row.status != "dead":
            raise Conflict(f"event {event_id} is {row.status}, not dead")
        conn.execute(
            update(outbox)
            .where(outbox.c.event_id == event_id)
            .values(status="pending", attempts=0, next_attempt_at=None, finished_at=None)
        )
    state.jobs.dispatch(state, [event_id])
    with state.engine.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.event_id == event_id)).first()
    return jsonify(_event(row))


def register(bp: Blueprint) -> None:
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>/executions",
        "record_executions",
        executions_route,
        methods=["GET"],
    )
    bp.add_url_rule("/admin/jobs", "admin_jobs", list_jobs_route, methods=["GET"])
    bp.add_url_rule(
        "/admin/jobs/<event_id>/retry", "admin_retry_job", retry_job_route, methods=["POST"]
    )
