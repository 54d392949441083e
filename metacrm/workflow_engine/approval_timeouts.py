"""Approval timeouts: a task past its step's `timeout_hours` is escalated by the scheduler
(the `metacrm_scheduled` hook), at most once a minute per tenant."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from metacrm.platform.access.context import Context
from metacrm.platform.errors import NotFound
from metacrm.platform.records.service import RecordService
from metacrm.workflow_engine.approvals import Approvals

BATCH = 200


def escalate_due(runtime, state, now: dt.datetime) -> int:
    """Escalate the tasks that are due; how many."""
    if not state.model.approvals:
        return 0
    tasks, approvals = state.system["approval_tasks"], state.system["approvals"]
    due = select(tasks.c.id).where(tasks.c.status == "pending", tasks.c.due_at <= now)
    with state.engine.connect() as conn:  # read first: an idle tenant takes no write lock
        if conn.execute(due.limit(1)).first() is None:
            return 0
    context = Context(tenant=state.name, username="system", is_admin=True, now=now)
    engine = Approvals(RecordService(state, context, runtime.pm, runtime.registry))
    done = 0
    with state.write.begin() as conn:
        rows = conn.execute(
            select(tasks, approvals.c.flow)
            .join(approvals, approvals.c.id == tasks.c.approval_id)
            .where(tasks.c.id.in_(due.scalar_subquery()), approvals.c.status == "pending")
            .order_by(tasks.c.id)
            .limit(BATCH)
        ).all()
        for task in rows:
            flow = state.model.approvals.get(task.flow)
            if flow is None or task.step >= len(flow.steps):
                continue
            approval = conn.execute(
                select(approvals).where(approvals.c.id == task.approval_id)
            ).one()
            entity = state.model.entities[approval.entity]
            try:
                raw = engine.system.writable_row(conn, entity, approval.record_id)
            except NotFound:  # deleted by an admin while pending: escalate by people alone
                raw = {}
            engine.escalate(conn, approval, task, flow, raw)
            done += 1
    return done
