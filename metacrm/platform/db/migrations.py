"""Schema sync: diff the compiled model against the live database, then apply.

`plan_migration` is a pure function over data (model, live schema snapshot,
previous applied model), so plans can be shown (`metacrm metadata plan`) and
tested without a database. `apply_model` is the only place that issues DDL; it
runs inside the caller's transaction, so a failing step rolls everything back
(PostgreSQL transactional DDL; SQLite via the BEGIN recipe in database.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlalchemy import Column, Connection, MetaData, String, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from metacrm.metadata.model import SYSTEM_COLUMNS, Entity, Field, Model
from metacrm.platform.db import duplicates, search
from metacrm.platform.db import tables as tbl
from metacrm.platform.records import backfill as formula_backfill

ARCHIVE_PREFIX = "_archived_"
STRING_TYPES = {"text", "email", "phone", "url", "select", "auto_number"}
DECIMAL_TYPES = {"decimal", "currency", "percent"}
ALLOWED_RETYPES = {
    ("text", "long_text"),
    ("email", "text"),
    ("phone", "text"),
    ("url", "text"),
    ("integer", "decimal"),
    ("integer", "currency"),
    ("decimal", "currency"),
    ("currency", "decimal"),
}


class MigrationFailed(Exception):
    """A DDL step failed (e.g. a unique index over duplicate rows); everything was rolled back."""


class MigrationRefused(Exception):
    """The plan contains destructive or impossible changes; nothing was applied."""

    def __init__(self, plan: Plan):
        self.plan = plan
        super().__init__("migration refused:\n" + "\n".join(f"  - {r}" for r in plan.refused))


@dataclass(frozen=True)
class LiveTable:
    columns: tuple[str, ...]
    indexes: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    op: str  # create_table | add_column | rename_column | widen_column | add_index | drop_index | archive_column | archive_table
    table: str
    name: str | None = None
    detail: str = ""

    def describe(self) -> str:
        target = f"{self.table}.{self.name}" if self.name else self.table
        return f"{self.op:<15} {target}" + (f"  ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    refused: tuple[str, ...]
    from_hash: str | None
    to_hash: str

    @property
    def changes_schema(self) -> bool:
        return bool(self.steps)

    def to_dict(self) -> dict:
        return {
            "from_hash": self.from_hash,
            "to_hash": self.to_hash,
            "steps": [asdict(s) for s in self.steps],
            "refused": list(self.refused),
        }

    def describe(self) -> str:
        lines = [
            f"metadata {self.from_hash[:12] if self.from_hash else '(none)'} -> {self.to_hash[:12]}"
        ]
        lines += [f"  {s.describe()}" for s in self.steps] or ["  no schema changes"]
        lines += [f"  REFUSED {r}" for r in self.refused]
        return "\n".join(lines)


def inspect_live(conn: Connection) -> dict[str, LiveTable]:
    """A snapshot of the tenant's tables, columns and index names."""
    insp = inspect(conn)
    out = {}
    for name in insp.get_table_names():
        cols = tuple(c["name"] for c in insp.get_columns(name))
        idx = tuple(i["name"] for i in insp.get_indexes(name) if i.get("name"))
        out[name] = LiveTable(cols, idx)
    return out


def _signature(d: dict) -> tuple:
    t = d["type"] if d["type"] != "formula" else d.get("result_type", "text")
    if t in STRING_TYPES:
        length = {"email": 254, "phone": 40, "url": 2048, "select": 100, "auto_number": 64}.get(t)
        return ("string", length or d.get("max_length") or 255)
    if t in DECIMAL_TYPES:
        return (
            "numeric",
            d.get("precision") or 18,
            d.get("scale") if d.get("scale") is not None else 2,
        )
    return (t,)


def classify_change(prev: dict, new: dict) -> str:
    """'same', 'widen', 'narrow' or 'retype' for a stored field's column."""
    old_sig, new_sig = _signature(prev), _signature(new)
    if prev["type"] != new["type"] and (prev["type"], new["type"]) not in ALLOWED_RETYPES:
        return "retype"
    if old_sig == new_sig:
        return "same"
    if old_sig[0] == new_sig[0] == "string":
        return "widen" if new_sig[1] > old_sig[1] else "narrow"
    if old_sig[0] == new_sig[0] == "numeric":
        old_int, new_int = old_sig[1] - old_sig[2], new_sig[1] - new_sig[2]
        return "widen" if new_int >= old_int and new_sig[2] >= old_sig[2] else "narrow"
    if old_sig[0] == "string" and new_sig[0] == "long_text":
        return "widen"
    if old_sig[0] == "integer" and new_sig[0] == "numeric":
        return "widen" if new_sig[1] - new_sig[2] >= 19 else "narrow"
    return "retype"


def _index_names(table) -> set[str]:
    return {ix.name for ix in table.indexes}


