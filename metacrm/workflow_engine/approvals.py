"""Approval flows (`approvals/*.yaml`): submit, decide step by step, recall, delegate, escalate.

One request (`_approvals`) per submission; each active step gives its approvers
a task (`_approval_tasks`); every action is a line of the audit trail
(`_approval_log`). A pending record is locked (platform.locks) so nobody but an
admin changes what is being approved. A decision, its outcome (set fields, move
stage) and its `approval.decided` outbox event commit in one transaction.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from metacrm.metadata.model import ApprovalFlow, Approver, label_text
from metacrm.platform.db import locks
from metacrm.platform.errors import Conflict, Forbidden, NotFound, RecordInvalid
from metacrm.workflow_engine.approval_steps import ApprovalSteps

ACTIONS = ("approve", "reject", "recall", "delegate", "comment")
MAX_COMMENT = 4000


def _comment(body) -> str | None:
    comment = body.get("comment") if isinstance(body, dict) else None
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise RecordInvalid(
            "comment must be text",
            [{"field": "comment", "message": f"text, at most {MAX_COMMENT}"}],
        )
    return comment.strip() or None if comment else None


class Approvals(ApprovalSteps):
    """Approval actions of one user (the service's context) in one tenant."""

    # -- actions --------------------------------------------------------------
    def submit(self, entity_name: str, record_id: int, body) -> int:
        if not isinstance(body, dict):
            raise RecordInvalid('send {"flow": name}', [{"field": "flow", "message": "required"}])
        flow = self.flow(body.get("flow"))
        comment = _comment(body)
        entity = self.service.entity(entity_name)
        if flow.entity != entity.name:
            raise RecordInvalid(
                f"flow '{flow.name}' approves {flow.entity} records, not {entity.name}",
                [{"field": "flow", "message": f"a flow of {entity.name}"}],
            )
        self.service.require(entity, "update")
        approvals = self.t["approvals"]
        with self.state.write.begin() as conn:
            raw = self.service.writable_row(
                conn, entity, record_id
            )  # only who may change it submits it
            pending = conn.scalar(
                select(approvals.c.id).where(
                    approvals.c.entity == entity.name,
                    approvals.c.record_id == record_id,
                    approvals.c.status == "pending",
                )
            )
            if pending is not None:
                raise Conflict(
                    f"{entity.name} {record_id} is already pending approval {pending}",
                    approval=pending,
                )
            locks.ensure_unlocked(conn, self.state, self.ctx, entity.name, [record_id])
            if not self._holds(conn, entity, raw, flow.entry):
                message = (
                    label_text(flow.entry_message, self.ctx.locale) if flow.entry_message else None
                )
                message = message or f"the record does not meet the entry criteria: {flow.entry}"
                raise RecordInvalid(
                    f"{entity.name} {record_id} cannot enter '{flow.name}': {message}",
                    [{"field": "flow", "rule": "entry", "message": message}],
                )
            steps = [
                i for i, s in enumerate(flow.steps) if self._holds(conn, entity, raw, s.condition)
            ]
            for i in steps:
                if not self.resolve(conn, flow.steps[i].approvers, raw, self.ctx.user_id):
                    raise RecordInvalid(
                        f"step '{flow.steps[i].name}' of '{flow.name}' has no approver for this record",
                        [
                            {
                                "field": "flow",
                                "rule": f"steps.{flow.steps[i].name}",
                                "message": "no approver (other than you)",
                            }
                        ],
                    )
            approval_id = conn.execute(
                insert(approvals)
                .values(
                    flow=flow.name,
                    entity=entity.name,
                    record_id=record_id,
                    status="pending",
                    submitted_by=self.ctx.user_id,
                    submitted_at=self.ctx.now,
                )
                .returning(approvals.c.id)
            ).scalar_one()
            approval = conn.execute(select(approvals).where(approvals.c.id == approval_id)).one()
            changed = self._outcome(conn, entity, record_id, flow.on_submit)
            self.log(
                conn,
                approval_id,
                "submitted",
                comment=comment,
                detail={"set": changed} if changed else None,
            )
            if not steps:
                self._finish(conn, approval, flow, "approved", "no step applies")
            else:
                if flow.lock:
                    reason = f"pending approval {approval_id} ({flow.name})"
                    locks.lock(
                        conn,
                        self.state,
                        entity.name,
                        record_id,
                        reason,
                        self.ctx.user_id,
                        self.ctx.now,
                    )
                raw = self.system.writable_row(conn, entity, record_id)
                self._start_step(conn, approval, flow, steps[0], raw)
        self.system.dispatch_pending()
        return approval_id

    def act(self, approval_id: int, action: str, body) -> None:
        if action not in ACTIONS:
            raise NotFound(f"unknown approval action '{action}'", known=list(ACTIONS))
        body = body if isinstance(body, dict) else {}
        comment = _comment(body)
        with self.state.write.begin() as conn:
            approval = self.load(conn, approval_id, lock=True)
            if action == "comment":
                if not comment:
                    raise RecordInvalid(
                        "a comment needs text", [{"field": "comment", "message": "required"}]
                    )
                self.log(conn, approval.id, "commented", approval.step, comment)
                return
            if approval.status != "pending":
                raise Conflict(
                    f"approval {approval_id} is already {approval.status}", status=approval.status
                )
            flow = self.state.model.approvals.get(approval.flow)
            if flow is None:
                raise Conflict(
                    f"the flow '{approval.flow}' no longer exists; an admin may recall it"
                )
            if action == "recall":
                if approval.submitted_by != self.ctx.user_id and not self.ctx.is_admin:
                    raise Forbidden("only the submitter (or an admin) may recall a request")
                self._finish(conn, approval, flow, "recalled", comment)
            else:
                task = self._my_task(conn, approval)
                if action == "delegate":
                    self._delegate(conn, approval, flow, task, body.get("to"), comment)
                else:
                    self._decide(conn, approval, flow, task, action, comment)
        self.system.dispatch_pending()

    def _my_task(self, conn, approval):
        tasks = self.t["approval_tasks"]
        task = conn.execute(
            select(tasks).where(
                tasks.c.approval_id == approval.id,
                tasks.c.step == approval.step,
                tasks.c.user_id == self.ctx.user_id,
                tasks.c.status == "pending",
            )
        ).first()
        if task is None:
            raise Forbidden(f"you have no pending task in approval {approval.id}")
        return task

    def _decide(self, conn, approval, flow, task, action: str, comment) -> None:
        tasks = self.t["approval_tasks"]
        status = "approved" if action == "approve" else "rejected"
        conn.execute(
            update(tasks)
            .where(tasks.c.id == task.id)
            .values(status=status, acted_at=self.ctx.now, comment=comment)
        )
        if action == "reject":
            self._finish(conn, approval, flow, "rejected", comment)
            return
        self.log(conn, approval.id, "approved_step", approval.step, comment)
        step = flow.steps[approval.step]
        left = conn.scalar(
            select(tasks.c.id).where(
                tasks.c.approval_id == approval.id,
                tasks.c.step == approval.step,
                tasks.c.status == "pending",
            )
        )
        if step.mode == "all" and left is not None:
            return
        self._cancel_pending(conn, approval.id)
        entity = self.state.model.entities[approval.entity]
        raw = self.system.writable_row(conn, entity, approval.record_id)
        following = self._next_step(conn, flow, entity, raw, approval.step + 1)
        if following is None:
            self._finish(conn, approval, flow, "approved", comment)
        else:
            self._start_step(conn, approval, flow, following, raw)

    def _delegate(self, conn, approval, flow, task, to, comment) -> None:
        users, tasks = self.t["users"], self.t["approval_tasks"]
        target = (
            conn.execute(select(users).where(users.c.id == to)).first()
            if isinstance(to, int) and not isinstance(to, bool)
            else None
        )
        problem = None
        if target is None or not target.is_active:
            problem = "an active user's id"
        elif to in (self.ctx.user_id, approval.submitted_by):
            problem = "someone other than you and the submitter"
        elif conn.scalar(
            select(tasks.c.id).where(
                tasks.c.approval_id == approval.id,
                tasks.c.step == approval.step,
                tasks.c.user_id == to,
                tasks.c.status == "pending",
            )
        ):
            problem = "someone who is not already an approver of this step"
        if problem:
            raise RecordInvalid(
                f"cannot delegate to {to!r}: {problem}", [{"field": "to", "message": problem}]
            )
        conn.execute(
            update(tasks)
            .where(tasks.c.id == task.id)
            .values(status="delegated", acted_at=self.ctx.now, comment=comment)
        )
        step = flow.steps[approval.step]
        self._add_tasks(
            conn,
            approval,
            approval.step,
            step,
            [to],
            delegated_from=self.ctx.user_id,
            due_at=task.due_at,
        )
        self.log(conn, approval.id, "delegated", approval.step, comment, {"to": to})

    def escalate(self, conn, approval, task, flow: ApprovalFlow, raw: dict) -> list[int]:
        """A task past its due time goes to the step's `escalate_to` (default: the approver's
        manager; nobody there: the administrators)."""
        step = flow.steps[task.step]
        specs = step.escalate_to or (Approver("manager", "approver"),)
        tasks = self.t["approval_tasks"]
        existing = set(
            conn.scalars(
                select(tasks.c.user_id).where(
                    tasks.c.approval_id == approval.id,
                    tasks.c.step == task.step,
                    tasks.c.status == "pending",
                )
            )
        )
        users = [
            u
            for u in self.resolve(conn, specs, raw, approval.submitted_by, approver=task.user_id)
            if u not in existing
        ]
        if not users and existing == {task.user_id}:
            users = [u for u in self._admins(conn, approval.submitted_by) if u != task.user_id]
        if not users and existing == {task.user_id}:  # nobody to take it over: it stays
            conn.execute(update(tasks).where(tasks.c.id == task.id).values(due_at=None))
            self.log(
                conn, approval.id, "escalation_failed", task.step, detail={"from": task.user_id}
            )
            return []
        conn.execute(
            update(tasks)
            .where(tasks.c.id == task.id)
            .values(status="escalated", acted_at=self.ctx.now)
        )
        if users:
            self._add_tasks(
                conn, approval, task.step, step, users, escalated_from=task.user_id, due_at=None
            )
        self.log(
            conn, approval.id, "escalated", task.step, detail={"from": task.user_id, "to": users}
        )
        return users
