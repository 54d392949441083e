"""Fixtures: apps built with create_app() on SQLite and on PostgreSQL.

PostgreSQL tests need METACRM_TEST_DATABASE_URL (scripts/services.sh prints it).
On a developer machine without PostgreSQL they skip; under CI=true they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metacrm.testing import (  # noqa: F401 - imported from here by the tests
    Api,
    Env,
    build_env,
    drop_schemas,
    env_fixture,
    env_with,
    make_settings,
    postgres_url,
    user,
)

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("METACRM_TEST_DATABASE_URL")


# the kit integrators use too (metacrm.testing); the old names stay importable here
_postgres_or_skip = postgres_url
_env_fixture = env_fixture


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


def contact(api, name: str = "Li") -> int:
    """A contact made by `api`'s user: what deals past qualification need as primary contact."""
    return api.post("/api/v1/records/contact", json={"last_name": name}).json["id"]


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
