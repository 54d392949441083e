"""Engines for the control database and each tenant's database.

SQLite (embedded default): one file per tenant, WAL, and the documented recipe
for transactional DDL (the sqlite3 module's legacy transaction control would
otherwise commit DDL on its own; see FACTS.md). Write transactions start with
BEGIN IMMEDIATE so two writers never deadlock on a lock upgrade.
PostgreSQL: one schema per tenant, selected by the connection's search_path. Reads
run in autocommit: a statement is one round trip, not BEGIN + statement + ROLLBACK on
the pool's return (a record page reads some 20 times). Under READ COMMITTED a
transaction gave each statement its own snapshot anyway. Every write goes through
`write_engine`, which is transactional (READ COMMITTED) on both back ends.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import ARRAY, Engine, any_, bindparam, create_engine, event, text
from sqlalchemy.engine import make_url

from metacrm.platform.db.search_text import search_document
from metacrm.platform.settings import Settings

TENANT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def _sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=10,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        # the search index triggers call it (see search.py)
        dbapi_connection.create_function(
            "metacrm_search_document", 1, search_document, deterministic=True
        )
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN"
        conn.exec_driver_sql(mode)

    return engine


def _postgres_engine(url: str, schema: str) -> Engine:
    return create_engine(
        make_url(url).set(drivername="postgresql+psycopg"),
        connect_args={"options": f"-csearch_path={schema} -ctimezone=UTC"},
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",  # reads; write_engine() makes transactions
    )


def control_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        return _sqlite_engine(_sqlite_path(settings))
    schema = f"{settings.schema_prefix}control"
    engine = _postgres_engine(settings.database_url, schema)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def _sqlite_path(settings: Settings) -> Path:
    """The control database's file (tenants' files sit next to it)."""
    return Path(make_url(settings.database_url).database or "control.sqlite3")


def tenant_schema(settings: Settings, tenant: str) -> str | None:
    return None if settings.is_sqlite else f"{settings.schema_prefix}t_{tenant}"


def tenant_engine(settings: Settings, tenant: str, create: bool = False) -> Engine:
    """The engine of one tenant; `create` makes its schema (PostgreSQL) first."""
    if not TENANT_NAME.match(tenant):
        raise ValueError(
            f"invalid tenant name {tenant!r}: use a-z, 0-9 and _, starting with a letter"
        )
    if settings.is_sqlite:
        return _sqlite_engine(_sqlite_path(settings).parent / "tenants" / f"{tenant}.sqlite3")
    schema = f"{settings.schema_prefix}t_{tenant}"
    engine = _postgres_engine(settings.database_url, schema)
    if create:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def write_engine(engine: Engine) -> Engine:
    """The same pool, for writes: real transactions on PostgreSQL (its reads autocommit),
    BEGIN IMMEDIATE on SQLite."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(write=True, isolation_level="READ COMMITTED")
    return engine.execution_options(write=True)


def in_list(column, name: str | None, dialect: str, value=None):
    """`column IN (...)` over a bound list; on PostgreSQL `column = ANY(:name)`.

    One array parameter instead of one bind marker per id: a batch of 500 ids is
    rendered, sent and parsed as one short statement (and cached as one).
    """
    if dialect == "postgresql":
        param = bindparam(name, value, type_=ARRAY(column.type))
        return column == any_(param)
    return column.in_(bindparam(name, value, expanding=True))
