"""/api/v1/admin: users, their roles and reporting lines, API tokens (administrators only);
/api/v1/records/{entity}/{id}/shares: share one record with a user or a team."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from metacrm.platform.access import auth, shares, users
from metacrm.platform.api.common import json_body, require_admin, service
from metacrm.platform.db.audit import audit_log, log_event
from metacrm.platform.tenancy import secrets as tenant_secrets


def list_users_route():
    require_admin()
    return jsonify({"data": users.list_users(g.metacrm_state)})


def create_user_route():
    require_admin()
    return jsonify(users.create_user(g.metacrm_state, json_body(), g.metacrm_context.user_id)), 201


def update_user_route(user_id: int):
    require_admin()
    return jsonify(
        users.update_user(g.metacrm_state, user_id, json_body(), g.metacrm_context.user_id)
    )


def webhook_secret_route():
    """The key this tenant's webhook calls are signed with (X-Metacrm-Signature)."""
    require_admin()
    return jsonify({"secret": tenant_secrets.get_secret(g.metacrm_state)})


def rotate_webhook_secret_route():
    require_admin()
    state = g.metacrm_state
    secret = tenant_secrets.rotate_secret(state)
    with state.write.begin() as conn:
        log_event(conn, state, "webhook_secret.rotated", g.metacrm_context.user_id, {})
    return jsonify({"secret": secret})


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
    with state.write.begin() as conn:
        log_event(
            conn,
            state,
            "token.created",
            g.metacrm_context.user_id,
            {"token": token_id, "user": user_id},
        )
    return jsonify({"id": token_id, "token": token, "user": user_id}), 201


def audit_log_route():
    require_admin()
    return jsonify({"data": audit_log(g.metacrm_state)})


def revoke_token_route(token_id: int):
    require_admin()
    users.revoke_token(g.metacrm_state, token_id, g.metacrm_context.user_id)
    return "", 204


def share_route(entity: str, record_id: int):
    return jsonify(shares.share(service(), entity, record_id, json_body())), 201


def list_shares_route(entity: str, record_id: int):
    return jsonify({"data": shares.list_shares(service(), entity, record_id)})


def unshare_route(entity: str, record_id: int, user_id: int):
    shares.unshare(service(), entity, record_id, "user", user_id)
    return "", 204


def unshare_team_route(entity: str, record_id: int, head_id: int):
    shares.unshare(service(), entity, record_id, "team", head_id)
    return "", 204


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/admin/audit-log", "admin_audit_log", audit_log_route, methods=["GET"])
    bp.add_url_rule("/admin/users", "admin_users", list_users_route, methods=["GET"])
    bp.add_url_rule("/admin/users", "admin_create_user", create_user_route, methods=["POST"])
    bp.add_url_rule(
        "/admin/users/<int(max=9223372036854775807):user_id>",
        "admin_update_user",
        update_user_route,
        methods=["PATCH"],
    )
    bp.add_url_rule(
        "/admin/users/<int(max=9223372036854775807):user_id>/tokens",
        "admin_create_token",
        create_token_route,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/admin/webhook-secret", "admin_webhook_secret", webhook_secret_route, methods=["GET"]
    )
    bp.add_url_rule(
        "/admin/webhook-secret/rotate",
        "admin_rotate_webhook_secret",
        rotate_webhook_secret_route,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/admin/tokens/<int(max=9223372036854775807):token_id>",
        "admin_revoke_token",
        revoke_token_route,
        methods=["DELETE"],
    )
    bp.add_url_rule(
        "/records/<entity>/<int(max=9223372036854775807):record_id>/shares",
        "share_record",
        share_route,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/records/<entity>/<int(max=9223372036854775807):record_id>/shares/<int(max=9223372036854775807):user_id>",
        "unshare_record",
        unshare_route,
        methods=["DELETE"],
    )
    bp.add_url_rule(
        "/records/<entity>/<int(max=9223372036854775807):record_id>/shares",
        "list_record_shares",
        list_shares_route,
        methods=["GET"],
    )
    bp.add_url_rule(
        "/records/<entity>/<int(max=9223372036854775807):record_id>/shares/team/<int(max=9223372036854775807):head_id>",
        "unshare_record_team",
        unshare_team_route,
        methods=["DELETE"],
    )
