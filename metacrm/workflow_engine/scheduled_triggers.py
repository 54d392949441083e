"""Time-based automation triggers, fired by the scheduler (`metacrm_scheduled`).

`date`: N days before/after a record's date field (e.g. 30 days before a
contract's end_date), once per record and date value; a record whose moment
passed while the scheduler was down still fires within CATCH_UP_DAYS.
`cron`: on each tick of a cron expression (tenant time zone), once per record
matching the condition. Each firing is an `automation.scheduled` outbox event for
one record, so the actions run like any other automation (effects once, the
execution log, retries); `_automation_fires` makes a firing happen once.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import insert, select

from metacrm.platform.access.context import Context
from metacrm.platform.db.outbox import new_event, write_events
from metacrm.platform.records.service import RecordService

CATCH_UP_DAYS = 7
BATCH = 1000


def _candidates(
    conn, service: RecordService, automation, now: dt.datetime, tz
) -> list[tuple[int, str]]:
    """(record id, fire key) of the records due now."""
    state = service.state
    entity = state.model.entities[automation.entity]
    table = state.tables[entity.name]
    resolver = service.resolver(entity)
    conditions = [table.c.deleted_at.is_(None)]
    if automation.condition:
        conditions.append(resolver.compile(automation.condition, "boolean"))
    trigger = automation.trigger
    if trigger.on == "date":
        column = table.c[trigger.field]
        last = now.astimezone(tz).date() - dt.timedelta(days=trigger.offset_days)
        first = last - dt.timedelta(days=CATCH_UP_DAYS)
        f = entity.fields.get(trigger.field)
        if f is not None and f.type == "date":
            conditions += [column >= first, column <= last]
        else:  # a datetime: the days in the tenant's time zone
            start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
            end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
            conditions += [column >= start, column < end]
        query = select(table.c.id, column.label("moment"))
        rows = conn.execute(
            query.select_from(resolver.apply(table)).where(*conditions).limit(BATCH)
        ).all()
        return [(r.id, r.moment.isoformat()[:40]) for r in rows]  # once per value
    local = now.astimezone(tz)
    tick = croniter(trigger.cron, local).get_prev(dt.datetime)
    if local - tick > dt.timedelta(days=1):  # only the latest tick, and not a stale one
        return []
    query = select(table.c.id).select_from(resolver.apply(table)).where(*conditions).limit(BATCH)
    return [(rid, tick.isoformat()) for rid in conn.scalars(query)]


def fire_due(runtime, state, now: dt.datetime) -> int:
    """Write the events of the due firings and hand them on; how many."""
    automations = [
        a
        for a in state.model.automations.values()
        if a.enabled and a.trigger.on in ("date", "cron")
    ]
    if not automations:
        return 0
    tz = ZoneInfo(state.timezone)
    context = Context(tenant=state.name, username="system", is_admin=True, now=now)
    service = RecordService(state, context, runtime.pm, runtime.registry)
    fires = state.system["automation_fires"]
    due: list[tuple[str, str, int, str]] = []
    with state.engine.connect() as conn:  # read first: nothing due, no write lock
        for automation in automations:
            found = _candidates(conn, service, automation, now, tz)
            if not found:
                continue
            done = set(
                conn.execute(
                    select(fires.c.record_id, fires.c.fire_key).where(
                        fires.c.automation == automation.name,
                        fires.c.record_id.in_([rid for rid, _ in found]),
                    )
                ).all()
            )
            due += [
                (automation.name, automation.entity, rid, key)
                for rid, key in found
                if (rid, key) not in done
            ]
    if not due:
        return 0
    events = [
        new_event(
            "automation.scheduled",
            {"automation": name, "fire": key},
            entity=entity,
            record_id=rid,
            at=now,
        )
        for name, entity, rid, key in due
    ]
    with state.write.begin() as conn:
        conn.execute(
            insert(fires),
            [
                {"automation": name, "record_id": rid, "fire_key": key, "fired_at": now}
                for name, _, rid, key in due
            ],
        )
        ids = write_events(conn, state, events)
    if state.jobs is not None:
        state.jobs.dispatch(state, ids)
    return len(ids)
