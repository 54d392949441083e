"""The plugin test kit: build a metacrm app with given packages and plugins on SQLite or
PostgreSQL, call its API as a user, run the outbox. The project's own tests use it, and
so can a pack's or a plugin's (see docs/plugins.md):

    # conftest.py of a plugin
    pytest_plugins = ["metacrm.testing"]

    def test_my_function(metacrm_env):
        env = metacrm_env(packages=[MY_PACK], plugins=["my_plugin"])
        assert env.api.post("/api/v1/records/course", json={...}).status_code == 201

PostgreSQL: set METACRM_TEST_DATABASE_URL (a database the tests may create schemas in);
without it PostgreSQL tests skip, or fail when CI=true (CI must not skip them)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from metacrm.platform.access import auth
from metacrm.platform.app import create_app
from metacrm.platform.settings import settings_from_env

BACKENDS = ("sqlite", "postgres")


def postgres_url() -> str:
    """The test PostgreSQL URL; skips the test without one (fails it under CI=true)."""
    url = os.environ.get("METACRM_TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(
            "CI=true but METACRM_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI"
        )
    pytest.skip("PostgreSQL not available (set METACRM_TEST_DATABASE_URL)")


@dataclass
class Api:
    """A test client bound to one user's token."""

    client: Any
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
    """An app, its runtime and settings, and API clients of an admin and of a plain user."""

    app: Any
    runtime: Any
    settings: Any
    api: Api
    user_api: Api

    def state(self, tenant: str = "default"):
        return self.runtime.tenant(tenant)

    def engine(self, tenant: str = "default"):
        return self.runtime.tenants.engine(tenant)

    def run_outbox(self, tenant: str = "default") -> int:
        """Run the tenant's due outbox events now (automations, mail, webhooks, ...):
        what a worker would do; how many ran."""
        return self.runtime.jobs.sweep(self.state(tenant))


def make_settings(tmp_path: Path, backend: str, packages: tuple[Path, ...] = ()):
    env = {"METACRM_DATA_DIR": str(tmp_path / "instance"), "METACRM_SECRET_KEY": "test-secret"}
    if backend == "postgres":
        env["METACRM_DATABASE_URL"] = postgres_url()
        env["METACRM_SCHEMA_PREFIX"] = f"t{uuid.uuid4().hex[:10]}_"
    settings = settings_from_env(env, testing=True)
    return settings.with_overrides(packages=tuple(packages))


def drop_schemas(settings) -> None:
    """Drop the PostgreSQL schemas a test env made (nothing to do on SQLite)."""
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


def build_env(tmp_path: Path, backend: str, packages: tuple[Path, ...] = (), **overrides) -> Env:
    """A fresh app (tenant `default`, users `admin` and `rep`); `overrides` are Settings
    fields, e.g. `plugins=("my_plugin",)`."""
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


def env_fixture(tmp_path, backend, packages=(), **overrides) -> Iterator[Env]:
    """build_env as a fixture body: closed, and its schemas dropped, afterwards."""
    e = build_env(tmp_path, backend, tuple(packages), **overrides)
    yield e
    e.runtime.close()
    drop_schemas(e.settings)


@contextlib.contextmanager
def env_with(tmp_path, backend, packages=(), **overrides):
    """An Env with extra packages, closed (and its schemas dropped) afterwards."""
    gen = env_fixture(tmp_path, backend, tuple(packages), **overrides)
    try:
        yield next(gen)
    finally:
        next(gen, None)


def user(env: Env, name: str, roles: list[str], manager: int | None = None):
    """A user with `roles` made through the admin API: (id, Api with their token); their
    password is `<name>-password`."""
    body: dict[str, Any] = {"username": name, "password": f"{name}-password", "roles": roles}
    if manager:
        body["manager"] = manager
    uid = env.api.post("/api/v1/admin/users", json=body).json["id"]
    token = env.api.post(f"/api/v1/admin/users/{uid}/tokens", json={"name": "t"}).json["token"]
    return uid, Api(env.app.test_client(), token)


# -- as a pytest plugin (`pytest_plugins = ["metacrm.testing"]`) ------------------------
@pytest.fixture(params=BACKENDS)
def metacrm_backend(request) -> str:
    """Each test once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture
def metacrm_env(tmp_path, metacrm_backend):
    """A factory: `metacrm_env(packages=[...], plugins=[...])` -> Env, closed after the
    test (one env per call, each in its own folder)."""
    made: list[contextlib.AbstractContextManager] = []

    def make(packages=(), plugins=(), **overrides) -> Env:
        folder = tmp_path / f"env{len(made)}"
        folder.mkdir()
        manager = env_with(folder, metacrm_backend, packages, plugins=tuple(plugins), **overrides)
        made.append(manager)
        return manager.__enter__()

    yield make
    for manager in reversed(made):
        manager.__exit__(None, None, None)
