"""The kanban of an entity's pipeline (`/app/{entity}/board`): a column per stage with
its count and total, cards that move between stages through the record service. A move
the pipeline refuses (requirements, entry rules, transitions) snaps back and says why."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for

from metacrm.form_engine import display
from metacrm.form_engine.columns import default_columns
from metacrm.form_engine.screens import (
    _entity,
    bp,
    render_record,
    search_params,
    stage_labels,
)
from metacrm.metadata.model import Entity, Pipeline
from metacrm.platform.api.common import service
from metacrm.platform.errors import NotFound, ServiceError
from metacrm.platform.query.aggregate import aggregate
from metacrm.platform.query.lists import list_records

CARDS_PER_STAGE = 100


def _pipeline(entity: Entity) -> Pipeline:
    pipeline = service().state.model.pipeline_of(entity.name)
    if pipeline is None:
        raise NotFound(f"{entity.name} has no pipeline, so no board")
    return pipeline


def _amount_field(entity: Entity, readable: list[str]) -> str | None:
    """The field column totals add up: the first currency field, else the first number."""
    summable = [n for n in readable if n in entity.fields and entity.fields[n].value_kind.summable]
    currency = [n for n in summable if entity.fields[n].value_kind.name == "currency"]
    return next(iter(currency or summable), None)


@bp.get("/<entity_name>/board")
def board(entity_name: str):
    entity = _entity(entity_name)
    svc = service()
    pipeline = _pipeline(entity)
    readable = svc.readable(entity)
    amount = _amount_field(entity, readable)
    q = request.args.get("q", "").strip()
    where = search_params(entity, q)
    measures = "count" + (f",sum:{amount}" if amount else "")
    totals = {
        row[pipeline.field]: row
        for row in aggregate(
            svc,
            entity.name,
            {"group_by": [pipeline.field], "measures": [measures], **where},
        )["data"]
    }
    card_fields = [c for c in default_columns(entity, readable) if c not in (pipeline.field,)][:4]
    details = [(c, entity.fields.get(c)) for c in card_fields if c != entity.title_field]
    wanted = {n for n in (entity.title_field, *card_fields) if n} & set(readable)
    fields = ",".join(sorted(wanted))  # a card's columns only: less to read and serialize
    pages = [
        list_records(
            svc,
            entity.name,
            {
                pipeline.field: [stage.name],
                "limit": [str(CARDS_PER_STAGE)],
                **({"fields": [fields]} if fields else {}),
                **where,
            },
        )
        for stage in pipeline.stages
    ]
    lookups = display.Lookups(svc)  # the titles and names of every card, in one go
    lookups.load(entity, [r for page in pages for r in page["data"]], card_fields)
    columns = []
    for stage, (_, stage_label), page in zip(
        pipeline.stages, stage_labels(entity, pipeline), pages, strict=True
    ):
        total = totals.get(stage.name, {})
        columns.append(
            {
                "stage": stage,
                "label": stage_label,
                "cards": [_card(entity, r, details, lookups) for r in page["data"]],
                "count": total.get("count", 0),
                "sum": total.get(f"sum_{amount}") if amount else None,
                "more": bool(page["next_cursor"]),
            }
        )
    return render_template(
        "screens/board.html",
        entity=entity,
        pipeline=pipeline,
        columns=columns,
        card_fields=card_fields,
        amount=entity.fields[amount] if amount else None,
        lookups=lookups,
        show=display.show,
        q=q,
    )


def _card(entity: Entity, record: dict, details: list, lookups: display.Lookups) -> dict:
    """What a card shows, as text (a board renders hundreds: no per-field template calls)."""
    title = record.get(entity.title_field) if entity.title_field else None
    texts = [display.show(f, record.get(c), lookups, c) for c, f in details]
    return {
        "id": record["id"],
        "title": title or f"#{record['id']}",
        "details": [t for t in texts if t],
    }


@bp.post("/<entity_name>/<id:record_id>/move")
def move(entity_name: str, record_id: int):
    """Move a card: the record's stage field becomes `stage` (JSON answer for the board)."""
    entity = _entity(entity_name)
    pipeline = _pipeline(entity)
    stage = request.form.get("stage", "")
    try:
        record = service().update(entity.name, record_id, {pipeline.field: stage})
    except ServiceError as exc:
        return jsonify({"ok": False, "message": move_error(entity, exc)}), exc.status
    return jsonify({"ok": True, "stage": record[pipeline.field], "version": record["version"]})


def move_error(entity: Entity, exc: ServiceError) -> str:
    """A refused move in one sentence, fields named by their labels."""
    messages = [
        f"{display.label(entity.fields[e['field']].label)} {e.get('message', '')}"
        if e.get("field") in entity.fields
        else e.get("message", "")
        for e in exc.errors or ()
    ]
    return "; ".join(messages) or exc.detail


@bp.post("/<entity_name>/<id:record_id>/stage")
def set_stage(entity_name: str, record_id: int):
    """The record page's stage path: click a stage to move there (or see why not)."""
    entity = _entity(entity_name)
    pipeline = _pipeline(entity)
    try:
        service().update(entity.name, record_id, {pipeline.field: request.form.get("stage", "")})
    except ServiceError as exc:
        return render_record(entity, record_id, stage_error=move_error(entity, exc)), exc.status
    return redirect(url_for("screens.record_page", entity_name=entity.name, record_id=record_id))
