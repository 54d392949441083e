"""Deleting, restoring and the recycle bin, with each reference's on_delete rule.

Deletes are soft (`deleted_at`); restore brings a record back when its unique
values are still free. Field history is written in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, func, select, update

from metacrm.metadata.model import Entity
from metacrm.platform.access import shares
from metacrm.platform.access.permissions import scope_binds
from metacrm.platform.db import audit, locks
from metacrm.platform.db.tables import link_table_name
from metacrm.platform.errors import Conflict, NotFound, RecordInvalid

if TYPE_CHECKING:
    from metacrm.platform.records.service import RecordService


def soft_delete(
    service: RecordService, conn, entity: Entity, ids: list[int], path: list[str]
) -> None:
    """Soft delete `ids`, applying each referencing field's on_delete first."""
    ctx, state = service.context, service.state
    locks.ensure_unlocked(conn, state, ctx, entity.name, ids)
    for other in service.model.entities.values():
        for f in other.fields.values():
            if f.type != "reference" or f.spec.entity != entity.name:
                continue
            t = state.tables[other.name]
            live = and_(t.c[f.name].in_(ids), t.c.deleted_at.is_(None))
            if f.spec.on_delete == "restrict":
                count = conn.execute(select(func.count()).select_from(t).where(live)).scalar_one()
                if count:
                    raise Conflict(
                        f"cannot delete {entity.name} {ids[0] if len(ids) == 1 else ids}: {count} {other.name} record(s) "
                        f"refer to it through '{other.name}.{f.name}' (on_delete: restrict)",
                        blocking=[{"entity": other.name, "field": f.name, "count": count}],
                    )
            elif f.spec.on_delete == "set_null":
                repoint(service, conn, other, f.name, live, None)
            elif f.spec.on_delete == "cascade":
                child_ids = [r[0] for r in conn.execute(select(t.c.id).where(live))]
                if child_ids and other.name not in path:
                    soft_delete(service, conn, other, child_ids, [*path, entity.name])
    table = state.tables[entity.name]
    conn.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.deleted_at.is_(None))
        .values(
            deleted_at=ctx.now,
            version=table.c.version + 1,
            updated_at=ctx.now,
            updated_by=ctx.user_id,
        )
    )
    audit.record_histories(conn, state, entity, ids, "delete", ctx.user_id, ctx.now)
    if path:  # deleted by a cascade: the caller announces only the record it was asked for
        payload = {"actor": ctx.user_id, "cascade_from": path[-1]}
        service.record_events(conn, entity, "record.deleted", [(rid, payload) for rid in ids])


def repoint(
    service: RecordService, conn, entity: Entity, name: str, where, value: int | None
) -> None:
    """Set the reference `name` of the `entity` records matching `where` to `value` (None
    on a set_null delete, the survivor on a merge): one UPDATE, with version, stamps,
    history and record.updated events as any other change."""
    ctx, state = service.context, service.state
    t = state.tables[entity.name]
    rows = conn.execute(select(t.c.id, t.c[name]).where(where)).all()
    if not rows:
        return
    conn.execute(
        update(t)
        .where(t.c.id.in_([r[0] for r in rows]))
        .values(
            {
                name: value,
                "version": t.c.version + 1,
                "updated_at": ctx.now,
                "updated_by": ctx.user_id,
            }
        )
    )
    for rid, old in rows:
        audit.record_history(
            conn, state, entity, rid, "update", ctx.user_id, ctx.now, [(name, old, value)]
        )
    service.record_events(
        conn,
        entity,
        "record.updated",
        [(rid, {"actor": ctx.user_id, "changes": {name: [old, value]}}) for rid, old in rows],
    )


def _deleted_query(service: RecordService, entity: Entity):
    table = service.state.tables[entity.name]
    columns = service.columns(entity)
    query = select(*[table.c[c] for c in columns], table.c.deleted_at).where(
        table.c.deleted_at.is_not(None)
    )
    scope = service.scope(entity, table, for_write=True, shares=False)
    return (query.where(scope) if scope is not None else query), columns


def recycle_bin(service: RecordService, entity_name: str, limit: int = 100) -> list[dict]:
    """Deleted records the user could have deleted, newest first."""
    entity = service.entity(entity_name)
    service.require(entity, "delete")
    query, columns = _deleted_query(service, entity)
    table = service.state.tables[entity.name]
    with service.state.engine.connect() as conn:
        rows = conn.execute(
            query.order_by(table.c.deleted_at.desc(), table.c.id.desc()).limit(limit),
            scope_binds(service.context.access),
        ).all()
    serialize = service.serializer(entity, [*columns, "deleted_at"])
    return [serialize(r) for r in rows]


def restore(service: RecordService, entity_name: str, record_id: int) -> dict:
    entity = service.entity(entity_name)
    service.require(entity, "delete")
    state, ctx = service.state, service.context
    table = state.tables[entity.name]
    with state.write.begin() as conn:
        query, columns = _deleted_query(service, entity)
        row = conn.execute(query.where(table.c.id == record_id), scope_binds(ctx.access)).first()
        if row is None:
            raise NotFound(f"{entity.name} {record_id} is not in the recycle bin")
        record = dict(zip(columns, row, strict=False))
        for f in entity.fields.values():
            if f.unique and f.stored and record.get(f.name) is not None:
                clash = conn.execute(
                    select(table.c.id).where(
                        table.c[f.name] == record[f.name], table.c.deleted_at.is_(None)
                    )
                ).first()
                if clash is not None:
                    raise Conflict(
                        f"cannot restore {entity.name} {record_id}: {f.name} {record[f.name]!r} is now used by {entity.name} {clash[0]}",
                        blocking=[{"entity": entity.name, "field": f.name, "id": clash[0]}],
                    )
        conn.execute(
            update(table)
            .where(table.c.id == record_id)
            .values(
                deleted_at=None,
                version=table.c.version + 1,
                updated_at=ctx.now,
                updated_by=ctx.user_id,
            )
        )
        audit.record_histories(conn, state, entity, [record_id], "restore", ctx.user_id, ctx.now)
        service.record_events(
            conn, entity, "record.restored", [(record_id, {"actor": ctx.user_id})]
        )
    service.dispatch_pending()
    return service.get(entity_name, record_id)


