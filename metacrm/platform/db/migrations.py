"""Schema sync: diff the compiled model against the live database, then apply.

Plans come from db.schema_plan (pure, shown by `metacrm metadata plan`).
`apply_plan` here is the only place that issues DDL; it
runs inside the caller's transaction, so a failing step rolls everything back
(PostgreSQL transactional DDL; SQLite via the BEGIN recipe in database.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, MetaData, String, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from metacrm.metadata.model import Field, Model
from metacrm.platform.db import duplicates, search
from metacrm.platform.db import tables as tbl
from metacrm.platform.db.patches import Patch, apply_patches
from metacrm.platform.db.schema_plan import (
    ARCHIVE_PREFIX,
    LiveTable,
    MigrationFailed,
    MigrationRefused,
    Plan,
    Step,
    classify_change,
    inspect_live,
    plan_migration,
    storage_dict,
)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _rename_column(conn: Connection, table: str, old: str, new: str) -> None:
    conn.exec_driver_sql(
        f"ALTER TABLE {_quote(conn, table)} RENAME COLUMN {_quote(conn, old)} TO {_quote(conn, new)}"
    )


def _field(model: Model, table: str, column: str) -> Field:
    return model.entities[table].fields[column]


FormulaFiller = Callable[[Connection, Model, dict, list[tuple[str, str]]], None]
"""Computes stored formulas [(entity, field)] for existing rows: the record layer's
(records.backfill), handed down by whoever applies the plan."""


def _backfill_formulas(
    conn: Connection, model: Model, tables, plan: Plan, fill: FormulaFiller | None
) -> None:
    pending = [(s.table, s.column) for s in plan.steps if s.op == "backfill_formula"]
    if pending and fill is not None:
        fill(conn, model, tables, pending)


def preload_ddl() -> None:
    """Import what applying a plan needs (alembic, ~80 ms), so no request pays it.

    Serving processes call it once a worker has started (after the fork): the first
    schema change a worker handles is then as fast as the next ones.
    """
    import alembic.migration  # noqa: F401
    import alembic.operations  # noqa: F401


def apply_plan(
    conn: Connection,
    plan: Plan,
    model: Model,
    tables: dict | None = None,
    fill_formulas: FormulaFiller | None = None,
) -> None:
    """Issue the DDL of `plan` on `conn` (inside the caller's transaction)."""
    if plan.refused:
        raise MigrationRefused(plan)
    # alembic is imported here, not at module level: commands that never migrate
    # do not pay for it (serving workers import it at start: preload_ddl).
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    if tables is None:
        _, tables = tbl.model_tables(model)
    ops = Operations(MigrationContext.configure(connection=conn))
    is_sqlite = conn.dialect.name == "sqlite"
    for step in plan.steps:
        if step.op == "backfill_formula":
            continue  # after the DDL, all at once: one may read another
        try:
            _apply_step(conn, ops, step, plan, model, tables, is_sqlite)
        except SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise MigrationFailed(
                f"{step.describe().strip()} failed, nothing was applied: {reason}"
            ) from exc
    try:
        _backfill_formulas(conn, model, tables, plan, fill_formulas)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise MigrationFailed(
            f"computing new stored formulas for existing rows failed, nothing was applied: {reason}"
        ) from exc


def _apply_step(conn, ops, step: Step, plan: Plan, model: Model, tables, is_sqlite: bool) -> None:
    table = tables.get(step.table)
    if step.op == "create_table":
        table.create(conn)
    elif step.op == "add_column":
        if step.column.startswith("_dup_"):
            column = Column(step.column, String(255), nullable=True)
        else:
            column = tbl.field_column(_field(model, step.table, step.column))
        ops.add_column(step.table, column)
    elif step.op == "rename_column":
        _rename_column(conn, step.table, step.detail.removeprefix("from "), step.column)
    elif step.op == "widen_column":
        if not is_sqlite:  # SQLite column types are affinities: nothing to alter
            f = _field(model, step.table, step.column)
            entity = model.entities[step.table]
            if f.name in entity.search_fields:  # the generated search column depends on it:
                search.drop_search(conn, entity)  # the plan's search_index step rebuilds it
            ops.alter_column(step.table, step.column, type_=tbl.column_type(f))
    elif step.op == "add_index":
        next(ix for ix in table.indexes if ix.name == step.column).create(conn)
    elif step.op == "drop_index":
        ops.drop_index(step.column, table_name=step.table)
    elif step.op == "archive_column":
        _rename_column(
            conn, step.table, step.column, f"{ARCHIVE_PREFIX}{step.column}_{plan.to_hash[:8]}"
        )
    elif step.op == "backfill_duplicates":
        entity = model.entities[step.table]
        rule = next(r for r in entity.duplicate_rules if r.name == step.column)
        duplicates.backfill(conn, entity, table, rule)
    elif step.op == "search_index":
        search.create_search(conn, model.entities[step.table])
    elif step.op == "archive_table":
        ops.rename_table(step.table, f"{ARCHIVE_PREFIX}{step.table}_{plan.to_hash[:8]}")
    else:  # pragma: no cover - plan_migration only emits the ops above
        raise ValueError(f"unknown migration step {step.op}")


def latest_version(conn: Connection, system: dict) -> dict | None:
    t = system["meta_versions"]
    row = conn.execute(select(t.c.id, t.c.model).order_by(t.c.id.desc()).limit(1)).first()
    return None if row is None else {"id": row.id, **row.model}


@dataclass(frozen=True)
class SystemSchema:
    """A tenant database's own tables: the platform's and those plugins declare (builders
    of {key: Table}), and the patches that bring databases made earlier up to date."""

    builders: tuple[Callable[[MetaData], dict], ...] = (tbl.system_tables,)
    patches: tuple[Patch, ...] = ()

    def tables(self, metadata: MetaData) -> dict:
        out: dict = {}
        for build in self.builders:
            out.update(build(metadata))
        return out


def ensure_system_tables(conn: Connection, schema: SystemSchema | None = None) -> dict:
    """Create what is missing, then run the patches the database has not had (a new
    database records them all: its tables are the latest); the tables by key."""
    schema = schema or SystemSchema()
    metadata = MetaData()
    system = schema.tables(metadata)
    fresh = not inspect(conn).has_table("_meta_versions")
    metadata.create_all(conn, checkfirst=True)
    apply_patches(conn, system["patches"], schema.patches, fresh)
    return system


def schema_summary(model: Model) -> dict:
    """What later plans need of an applied version: each stored field's storage shape."""
    entities = {
        e.name: {
            "origin": e.origin,
            "fields": [storage_dict(f) for f in e.fields.values()],
            "search_fields": list(e.search_fields),
            "search_version": search.INDEX_VERSION,
            "duplicate_key_version": duplicates.KEY_VERSION,
        }
        for e in model.entities.values()
    }
    return {
        "content_hash": model.content_hash,
        "packages": [list(p) for p in model.packages],
        "entities": entities,
    }


def needs_sync(applied: dict | None, model: Model) -> bool:
    """Whether the applied version is not `model` as this code stores it: other metadata,
    or the same metadata stored by an older search index or duplicate key version."""
    if applied is None:
        return True
    stored = {k: v for k, v in applied.items() if k != "id"}
    return stored != schema_summary(model)


def sync_model(
    conn: Connection,
    model: Model,
    *,
    allow_destructive: bool = False,
    applied_by: str | None = None,
    dry_run: bool = False,
    tables: dict | None = None,
    fill_formulas: FormulaFiller | None = None,
    system_schema: SystemSchema | None = None,
) -> Plan:
    """Plan and (unless dry_run) apply `model` in the caller's transaction; record the version.

    `fill_formulas`: computes new stored formulas for existing rows (None: left empty)."""
    system = ensure_system_tables(conn, system_schema)
    previous = latest_version(conn, system)
    if tables is None:
        _, tables = tbl.model_tables(model)
    plan = plan_migration(model, inspect_live(conn), previous, allow_destructive, tables)
    if dry_run:
        return plan
    apply_plan(conn, plan, model, tables, fill_formulas)
    if needs_sync(previous, model):
        conn.execute(
            system["meta_versions"]
            .insert()
            .values(
                content_hash=model.content_hash,
                model=schema_summary(model),
                plan=plan.to_dict(),
                applied_at=dt.datetime.now(dt.UTC),
                applied_by=applied_by,
            )
        )
    return plan


__all__ = [
    "LiveTable",
    "MigrationFailed",
    "MigrationRefused",
    "Plan",
    "Step",
    "apply_plan",
    "classify_change",
    "ensure_system_tables",
    "inspect_live",
    "latest_version",
    "needs_sync",
    "plan_migration",
    "schema_summary",
    "sync_model",
]
