"""/api/v1/records/{entity}[/{id}]: list, create (one or bulk), get, update, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from metacrm.platform.api.common import json_body, service
from metacrm.platform.errors import RecordInvalid
from metacrm.platform.query.aggregate import aggregate
from metacrm.platform.query.lists import list_records
from metacrm.platform.records import comments, lifecycle, stage_history
from metacrm.platform.records.core import MAX_BULK


def list_route(entity: str):
    params = {k: request.args.getlist(k) for k in request.args}
    return jsonify(list_records(service(), entity, params))


def create_route(entity: str):
    body = json_body()
    svc = service()
    if isinstance(body, list):
        records = svc.create_many(entity, body)
        return jsonify({"data": records, "count": len(records)}), 201
    if not isinstance(body, dict):
        raise RecordInvalid("the body must be a JSON object (one record) or a list (bulk create)")
    record = svc.create(entity, body)
    return jsonify(record), 201, {"Location": f"/api/v1/records/{entity}/{record['id']}"}


def bulk_create_route(entity: str):
    """POST /records/{entity}/bulk: a list of records, created all or none (the same as a
    list body on POST /records/{entity}, with one response shape for generated clients)."""
    body = json_body()
    if not isinstance(body, list):
        raise RecordInvalid("the body must be a JSON list of records")
    records = service().create_many(entity, body)
    return jsonify({"data": records, "count": len(records)}), 201


def get_route(entity: str, record_id: int):
    return jsonify(service().get(entity, record_id))


def update_route(entity: str, record_id: int):
    body = json_body()
    if not isinstance(body, dict):
        raise RecordInvalid("the body must be a JSON object")
    return jsonify(service().update(entity, record_id, body))


def delete_route(entity: str, record_id: int):
    service().delete(entity, record_id)
    return "", 204


def stages_route(entity: str, record_id: int):
    return jsonify({"data": stage_history.record_stages(service(), entity, record_id)})


def stage_times_route(entity: str):
    return jsonify(stage_history.stage_times(service(), entity, request.args.to_dict()))


def aggregate_route(entity: str):
    params = {k: request.args.getlist(k) for k in request.args}
    return jsonify(aggregate(service(), entity, params))


def history_route(entity: str, record_id: int):
    return jsonify({"data": lifecycle.history(service(), entity, record_id)})


def recycle_bin_route(entity: str):
    return jsonify({"data": lifecycle.recycle_bin(service(), entity)})


def restore_route(entity: str, record_id: int):
    return jsonify(lifecycle.restore(service(), entity, record_id))


def merge_route(entity: str, record_id: int):
    return jsonify(lifecycle.merge(service(), entity, record_id, json_body()))


def assign_route(entity: str):
    """POST /records/{entity}/assign {"ids": [...], "owner": user id}: a new owner for
    records the caller may change, all or nothing."""
    body = json_body()
    ids: Any = body.get("ids") if isinstance(body, dict) else None
    owner: Any = body.get("owner") if isinstance(body, dict) else None
    errors = []
    if not (
        isinstance(ids, list)
        and 0 < len(ids) <= MAX_BULK
        and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        errors.append({"field": "ids", "message": f"a list of 1 to {MAX_BULK} record ids"})
    if not isinstance(owner, int) or isinstance(owner, bool):
        errors.append({"field": "owner", "message": "a user id"})
    if errors:
        raise RecordInvalid('send {"ids": [record ids], "owner": user id}', errors)
    changed = service().reassign(entity, ids, owner)
    return jsonify({"owner": owner, "changed": changed})


def comments_route(entity: str, record_id: int):
    if request.method == "POST":
        body = json_body()
        text = body.get("body") if isinstance(body, dict) else None
        return jsonify(comments.add(service(), entity, record_id, text)), 201
    return jsonify({"data": comments.listed(service(), entity, record_id)})


def delete_comment_route(entity: str, record_id: int, comment_id: int):
    comments.remove(service(), entity, record_id, comment_id)
    return "", 204


def register(bp: Blueprint) -> None:
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>/comments",
        "record_comments",
        comments_route,
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>/comments/<id:comment_id>",
        "delete_comment",
        delete_comment_route,
        methods=["DELETE"],
    )
    bp.add_url_rule("/records/<entity>/assign", "assign_records", assign_route, methods=["POST"])
    bp.add_url_rule(
        "/records/<entity>/bulk", "bulk_create_records", bulk_create_route, methods=["POST"]
    )
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>/merge",
        "merge_records",
        merge_route,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>/history",
        "record_history",
        history_route,
        methods=["GET"],
    )
    bp.add_url_rule("/recycle-bin/<entity>", "recycle_bin", recycle_bin_route, methods=["GET"])
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>/restore",
        "restore_record",
        restore_route,
        methods=["POST"],
    )
    bp.add_url_rule("/aggregate/<entity>", "aggregate", aggregate_route, methods=["GET"])
    bp.add_url_rule(
        "/aggregate/<entity>/stage-times", "stage_times", stage_times_route, methods=["GET"]
    )
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>/stages",
        "record_stages",
        stages_route,
        methods=["GET"],
    )
    bp.add_url_rule("/records/<entity>", "list_records", list_route, methods=["GET"])
    bp.add_url_rule("/records/<entity>", "create_record", create_route, methods=["POST"])
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>",
        "get_record",
        get_route,
        methods=["GET"],
    )
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>",
        "update_record",
        update_route,
        methods=["PATCH"],
    )
    bp.add_url_rule(
        "/records/<entity>/<id:record_id>",
        "delete_record",
        delete_route,
        methods=["DELETE"],
    )
