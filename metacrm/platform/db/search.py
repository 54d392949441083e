"""Full-text search over each entity's `search_fields`: SQLite FTS5, PostgreSQL tsvector.

Both index `search_text.search_document` of the fields (text folded, CJK runs as
bigrams, so `星河` finds `深圳星河科技有限公司`) and match `search_text.query_terms`
(Latin words as prefixes, CJK runs as phrases of bigrams): the same results on both.
SQLite: a contentless FTS5 table `_fts_<entity>` with one column, kept current by
triggers on the entity table that call the `metacrm_search_document` function
(registered on every connection), so every write path indexes. A bulk insert
indexes its rows with one INSERT ... SELECT instead (4x faster than a trigger per
row): it suspends the insert trigger by a row in `_fts_deferred` that lives only
inside its own transaction, so no other writer ever sees it.
PostgreSQL: a stored generated tsvector column `_search` with a GIN index, so neither
a recheck nor a filtered scan recomputes the document. Only the DDL here is issued
by `migrations.apply_plan`.
"""

from __future__ import annotations

from sqlalchemy import Select, bindparam, literal_column, select, text

from metacrm.metadata.model import Entity
from metacrm.platform.db.search_text import PG_FUNCTION, query_terms
from metacrm.platform.db.tables import ident

INDEX_VERSION = 3  # bump when the DDL below changes: plans rebuild every search index
PG_COLUMN = "_search"  # PostgreSQL: the stored tsvector (never recomputed by a query)


def fts_table(entity: Entity) -> str:
    return ident(f"_fts_{entity.table}")


def pg_index(entity: Entity) -> str:
    return ident(f"ix_{entity.table}_search")


def _q(conn, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _document(fields: list[str], prefix: str = "") -> str:
    """SQL of the indexed text of a row from quoted column names (`prefix`: `new.`, `old.`)."""
    parts = " || ' ' || ".join(f"coalesce(CAST({prefix}{f} AS TEXT), '')" for f in fields)
    return f"metacrm_search_document({parts})"


def drop_search(conn, entity: Entity) -> None:
    if conn.dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            conn.exec_driver_sql(
                f"DROP TRIGGER IF EXISTS {_q(conn, fts_table(entity) + '_' + suffix)}"
            )
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_q(conn, fts_table(entity))}")
    else:
        table = _q(conn, entity.table)
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_q(conn, pg_index(entity))}")
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {PG_COLUMN}")


def create_search(conn, entity: Entity) -> None:
    """(Re)build the search index of `entity` over its current search_fields."""
    drop_search(conn, entity)
    fields = [_q(conn, f) for f in entity.search_fields]
    if not fields:
        return
    table = _q(conn, entity.table)
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql(PG_FUNCTION)
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD COLUMN {PG_COLUMN} tsvector GENERATED ALWAYS AS "
            f"(to_tsvector('simple', {_document(fields)})) STORED"
        )
        conn.exec_driver_sql(
            f"CREATE INDEX {_q(conn, pg_index(entity))} ON {table} USING gin ({PG_COLUMN})"
        )
        return
    fts = _q(conn, fts_table(entity))
    conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {fts} USING fts5(doc, content='')")
    trigger = lambda suffix: _q(conn, fts_table(entity) + "_" + suffix)  # noqa: E731
    insert = f"INSERT INTO {fts}(rowid, doc) VALUES (new.id, {_document(fields, 'new.')});"
    delete = f"INSERT INTO {fts}({fts}, rowid, doc) VALUES ('delete', old.id, {_document(fields, 'old.')});"
    conn.exec_driver_sql(
        f"CREATE TRIGGER {trigger('ai')} AFTER INSERT ON {table} "
        f"WHEN NOT EXISTS (SELECT 1 FROM _fts_deferred WHERE entity = '{entity.table}') "
        f"BEGIN {insert} END"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER {trigger('ad')} AFTER DELETE ON {table} BEGIN {delete} END"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER {trigger('au')} AFTER UPDATE ON {table} BEGIN {delete} {insert} END"
    )
    conn.exec_driver_sql(
        f"INSERT INTO {fts}(rowid, doc) SELECT id, {_document(fields)} FROM {table}"
    )


def insert_indexed(conn, entity: Entity, table, rows: list[dict], first_id: int) -> None:
    """Insert rows numbered first_id.. (SQLite, write lock held) and index them in one go."""
    fields = [_q(conn, f) for f in entity.search_fields]
    if not fields:
        conn.execute(table.insert(), rows)
        return
    flag = text("INSERT INTO _fts_deferred(entity) VALUES (:e)").bindparams(e=entity.table)
    conn.execute(flag)
    conn.execute(table.insert(), rows)
    conn.execute(
        text(
            f"INSERT INTO {_q(conn, fts_table(entity))}(rowid, doc) "
            f"SELECT id, {_document(fields)} FROM {_q(conn, entity.table)} WHERE id BETWEEN :lo AND :hi"
        ).bindparams(lo=first_id, hi=first_id + len(rows) - 1)
    )
    conn.execute(text("DELETE FROM _fts_deferred WHERE entity = :e").bindparams(e=entity.table))


def _fts5_match(terms: list[tuple[str, ...]]) -> str:
    def quoted(word: str) -> str:
        return '"' + word.replace('"', '""') + '"'

    return " ".join(quoted(t[0]) + "*" if len(t) == 1 else quoted(" ".join(t)) for t in terms)


def _tsquery(terms: list[tuple[str, ...]]) -> str:
    def lexeme(word: str) -> str:
        return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"

    return " & ".join(
        lexeme(t[0]) + ":*" if len(t) == 1 else "(" + " <-> ".join(map(lexeme, t)) + ")"
        for t in terms
    )


def search_condition(entity: Entity, table, dialect: str, q: str):
    """A WHERE condition for `q=` with its bound values; (None, {}) when `q` has no words."""
    terms = query_terms(q)
    if not terms or not entity.search_fields:
        return None, {}
    if dialect == "sqlite":
        fts = fts_table(entity)
        sub: Select = (
            select(literal_column("rowid"))
            .select_from(text(f'"{fts}"'))
            .where(text(f'"{fts}" MATCH :_q').bindparams(bindparam("_q")))
        )
        return table.c.id.in_(sub), {"_q": _fts5_match(terms)}
    condition = text(f"\"{table.name}\".{PG_COLUMN} @@ to_tsquery('simple', :_q)").bindparams(
        bindparam("_q")
    )
    return condition, {"_q": _tsquery(terms)}
