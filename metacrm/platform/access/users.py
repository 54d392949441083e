"""User administration: roles, reporting lines, activation, tokens.

Every function validates its input and raises ServiceError subclasses with the
field at fault, so the admin API and the CLI report the same errors.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select, update

from metacrm.platform.access import auth
from metacrm.platform.db.audit import log_event
from metacrm.platform.errors import NotFound, RecordInvalid
from metacrm.platform.tenancy.registry import TenantState


def _check_roles(state: TenantState, roles) -> list[str]:
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise RecordInvalid(
            "roles must be a list of role names",
            [{"field": "roles", "message": "must be a list of names"}],
        )
    unknown = sorted(set(roles) - set(state.model.roles))
    if unknown:
        raise RecordInvalid(
            f"unknown roles {unknown}",
            [
                {
                    "field": "roles",
                    "message": f"unknown roles {unknown} (known: {sorted(state.model.roles)})",
                }
            ],
        )
    return sorted(set(roles))


def _managers(conn, state) -> dict[int, int | None]:
    users = state.system["users"]
    return {r.id: r.manager_id for r in conn.execute(select(users.c.id, users.c.manager_id))}


def _check_manager(conn, state, user_id: int | None, manager_id) -> None:
    if manager_id is None:
        return
    managers = _managers(conn, state)
    if not isinstance(manager_id, int) or manager_id not in managers:
        raise RecordInvalid(
            f"no user with id {manager_id}",
            [{"field": "manager", "message": f"no user with id {manager_id}"}],
        )
    seen: set[int] = set()
    current: int | None = manager_id
    while current is not None and current not in seen:
        if current == user_id:
            raise RecordInvalid(
                "a reporting line cannot loop",
                [{"field": "manager", "message": "would make a reporting loop"}],
            )
        seen.add(current)
        current = managers.get(current)


def set_roles(conn, state: TenantState, user_id: int, roles: list[str]) -> None:
    table = state.system["user_roles"]
    conn.execute(delete(table).where(table.c.user_id == user_id))
    if roles:
        conn.execute(insert(table), [{"user_id": user_id, "role": r} for r in roles])


def describe(conn, state: TenantState, user_id: int) -> dict:
    users, roles = state.system["users"], state.system["user_roles"]
    row = conn.execute(
        select(
            users.c.id,
            users.c.username,
            users.c.email,
            users.c.display_name,
            users.c.is_admin,
            users.c.is_active,
            users.c.manager_id,
        ).where(users.c.id == user_id)
    ).first()
    if row is None:
        raise NotFound(f"no user {user_id}")
    out = dict(row._mapping)
    out["roles"] = sorted(
        r[0] for r in conn.execute(select(roles.c.role).where(roles.c.user_id == user_id))
    )
    return out


def list_users(state: TenantState) -> list[dict]:
    users = state.system["users"]
    with state.engine.connect() as conn:
        return [
            describe(conn, state, uid)
            for (uid,) in conn.execute(select(users.c.id).order_by(users.c.id))
        ]


def create_user(state: TenantState, body: dict, actor: int | None = None) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("username"), str):
        raise RecordInvalid("send a username", [{"field": "username", "message": "required"}])
    roles = _check_roles(state, body.get("roles", []))
    try:
        user_id = auth.create_user(
            state,
            body["username"],
            body.get("password"),
            is_admin=bool(body.get("is_admin")),
            email=body.get("email"),
            display_name=body.get("display_name"),
        )
    except auth.AuthError as exc:
        raise RecordInvalid(
            str(exc),
            [{"field": "password" if "password" in str(exc) else "username", "message": str(exc)}],
        ) from exc
    with state.write.begin() as conn:
        _check_manager(conn, state, user_id, body.get("manager"))
        conn.execute(
            update(state.system["users"])
            .where(state.system["users"].c.id == user_id)
            .values(manager_id=body.get("manager"))
        )
        set_roles(conn, state, user_id, roles)
        log_event(
            conn,
            state,
            "user.created",
            actor,
            {
                "user": user_id,
                "username": body["username"],
                "roles": roles,
                "is_admin": bool(body.get("is_admin")),
            },
        )
        return describe(conn, state, user_id)


def update_user(state: TenantState, user_id: int, body: dict, actor: int | None = None) -> dict:
    if not isinstance(body, dict) or not body:
        raise RecordInvalid("send the properties to change")
    allowed = {"roles", "manager", "is_active", "is_admin", "password", "email", "display_name"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise RecordInvalid(
            f"unknown properties {unknown}",
            [{"field": k, "message": "unknown property"} for k in unknown],
        )
    users = state.system["users"]
    with state.write.begin() as conn:
        describe(conn, state, user_id)
        values = {}
        if "manager" in body:
            _check_manager(conn, state, user_id, body["manager"])
            values["manager_id"] = body["manager"]
        for key in ("is_active", "is_admin"):
            if key in body:
                if not isinstance(body[key], bool):
                    raise RecordInvalid(
                        f"{key} must be true or false",
                        [{"field": key, "message": "must be true or false"}],
                    )
                values[key] = body[key]
        for key in ("email", "display_name"):
            if key in body:
                values[key] = body[key]
        if "password" in body:
            if not isinstance(body["password"], str) or len(body["password"]) < 8:
                raise RecordInvalid(
                    "password must be at least 8 characters",
                    [{"field": "password", "message": "at least 8 characters"}],
                )
            values["password_hash"] = auth.hash_password(body["password"])
        if values:
            conn.execute(update(users).where(users.c.id == user_id).values(**values))
        if "roles" in body:
            set_roles(conn, state, user_id, _check_roles(state, body["roles"]))
        logged = {k: v for k, v in body.items() if k != "password"}
        if "password" in body:
            logged["password"] = "changed"
        log_event(conn, state, "user.updated", actor, {"user": user_id, "changes": logged})
        return describe(conn, state, user_id)


def revoke_token(state: TenantState, token_id: int, actor: int | None = None) -> None:
    tokens = state.system["api_tokens"]
    with state.write.begin() as conn:
        result = conn.execute(
            update(tokens)
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
        if result.rowcount != 1:
            raise NotFound(f"no active token {token_id}")
        log_event(conn, state, "token.revoked", actor, {"token": token_id})
