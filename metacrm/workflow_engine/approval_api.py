"""REST of approval flows (DESIGN.md section 4):

POST /api/v1/records/{entity}/{id}/approvals   {"flow": name, "comment"?}   submit
GET  /api/v1/records/{entity}/{id}/approvals   the record's requests
GET  /api/v1/approvals?assigned=me | submitted=me [&status=]
GET  /api/v1/approvals/{id}                    one request: steps, tasks, audit trail
POST /api/v1/approvals/{id}/{action}           approve | reject | recall | delegate {"to"} | comment
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from metacrm.metadata.model import label_text
from metacrm.platform.api.common import json_body, resolve_request, service
from metacrm.platform.errors import BadQuery
from metacrm.platform.timestamps import rfc3339
from metacrm.workflow_engine.approvals import Approvals

LIMIT = 200
ID = "id"


def _iso(value):
    return rfc3339(value)


def _titles(engine: Approvals, conn, rows) -> dict:
    """(entity, id) -> title, when the reader may see the title field."""
    wanted: dict[str, set] = {}
    for r in rows:
        wanted.setdefault(r.entity, set()).add(r.record_id)
    out = {}
    for name, ids in wanted.items():
        entity = engine.state.model.entities.get(name)
        if entity is None or not entity.title_field:
            continue
        if engine.service.grant(entity).level(entity.title_field) == "none":
            continue
        table = engine.state.tables[name]
        for rid, title in conn.execute(
            select(table.c.id, table.c[entity.title_field]).where(table.c.id.in_(ids))
        ):
            out[(name, rid)] = title
    return out


def _summary(engine: Approvals, row, titles: dict) -> dict:
    flow = engine.state.model.approvals.get(row.flow)
    locale = engine.ctx.locale
    step = None
    if flow is not None and row.step is not None and row.step < len(flow.steps):
        s = flow.steps[row.step]
        step = {
            "index": row.step,
            "name": s.name,
            "label": label_text(s.label, locale),
            "mode": s.mode,
        }
    return {
        "id": row.id,
        "flow": row.flow,
        "flow_label": label_text(flow.label, locale) if flow else row.flow,
        "entity": row.entity,
        "record_id": row.record_id,
        "record_title": titles.get((row.entity, row.record_id)),
        "status": row.status,
        "step": step,
        "submitted_by": row.submitted_by,
        "submitted_at": _iso(row.submitted_at),
        "decided_at": _iso(row.decided_at),
    }


def _task(row, flow) -> dict:
    return {
        "id": row.id,
        "step": row.step,
        "step_name": flow.steps[row.step].name if flow and row.step < len(flow.steps) else None,
        "user_id": row.user_id,
        "status": row.status,
        "delegated_from": row.delegated_from,
        "escalated_from": row.escalated_from,
        "created_at": _iso(row.created_at),
        "due_at": _iso(row.due_at),
        "acted_at": _iso(row.acted_at),
        "comment": row.comment,
    }


def detail(engine: Approvals, approval_id: int) -> dict:
    t = engine.t
    with engine.state.engine.connect() as conn:
        row = engine.load(conn, approval_id)
        flow = engine.state.model.approvals.get(row.flow)
        out = _summary(engine, row, _titles(engine, conn, [row]))
        tasks = conn.execute(
            select(t["approval_tasks"])
            .where(t["approval_tasks"].c.approval_id == row.id)
            .order_by(t["approval_tasks"].c.id)
        ).all()
        log = conn.execute(
            select(t["approval_log"])
            .where(t["approval_log"].c.approval_id == row.id)
            .order_by(t["approval_log"].c.id)
        ).all()
    out["tasks"] = [_task(r, flow) for r in tasks]
    out["log"] = [
        {
            "at": _iso(r.at),
            "user_id": r.user_id,
            "action": r.action,
            "step": r.step,
            "comment": r.comment,
            "detail": r.detail,
        }
        for r in log
    ]
    return out


def submit_route(entity: str, record_id: int):
    engine = Approvals(service())
    approval_id = engine.submit(entity, record_id, json_body())
    response = jsonify(detail(engine, approval_id))
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/approvals/{approval_id}"
    return response


def record_approvals_route(entity: str, record_id: int):
    svc = service()
    svc.get(entity, record_id)  # 404 unless the reader may see the record
    engine = Approvals(svc)
    table = engine.t["approvals"]
    with engine.state.engine.connect() as conn:
        rows = conn.execute(
            select(table)
            .where(table.c.entity == entity, table.c.record_id == record_id)
            .order_by(table.c.id.desc())
        ).all()
        titles = _titles(engine, conn, rows)
    return jsonify({"data": [_summary(engine, r, titles) for r in rows]})


def inbox(
    engine: Approvals, assigned: bool, submitted: bool, status: str | None = None
) -> list[dict]:
    """Requests waiting for this user (`assigned`), or the ones they submitted, or (admins)
    everyone's; newest first, at most LIMIT."""
    t, ctx = engine.t, engine.ctx
    approvals, tasks = t["approvals"], t["approval_tasks"]
    with engine.state.engine.connect() as conn:
        if assigned:
            query = (
                select(approvals, tasks.c.id.label("task_id"), tasks.c.due_at.label("task_due_at"))
                .join(tasks, tasks.c.approval_id == approvals.c.id)
                .where(
                    tasks.c.user_id == ctx.user_id,
                    tasks.c.status == "pending",
                    tasks.c.step == approvals.c.step,
                    approvals.c.status == "pending",
                )
            )
        else:
            query = select(approvals)
            if submitted:
                query = query.where(approvals.c.submitted_by == ctx.user_id)
            if status:
                query = query.where(approvals.c.status == status)
        rows = conn.execute(query.order_by(approvals.c.id.desc()).limit(LIMIT)).all()
        titles = _titles(engine, conn, rows)
    data = []
    for r in rows:
        item = _summary(engine, r, titles)
        if assigned:
            item["task"] = {"id": r.task_id, "due_at": _iso(r.task_due_at)}
        data.append(item)
    return data


