"""Planning a schema change: diff the compiled model against the live database.

`plan_migration` is a pure function over data (model, live schema snapshot,
previous applied model), so plans can be shown (`metacrm metadata plan`) and
tested without a database. db.migrations applies them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Connection, inspect

from metacrm.metadata.model import SYSTEM_COLUMNS, Entity, Field, Model
from metacrm.platform.db import duplicates, search
from metacrm.platform.db import tables as tbl

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

    @property
    def column(self) -> str:
        """The column (or index) the step is about; steps on whole tables name none."""
        if self.name is None:
            raise ValueError(f"step {self.op} on {self.table} names no column")
        return self.name

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
        idx = tuple(i["name"] for i in insp.get_indexes(name) if i["name"] is not None)
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
                "computed for the existing rows",
            )
            for s in list(steps[before:])
            if s.op == "add_column"
            and s.column in entity.fields
            and entity.fields[s.column].type == "formula"
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


STORAGE_KEYS = ("max_length", "precision", "scale", "result_type")


def storage_dict(f: Field) -> dict:
    """The parts of a field that decide its column: name, type, length, precision, scale."""
    d = {"name": f.name, "type": f.type}
    for key in STORAGE_KEYS:
        value = getattr(f.spec, key, None)
        if value is not None:
            d[key] = value
    return d
