"""/api/v1/meta: read the compiled entities; add entities and fields to the tenant overlay.

Every change goes through compile -> migration plan -> apply in one
transaction (TenantRegistry.update_overlay), so a bad field leaves nothing
behind and a good one is live for the next request, without a restart.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from metacrm.metadata.serialize import entity_to_dict, field_to_dict
from metacrm.platform.api.common import json_body, require_admin, runtime
from metacrm.platform.errors import NotFound, RecordInvalid
from metacrm.platform.query.lists import parse_flag
from metacrm.platform.tenancy import overlay_edits


def _state():
    return g.metacrm_state


def _entity_or_404(name: str):
    entity = _state().model.entities.get(name)
    if entity is None:
        model = _state().model
        raise NotFound(
            f"unknown entity '{name}'",
            known=sorted(n for n, e in model.entities.items() if _readable(e)),
        )
    return entity


def _visible(entity_dict: dict, entity) -> dict:
    """The entity as this user may see it: no hidden fields."""
    hidden = g.metacrm_context.access.entity(entity.name).hidden
    if hidden:
        entity_dict["fields"] = [f for f in entity_dict["fields"] if f["name"] not in hidden]
    return entity_dict


def _readable(entity) -> bool:
    return g.metacrm_context.access.entity(entity.name).can("read")


def list_entities():
    model = _state().model
    data = [
        _visible(entity_to_dict(e, model.pipelines.get(e.pipeline)), e)
        for e in model.entities.values()
        if _readable(e)
    ]
    return jsonify({"data": data, "content_hash": model.content_hash})


def get_entity(entity: str):
    e = _entity_or_404(entity)
    if not _readable(e):
        raise NotFound(f"unknown entity '{entity}'")
    return jsonify(_visible(entity_to_dict(e, _state().model.pipelines.get(e.pipeline)), e))


def _dry_run() -> bool:
    return parse_flag(request.args, "dry_run")


def _apply(mutate):
    ctx = g.metacrm_context
    state, plan = runtime().tenants.update_overlay(
        ctx.tenant, mutate, actor_id=ctx.user_id, dry_run=_dry_run()
    )
    g.metacrm_state = state
    return state, plan


def create_entity():
    require_admin()
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise RecordInvalid(
            "send an entity declaration with a `name` and `fields`",
            [{"field": "name", "message": "required"}],
        )
    name = body["name"]
    state, plan = _apply(overlay_edits.create_entity(name, body))
    out = {"plan": plan.to_dict(), "dry_run": _dry_run()}
    if not _dry_run():
        out["entity"] = entity_to_dict(state.model.entities[name])
    return jsonify(out), 200 if _dry_run() else 201


def add_field(entity: str):
    require_admin()
    _entity_or_404(entity)
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise RecordInvalid(
            "send a field declaration with a `name` and a `type`",
            [{"field": "name", "message": "required"}],
        )
    decl = {k: v for k, v in body.items() if k != "name"}
    fname = body["name"]
    state, plan = _apply(overlay_edits.add_field(entity, fname, decl))
    out = {"plan": plan.to_dict(), "dry_run": _dry_run()}
    if not _dry_run():
        out["field"] = field_to_dict(state.model.entities[entity].fields[fname])
    return jsonify(out), 200 if _dry_run() else 201


def modify_field(entity: str, field: str):
    require_admin()
    e = _entity_or_404(entity)
    if field not in e.fields:
        raise NotFound(f"entity '{entity}' has no field '{field}'")
    changes = json_body()
    if not isinstance(changes, dict) or not changes:
        raise RecordInvalid("send the properties to change as a JSON object")
    state, plan = _apply(overlay_edits.modify_field(e, field, changes))
    out = {"plan": plan.to_dict(), "dry_run": _dry_run()}
    if not _dry_run():
        out["field"] = field_to_dict(state.model.entities[entity].fields[field])
    return jsonify(out)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/meta/entities", "meta_entities", list_entities, methods=["GET"])
    bp.add_url_rule("/meta/entities", "meta_create_entity", create_entity, methods=["POST"])
    bp.add_url_rule("/meta/entities/<entity>", "meta_entity", get_entity, methods=["GET"])
    bp.add_url_rule("/meta/entities/<entity>/fields", "meta_add_field", add_field, methods=["POST"])
    bp.add_url_rule(
        "/meta/entities/<entity>/fields/<field>",
        "meta_modify_field",
        modify_field,
        methods=["PATCH"],
    )
