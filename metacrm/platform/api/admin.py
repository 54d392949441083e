"""/api/v1/admin: users, their roles and reporting lines, API tokens (administrators only);
/api/v1/records/{entity}/{id}/shares: share one record with one user."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from metacrm.platform import auth, users
from metacrm.platform.api.common import json_body, require_admin, service


def list_users_route():
    require_admin()
    return jsonify({"data": users.list_users(g.metacrm_state)})


def create_user_route():
    require_admin()
    return jsonify(users.create_user(g.metacrm_state, json_body())), 201


def update_user_route(user_id: int):
    require_admin()
    return jsonify(users.update_user(g.metacrm_state, user_id, json_body()))


def create_token_route(user_id: int):
    require_admin()
    state = g.metacrm_state
    body = json_body() or {}
    with state.engine.connect() as conn:
        users.describe(conn, state, user_id)
    token = auth.create_token(state, user_id, body.get("name") if isinstance(body, dict) else None)
    tokens = state.system["api_tokens"]
    with state.engine.connect() as conn:
        token_id = conn.execute(
            tokens.select()
            .with_only_columns(tokens.c.id)
            .where(tokens.c.token_hash == auth.digest(token))
        ).scalar_one()
    return jsonify({"id": token_id, "token": token, "user": user_id}), 201


def revoke_token_route(token_id: int):
    require_admin()
    users.revoke_token(g.metacrm_state, token_id)
    return "", 204


def share_route(entity: str, record_id: int):
    return jsonify(users.share(service(), entity, record_id, json_body())), 201


def unshare_route(entity: str, record_id: int, user_id: int):
    users.unshare(service(), entity, record_id, user_id)
    return "", 204


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/admin/users", "admin_users", list_users_route, methods=["GET"])
    bp.add_url_rule("/admin/users", "admin_create_user", create_user_route, methods=["POST"])
    bp.add_url_rule(
        "/admin/users/<int:user_id>", "admin_update_user", update_user_route, methods=["PATCH"]
    )
    bp.add_url_rule(
        "/admin/users/<int:user_id>/tokens",
        "admin_create_token",
        create_token_route,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/admin/tokens/<int:token_id>", "admin_revoke_token", revoke_token_route, methods=["DELETE"]
    )
    bp.add_url_rule(
        "/records/<entity>/<int:record_id>/shares", "share_record", share_route, methods=["POST"]
    )
    bp.add_url_rule(
        "/records/<entity>/<int:record_id>/shares/<int:user_id>",
        "unshare_record",
        unshare_route,
        methods=["DELETE"],
    )
