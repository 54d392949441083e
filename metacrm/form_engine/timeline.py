"""The record page's timeline, newest first: field changes (entities with `audit: true`),
owner changes, stage moves, comments and what automations did, with who and when, values shown as the page shows them;
engines add their own events (approvals) through `app.extensions["metacrm_timeline"]`:
callables (entity, record id) -> [{"at", "text"}]."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask_babel import gettext
from sqlalchemy import and_, or_, select

from metacrm.form_engine import display
from metacrm.metadata.model import Entity
from metacrm.platform.records import comments, lifecycle, stage_history
from metacrm.platform.records.service import RecordService

LIMIT = 50


def timeline(
    svc: RecordService, entity: Entity, record_id: int, sources: Iterable[Callable] = ()
) -> list[dict]:
    events: list[dict] = []
    users: set[int] = set()
    pipeline = svc.state.model.pipeline_of(entity.name)
    moves_shown = pipeline.field if pipeline is not None else None  # as stage moves
    for row in lifecycle.history(svc, entity.name, record_id):
        f = entity.fields.get(row["field"] or "")
        owner = row["field"] == "owner_id"
        if row["operation"] == "update" and (
            f is None and not owner or row["field"] == moves_shown
        ):
            continue
        users.add(row["by"])
        if owner:
            users |= {v for v in (row["old"], row["new"]) if isinstance(v, int)}
        events.append({**row, "kind": "owner" if owner else row["operation"], "field": f})
    if pipeline is not None:
        for move in stage_history.record_stages(svc, entity.name, record_id):
            users.add(move["entered_by"])
            events.append(
                {**move, "at": move["entered_at"], "by": move["entered_by"], "kind": "stage"}
            )
    # newest first; what happened at one moment reads in order (created, then its stage)
    events.sort(key=lambda e: (e["at"] or "", e["kind"] != "create"), reverse=True)
    events = events[:LIMIT]
    lookups = display.Lookups(svc)
    lookups.load(entity, [{"owner_id": u} for u in users if u], ["owner_id"])
    linked = [e for e in events if e.get("field") is not None and e["field"].kind.references]
    if linked:  # the records and users changes point at, by their titles
        values = [{e["field"].name: e[side]} for e in linked for side in ("old", "new")]
        lookups.load(entity, values, sorted({e["field"].name for e in linked}))
    stage_field = entity.fields[pipeline.field] if pipeline is not None else None
    out = [{"text": _sentence(e, lookups, stage_field), "at": e["at"]} for e in events]
    out += _comments(svc, entity, record_id)
    out += _automation_notes(svc, entity, record_id)
    for source in sources:
        out += source(entity, record_id)
    out.sort(key=lambda e: display.aware(e["at"]), reverse=True)
    return out[:LIMIT]


def _comments(svc: RecordService, entity: Entity, record_id: int) -> list[dict]:
    me, admin = svc.context.user_id, svc.context.is_admin
    return [
        {
            "at": c["created_at"],
            "text": gettext("%(who)s commented", who=c["author"] or gettext("the system")),
            "comment": {**c, "mine": c["author_id"] == me or admin},
        }
        for c in comments.listed(svc, entity.name, record_id)
    ]


def _automation_notes(svc: RecordService, entity: Entity, record_id: int) -> list[dict]:
    """What automations did to the record (the runs that did something, and failures:
    the latest attempt of each event)."""
    log = svc.state.system["job_log"]
    with svc.state.engine.connect() as conn:
        rows = conn.execute(
            select(log.c.event_id, log.c.status, log.c.detail, log.c.at)
            .where(
                log.c.entity == entity.name,
                log.c.record_id == record_id,
                or_(
                    log.c.handler == "automations",
                    and_(  # a failed action fails the event: logged for the event ("-")
                        log.c.handler == "-", log.c.detail.like("%automation %, action %")
                    ),
                ),
                log.c.status.in_(("ok", "error")),
            )
            .order_by(log.c.id.desc())
            .limit(LIMIT)
        ).all()
    automations = svc.state.model.automations
    out, seen = [], set()
    for r in rows:
        if r.event_id in seen or not r.detail:
            continue
        seen.add(r.event_id)
        if r.status == "error":
            out.append({"at": r.at, "text": gettext("An automation failed: %(why)s", why=r.detail)})
            continue
        for name, what in automation_runs(r.detail):
            automation = automations.get(name)
            shown = display.label(automation.label) if automation else name
            out.append(
                {
                    "at": r.at,
                    "text": gettext("Automation “%(name)s”: %(what)s", name=shown, what=what),
                }
            )
    return out


def automation_runs(detail: str) -> list[tuple[str, str]]:
    """A job log's notes ("name: what it did; what else; other: condition not met") ->
    (automation name, what it did), leaving out the ones that did nothing."""
    runs: list[tuple[str, list[str]]] = []
    for part in detail.split("; "):
        name, sep, what = part.partition(": ")
        if sep and name.isidentifier():
            runs.append((name, [what]))
        elif runs:
            runs[-1][1].append(part)
    return [(name, "; ".join(parts)) for name, parts in runs if parts != ["condition not met"]]


def _sentence(e: dict, lookups: display.Lookups, stage_field) -> str:
    """What happened, as the page says it."""
    who = lookups.users.get(e["by"], gettext("the system")) if e["by"] else gettext("the system")
    kind = e["kind"]
    if kind == "stage":
        shown = display.show(stage_field, e["stage"])
        return gettext("%(who)s moved it to %(stage)s", who=who, stage=shown)
    if kind == "create":
        return gettext("%(who)s created it", who=who)
    if kind == "delete":
        return gettext("%(who)s deleted it", who=who)
    if kind == "restore":
        return gettext("%(who)s restored it", who=who)
    if kind == "merged":
        return gettext("%(who)s merged it into another record", who=who)
    if kind == "owner":
        owner = lookups.users.get(e["new"], f"#{e['new']}")
        return gettext("%(who)s gave it to %(owner)s", who=who, owner=owner)
    f = e["field"]
    if f is None:  # a merge's own row (the fields it took follow as changes)
        return gettext("%(who)s merged records into it", who=who)
    return gettext(
        "%(who)s changed %(field)s from “%(old)s” to “%(new)s”",
        who=who,
        field=display.label(f.label),
        old=display.show(f, e["old"], lookups),
        new=display.show(f, e["new"], lookups),
    )
