"""How an approval moves: which step applies next, who approves it (managers,
roles, admins as the fallback), and what each move writes (tasks, shares, the log,
the record's outcome). A part of the Approvals engine (a mixin: the methods read its
service, model and tables)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, insert, select, update

from metacrm.metadata.model import ApprovalFlow, ApprovalStep, Approver, Entity, Outcome, label_text
from metacrm.platform.access.permissions import SYSTEM_ACCESS
from metacrm.platform.db import locks
from metacrm.platform.db.outbox import new_event, write_events
from metacrm.platform.errors import Forbidden, NotFound
from metacrm.platform.records.service import RecordService
from metacrm.workflow_engine.evaluate import body_of, compile_expression, record_values
from metacrm.workflow_engine.notices import notify


class ApprovalSteps:
    def __init__(self, service: RecordService):
        self.service = service
        self.state = service.state
        self.ctx = service.context
        self.t = service.state.system
        self.system = RecordService(  # runs outcomes: the flow's authority, the actor's name
            self.state,
            replace(self.ctx, access=SYSTEM_ACCESS, is_admin=True),
            service.pm,
            service.registry,
        )

    # -- lookups --------------------------------------------------------------
    def flow(self, name) -> ApprovalFlow:
        flow = self.state.model.approvals.get(name) if isinstance(name, str) else None
        if flow is None or not flow.enabled:
            raise NotFound(
                f"no approval flow '{name}'",
                known=sorted(n for n, f in self.state.model.approvals.items() if f.enabled),
            )
        return flow

    def load(self, conn: Connection, approval_id: int, lock: bool = False):
        table = self.t["approvals"]
        query = select(table).where(table.c.id == approval_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None or not self.visible(conn, row):
            raise NotFound(f"no approval {approval_id}")
        return row

    def visible(self, conn: Connection, approval) -> bool:
        """Participants, admins and whoever may read the record see a request."""
        if self.ctx.is_admin or approval.submitted_by == self.ctx.user_id:
            return True
        tasks = self.t["approval_tasks"]
        if conn.execute(
            select(tasks.c.id).where(
                tasks.c.approval_id == approval.id, tasks.c.user_id == self.ctx.user_id
            )
        ).first():
            return True
        try:
            self.service.get(approval.entity, approval.record_id, conn)
        except (NotFound, Forbidden):
            return False
        return True

    def _values(self, conn, entity: Entity, raw: dict, sources: list[str]) -> tuple[dict, dict]:
        compiled = {
            s: compile_expression(self.state, self.service.registry, entity, s) for s in sources
        }
        return record_values(conn, self.service, entity, raw, list(compiled.values())), compiled

    def _holds(self, conn, entity: Entity, raw: dict, source: str | None) -> bool:
        if not source:
            return True
        values, compiled = self._values(conn, entity, raw, [source])
        return compiled[source].holds(values, self.service.eval_ctx)

    def _next_step(self, conn, flow: ApprovalFlow, entity, raw, start: int) -> int | None:
        for index in range(start, len(flow.steps)):
            if self._holds(conn, entity, raw, flow.steps[index].condition):
                return index
        return None

    def simulate(self, conn, flow: ApprovalFlow, entity: Entity, raw: dict) -> dict:
        """What submitting `raw` to `flow` (saved or a draft) would do, read-only: whether
        it may enter, and per step whether it applies and who would approve (and who it
        escalates to), as `submit` decides them, with the current user as the submitter."""
        enters = self._holds(conn, entity, raw, flow.entry)
        steps = []
        for step in flow.steps:
            applies = self._holds(conn, entity, raw, step.condition)
            steps.append(
                {
                    "step": step,
                    "applies": applies,
                    "approvers": self.resolve(conn, step.approvers, raw, self.ctx.user_id)
                    if applies
                    else [],
                    "escalate_to": self.resolve(conn, step.escalate_to, raw, self.ctx.user_id)
                    if applies and step.escalate_to
                    else [],
                }
            )
        return {"enters": enters, "steps": steps}

    # -- approvers ------------------------------------------------------------
    def _managers_of(self, conn, user_ids: list[int]) -> list[int]:
        users = self.t["users"]
        rows = conn.execute(select(users.c.manager_id).where(users.c.id.in_(user_ids))).all()
        return [r.manager_id for r in rows if r.manager_id is not None]

    def resolve(
        self,
        conn,
        approvers: tuple[Approver, ...],
        raw: dict,
        submitter: int | None,
        approver=None,
    ) -> list[int]:
        """Active users named by the approver specs, the submitter excluded (nobody approves
        their own request)."""
        users, roles = self.t["users"], self.t["user_roles"]
        found: list[int] = []
        for spec in approvers:
            if spec.kind == "user":
                found += conn.scalars(select(users.c.id).where(users.c.username == spec.value))
            elif spec.kind == "role":
                found += conn.scalars(
                    select(roles.c.user_id)
                    .where(roles.c.role == spec.value)
                    .order_by(roles.c.user_id)
                )
            elif spec.kind == "field":
                found += [raw[spec.value]] if raw.get(spec.value) else []
            else:
                whose = {"owner": raw.get("owner_id"), "submitter": submitter, "approver": approver}
                found += self._managers_of(conn, [whose[spec.value]]) if whose[spec.value] else []
        active = set(
            conn.scalars(
                select(users.c.id).where(users.c.id.in_(set(found)), users.c.is_active.is_(True))
            )
        )
        return [u for u in dict.fromkeys(found) if u in active and u != submitter]

    def _admins(self, conn, submitter: int) -> list[int]:
        users = self.t["users"]
        rows = conn.scalars(
            select(users.c.id).where(users.c.is_admin.is_(True), users.c.is_active.is_(True))
        )
        return [u for u in rows if u != submitter]

    # -- writing --------------------------------------------------------------
    def log(self, conn, approval_id: int, action: str, step=None, comment=None, detail=None):
        conn.execute(
            insert(self.t["approval_log"]).values(
                approval_id=approval_id,
                at=self.ctx.now,
                user_id=self.ctx.user_id,
                action=action,
                step=step,
                comment=comment,
                detail=detail,
            )
        )

    def _share_read(self, conn, entity: str, record_id: int, users: list[int]) -> None:
        """Approvers must see what they approve: a read share unless they have one."""
        shares = self.t["shares"]
        have = set(
            conn.scalars(
                select(shares.c.user_id).where(
                    shares.c.entity == entity,
                    shares.c.record_id == record_id,
                    shares.c.user_id.in_(users),
                )
            )
        )
        rows = [
            {
                "entity": entity,
                "record_id": record_id,
                "user_id": u,
                "access": "read",
                "created_at": self.ctx.now,
                "created_by": self.ctx.user_id,
            }
            for u in users
            if u not in have
        ]
        if rows:
            conn.execute(insert(shares), rows)

    def _add_tasks(self, conn, approval, step_index: int, step: ApprovalStep, users, **extra):
        if "due_at" in extra:
            due = extra.pop("due_at")
        elif step.timeout_hours:
            due = self.ctx.now + dt.timedelta(hours=step.timeout_hours)
        else:
            due = None
        conn.execute(
            insert(self.t["approval_tasks"]),
            [
                {
                    "approval_id": approval.id,
                    "step": step_index,
                    "user_id": u,
                    "status": "pending",
                    "created_at": self.ctx.now,
                    "due_at": due,
                    **extra,
                }
                for u in users
            ],
        )
        self._share_read(conn, approval.entity, approval.record_id, users)
        flow = self.state.model.approvals[approval.flow]
        notify(
            conn,
            self.state,
            users,
            f"Approval needed: {label_text(flow.label, self.ctx.locale)}",
            f"step {label_text(step.label, self.ctx.locale)} of {approval.entity} {approval.record_id}",
            approval.entity,
            approval.record_id,
            f"approval:{approval.id}",
            self.ctx.now,
        )

    def _start_step(self, conn, approval, flow, index: int, raw: dict) -> None:
        step = flow.steps[index]
        users = self.resolve(conn, step.approvers, raw, approval.submitted_by)
        detail: dict[str, Any] = {"approvers": users}
        if not users:  # people changed since submission: administrators decide
            users = self._admins(conn, approval.submitted_by)
            detail = {"approvers": users, "fallback": "no approver found; administrators"}
        conn.execute(
            update(self.t["approvals"])
            .where(self.t["approvals"].c.id == approval.id)
            .values(step=index)
        )
        self._add_tasks(conn, approval, index, step, users)
        self.log(conn, approval.id, "step_started", index, detail=detail)

    def _cancel_pending(self, conn, approval_id: int) -> None:
        tasks = self.t["approval_tasks"]
        conn.execute(
            update(tasks)
            .where(tasks.c.approval_id == approval_id, tasks.c.status == "pending")
            .values(status="cancelled", acted_at=self.ctx.now)
        )

    def _outcome(self, conn, entity: Entity, record_id: int, outcome: Outcome) -> dict:
        if not outcome.values and not outcome.stage:
            return {}
        raw = self.system.writable_row(conn, entity, record_id)
        body = {}
        if outcome.values:
            values, compiled = self._values(conn, entity, raw, [s for _, s in outcome.values])
            pairs = [(f, compiled[s]) for f, s in outcome.values]
            body = body_of(entity, pairs, values, self.service.eval_ctx, raw)
        if outcome.stage:
            field = next(
                p.field for p in self.state.model.pipelines.values() if p.entity == entity.name
            )
            if raw.get(field) != outcome.stage:
                body[field] = outcome.stage
        if body:
            self.system.update(entity.name, record_id, body, conn)
        return body

    def _finish(self, conn, approval, flow: ApprovalFlow, result: str, comment=None) -> None:
        table = self.t["approvals"]
        conn.execute(
            update(table)
            .where(table.c.id == approval.id)
            .values(status=result, step=None, decided_at=self.ctx.now, version=table.c.version + 1)
        )
        self._cancel_pending(conn, approval.id)
        if flow.lock:
            locks.unlock(conn, self.state, approval.entity, approval.record_id)
        entity = self.state.model.entities[approval.entity]
        outcome = {"approved": flow.on_approve, "rejected": flow.on_reject}.get(
            result, flow.on_recall
        )
        changed = self._outcome(conn, entity, approval.record_id, outcome)
        self.log(
            conn, approval.id, result, approval.step, comment, {"set": changed} if changed else None
        )
        if approval.submitted_by != self.ctx.user_id:
            notify(
                conn,
                self.state,
                [approval.submitted_by],
                f"{label_text(flow.label, self.ctx.locale)}: {result}",
                comment,
                approval.entity,
                approval.record_id,
                f"approval:{approval.id}",
                self.ctx.now,
            )
        jobs = self.state.jobs
        if jobs is not None and jobs.wanted(self.state, approval.entity, "approval.decided"):
            payload = {
                "flow": flow.name,
                "outcome": result,
                "approval_id": approval.id,
                "actor": self.ctx.user_id,
            }
            event = new_event(
                "approval.decided",
                payload,
                entity=approval.entity,
                record_id=approval.record_id,
                depth=self.ctx.depth,
                at=self.ctx.now,
            )
            self.system.pending_events += write_events(conn, self.state, [event])
