"""The record service's core: what every part of it reads (the entity, its schema,
the caller's grant and scopes, writable rows, readers of records), its transaction,
its hooks and outbox events. validation, writer and updates build on it; service
is the facade engines and the API use."""

from __future__ import annotations

import contextlib
import datetime as dt

from sqlalchemy import Connection, select

from metacrm.expressions import EvalContext, Registry, builtin_registry
from metacrm.metadata.model import Entity, label_text
from metacrm.platform.access.context import Context
from metacrm.platform.access.permissions import EntityAccess, scope_binds, scope_condition
from metacrm.platform.db.database import in_list
from metacrm.platform.db.outbox import new_event, write_events
from metacrm.platform.db.tables import link_table_name
from metacrm.platform.errors import Forbidden, NotFound
from metacrm.platform.records import stage_history
from metacrm.platform.records.computed import SqlResolver, clock_calls, select_gate
from metacrm.platform.records.owners import assign_owner
from metacrm.platform.records.rules import write_plan
from metacrm.platform.records.schemas import RecordSchema, row_serializer
from metacrm.platform.tenancy.registry import TenantState

MAX_BULK = 1000
SYSTEM_OUT = ("id", "version", "owner_id", "created_at", "created_by", "updated_at", "updated_by")


class RecordCore:
    def __init__(
        self, state: TenantState, context: Context, pm=None, registry: Registry | None = None
    ):
        self.state = state
        self.model = state.model
        self.context = context
        self.pm = pm
        self.registry = registry or state.registry or builtin_registry()
        self.eval_ctx = EvalContext(now=context.now, timezone=state.timezone)
        self.pending_events: list[str] = []  # written in a caller's transaction: it dispatches

    # -- helpers ------------------------------------------------------------
    def entity(self, name: str) -> Entity:
        entity = self.model.entities.get(name)
        if entity is None:
            readable = [n for n in self.model.entities if self.context.access.entity(n).can("read")]
            raise NotFound(f"unknown entity '{name}'", known=sorted(readable))
        return entity

    def schema(self, entity: Entity) -> RecordSchema:
        system = self.context.system_writes
        key = f"schema:{entity.name}:{system}"
        schema = self.state.cache.get(key)
        if schema is None:
            schema = self.state.cache[key] = RecordSchema(entity, include_read_only=system)
        return schema

    def grant(self, entity: Entity) -> EntityAccess:
        return self.context.access.entity(entity.name)

    def require(self, entity: Entity, action: str) -> None:
        if not self.grant(entity).can(action):
            if not self.grant(entity).can("read"):
                raise NotFound(f"unknown entity '{entity.name}'")
            raise Forbidden(
                f"your role may not {action} {label_text(entity.plural, self.context.locale)}"
            )

    def access_key(self, entity: Entity) -> tuple:
        """What of the user's access shapes a query (part of statement cache keys)."""
        grant = self.grant(entity)
        access = self.context.access  # roles too: joined entities are scoped by them
        return (grant.scope, tuple(sorted(grant.hidden)), access.is_admin, access.roles)

    def all_columns(self, entity: Entity) -> list[str]:
        """System columns and stored fields: what the entity's table holds."""
        return list(SYSTEM_OUT) + [f.name for f in entity.fields.values() if f.stored]

    def columns(self, entity: Entity) -> list[str]:
        """The stored columns this user may read."""
        hidden = self.grant(entity).hidden
        return [c for c in self.all_columns(entity) if c not in hidden]

    def scope(self, entity: Entity, table=None, for_write: bool = False, shares: bool = True):
        table = table if table is not None else self.state.tables[entity.name]
        return scope_condition(self.state, entity, table, self.context.access, for_write, shares)

    def virtual(self, entity: Entity) -> list[str]:
        """Fields computed on read in SQL: virtual formulas and rollups."""
        hidden = self.grant(entity).hidden
        return [
            f.name
            for f in entity.fields.values()
            if not f.stored and f.kind.computed and f.name not in hidden
        ]

    def readable(self, entity: Entity) -> list[str]:
        return self.columns(entity) + self.virtual(entity)

    def resolver(self, entity: Entity, table=None) -> SqlResolver:
        return SqlResolver(
            self.state,
            entity.name,
            table if table is not None else self.state.tables[entity.name],
            self.eval_ctx,
            self.registry,
            access=self.context.access,
        )

    def time_key(self, entity: Entity) -> str | None:
        """Part of a cache key for queries whose virtual fields read today()/now(); None = do not cache."""
        key = ("clock", entity.name, tuple(self.virtual(entity)))
        calls = self.state.cache.get(key)
        if calls is None:
            calls = self.state.cache[key] = clock_calls(self.model, entity, list(key[2]))
        if "now" in calls:
            return None
        return self.eval_ctx.today.isoformat() if "today" in calls else ""

    def writable_row(
        self, conn: Connection, entity: Entity, record_id: int, for_delete: bool = False
    ) -> dict:
        """The stored row, locked on PostgreSQL, if this user may change it (404/403 otherwise)."""
        found = self.writable_rows(conn, entity, [record_id], for_delete)
        if record_id not in found:
            self.get(entity.name, record_id, conn)  # 404 unless the user can read it
            raise Forbidden(f"you may read {entity.name} {record_id} but not change it")
        return found[record_id]

    def writable_rows(
        self, conn: Connection, entity: Entity, ids: list[int], for_delete: bool = False
    ) -> dict[int, dict]:
        """Stored rows by id (locked on PostgreSQL) of those this user may change; others absent."""
        columns = self.all_columns(entity)
        key = ("raw", entity.name, for_delete, self.access_key(entity))
        query = self.state.cache.get(key)
        if query is None:  # built once per entity and access shape (ids are bound)
            table = self.state.tables[entity.name]
            query = select(*[table.c[c] for c in columns]).where(
                in_list(table.c.id, "_rids", conn.dialect.name), table.c.deleted_at.is_(None)
            )
            scope = self.scope(
                entity, table, for_write=True, shares=not for_delete
            )  # shares never grant deletion
            if scope is not None:
                query = query.where(scope)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            self.state.cache[key] = query
        binds = scope_binds(self.context.access)
        binds["_rids"] = list(ids)
        rows = (dict(zip(columns, row, strict=True)) for row in conn.execute(query, binds))
        return {row["id"]: row for row in rows}

    @contextlib.contextmanager
    def _transaction(self, conn: Connection | None):
        if conn is not None:
            yield conn
            return
        with self.state.write.begin() as own:
            yield own

    def _virtual_values(self, entity: Entity, ids: list[int], conn: Connection) -> dict[int, dict]:
        """Virtual formulas and rollups of freshly written records (computed by the database,
        in the write's own transaction: an answer is ready before the write commits)."""
        names = self.virtual(entity)
        if not names or not ids:
            return {}
        table = self.state.tables[entity.name]
        resolver = self.resolver(entity)
        selected = [resolver((name,)).label(name) for name in names]
        query = (
            select(table.c.id, *selected)
            .select_from(resolver.apply(table))
            .where(table.c.id.in_(ids))
        )
        serialize = self.serializer(entity, names)
        rows = conn.execute(query, scope_binds(self.context.access))
        return {row[0]: serialize(tuple(row[1:])) for row in rows}

    def serializer(self, entity: Entity, columns: list[str]):
        key = f"ser:{entity.name}:{','.join(columns)}"
        ser = self.state.cache.get(key)
        if ser is None:
            ser = self.state.cache[key] = row_serializer(entity, columns)
        return ser

    def _m2m_fields(self, entity: Entity):
        return [f for f in entity.fields.values() if f.type == "many_to_many"]

    def _hook(self, name: str, **kwargs) -> None:
        if self.pm is not None:
            caller = getattr(self.pm.hook, name)
            if caller.get_hookimpls():  # skip pluggy's call machinery when nobody listens
                caller(**kwargs)

    def record_events(self, conn: Connection, entity: Entity, topic: str, items: list) -> None:
        """Outbox events for committed-together changes, when a handler listens for them.

        items: (record id, payload). Written in `conn`'s transaction; a caller that owns
        the transaction calls `dispatch_pending()` once it committed."""
        jobs = self.state.jobs
        if jobs is None or not jobs.wanted(self.state, entity.name, topic):
            return
        events = [
            new_event(
                topic,
                payload,
                entity=entity.name,
                record_id=rid,
                depth=self.context.depth,
                at=self.context.now,
            )
            for rid, payload in items
        ]
        self.pending_events += write_events(conn, self.state, events)

    def _stage_moves(self, conn: Connection, entity: Entity, items: list[tuple]) -> None:
        """items: (record_id, previous raw row or None, values after the write)."""
        gates = write_plan(self.state, entity, self.registry, self.context.locale).pipelines
        if not gates:
            return
        moves = []
        for rid, previous, values in items:
            gate = select_gate(gates, values, self.eval_ctx)
            if gate is not None:
                old = (previous or {}).get(gate.field)
                moves.append((rid, gate, old, values.get(gate.field)))
        stage_history.record_moves(
            conn, self.state, entity, moves, self.context.user_id, self.context.now
        )

    def dispatch_pending(self) -> None:
        """Hand on the events written in a caller's transaction, once it committed."""
        self._dispatch(True)

    def assign_owner(
        self, conn: Connection, entity_name: str, ids: list[int], owner_id: int | None, only_if=None
    ) -> dict[int, int | None]:
        """Give records to `owner_id` in `conn`'s transaction, with history and events
        (see records.owners); {record id: previous owner} of those that changed."""
        return assign_owner(self, conn, entity_name, ids, owner_id, only_if)

    def _dispatch(self, owned: bool) -> None:
        """After our own commit: hand our events on (a caller's transaction: the caller does)."""
        if owned and self.pending_events and self.state.jobs is not None:
            ids, self.pending_events = self.pending_events, []
            self.state.jobs.dispatch(self.state, ids)

    # -- validation -----------------------------------------------------------
    def get(self, entity_name: str, record_id: int, conn: Connection | None = None) -> dict:
        found = self.get_many(entity_name, [record_id], conn)
        if record_id not in found:
            raise NotFound(f"{entity_name} {record_id} does not exist (or was deleted)")
        return found[record_id]

    def get_many(
        self, entity_name: str, ids: list[int], conn: Connection | None = None
    ) -> dict[int, dict]:
        """Records by id, as the API shows them to this user; those it cannot see are absent."""
        entity = self.entity(entity_name)
        self.require(entity, "read")
        if conn is None:
            with self.state.engine.connect() as c:
                return self.get_many(entity_name, ids, c)
        columns = self.readable(entity)
        time_key = self.time_key(entity)
        key = ("get", entity.name, time_key, self.access_key(entity))
        query = self.state.cache.get(key) if time_key is not None else None
        if query is None:
            table = self.state.tables[entity.name]
            resolver = self.resolver(entity)
            selected = [table.c[c] for c in self.columns(entity)] + [
                resolver((c,)).label(c) for c in self.virtual(entity)
            ]
            query = (
                select(*selected)
                .select_from(resolver.apply(table))
                .where(
                    in_list(table.c.id, "record_ids", conn.dialect.name),
                    table.c.deleted_at.is_(None),
                )
            )
            scope = self.scope(entity, table)
            if scope is not None:
                query = query.where(scope)
            if time_key is not None:
                self.state.cache[key] = query
        rows = conn.execute(query, {"record_ids": list(ids), **scope_binds(self.context.access)})
        serialize = self.serializer(entity, columns)
        records = {r["id"]: r for r in map(serialize, rows)}
        for f in self._m2m_fields(entity) if records else ():
            for record in records.values():
                record[f.name] = []
            lt = self.state.tables[link_table_name(entity, f)]
            links = conn.execute(
                select(lt.c.source_id, lt.c.target_id)
                .where(in_list(lt.c.source_id, None, conn.dialect.name, list(records)))
                .order_by(lt.c.source_id, lt.c.target_id)
            )
            for source, target in links:
                records[source][f.name].append(target)
        return records

    # -- writes -------------------------------------------------------------------

    @staticmethod
    def _summary(entity: Entity, errors: list[dict]) -> str:
        fields = sorted({str(e["field"]) for e in errors if e.get("field")})
        return (
            f"{len(errors)} problem(s) with the {entity.name} record: " + ", ".join(fields)
            if fields
            else f"invalid {entity.name} record"
        )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
