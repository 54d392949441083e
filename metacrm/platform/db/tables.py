"""Compiled model -> SQLAlchemy tables (entity tables, link tables, system tables).

Entity columns are nullable in the database: `required` is enforced by the
record service, so adding a required field to a table full of rows never
rewrites it. Unique fields get a unique index limited to live rows (soft delete).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from metacrm.metadata.field_types.base import JSON_TYPE
from metacrm.metadata.field_types.temporal import TZ_DATETIME
from metacrm.metadata.model import Entity, Field, Model
from metacrm.platform.db.patches import patches_table

ID = BigInteger().with_variant(Integer(), "sqlite")
MAX_IDENT = 63


def ident(name: str) -> str:
    """Keep identifiers within PostgreSQL's 63 bytes, stable and unique by hash."""
    if len(name) <= MAX_IDENT:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENT - 9]}_{digest}"


def column_type(f: Field):
    """The column of a stored field, as its values' type declares it."""
    return f.value_kind.column_type(f)


def system_columns() -> list[Column]:
    return [
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("owner_id", BigInteger, index=False),
        Column("created_at", TZ_DATETIME, nullable=False),
        Column("created_by", BigInteger),
        Column("updated_at", TZ_DATETIME, nullable=False),
        Column("updated_by", BigInteger),
        Column("version", Integer, nullable=False, server_default=text("1")),
        Column("deleted_at", TZ_DATETIME),
    ]


def field_column(f: Field) -> Column:
    return Column(f.name, column_type(f), nullable=True)


def _live_only(table: Table) -> dict:
    cond = table.c.deleted_at.is_(None)
    return {"sqlite_where": cond, "postgresql_where": cond}


def entity_table(entity: Entity, metadata: MetaData) -> Table:
    columns = system_columns() + [field_column(f) for f in entity.fields.values() if f.stored]
    table = Table(entity.table, metadata, *columns)
    Index(ident(f"ix_{table.name}_owner_id"), table.c.owner_id)
    Index(ident(f"ix_{table.name}_updated_at"), table.c.updated_at)
    for f in entity.fields.values():
        if not f.stored:
            continue
        if f.unique:
            Index(
                ident(f"uq_{table.name}_{f.name}"),
                table.c[f.name],
                unique=True,
                **_live_only(table),
            )
        elif f.indexed or f.kind.always_indexed:
            Index(ident(f"ix_{table.name}_{f.name}"), table.c[f.name])
    for rule in entity.duplicate_rules:  # normalized keys, kept by the record service
        column = Column(f"_dup_{rule.name}", String(255), nullable=True)
        table.append_column(column)
        Index(ident(f"ix_{table.name}__dup_{rule.name}"), column)
    for ix in entity.indexes:
        cols = [
            table.c[c.lstrip("-")].desc() if c.startswith("-") else table.c[c] for c in ix.fields
        ]
        kwargs = _live_only(table) if ix.unique else {}
        Index(ident(ix.name), *cols, unique=ix.unique, **kwargs)
    return table


def link_table_name(entity: Entity, f: Field) -> str:
    return ident(f"{entity.table}__{f.name}")


def link_table(entity: Entity, f: Field, metadata: MetaData) -> Table:
    """The table behind a many_to_many field: (source id, target id)."""
    name = link_table_name(entity, f)
    return Table(
        name,
        metadata,
        Column("source_id", BigInteger, nullable=False),
        Column("target_id", BigInteger, nullable=False),
        UniqueConstraint("source_id", "target_id", name=ident(f"uq_{name}")),
        Index(ident(f"ix_{name}_target"), "target_id"),
    )


