"""The record page's timeline, newest first: field changes (entities with `audit: true`)
and stage moves, with who and when, values shown as the page shows them."""

from __future__ import annotations

from flask_babel import gettext

from metacrm.form_engine import display
from metacrm.metadata.model import Entity
from metacrm.platform.records import lifecycle, stage_history
from metacrm.platform.records.service import RecordService

LIMIT = 50


def timeline(svc: RecordService, entity: Entity, record_id: int) -> list[dict]:
    events: list[dict] = []
    users: set[int] = set()
    for row in lifecycle.history(svc, entity.name, record_id):
        f = entity.fields.get(row["field"] or "")
        if row["operation"] == "update" and f is None:
            continue
        users.add(row["by"])
        events.append({**row, "kind": row["operation"], "field": f})
    pipeline = svc.state.model.pipeline_of(entity.name)
    if pipeline is not None:
        for move in stage_history.record_stages(svc, entity.name, record_id):
            users.add(move["entered_by"])
            events.append(
                {**move, "at": move["entered_at"], "by": move["entered_by"], "kind": "stage"}
            )
    events.sort(key=lambda e: e["at"] or "", reverse=True)
    events = events[:LIMIT]
    lookups = display.Lookups(svc)
    lookups.load(entity, [{"owner_id": u} for u in users if u], ["owner_id"])
    stage_field = entity.fields[pipeline.field] if pipeline is not None else None
    out = []
    for e in events:
        who = (
            lookups.users.get(e["by"], gettext("the system")) if e["by"] else gettext("the system")
        )
        if e["kind"] == "stage":
            shown = display.show(stage_field, e["stage"])
            text = gettext("%(who)s moved it to %(stage)s", who=who, stage=shown)
        elif e["kind"] == "create":
            text = gettext("%(who)s created it", who=who)
        elif e["kind"] in ("delete", "restore", "merge"):
            text = gettext("%(who)s: %(what)s", who=who, what=e["kind"])
        else:
            f = e["field"]
            text = gettext(
                "%(who)s changed %(field)s from “%(old)s” to “%(new)s”",
                who=who,
                field=display.label(f.label),
                old=display.show(f, e["old"], lookups),
                new=display.show(f, e["new"], lookups),
            )
        out.append({"text": text, "at": e["at"]})
    return out
