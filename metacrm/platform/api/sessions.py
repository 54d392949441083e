"""Browser sessions: login/logout with Flask-Login, CSRF with Flask-WTF, login throttling.

API clients send `Authorization: Bearer`; browsers log in once and send the
session cookie plus a CSRF token on every state-changing request (an API call
with no credentials at all is a 401, not a CSRF error). Failed logins are counted
in the tenant database (so every worker process sees them): after MAX_FAILURES
for one username from one client address, or MAX_ADDRESS_FAILURES from one
address for any usernames, within WINDOW, logins answer 429 with Retry-After.
So an attacker guessing one user's password locks out neither that user on other
machines nor anyone else; behind a proxy the client address comes from
X-Forwarded-For only when METACRM_TRUSTED_PROXIES says how many proxies to trust.
An unknown username costs the same password hash as a wrong password.
The session cookie is Secure whenever the request came over https.
"""

from __future__ import annotations

import datetime as dt
import time

from flask import Blueprint, Flask, current_app, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect, generate_csrf
from sqlalchemy import func, insert, select

from metacrm.platform.access import auth
from metacrm.platform.db.audit import log_event
from metacrm.platform.errors import RecordInvalid, ServiceError, Unauthorized
from metacrm.platform.tenancy.registry import UnknownTenant

MAX_FAILURES = 5  # one username from one address
MAX_ADDRESS_FAILURES = 50  # one address, any usernames (password spraying)
WINDOW = dt.timedelta(minutes=15)
# verified when the username is unknown, so that answer takes as long as a wrong password
_DUMMY_HASH = auth.hash_password("metacrm-timing-equalizer")


class TooManyAttempts(ServiceError):
    status, title, type = 429, "Too many login attempts", "https://metacrm.dev/problems/throttled"


class SessionUser(UserMixin):
    def __init__(self, tenant: str, user: auth.User):
        self.tenant = tenant
        self.user = user

    def get_id(self) -> str:
        return f"{self.tenant}:{self.user.id}"


def _failures(conn, table, since, **where) -> int:
    return conn.execute(
        select(func.count())
        .select_from(table)
        .where(
            *[table.c[k] == v for k, v in where.items()],
            table.c.at >= since,
            table.c.succeeded.is_(False),
        )
    ).scalar_one()


def check_throttle(state, username: str, ip: str, now: dt.datetime) -> None:
    table = state.system["login_attempts"]
    since = now - WINDOW
    with state.engine.connect() as conn:
        if (
            _failures(conn, table, since, username=username, ip=ip) >= MAX_FAILURES
            or _failures(conn, table, since, ip=ip) >= MAX_ADDRESS_FAILURES
        ):
            raise TooManyAttempts(
                f"too many failed logins; try again in {int(WINDOW.total_seconds() // 60)} minutes",
                retry_after=int(WINDOW.total_seconds()),
            )


def record_attempt(
    state, username: str, ip: str, now: dt.datetime, succeeded: bool, user_id: int | None
) -> None:
    with state.write.begin() as conn:
        conn.execute(
            insert(state.system["login_attempts"]).values(
                username=username, ip=ip, at=now, succeeded=succeeded
            )
        )
        log_event(
            conn,
            state,
            "login.succeeded" if succeeded else "login.failed",
            user_id,
            {"username": username, "ip": ip},
        )


def _runtime():
    return current_app.extensions["metacrm"]


