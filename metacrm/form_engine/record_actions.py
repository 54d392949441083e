"""A record's less frequent actions: comments (added and deleted from its timeline);
share it with a user or a team (read or write), and merge a duplicate into it (pick
the other record, then which values to keep), each on its own page. Both go through the platform's shares and lifecycle.merge, the same
checks as the API: only who may change the record shares it; merging also needs delete."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine import display
from metacrm.form_engine.lists import active_users
from metacrm.form_engine.screens import _entity, bp
from metacrm.platform.access import shares
from metacrm.platform.api.common import service
from metacrm.platform.errors import ServiceError
from metacrm.platform.records import comments, lifecycle


def _title(entity, record: dict) -> str:
    return (
        str(record.get(entity.title_field) or f"#{record['id']}")
        if entity.title_field
        else f"#{record['id']}"
    )


@bp.get("/<entity_name>/<id:record_id>/share")
def share_page(entity_name: str, record_id: int):
    entity = _entity(entity_name)
    svc = service()
    record = svc.get(entity.name, record_id)
    current = shares.list_shares(svc, entity.name, record_id)  # 403/404 unless may change
    users = dict(active_users(svc))
    return render_template(
        "screens/share.html",
        entity=entity,
        record=record,
        title=_title(entity, record),
        shares=current,
        users=users,
    )


@bp.post("/<entity_name>/<id:record_id>/share")
def share_record(entity_name: str, record_id: int):
    entity = _entity(entity_name)
    kind = "team" if request.form.get("kind") == "team" else "user"
    target = request.form.get("target", "")
    body = {kind: int(target) if target.isdigit() else target, "access": request.form.get("access")}
    try:
        shares.share(service(), entity.name, record_id, body)
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        flash(exc.messages(), "error")
    else:
        flash(_("Shared."), "success")
    return redirect(url_for("screens.share_page", entity_name=entity.name, record_id=record_id))


@bp.post("/<entity_name>/<id:record_id>/unshare")
def unshare_record(entity_name: str, record_id: int):
    entity = _entity(entity_name)
    kind = "team" if request.form.get("kind") == "team" else "user"
    target = request.form.get("target", "")
    shares.unshare(service(), entity.name, record_id, kind, int(target) if target.isdigit() else 0)
    flash(_("No longer shared."), "success")
    return redirect(url_for("screens.share_page", entity_name=entity.name, record_id=record_id))


@bp.get("/<entity_name>/<id:record_id>/merge")
def merge_page(entity_name: str, record_id: int):
    """Step 1: find the duplicate; step 2 (`?other=`): pick the values to keep."""
    entity = _entity(entity_name)
    svc = service()
    svc.require(entity, "update")
    svc.require(entity, "delete")
    record = svc.get(entity.name, record_id)
    other_id = request.args.get("other", "")
    other = None
    differing = []
    if other_id.isdigit() and int(other_id) != record_id:
        other = svc.get(entity.name, int(other_id))
        writable = set(svc.schema(entity).writable_keys)
        hidden = svc.grant(entity).hidden
        differing = [
            f
            for n, f in entity.fields.items()
            if n in writable
            and n not in hidden
            and not f.hidden
            and svc.grant(entity).level(n) == "write"
            and other.get(n) not in (None, "", [])
            and other.get(n) != record.get(n)
        ]
    lookups = display.Lookups(svc)
    lookups.load(entity, [record, *([other] if other else [])], list(entity.fields))
    return render_template(
        "screens/merge.html",
        entity=entity,
        record=record,
        other=other,
        title=_title(entity, record),
        other_title=_title(entity, other) if other else "",
        differing=differing,
        lookups=lookups,
        show=display.show,
    )


@bp.post("/<entity_name>/<id:record_id>/merge")
def merge_records(entity_name: str, record_id: int):
    entity = _entity(entity_name)
    other = request.form.get("other", "")
    loser = int(other) if other.isdigit() else 0
    picks = {
        key[len("keep:") :]: loser
        for key, value in request.form.items()
        if key.startswith("keep:") and value == "other"
    }
    try:
        lifecycle.merge(service(), entity.name, record_id, {"from": [loser], "fields": picks})
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        flash(exc.messages(), "error")
        return redirect(
            url_for("screens.merge_page", entity_name=entity.name, record_id=record_id, other=other)
        )
    flash(_("Merged. The other record is in the recycle bin."), "success")
    return redirect(url_for("screens.record_page", entity_name=entity.name, record_id=record_id))


@bp.post("/<entity_name>/<id:record_id>/comments")
def add_comment(entity_name: str, record_id: int):
    entity = _entity(entity_name)
    try:
        comments.add(service(), entity.name, record_id, request.form.get("body", ""))
    except ServiceError as exc:
        if exc.status == 404:
            raise
        flash(exc.messages(), "error")
    back = url_for("screens.record_page", entity_name=entity.name, record_id=record_id)
    return redirect(back + "#comment-body")


@bp.post("/<entity_name>/<id:record_id>/comments/<id:comment_id>/delete")
def delete_comment(entity_name: str, record_id: int, comment_id: int):
    entity = _entity(entity_name)
    comments.remove(service(), entity.name, record_id, comment_id)
    flash(_("Comment deleted."), "success")
    return redirect(url_for("screens.record_page", entity_name=entity.name, record_id=record_id))