def _plan_entity(
    entity: Entity,
    table,
    live: LiveTable,
    prev_fields: dict,
    allow_destructive: bool,
    stamp: str,
    steps,
    refused,
):
    live_cols = set(live.columns)
    consumed: set[str] = set()
    dropped_indexes: set[str] = set()
    for f in entity.fields.values():
        if not f.stored:
            continue
        new = storage_dict(f)
        if f.name in live_cols:
            prev = prev_fields.get(f.name)
        elif f.renamed_from and f.renamed_from in live_cols:
            steps.append(Step("rename_column", entity.table, f.name, f"from {f.renamed_from}"))
            consumed.add(f.renamed_from)
            for ix in live.indexes:
                if ix in (
                    tbl.ident(f"ix_{entity.table}_{f.renamed_from}"),
                    tbl.ident(f"uq_{entity.table}_{f.renamed_from}"),
                ):
                    steps.append(
                        Step("drop_index", entity.table, ix, f"renamed column {f.renamed_from}")
                    )
                    dropped_indexes.add(ix)
            prev = prev_fields.get(f.renamed_from)
        elif f.renamed_from and prev_fields:
            refused.append(
                f"{entity.name}.{f.name}: renamed_from '{f.renamed_from}' names nothing "
                f"(table '{entity.table}' has no column '{f.renamed_from}')"
            )
            continue
        else:
            steps.append(Step("add_column", entity.table, f.name, f"{f.type}, nullable"))
            continue
        if prev is None:
            continue
        change = classify_change(prev, new)
        if change == "widen":
            steps.append(
                Step(
                    "widen_column", entity.table, f.name, f"{_signature(prev)} -> {_signature(new)}"
                )
            )
        elif change in ("narrow", "retype"):
            what = "narrows" if change == "narrow" else "changes the type of"
            refused.append(
                f"{entity.name}.{f.name}: {prev['type']} {_signature(prev)[1:]} -> {new['type']} {_signature(new)[1:]} "
                f"{what} a column that holds data; add a new field instead (and archive this one)"
            )
    for rule in entity.duplicate_rules:
        column = f"_dup_{rule.name}"
        if column not in live_cols:
            steps.append(Step("add_column", entity.table, column, "duplicate rule key, nullable"))
            steps.append(Step("backfill_duplicates", entity.table, rule.name))
    wanted = {f.name for f in entity.fields.values() if f.stored} | set(SYSTEM_COLUMNS)
    wanted |= {f"_dup_{rule.name}" for rule in entity.duplicate_rules}
    for col in live.columns:
        if col in wanted or col in consumed or col.startswith(ARCHIVE_PREFIX):
            continue
        if col == search.PG_COLUMN:  # the search index's own column (search.py)
            continue
        if allow_destructive:
            steps.append(
                Step(
                    "archive_column", entity.table, col, f"renamed to {ARCHIVE_PREFIX}{col}_{stamp}"
                )
            )
        else:
            refused.append(
                f"{entity.name}.{col}: the field was removed but its column holds data; refusing to drop it "
                f"(apply with --allow-destructive to archive the column as {ARCHIVE_PREFIX}{col}_{stamp})"
            )
    desired_ix = _index_names(table)
    live_ix = set(live.indexes) - dropped_indexes
    for ix in sorted(desired_ix - live_ix):
        steps.append(Step("add_index", entity.table, ix))
    for ix in sorted(live_ix - desired_ix):
        if ix.startswith(("ix_", "uq_")) and ix != search.pg_index(entity):
            steps.append(Step("drop_index", entity.table, ix, "no longer declared"))


def plan_migration(
    model: Model,
    live: dict[str, LiveTable],
    previous: dict | None,
    allow_destructive: bool = False,
    tables: dict | None = None,
    registry=None,
) -> Plan:
    """Diff `model` against the live schema; pure, so it can be shown before it runs."""
    if tables is None:
        _, tables = tbl.model_tables(model)
    steps: list[Step] = []
    refused: list[str] = []
    stamp = model.content_hash[:8]
    prev_entities = (previous or {}).get("entities", {})
    for entity in model.entities.values():
        table = tables[entity.name]
        prev_fields = {f["name"]: f for f in prev_entities.get(entity.name, {}).get("fields", [])}
        search_fields = list(entity.search_fields)
        if entity.table not in live:
            steps.append(Step("create_table", entity.table, detail=f"{len(table.columns)} columns"))
            if search_fields:
                steps.append(Step("search_index", entity.table, detail=", ".join(search_fields)))
            continue
        before = len(steps)
        _plan_entity(
            entity, table, live[entity.table], prev_fields, allow_destructive, stamp, steps, refused
        )
        renamed = any(
            s.op == "rename_column" or (s.op == "widen_column" and s.name in search_fields)
            for s in steps[before:]
        )  # the search index is rebuilt over the changed columns
        steps.extend(
            Step(
                "backfill_formula",
                entity.table,
                s.name,
                _backfill_detail(model, entity, s, registry),
            )
            for s in list(steps[before:])
            if s.op == "add_column"
            and s.name in entity.fields
            and entity.fields[s.name].type == "formula"
        )
        prev_entity = prev_entities.get(entity.name, {})
        previous_search = prev_entity.get("search_fields", [])
        outdated = prev_entity.get("search_version", 1) != search.INDEX_VERSION
        if search_fields != previous_search or ((renamed or outdated) and search_fields):
            detail = ", ".join(search_fields) or "removed"
            steps.append(Step("search_index", entity.table, detail=detail))
        if prev_entity.get("duplicate_key_version", 1) != duplicates.KEY_VERSION:
            planned = {s.name for s in steps[before:] if s.op == "backfill_duplicates"}
            steps.extend(
                Step("backfill_duplicates", entity.table, rule.name, "keys normalized anew")
                for rule in entity.duplicate_rules
                if rule.name not in planned
            )
    for name in tables:
        if name not in model.entities and name not in live:
            steps.append(Step("create_table", name, detail="link table"))
    managed = set(tables)
    for name in sorted(live):
        if name.startswith("_") or name in managed or name.startswith("sqlite_"):
            continue
        if name in prev_entities or previous is None:
            if allow_destructive:
                steps.append(
                    Step("archive_table", name, detail=f"renamed to {ARCHIVE_PREFIX}{name}_{stamp}")
                )
            else:
                refused.append(
                    f"entity '{name}' was removed but its table holds data; refusing to drop it "
                    "(apply with --allow-destructive to archive the table)"
                )
    return Plan(
        tuple(steps), tuple(refused), (previous or {}).get("content_hash"), model.content_hash
    )


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _rename_column(conn: Connection, table: str, old: str, new: str) -> None:
    conn.exec_driver_sql(
        f"ALTER TABLE {_quote(conn, table)} RENAME COLUMN {_quote(conn, old)} TO {_quote(conn, new)}"
    )


