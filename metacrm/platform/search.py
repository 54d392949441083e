"""Full-text search over each entity's `search_fields`: SQLite FTS5, PostgreSQL tsvector.

SQLite: an external-content FTS5 table `_fts_<entity>` kept current by triggers
on the entity table, so every write path (API, import, SQL) indexes. A bulk
insert indexes its rows with one INSERT ... SELECT instead (4x faster than a
trigger per row): it suspends the insert trigger by a row in `_fts_deferred`
that lives only inside its own transaction, so no other writer ever sees it. PostgreSQL:
a GIN expression index on to_tsvector('simple', ...) of the same fields, queried
with the same expression. Only the DDL here is issued by `migrations.apply_plan`.
`q=` is split into word tokens (never passed through as query syntax); every
token must match, as a prefix.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, literal_column, select, text

from metacrm.metadata.model import Entity
from metacrm.platform.tables import ident

TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_TOKENS = 8
INDEX_VERSION = 2  # bump when the DDL below changes: plans rebuild every search index


def fts_table(entity: Entity) -> str:
    return ident(f"_fts_{entity.table}")


def pg_index(entity: Entity) -> str:
    return ident(f"ix_{entity.table}_search")


def _q(conn, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _pg_document(conn, fields) -> str:
    parts = " || ' ' || ".join(f"coalesce({_q(conn, f)}::text, '')" for f in fields)
    return f"to_tsvector('simple', {parts})"


def drop_search(conn, entity: Entity) -> None:
    if conn.dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            conn.exec_driver_sql(
                f"DROP TRIGGER IF EXISTS {_q(conn, fts_table(entity) + '_' + suffix)}"
            )
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_q(conn, fts_table(entity))}")
    else:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_q(conn, pg_index(entity))}")


def create_search(conn, entity: Entity) -> None:
    """(Re)build the search index of `entity` over its current search_fields."""
    drop_search(conn, entity)
    fields = list(entity.search_fields)
    if not fields:
        return
    table = _q(conn, entity.table)
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql(
            f"CREATE INDEX {_q(conn, pg_index(entity))} ON {table} USING gin ({_pg_document(conn, fields)})"
        )
        return
    fts = _q(conn, fts_table(entity))
    cols = ", ".join(_q(conn, f) for f in fields)
    new = ", ".join(f"new.{_q(conn, f)}" for f in fields)
    old = ", ".join(f"old.{_q(conn, f)}" for f in fields)
    conn.exec_driver_sql(
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{entity.table}', content_rowid='id')"
    )
    trigger = lambda suffix: _q(conn, fts_table(entity) + "_" + suffix)  # noqa: E731
    conn.exec_driver_sql(
        f"CREATE TRIGGER {trigger('ai')} AFTER INSERT ON {table} "
        f"WHEN NOT EXISTS (SELECT 1 FROM _fts_deferred WHERE entity = '{entity.table}') "
        f"BEGIN INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER {trigger('ad')} AFTER DELETE ON {table} BEGIN INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER {trigger('au')} AFTER UPDATE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END"
    )
    conn.exec_driver_sql(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def insert_indexed(conn, entity: Entity, table, rows: list[dict], first_id: int) -> None:
    """Insert rows numbered first_id.. (SQLite, write lock held) and index them in one go."""
    fields = list(entity.search_fields)
    if not fields:
        conn.execute(table.insert(), rows)
        return
    flag = text("INSERT INTO _fts_deferred(entity) VALUES (:e)").bindparams(e=entity.table)
    conn.execute(flag)
    conn.execute(table.insert(), rows)
    cols = ", ".join(_q(conn, f) for f in fields)
    conn.execute(
        text(
            f"INSERT INTO {_q(conn, fts_table(entity))}(rowid, {cols}) "
            f"SELECT id, {cols} FROM {_q(conn, entity.table)} WHERE id BETWEEN :lo AND :hi"
        ).bindparams(lo=first_id, hi=first_id + len(rows) - 1)
    )
    conn.execute(text("DELETE FROM _fts_deferred WHERE entity = :e").bindparams(e=entity.table))


def tokens(q: str) -> list[str]:
    return TOKEN.findall(q or "")[:MAX_TOKENS]


def search_condition(entity: Entity, table, dialect: str, q: str):
    """A WHERE condition for `q=` with its bound values; (None, {}) when `q` has no words."""
    words = tokens(q)
    if not words or not entity.search_fields:
        return None, {}
    if dialect == "sqlite":
        match = " ".join('"' + w.replace('"', '""') + '"*' for w in words)
        fts = fts_table(entity)
        sub = (
            select(literal_column("rowid"))
            .select_from(text(f'"{fts}"'))
            .where(text(f'"{fts}" MATCH :_q').bindparams(bindparam("_q")))
        )
        return table.c.id.in_(sub), {"_q": match}
    query = " & ".join(w.lower() + ":*" for w in words)
    parts = " || ' ' || ".join(
        f'coalesce("{table.name}"."{f}"::text, \'\')' for f in entity.search_fields
    )
    condition = text(f"to_tsvector('simple', {parts}) @@ to_tsquery('simple', :_q)").bindparams(
        bindparam("_q")
    )
    return condition, {"_q": query}