def login():
    """POST /login {tenant, username, password} (JSON or form) with the CSRF token."""
    data = request.get_json(silent=True) if request.is_json else request.form
    data = data or {}
    tenant, username, password = (
        data.get("tenant") or _runtime().settings.default_tenant,
        data.get("username"),
        data.get("password"),
    )
    if (
        not (isinstance(username, str) and isinstance(password, str) and isinstance(tenant, str))
        or not username
        or any("\x00" in t for t in (username, password, tenant))
    ):
        raise RecordInvalid(
            "send username and password",
            [
                {"field": "username", "message": "required"},
                {"field": "password", "message": "required"},
            ],
        )
    try:
        state = _runtime().tenant(tenant)
    except (UnknownTenant, ValueError):
        raise Unauthorized("wrong tenant, username or password") from None
    now = dt.datetime.now(dt.UTC)
    ip = request.remote_addr or "unknown"
    check_throttle(state, username, ip, now)
    users = state.system["users"]
    with state.engine.connect() as conn:
        row = conn.execute(
            select(
                users.c.id,
                users.c.username,
                users.c.is_admin,
                users.c.is_active,
                users.c.password_hash,
            ).where(users.c.username == username)
        ).first()
    valid = auth.verify_password(row.password_hash if row else _DUMMY_HASH, password)
    if row is None or not row.is_active or not valid:
        record_attempt(state, username, ip, now, False, None)
        raise Unauthorized("wrong tenant, username or password")
    record_attempt(state, username, ip, now, True, row.id)
    login_user(SessionUser(tenant, auth.User(row.id, row.username, row.is_admin, row.is_active)))
    session["seen"] = int(time.time())
    return jsonify(
        {
            "tenant": tenant,
            "user": {"id": row.id, "username": row.username},
            "csrf_token": generate_csrf(),
        }
    )


def csrf_token():
    """GET /login: a CSRF token for the login form (and for API calls made with the session)."""
    return jsonify({"csrf_token": generate_csrf()})


def logout():
    logout_user()
    return "", 204


def session_user(tenant_hint: str | None):
    """The logged-in (tenant, auth.User) of this request's session, or None."""
    if not current_user or not current_user.is_authenticated:
        return None
    if tenant_hint and tenant_hint != current_user.tenant:
        return None
    return current_user.tenant, current_user.user


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure when this request came over https (directly, or
    through a trusted proxy's X-Forwarded-Proto), whatever SESSION_COOKIE_SECURE says."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_sessions(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    manager = LoginManager()
    manager.init_app(app)
    csrf = CSRFProtect()
    app.config.setdefault(
        "WTF_CSRF_CHECK_DEFAULT", False
    )  # checked below, only for cookie sessions
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    csrf.init_app(app)

    @manager.user_loader
    def load_user(user_id: str):
        tenant, _, uid = user_id.partition(":")
        try:
            state = app.extensions["metacrm"].tenant(tenant)
        except (UnknownTenant, ValueError):
            return None
        users = state.system["users"]
        with state.engine.connect() as conn:
            row = conn.execute(
                select(users.c.id, users.c.username, users.c.is_admin, users.c.is_active).where(
                    users.c.id == int(uid or 0)
                )
            ).first()
        if row is None or not row.is_active:
            return None
        return SessionUser(tenant, auth.User(row.id, row.username, row.is_admin, row.is_active))

    @app.before_request
    def _idle_timeout():
        # a browser session left unused for session_idle_minutes signs out (the next
        # screen goes to /login, the next API call is a 401); "seen" moves once a minute
        if not current_user.is_authenticated:
            return None
        now = int(time.time())
        seen = session.get("seen", now)
        idle = app.extensions["metacrm"].settings.session_idle_minutes * 60
        if now - seen > idle:
            logout_user()
            session.clear()
        elif now - seen >= 60 or "seen" not in session:
            session["seen"] = now
        return None

    @app.before_request
    def _csrf_for_sessions():
        # Bearer-token clients are not exposed to CSRF (browsers never add the header);
        # everything else that changes state must carry the session's CSRF token.
        if request.method in ("GET", "HEAD", "OPTIONS") or request.headers.get(
            "Authorization", ""
        ).startswith("Bearer "):
            return None
        if request.path.startswith("/api/") and not current_user.is_authenticated:
            return None  # no credentials at all: the API answers 401, not a CSRF error
        csrf.protect()
        return None

    bp = Blueprint("sessions", __name__)
    bp.add_url_rule("/login", "login_form", csrf_token, methods=["GET"])
    bp.add_url_rule("/login", "login", login, methods=["POST"])
    bp.add_url_rule("/logout", "logout", logout, methods=["POST"])
    app.register_blueprint(bp)
