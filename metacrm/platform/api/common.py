"""Request plumbing shared by API routes: tenant + actor resolution, problem+json."""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import BaseConverter

from metacrm.metadata.errors import MetadataInvalid
from metacrm.platform.access import auth
from metacrm.platform.access.context import Context
from metacrm.platform.access.permissions import load_access
from metacrm.platform.api.sessions import session_user
from metacrm.platform.db.migrations import MigrationFailed, MigrationRefused
from metacrm.platform.errors import BadQuery, Forbidden, RecordInvalid, ServiceError, Unauthorized
from metacrm.platform.records.service import RecordService
from metacrm.platform.tenancy.registry import TenantNeedsMigration, UnknownTenant

PROBLEM = "application/problem+json"
MAX_RECORD_ID = 2**63 - 1


class RecordIdConverter(BaseConverter):
    """`<id:record_id>`: digits; one past the 64-bit range is a record that does not
    exist (404 for every method). werkzeug's `int(max=...)` made such a DELETE a 405."""

    regex = r"\d{1,40}"  # longer matches no rule: 404 too
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_RECORD_ID:
            raise NotFound(f"no record with id {value}")
        return number

    def to_url(self, value) -> str:
        return str(int(value))


def runtime():
    return current_app.extensions["metacrm"]


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra):
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    return response


def _tenant_from_host(host: str) -> str | None:
    base = current_app.config.get("METACRM_BASE_DOMAIN")
    if base and host.endswith("." + base):
        return host[: -len(base) - 1].split(".")[-1]
    return None


AUTH_CACHE_SIZE = 10_000


def _bearer_user():
    """(tenant, state, user, access) of a bearer token. Who a token is and what they may
    do are cached per process while the tenant's auth epoch and metadata version stay the
    same, so a revoked token or a changed role is refused by the very next request."""
    token = request.headers["Authorization"][len("Bearer ") :].strip()
    tenant = auth.token_tenant(token)
    asked = request.headers.get("X-Tenant") or _tenant_from_host(request.host.split(":")[0])
    if tenant is None or (asked and asked != tenant):
        raise Unauthorized("invalid API token for this tenant")
    registry = runtime().tenants
    try:
        state, epoch = registry.state_and_epoch(tenant)
    except UnknownTenant:
        raise Unauthorized("invalid API token for this tenant") from None
    key, stamp = (tenant, auth.digest(token)), (state.version_id, epoch)
    hit = registry.auth_cache.get(key)
    if hit is not None and hit[0] == stamp:
        return tenant, state, hit[1], hit[2]
    user = auth.user_for_token(state, token)
    if user is None:
        raise Unauthorized("invalid or revoked API token")
    access = load_access(state, user.id, user.is_admin)
    if len(registry.auth_cache) >= AUTH_CACHE_SIZE:
        registry.auth_cache.clear()
    registry.auth_cache[key] = (stamp, user, access)
    return tenant, state, user, access


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def resolve_request():
    """Authenticate (bearer token, or the browser session) and bind the request to its tenant."""
    # NUL characters cannot be stored by PostgreSQL (nor meant by anyone): refuse them up front
    if any("\x00" in v for values in request.args.listvalues() for v in values):
        raise BadQuery("query parameters must not contain NUL characters")
    if request.headers.get("Authorization", "").startswith("Bearer "):
        tenant, state, user, access = _bearer_user()
    else:
        asked = request.headers.get("X-Tenant") or _tenant_from_host(request.host.split(":")[0])
        found = session_user(asked)
        if found is None:
            raise Unauthorized("log in, or send an API token: Authorization: Bearer <token>")
        tenant, user = found
        state = runtime().tenant(tenant)
        access = load_access(state, user.id, user.is_admin)
    g.metacrm_state = state
    g.metacrm_context = Context(
        access=access,
        tenant=tenant,
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        locale=request.accept_languages.best_match(["en", "zh-CN"]) or "en",
    )
    return None


def service() -> RecordService:
    rt = runtime()
    return RecordService(g.metacrm_state, g.metacrm_context, rt.pm, rt.registry)


def require_admin() -> None:
    if not g.metacrm_context.is_admin:
        raise Forbidden("only administrators may change metadata")


def json_body():
    if not request.is_json:
        raise ServiceError("send a JSON body with Content-Type: application/json")
    body = request.get_json(silent=True)
    if body is None and request.data.strip() != b"null":
        raise ServiceError("the body is not valid JSON")
    if _has_nul(body):
        raise RecordInvalid("text must not contain NUL characters (\\u0000)")
    return body


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        response = jsonify(exc.problem())
        response.status_code = exc.status
        response.mimetype = PROBLEM
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response

    @app.errorhandler(MetadataInvalid)
    def _metadata_invalid(exc: MetadataInvalid):
        return problem(
            422,
            "Invalid metadata",
            f"{len(exc.errors)} metadata error(s): " + "; ".join(str(e) for e in exc.errors[:5]),
            "https://metacrm.dev/problems/metadata",
            errors=[{**e.as_dict(), "field": e.path} for e in exc.errors],
        )

    @app.errorhandler(MigrationRefused)
    def _refused(exc: MigrationRefused):
        return problem(
            409,
            "Schema change refused",
            str(exc),
            "https://metacrm.dev/problems/migration-refused",
            refused=list(exc.plan.refused),
        )

    @app.errorhandler(MigrationFailed)
    def _failed(exc: MigrationFailed):
        return problem(
            409, "Schema change failed", str(exc), "https://metacrm.dev/problems/migration-failed"
        )

    @app.errorhandler(TenantNeedsMigration)
    def _needs_migration(exc):
        return problem(503, "Tenant needs a metadata apply", str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not request.path.startswith(("/api/", "/login", "/logout")):
            return exc
        response = problem(exc.code or 500, exc.name, exc.description or exc.name)
        headers = dict(exc.get_headers())
        for name in ("Allow", "Retry-After"):  # a 405 says which methods the path takes
            if name in headers:
                response.headers[name] = headers[name]
        return response