def system_tables(metadata: MetaData) -> dict[str, Table]:
    """Platform-owned tables in every tenant database (prefixed `_`, never an entity name)."""
    return {
        "meta_versions": Table(
            "_meta_versions",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("content_hash", String(64), nullable=False),
            Column("model", JSON_TYPE, nullable=False),
            Column("plan", JSON_TYPE, nullable=False),
            Column("applied_at", TZ_DATETIME, nullable=False),
            Column("applied_by", String(100)),
        ),
        "overlay": Table(
            "_overlay",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("document", JSON_TYPE, nullable=False),
            Column("created_at", TZ_DATETIME, nullable=False),
            Column("created_by", BigInteger),
        ),
        "users": Table(
            "_users",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("username", String(100), nullable=False, unique=True),
            Column("email", String(254)),
            Column("display_name", String(200)),
            Column("password_hash", String(255)),
            Column("is_admin", Boolean, nullable=False, server_default=text("false")),
            Column("is_active", Boolean, nullable=False, server_default=text("true")),
            Column("manager_id", BigInteger),
            Column("created_at", TZ_DATETIME, nullable=False),
            Column("language", String(16)),  # the screens' language the user chose
        ),
        "api_tokens": Table(
            "_api_tokens",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("user_id", BigInteger, nullable=False),
            Column("token_hash", String(64), nullable=False, unique=True),
            Column("name", String(100)),
            Column("created_at", TZ_DATETIME, nullable=False),
            Column("revoked_at", TZ_DATETIME),
        ),
        "user_roles": Table(
            "_user_roles",
            metadata,
            Column("user_id", BigInteger, primary_key=True),
            Column("role", String(63), primary_key=True),
        ),
        "shares": Table(
            "_shares",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("entity", String(40), nullable=False),
            Column("record_id", BigInteger, nullable=False),
            Column("user_id", BigInteger, nullable=False),
            Column("access", String(10), nullable=False),
            Column("created_at", TZ_DATETIME, nullable=False),
            Column("created_by", BigInteger),
            UniqueConstraint("entity", "record_id", "user_id", name="uq__shares_record_user"),
            Index("ix__shares_user", "user_id", "entity"),
        ),
        "history": Table(
            "_history",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("entity", String(40), nullable=False),
            Column("record_id", BigInteger, nullable=False),
            Column("operation", String(10), nullable=False),
            Column("field", String(63)),
            Column("old_value", JSON_TYPE),
            Column("new_value", JSON_TYPE),
            Column("changed_at", TZ_DATETIME, nullable=False),
            Column("changed_by", BigInteger),
            Index("ix__history_record", "entity", "record_id"),
        ),
        "audit_log": Table(
            "_audit_log",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("event", String(40), nullable=False),
            Column("actor", BigInteger),
            Column("detail", JSON_TYPE, nullable=False),
            Column("at", TZ_DATETIME, nullable=False),
        ),
        "login_attempts": Table(
            "_login_attempts",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("username", String(100), nullable=False),
            Column("ip", String(64), nullable=False),
            Column("at", TZ_DATETIME, nullable=False),
            Column("succeeded", Boolean, nullable=False),
            Index("ix__login_attempts_user", "username", "at"),
            Index("ix__login_attempts_ip", "ip", "at"),
        ),
        "team_shares": Table(
            "_team_shares",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("entity", String(40), nullable=False),
            Column("record_id", BigInteger, nullable=False),
            Column("team_head_id", BigInteger, nullable=False),
            Column("access", String(10), nullable=False),
            Column("created_at", TZ_DATETIME, nullable=False),
            Column("created_by", BigInteger),
            UniqueConstraint(
                "entity", "record_id", "team_head_id", name="uq__team_shares_record_team"
            ),
            Index("ix__team_shares_head", "team_head_id", "entity"),
        ),
        "outbox": Table(  # events written in the same transaction as the change (db.outbox)
            "_outbox",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False, unique=True),
            Column("topic", String(60), nullable=False),
            Column("entity", String(63)),
            Column("record_id", BigInteger),
            Column("payload", JSON_TYPE, nullable=False),
            Column("depth", Integer, nullable=False, server_default="0"),
            Column("status", String(12), nullable=False),  # pending|dispatched|running|done|dead
            Column("attempts", Integer, nullable=False, server_default="0"),
            Column("next_attempt_at", TZ_DATETIME),
            Column("claimed_at", TZ_DATETIME),
            Column("finished_at", TZ_DATETIME),
            Column("last_error", Text),
            Column("created_at", TZ_DATETIME, nullable=False),
            Index("ix__outbox_status_due", "status", "next_attempt_at"),
        ),
        "job_log": Table(  # the execution log: what each handler did with each event
            "_job_log",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False),
            Column("topic", String(60), nullable=False),
            Column("entity", String(63)),
            Column("record_id", BigInteger),
            Column("handler", String(120), nullable=False),
            Column("status", String(12), nullable=False),  # ok|skipped|error|loop_guard
            Column("detail", Text),
            Column("attempt", Integer, nullable=False),
            Column("at", TZ_DATETIME, nullable=False),
            Index("ix__job_log_record", "entity", "record_id"),
            Index("ix__job_log_event", "event_id"),
        ),
        "imports": Table(  # background imports: the file, the options, the outcome
            "_imports",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("entity", String(63), nullable=False),
            Column("filename", String(255), nullable=False),
            Column("options", JSON_TYPE, nullable=False),
            Column("data", LargeBinary, nullable=False),
            Column("status", String(12), nullable=False),  # queued|running|done
            Column("event_id", String(36), nullable=False),
            Column("total_rows", Integer),
            Column("committed_rows", Integer, nullable=False, server_default="0"),
            Column("report", JSON_TYPE),
            Column("created_by", BigInteger),
            Column("created_at", TZ_DATETIME, nullable=False),
            Column("started_at", TZ_DATETIME),
            Column("finished_at", TZ_DATETIME),
        ),
        "stage_history": Table(  # one row per visit of a record to a pipeline stage
            "_stage_history",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("entity", String(63), nullable=False),
            Column("record_id", BigInteger, nullable=False),
            Column("pipeline", String(63), nullable=False),
            Column("stage", String(100), nullable=False),
            Column("category", String(10)),
            Column("entered_at", TZ_DATETIME, nullable=False),
            Column("left_at", TZ_DATETIME),
            Column("entered_by", BigInteger),
            Index("ix__stage_history_record", "entity", "record_id"),
            Index("ix__stage_history_stage", "entity", "pipeline", "stage"),
        ),
        "notifications": Table(  # the in-app inbox of each user
            "_notifications",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("user_id", BigInteger, nullable=False),
            Column("title", String(200), nullable=False),
            Column("body", Text),
            Column("entity", String(63)),
            Column("record_id", BigInteger),
            Column("source", String(120)),
            Column("created_at", TZ_DATETIME, nullable=False),
            Column("read_at", TZ_DATETIME),
            Index("ix__notifications_user", "user_id", "read_at"),
        ),
        "record_locks": Table(  # records no one but an admin may change (see db.locks)
            "_record_locks",
            metadata,
            Column("entity", String(63), primary_key=True),
            Column("record_id", BigInteger, primary_key=True),
            Column("reason", String(200), nullable=False),
            Column("locked_by", BigInteger),
            Column("locked_at", TZ_DATETIME, nullable=False),
        ),
        "fts_deferred": Table(  # see search.insert_indexed: only ever non-empty mid-transaction
            "_fts_deferred",
            metadata,
            Column("entity", String(63), primary_key=True),
        ),
        "secrets": Table(  # per-tenant keys (the webhook signing key), made on first use
            "_secrets",
            metadata,
            Column("name", String(63), primary_key=True),
            Column("value", String(200), nullable=False),
            Column("created_at", TZ_DATETIME, nullable=False),
        ),
        "files": Table(  # uploaded files: attachment fields hold their descriptors
            "_files",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("name", String(255), nullable=False),
            Column("content_type", String(127), nullable=False),
            Column("size", BigInteger, nullable=False),
            Column("sha256", String(64), nullable=False),
            Column("content", LargeBinary, nullable=False),
            Column("uploaded_by", BigInteger),
            Column("uploaded_at", TZ_DATETIME, nullable=False),
            Column("attached_at", TZ_DATETIME),  # first held by a record (null: pruned later)
        ),
        "file_links": Table(  # which record field holds which file (who may read it)
            "_file_links",
            metadata,
            Column("file_id", BigInteger, primary_key=True),
            Column("entity", String(63), primary_key=True),
            Column("record_id", BigInteger, primary_key=True),
            Column("field", String(63), primary_key=True),
            Index("ix__file_links_record", "entity", "record_id"),
        ),
        "comments": Table(  # what people write on a record (its timeline shows them)
            "_comments",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            Column("entity", String(63), nullable=False),
            Column("record_id", BigInteger, nullable=False),
            Column("body", Text, nullable=False),
            Column("author_id", BigInteger),
            Column("created_at", TZ_DATETIME, nullable=False),
            Index("ix__comments_record", "entity", "record_id"),
        ),
        "patches": patches_table(metadata),  # the patch log (db.patches)
        "sequences": Table(
            "_sequences",
            metadata,
            Column("name", String(200), primary_key=True),
            Column("value", BigInteger, nullable=False),
        ),
    }


def model_tables(
    model: Model, metadata: MetaData | None = None
) -> tuple[MetaData, dict[str, Table]]:
    """Every entity and link table of `model` in one MetaData (plus the system tables)."""
    metadata = metadata or MetaData()
    tables: dict[str, Table] = {}
    for entity in model.entities.values():
        tables[entity.name] = entity_table(entity, metadata)
        for f in entity.fields.values():
            if f.type == "many_to_many":
                lt = link_table(entity, f, metadata)
                tables[lt.name] = lt
    return metadata, tables