def list_route():
    engine = Approvals(service())
    assigned, submitted = request.args.get("assigned"), request.args.get("submitted")
    status = request.args.get("status")
    for name, value in (("assigned", assigned), ("submitted", submitted)):
        if value not in (None, "me"):
            raise BadQuery(f"{name} takes only 'me'")
    if status not in (None, "pending", "approved", "rejected", "recalled"):
        raise BadQuery("status is one of pending, approved, rejected, recalled")
    if submitted is None and assigned is None and not engine.ctx.is_admin:
        assigned = "me"  # only admins list everyone's requests
    return jsonify({"data": inbox(engine, bool(assigned), bool(submitted), status)})


def detail_route(approval_id: int):
    return jsonify(detail(Approvals(service()), approval_id))


def action_route(approval_id: int, action: str):
    engine = Approvals(service())
    body = json_body() if request.content_length else {}
    engine.act(approval_id, action, body)
    return jsonify(detail(engine, approval_id))


def blueprint() -> Blueprint:
    bp = Blueprint("approvals", __name__, url_prefix="/api/v1")
    bp.before_request(resolve_request)
    bp.add_url_rule(
        f"/records/<entity>/<{ID}:record_id>/approvals",
        "submit_approval",
        submit_route,
        methods=["POST"],
    )
    bp.add_url_rule(
        f"/records/<entity>/<{ID}:record_id>/approvals",
        "record_approvals",
        record_approvals_route,
        methods=["GET"],
    )
    bp.add_url_rule("/approvals", "approvals", list_route, methods=["GET"])
    bp.add_url_rule(f"/approvals/<{ID}:approval_id>", "approval", detail_route, methods=["GET"])
    bp.add_url_rule(
        f"/approvals/<{ID}:approval_id>/<action>",
        "approval_action",
        action_route,
        methods=["POST"],
    )
    return bp
