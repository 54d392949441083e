"""Recycle rules of pools: owned records left N days without a follow-up go back to the
pool (owner and their manager are told), with a warning to the owner `warn_days`
before. Run by the scheduler (`metacrm_scheduled`), at most once a minute per tenant.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, exists, insert, select

from metacrm.metadata.model import label_text
from metacrm.platform.access.context import Context
from metacrm.platform.db.audit import to_json
from metacrm.platform.records.service import RecordService
from metacrm.workflow_engine.notices import notify
from metacrm.workflow_engine.pools import Pools

BATCH = 500


def _cut(entity, since: str, moment: dt.datetime):
    f = entity.fields.get(since)
    return moment.date() if f is not None and f.type == "date" else moment


def recycle_due(runtime, state, now: dt.datetime) -> dict:
    rules = [(p, r) for p in state.model.pools.values() for r in p.recycle]
    if not rules:
        return {"recycled": 0, "warned": 0}
    context = Context(tenant=state.name, username="system", is_admin=True, now=now)
    service = RecordService(state, context, runtime.pm, runtime.registry)
    engine = Pools(service)
    users, record_locks = state.system["users"], state.system["record_locks"]
    warnings = state.system["pool_warnings"]
    recycled = warned = 0
    for pool, rule in rules:
        entity = state.model.entities[pool.entity]
        table = state.tables[entity.name]
        resolver = service.resolver(entity)
        since = table.c[rule.since]
        conditions = [
            table.c.owner_id.is_not(None),
            table.c.deleted_at.is_(None),
            since.is_not(None),
            ~exists(
                select(record_locks.c.record_id).where(
                    record_locks.c.entity == entity.name, record_locks.c.record_id == table.c.id
                )
            ),
        ]
        if rule.condition:
            conditions.append(resolver.compile(rule.condition, "boolean"))
        due_at = _cut(entity, rule.since, now - dt.timedelta(days=rule.after_days))
        query = select(table.c.id, table.c.owner_id, since.label("since")).select_from(
            resolver.apply(table)
        )
        with state.engine.connect() as conn:  # read first: a quiet tenant takes no write lock
            due = conn.execute(query.where(*conditions, since < due_at).limit(BATCH)).all()
            soon = []
            if rule.warn_days:
                warn_at = _cut(
                    entity, rule.since, now - dt.timedelta(days=rule.after_days - rule.warn_days)
                )
                soon = conn.execute(
                    query.where(*conditions, since < warn_at, since >= due_at).limit(BATCH)
                ).all()
                key = f"{pool.name}.{rule.name}"
                sent = {
                    (r.record_id, r.since_value)
                    for r in conn.execute(
                        select(warnings.c.record_id, warnings.c.since_value).where(
                            warnings.c.entity == entity.name,
                            warnings.c.rule == key,
                            warnings.c.record_id.in_([r.id for r in soon]),
                        )
                    )
                }
                soon = [r for r in soon if (r.id, str(to_json(r.since))) not in sent]
        if not due and not soon:
            continue
        what = label_text(entity.label, "en")
        with state.write.begin() as conn:
            if due:
                ids = [r.id for r in due]
                engine.put(conn, pool, entity, ids, f"recycled: {rule.name}", "recycle")
                managers = dict(conn.execute(select(users.c.id, users.c.manager_id)).all())
                for r in due:
                    notify(
                        conn,
                        state,
                        [r.owner_id, managers.get(r.owner_id)],
                        f"{what} {r.id} went back to {label_text(pool.label, 'en')}",
                        f"no follow-up for {rule.after_days} days ({rule.name})",
                        entity.name,
                        r.id,
                        f"pool:{pool.name}",
                        now,
                    )
                recycled += len(due)
            if soon:
                key = f"{pool.name}.{rule.name}"
                conn.execute(
                    delete(warnings).where(
                        warnings.c.entity == entity.name,
                        warnings.c.rule == key,
                        warnings.c.record_id.in_([r.id for r in soon]),
                    )
                )
                conn.execute(
                    insert(warnings),
                    [
                        {
                            "entity": entity.name,
                            "record_id": r.id,
                            "rule": key,
                            "since_value": str(to_json(r.since)),
                            "warned_at": now,
                        }
                        for r in soon
                    ],
                )
                for r in soon:
                    notify(
                        conn,
                        state,
                        [r.owner_id],
                        f"{what} {r.id} goes back to {label_text(pool.label, 'en')} "
                        f"in {rule.warn_days} day(s)",
                        f"follow it up to keep it ({rule.name})",
                        entity.name,
                        r.id,
                        f"pool:{pool.name}",
                        now,
                    )
                warned += len(soon)
        service.dispatch_pending()
    return {"recycled": recycled, "warned": warned}
