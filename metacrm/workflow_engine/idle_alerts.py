"""Idle alerts: a record that sat in a stage longer than the stage's `idle_alert_days`
gets one notice to its owner per visit. Run from `metacrm scheduler` (the
`metacrm_scheduled` hook), at most once a minute per tenant."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, insert, select

from metacrm.metadata.model import label_text


def check_idle(state, now: dt.datetime) -> int:
    """Send the due alerts; how many."""
    stages = [(p, s) for p in state.model.pipelines.values() for s in p.stages if s.idle_alert_days]
    if not stages:
        return 0
    history, alerts = state.system["stage_history"], state.system["stage_alerts"]
    sent = 0
    with state.write.begin() as conn:
        for pipeline, stage in stages:
            entity = state.model.entities[pipeline.entity]
            table = state.tables[entity.name]
            title = table.c[entity.title_field] if entity.title_field else table.c.id
            due = conn.execute(
                select(history.c.id, history.c.record_id, table.c.owner_id, title.label("title"))
                .join(table, table.c.id == history.c.record_id)
                .where(
                    history.c.entity == entity.name,
                    history.c.pipeline == pipeline.name,
                    history.c.stage == stage.name,
                    history.c.left_at.is_(None),
                    history.c.entered_at < now - dt.timedelta(days=stage.idle_alert_days),
                    table.c.deleted_at.is_(None),
                    ~exists(select(alerts.c.history_id).where(alerts.c.history_id == history.c.id)),
                )
            ).all()
            if not due:
                continue
            conn.execute(insert(alerts), [{"history_id": r.id, "alerted_at": now} for r in due])
            stage_label = label_text(stage.label, "en")
            notices = [
                {
                    "user_id": r.owner_id,
                    "title": f"{label_text(entity.label, 'en')} idle in {stage_label}",
                    "body": f"'{r.title}' has been in {stage_label} for over "
                    f"{stage.idle_alert_days} days",
                    "entity": entity.name,
                    "record_id": r.record_id,
                    "source": f"idle:{pipeline.name}.{stage.name}",
                    "created_at": now,
                }
                for r in due
                if r.owner_id is not None
            ]
            if notices:
                conn.execute(insert(state.system["notifications"]), notices)
            sent += len(notices)
    return sent
