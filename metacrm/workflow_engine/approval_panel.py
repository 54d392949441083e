"""The approval card of a record page: where the record stands (the latest request, its
step, who must act, its history), and what this user may do from there: submit it to a
flow, approve, reject, delegate, recall, comment. form_engine shows it through
`app.extensions["metacrm_record_panels"]`; every action goes through Approvals, as the
inbox and the REST API do."""

from __future__ import annotations

from flask import g, render_template
from flask_babel import get_locale, gettext, lazy_gettext
from markupsafe import Markup
from sqlalchemy import select

from metacrm.metadata.model import Entity, label_text
from metacrm.platform.api.common import service
from metacrm.workflow_engine.approvals import Approvals

HISTORY = 20
ACTION_LABELS = {
    "submitted": lazy_gettext("submitted it"),
    "step_started": lazy_gettext("started a step"),
    "approved_step": lazy_gettext("approved a step"),
    "approved": lazy_gettext("approved it"),
    "rejected": lazy_gettext("rejected it"),
    "recalled": lazy_gettext("recalled it"),
    "delegated": lazy_gettext("delegated it"),
    "commented": lazy_gettext("commented"),
    "escalated": lazy_gettext("escalated it"),
    "escalation_failed": lazy_gettext("could not escalate it"),
}


def record_panel(entity: Entity, record: dict) -> Markup | None:
    svc = service()
    flows = [f for f in svc.state.model.approvals.values() if f.entity == entity.name and f.enabled]
    engine = Approvals(svc)
    t = engine.t
    approvals, tasks, log = t["approvals"], t["approval_tasks"], t["approval_log"]
    with engine.state.engine.connect() as conn:
        latest = conn.execute(
            select(approvals)
            .where(approvals.c.entity == entity.name, approvals.c.record_id == record["id"])
            .order_by(approvals.c.id.desc())
            .limit(1)
        ).first()
        if latest is None and not flows:
            return None
        waiting: list[int] = []
        history: list = []
        if latest is not None:
            waiting = list(
                conn.execute(
                    select(tasks.c.user_id).where(
                        tasks.c.approval_id == latest.id, tasks.c.status == "pending"
                    )
                )
                .scalars()
                .all()
            )
            history = list(
                conn.execute(
                    select(log)
                    .where(log.c.approval_id == latest.id)
                    .order_by(log.c.id.desc())
                    .limit(HISTORY)
                ).all()
            )
        names = _usernames(conn, engine, {*waiting, *(h.user_id for h in history if h.user_id)})
    me = g.metacrm_context.user_id
    flow = engine.state.model.approvals.get(latest.flow) if latest is not None else None
    index = latest.step if latest is not None else None
    step = (
        flow.steps[index]
        if flow is not None and index is not None and index < len(flow.steps)
        else None
    )
    pending = latest is not None and latest.status == "pending"
    submitter = latest.submitted_by if latest is not None else None
    return Markup(
        render_template(
            "screens/approval_panel.html",
            entity=entity,
            record=record,
            flows=flows if not pending else [],
            latest=latest,
            flow_label=label_text(flow.label, _lang()) if flow else "",
            step_label=label_text(step.label, _lang()) if step else "",
            waiting=[names.get(u, f"#{u}") for u in waiting],
            history=history,
            names=names,
            actions=ACTION_LABELS,
            my_turn=pending and me in waiting,
            may_recall=pending and (submitter == me or g.metacrm_context.is_admin),
            users=_delegates(engine, {me, *waiting}) if pending and me in waiting else [],
            back=f"/app/{entity.name}/{record['id']}",
        )
    )


def record_timeline(entity: Entity, record_id: int) -> list[dict]:
    """Every approval request's trail on the record's timeline (form_engine merges it
    with the field changes): who submitted, approved, rejected, with their comments."""
    engine = Approvals(service())
    approvals, log = engine.t["approvals"], engine.t["approval_log"]
    with engine.state.engine.connect() as conn:
        rows = conn.execute(
            select(log.c.at, log.c.user_id, log.c.action, log.c.comment, approvals.c.flow)
            .join(approvals, approvals.c.id == log.c.approval_id)
            .where(approvals.c.entity == entity.name, approvals.c.record_id == record_id)
            .where(log.c.action.not_in(("step_started",)))
            .order_by(log.c.id.desc())
            .limit(HISTORY * 2)
        ).all()
        names = _usernames(conn, engine, {r.user_id for r in rows if r.user_id})
    out = []
    for r in rows:
        flow = engine.state.model.approvals.get(r.flow)
        text = gettext(
            "%(who)s %(action)s (%(flow)s)",
            who=names.get(r.user_id, f"#{r.user_id}") if r.user_id else gettext("the system"),
            action=ACTION_LABELS.get(r.action, r.action),
            flow=label_text(flow.label, _lang()) if flow else r.flow,
        )
        if r.comment:
            text += f": “{r.comment}”"
        out.append({"at": r.at, "text": text})
    return out


def _lang() -> str:
    """The screens' language as metadata labels name it."""
    return "zh-CN" if str(get_locale() or "en").startswith("zh") else "en"


def _usernames(conn, engine: Approvals, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    users = engine.state.system["users"]
    rows = conn.execute(select(users.c.id, users.c.username).where(users.c.id.in_(ids)))
    return {row.id: row.username for row in rows}


def _delegates(engine: Approvals, approvers: set[int]) -> list[tuple[int, str]]:
    """Whom a request can be handed to: active users not already approving this step."""
    users = engine.state.system["users"]
    with engine.state.engine.connect() as conn:
        rows = conn.execute(
            select(users.c.id, users.c.username)
            .where(users.c.is_active.is_(True), users.c.id.not_in(approvers))
            .order_by(users.c.username)
            .limit(500)
        )
        return [(row.id, row.username) for row in rows]
