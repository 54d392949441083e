"""Users, password hashing (argon2) and API tokens (SHA-256 at rest).

A token names its tenant (`mct.<tenant>.<secret>`), so a request carrying it
is bound to that tenant; only the SHA-256 of the whole token is stored. The
secret has 256 bits of entropy, so a fast hash is safe (unlike passwords).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from metacrm.platform.tenancy.registry import TenantState

_hasher = PasswordHasher()
TOKEN_PREFIX = "mct"


class AuthError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_admin: bool
    is_active: bool


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    state: TenantState,
    username: str,
    password: str | None,
    *,
    is_admin: bool = False,
    email: str | None = None,
    display_name: str | None = None,
) -> int:
    if not username or len(username) > 100:
        raise AuthError("username must be 1-100 characters")
    if password is not None and len(password) < 8:
        raise AuthError("password must be at least 8 characters")
    users = state.system["users"]
    try:
        with state.write.begin() as conn:
            return conn.execute(
                users.insert()
                .values(
                    username=username,
                    email=email,
                    display_name=display_name or username,
                    password_hash=hash_password(password) if password else None,
                    is_admin=is_admin,
                    is_active=True,
                    created_at=dt.datetime.now(dt.UTC),
                )
                .returning(users.c.id)
            ).scalar_one()
    except IntegrityError as exc:
        raise AuthError(f"user '{username}' already exists") from exc


def find_user(state: TenantState, username: str) -> User | None:
    users = state.system["users"]
    with state.engine.connect() as conn:
        row = conn.execute(
            select(users.c.id, users.c.username, users.c.is_admin, users.c.is_active).where(
                users.c.username == username
            )
        ).first()
    return User(row.id, row.username, row.is_admin, row.is_active) if row else None


def set_password(state: TenantState, username: str, password: str) -> None:
    users = state.system["users"]
    with state.write.begin() as conn:
        conn.execute(
            users.update()
            .where(users.c.username == username)
            .values(password_hash=hash_password(password))
        )


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(state: TenantState, user_id: int, name: str | None = None) -> str:
    token = f"{TOKEN_PREFIX}.{state.name}.{secrets.token_urlsafe(32)}"
    with state.write.begin() as conn:
        conn.execute(
            state.system["api_tokens"]
            .insert()
            .values(
                user_id=user_id,
                token_hash=digest(token),
                name=name,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return token


def token_tenant(token: str) -> str | None:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    return parts[1]


def _token_query(state: TenantState):
    query = state.cache.get("auth:token_query")
    if query is None:
        tokens, users = state.system["api_tokens"], state.system["users"]
        query = state.cache["auth:token_query"] = (
            select(users.c.id, users.c.username, users.c.is_admin, users.c.is_active)
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(
                tokens.c.token_hash == bindparam("token_hash"),
                tokens.c.revoked_at.is_(None),
                users.c.is_active.is_(True),
            )
        )
    return query


def user_for_token(state: TenantState, token: str) -> User | None:
    """The active user of an unrevoked token (looked up on every request: revocation is immediate)."""
    with state.engine.connect() as conn:
        row = conn.execute(_token_query(state), {"token_hash": digest(token)}).first()
    return User(row.id, row.username, row.is_admin, row.is_active) if row else None