def history(service: RecordService, entity_name: str, record_id: int) -> list[dict]:
    """Field history of a record the user can read (or could restore from the bin)."""
    entity = service.entity(entity_name)
    service.require(entity, "read")
    with service.state.engine.connect() as conn:
        try:
            service.get(entity_name, record_id, conn)
        except NotFound:
            if not service.grant(entity).can("delete"):
                raise
            query, _ = _deleted_query(service, entity)
            table = service.state.tables[entity.name]
            if (
                conn.execute(
                    query.where(table.c.id == record_id), scope_binds(service.context.access)
                ).first()
                is None
            ):
                raise
        return audit.history(conn, service.state, entity, record_id, service.grant(entity).hidden)


def merge(service: RecordService, entity_name: str, winner_id: int, body) -> dict:
    """Merge records into `winner_id`: every reference (and link, and share) to a merged
    record is re-pointed to the winner, chosen field values are copied over, the merged
    records go to the recycle bin, and history on both sides says what happened."""
    entity = service.entity(entity_name)
    service.require(entity, "update")
    service.require(entity, "delete")
    if not isinstance(body, dict) or not isinstance(body.get("from"), list) or not body["from"]:
        raise RecordInvalid(
            'send {"from": [ids of the records to merge in]}',
            [{"field": "from", "message": "a non-empty list of ids"}],
        )
    losers = body["from"]
    if (
        not all(isinstance(i, int) and not isinstance(i, bool) for i in losers)
        or winner_id in losers
        or len(set(losers)) != len(losers)
    ):
        raise RecordInvalid(
            "`from` must list other records' ids, once each",
            [{"field": "from", "message": "distinct ids, not the target"}],
        )
    picks = body.get("fields", {})
    if not isinstance(picks, dict) or any(v not in losers for v in picks.values()):
        raise RecordInvalid(
            "`fields` maps field names to one of the merged ids",
            [{"field": "fields", "message": "field -> id from `from`"}],
        )
    schema = service.schema(entity)
    bad = [
        f
        for f in picks
        if f not in schema.writable_keys or service.grant(entity).level(f) != "write"
    ]
    if bad:
        raise RecordInvalid(
            f"cannot take {bad} from a merged record",
            [{"field": f, "message": "not a writable field"} for f in bad],
        )
    state, ctx = service.state, service.context
    table = state.tables[entity.name]
    with state.write.begin() as conn:
        winner = service.writable_row(conn, entity, winner_id)
        locks.ensure_unlocked(conn, state, ctx, entity.name, [winner_id])
        merged = {i: service.writable_row(conn, entity, i, for_delete=True) for i in losers}
        values = {name: merged[source][name] for name, source in picks.items()}
        changes = audit.changed_fields(entity, winner, values)
        if values:
            conn.execute(update(table).where(table.c.id == winner_id).values(values))
            service._link_files(conn, entity, [winner_id], [values])  # files taken over
        for other in service.model.entities.values():
            for f in other.fields.values():
                if f.type == "reference" and f.spec.entity == entity.name:
                    reference = state.tables[other.name].c[f.name]
                    repoint(service, conn, other, f.name, reference.in_(losers), winner_id)
                if f.type == "many_to_many":
                    link = state.tables[link_table_name(other, f)]
                    end = "target_id" if f.spec.entity == entity.name else None
                    for column in [
                        c for c in (end, "source_id" if other.name == entity.name else None) if c
                    ]:
                        keep = "source_id" if column == "target_id" else "target_id"
                        for row in conn.execute(
                            select(link.c.source_id, link.c.target_id).where(
                                link.c[column].in_(losers)
                            )
                        ).all():
                            values_row = dict(row._mapping)
                            conn.execute(
                                delete(link).where(
                                    link.c.source_id == row.source_id,
                                    link.c.target_id == row.target_id,
                                )
                            )
                            values_row[column] = winner_id
                            exists = conn.execute(
                                select(link.c.source_id).where(
                                    link.c[column] == winner_id, link.c[keep] == values_row[keep]
                                )
                            ).first()
                            if exists is None:
                                conn.execute(link.insert().values(values_row))
        shares.repoint(conn, state, entity.name, losers, winner_id, ctx)
        conn.execute(
            update(table)
            .where(table.c.id == winner_id)
            .values(version=table.c.version + 1, updated_at=ctx.now, updated_by=ctx.user_id)
        )
        conn.execute(
            update(table)
            .where(table.c.id.in_(losers))
            .values(
                deleted_at=ctx.now,
                version=table.c.version + 1,
                updated_at=ctx.now,
                updated_by=ctx.user_id,
            )
        )
        audit.record_history(
            conn,
            state,
            entity,
            winner_id,
            "merge",
            ctx.user_id,
            ctx.now,
            [*changes, ("merged_from", None, sorted(losers))] if entity.audit else [],
        )
        for i in losers:
            audit.record_history(
                conn,
                state,
                entity,
                i,
                "merged",
                ctx.user_id,
                ctx.now,
                [("merged_into", None, winner_id)],
            )
    return service.get(entity_name, winner_id)
