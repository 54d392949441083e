"""Stage history: every entry of a record into a pipeline stage, written in the same
transaction as the move, so time in stage is exact and never depends on jobs.

A visit is open (`left_at` null) until the record moves on. Time in stage per record
is `/records/{entity}/{id}/stages`; across records `/aggregate/{entity}/stage-times`
(record scope applied in SQL, like every other read).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, insert, select, update

from metacrm.platform.access.permissions import scope_binds
from metacrm.platform.errors import BadQuery
from metacrm.platform.timestamps import rfc3339

if TYPE_CHECKING:
    from metacrm.platform.records.service import RecordService


def record_moves(conn, state, entity, moves: list[tuple], actor, at: dt.datetime) -> None:
    """moves: (record_id, gate, old_stage or None, new_stage)."""
    history = state.system["stage_history"]
    moved = [m for m in moves if m[3] is not None and m[2] != m[3]]
    if not moved:
        return
    for record_id, _gate, old, _ in moved:
        if old is not None:
            conn.execute(
                update(history)
                .where(
                    history.c.entity == entity.name,
                    history.c.record_id == record_id,
                    history.c.left_at.is_(None),
                )
                .values(left_at=at)
            )
    conn.execute(
        insert(history),
        [
            {
                "entity": entity.name,
                "record_id": record_id,
                "pipeline": gate.name,
                "stage": new,
                "category": gate.stages[new].category if new in gate.stages else None,
                "entered_at": at,
                "entered_by": actor,
            }
            for record_id, gate, _, new in moved
        ],
    )


def _seconds(start, end) -> float:
    if start.tzinfo is None:  # SQLite hands back naive UTC
        start = start.replace(tzinfo=dt.UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.UTC)
    return round((end - start).total_seconds(), 3)


def record_stages(service: RecordService, entity_name: str, record_id: int) -> list[dict]:
    entity = service.entity(entity_name)
    service.get(entity_name, record_id)  # 404 unless readable
    history = service.state.system["stage_history"]
    now = dt.datetime.now(dt.UTC)
    with service.state.engine.connect() as conn:
        rows = conn.execute(
            select(history)
            .where(history.c.entity == entity.name, history.c.record_id == record_id)
            .order_by(history.c.id)
        ).all()
    return [
        {
            "pipeline": r.pipeline,
            "stage": r.stage,
            "category": r.category,
            "entered_at": rfc3339(r.entered_at),
            "left_at": rfc3339(r.left_at),
            "seconds": _seconds(r.entered_at, r.left_at or now),
            "entered_by": r.entered_by,
        }
        for r in rows
    ]


def stage_times(service: RecordService, entity_name: str, params: dict) -> dict:
    """Per stage: visits, records now in it, average and longest seconds spent (open
    visits count up to now), over the records this user may read."""
    entity = service.entity(entity_name)
    service.require(entity, "read")
    pipelines = [p.name for p in service.model.pipelines.values() if p.entity == entity.name]
    if not pipelines:
        raise BadQuery(f"'{entity.name}' has no stage pipeline")
    history = service.state.system["stage_history"]
    table = service.state.tables[entity.name]
    now = dt.datetime.now(dt.UTC)
    dialect = service.state.engine.dialect.name
    end = func.coalesce(history.c.left_at, now)
    if dialect == "sqlite":
        seconds = (func.julianday(end) - func.julianday(history.c.entered_at)) * 86400.0
    else:
        seconds = func.extract("epoch", end - history.c.entered_at)
    conditions = [history.c.entity == entity.name, table.c.deleted_at.is_(None)]
    pipeline = params.get("pipeline")
    if pipeline is not None:
        if pipeline not in pipelines:
            raise BadQuery(
                f"unknown pipeline '{pipeline}' (of {entity.name}: {', '.join(pipelines)})",
                [{"param": "pipeline", "message": "not a pipeline of this entity"}],
            )
        conditions.append(history.c.pipeline == pipeline)
    binds = {}
    scope = service.scope(entity, table)
    if scope is not None:
        conditions.append(scope)
        binds = scope_binds(service.context.access)
    query = (
        select(
            history.c.pipeline,
            history.c.stage,
            func.count().label("visits"),
            func.sum(case((history.c.left_at.is_(None), 1), else_=0)).label("current"),
            func.avg(seconds).label("avg_seconds"),
            func.max(seconds).label("max_seconds"),
        )
        .select_from(history.join(table, and_(table.c.id == history.c.record_id)))
        .where(*conditions)
        .group_by(history.c.pipeline, history.c.stage)
        .order_by(history.c.pipeline, history.c.stage)
    )
    with service.state.engine.connect() as conn:
        rows = conn.execute(query, binds).all()
    order = {
        (p.name, stage.name): i
        for p in service.model.pipelines.values()
        for i, stage in enumerate(p.stages)
    }
    rows = sorted(rows, key=lambda r: (r.pipeline, order.get((r.pipeline, r.stage), 999)))
    return {
        "data": [
            {
                "pipeline": r.pipeline,
                "stage": r.stage,
                "visits": r.visits,
                "current": int(r.current or 0),
                "avg_seconds": round(float(r.avg_seconds), 3),
                "max_seconds": round(float(r.max_seconds), 3),
            }
            for r in rows
        ]
    }
