"""Fixtures: apps built with create_app() on SQLite and on PostgreSQL.

PostgreSQL tests need METACRM_TEST_DATABASE_URL (scripts/services.sh prints it).
On a developer machine without PostgreSQL they skip; under CI=true they fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from metacrm.platform.access import auth
from metacrm.platform.app import create_app
from metacrm.platform.settings import settings_from_env

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("METACRM_TEST_DATABASE_URL")


def _postgres_or_skip() -> str:
    if PG_URL:
        return PG_URL
    if os.environ.get("CI"):
        pytest.fail(
            "CI=true but METACRM_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI"
        )
    pytest.skip("PostgreSQL not available (set METACRM_TEST_DATABASE_URL)")


def make_settings(tmp_path: Path, backend: str, packages: tuple[Path, ...] = ()):
    env = {"METACRM_DATA_DIR": str(tmp_path / "instance"), "METACRM_SECRET_KEY": "test-secret"}
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    if backend == "postgres":
        env["METACRM_DATABASE_URL"] = _postgres_or_skip()
        env["METACRM_SCHEMA_PREFIX"] = prefix
    settings = settings_from_env(env, testing=True)
    return settings.with_overrides(packages=tuple(packages))


def drop_schemas(settings) -> None:
    if settings.is_sqlite:
        return
    engine = create_engine(
        settings.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    )
    with engine.begin() as conn:
        names = conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
            {"p": settings.schema_prefix + "%"},
        ).scalars()
        for name in list(names):
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


@dataclass
class Api:
    """A test client bound to one user's token."""

    client: object
    token: str
    tenant: str = "default"

    def _headers(self, headers=None):
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, url, **kw):
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url, **kw):
        return self.client.post(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, url, **kw):
        return self.client.patch(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)


@dataclass
class Env:
    app: object
    runtime: object
    settings: object
    api: Api
    user_api: Api

    def state(self, tenant: str = "default"):
        return self.runtime.tenant(tenant)

    def engine(self, tenant: str = "default"):
        return self.runtime.tenants.engine(tenant)


def build_env(tmp_path: Path, backend: str, packages: tuple[Path, ...] = (), **overrides) -> Env:
    settings = dataclasses.replace(make_settings(tmp_path, backend, packages), **overrides)
    app = create_app(settings)
    runtime = app.extensions["metacrm"]
    state = runtime.tenants.create("default")
    admin = auth.create_user(state, "admin", "admin-password", is_admin=True)
    rep = auth.create_user(state, "rep", "rep-password")
    client = app.test_client()
    return Env(
        app,
        runtime,
        settings,
        Api(client, auth.create_token(state, admin)),
        Api(client, auth.create_token(state, rep)),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


def _env_fixture(tmp_path, backend, packages=(), **overrides):
    e = build_env(tmp_path, backend, packages, **overrides)
    yield e
    e.runtime.close()
    drop_schemas(e.settings)


@contextlib.contextmanager
def env_with(tmp_path, backend, packages=(), **overrides):
    """An Env with extra packages, closed (and its schemas dropped) afterwards."""
    gen = _env_fixture(tmp_path, backend, tuple(packages), **overrides)
    try:
        yield next(gen)
    finally:
        next(gen, None)


def contact(api, name: str = "Li") -> int:
    """A contact made by `api`'s user: what deals past qualification need as primary contact."""
    return api.post("/api/v1/records/contact", json={"last_name": name}).json["id"]


def user(env, name, roles, manager=None):
    """A user with `roles` made through the admin API: (id, Api with their token)."""
    body = {"username": name, "password": f"{name}-password", "roles": roles}
    if manager:
        body["manager"] = manager
    uid = env.api.post("/api/v1/admin/users", json=body).json["id"]
    token = env.api.post(f"/api/v1/admin/users/{uid}/tokens", json={"name": "t"}).json["token"]
    return uid, Api(env.app.test_client(), token)


@pytest.fixture
def env(tmp_path, backend):
    """The default CRM app, admin and non-admin API clients, on each backend."""
    yield from _env_fixture(tmp_path, backend)


@pytest.fixture
def types_env(tmp_path, backend):
    """The default app plus the `types` test package (every field type)."""
    yield from _env_fixture(tmp_path, backend, (FIXTURES / "types_pkg",))


@pytest.fixture
def rules_env(tmp_path, backend):
    """The default app plus the `rules` test package (formulas, rollups, rules)."""
    yield from _env_fixture(tmp_path, backend, (FIXTURES / "rules_pkg",))


@pytest.fixture
def pg_env(tmp_path):
    """The default app on PostgreSQL only (for PostgreSQL-specific checks)."""
    yield from _env_fixture(tmp_path, "postgres")