def _field(model: Model, table: str, column: str) -> Field:
    return model.entities[table].fields[column]


def _backfill_detail(model: Model, entity, step: Step, registry) -> str:
    reason = formula_backfill.why_not(model, entity, entity.fields[step.name], registry)
    if reason is None:
        return "computed for the existing rows"
    return f"left empty on existing rows until each is saved: {reason}"


def _backfill_formulas(
    conn: Connection, model: Model, tables, plan: Plan, registry, timezone: str
) -> None:
    pending = [
        (s.table, s.name)
        for s in plan.steps
        if s.op == "backfill_formula"
        and formula_backfill.why_not(
            model, model.entities[s.table], model.entities[s.table].fields[s.name], registry
        )
        is None
    ]
    if pending:
        formula_backfill.backfill(conn, model, tables, pending, registry, timezone)


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
    registry=None,
    timezone: str = "UTC",
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
        _backfill_formulas(conn, model, tables, plan, registry, timezone)
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
        if step.name.startswith("_dup_"):
            column = Column(step.name, String(255), nullable=True)
        else:
            column = tbl.field_column(_field(model, step.table, step.name))
        ops.add_column(step.table, column)
    elif step.op == "rename_column":
        _rename_column(conn, step.table, step.detail.removeprefix("from "), step.name)
    elif step.op == "widen_column":
        if not is_sqlite:  # SQLite column types are affinities: nothing to alter
            f = _field(model, step.table, step.name)
            entity = model.entities[step.table]
            if f.name in entity.search_fields:  # the generated search column depends on it:
                search.drop_search(conn, entity)  # the plan's search_index step rebuilds it
            ops.alter_column(step.table, step.name, type_=tbl.column_type(f))
    elif step.op == "add_index":
        next(ix for ix in table.indexes if ix.name == step.name).create(conn)
    elif step.op == "drop_index":
        ops.drop_index(step.name, table_name=step.table)
    elif step.op == "archive_column":
        _rename_column(
            conn, step.table, step.name, f"{ARCHIVE_PREFIX}{step.name}_{plan.to_hash[:8]}"
        )
    elif step.op == "backfill_duplicates":
        entity = model.entities[step.table]
        rule = next(r for r in entity.duplicate_rules if r.name == step.name)
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


def ensure_system_tables(conn: Connection) -> dict:
    metadata = MetaData()
    system = tbl.system_tables(metadata)
    metadata.create_all(conn, checkfirst=True)
    return system


STORAGE_KEYS = ("max_length", "precision", "scale", "result_type")


def storage_dict(f: Field) -> dict:
    """The parts of a field that decide its column: name, type, length, precision, scale."""
    d = {"name": f.name, "type": f.type}
    for key in STORAGE_KEYS:
        value = getattr(f.spec, key, None)
        if value is not None:
            d[key] = value
    return d


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
    registry=None,
    timezone: str = "UTC",
) -> Plan:
    """Plan and (unless dry_run) apply `model` in the caller's transaction; record the version.

    `registry`: the expression functions (plugins' too) that backfilled formulas may call;
    `timezone`: the tenant's, for the today() they read."""
    system = ensure_system_tables(conn)
    previous = latest_version(conn, system)
    if tables is None:
        _, tables = tbl.model_tables(model)
    plan = plan_migration(model, inspect_live(conn), previous, allow_destructive, tables, registry)
    if dry_run:
        return plan
    apply_plan(conn, plan, model, tables, registry, timezone)
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
