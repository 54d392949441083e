"""Saved views: a user's own named lists ("My big deals this quarter"). A saved view is
a name for a list URL's query string (columns, filters, sort), so it shows exactly what
the list showed when it was saved, and the role's permissions still apply when it runs."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlencode

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, insert, select

from metacrm.form_engine.screens import _entity, bp
from metacrm.form_engine.tables import MAX_VIEW_NAME as MAX_NAME

NOT_SAVED = ("cursor", "view", "f_field", "f_op", "f_value")  # never part of a saved query


def _table():
    return g.metacrm_state.system["saved_views"]


def mine(entity_name: str) -> list[dict]:
    table = _table()
    with g.metacrm_state.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.id, table.c.name, table.c.query)
            .where(table.c.user_id == g.metacrm_context.user_id, table.c.entity == entity_name)
            .order_by(table.c.name)
        ).all()
    base = url_for("screens.list_page", entity_name=entity_name)
    return [
        {"id": r.id, "name": r.name, "query": r.query, "href": f"{base}?{r.query}"} for r in rows
    ]


@bp.post("/<entity_name>/views")
def save_view(entity_name: str):
    """Save the list as it is now under a name (the same name again replaces it)."""
    entity = _entity(entity_name)
    name = request.form.get("name", "").strip()
    query = urlencode(
        [(k, v) for k, v in parse_qsl(request.form.get("query", "")) if k not in NOT_SAVED]
    )
    base = url_for("screens.list_page", entity_name=entity.name)
    if not name or len(name) > MAX_NAME:
        flash(_("A view needs a name of at most %(n)d characters.", n=MAX_NAME), "error")
        return redirect(f"{base}?{query}")
    table = _table()
    user_id = g.metacrm_context.user_id
    with g.metacrm_state.write.begin() as conn:
        conn.execute(
            delete(table).where(
                table.c.user_id == user_id, table.c.entity == entity.name, table.c.name == name
            )
        )
        conn.execute(
            insert(table).values(
                user_id=user_id,
                entity=entity.name,
                name=name,
                query=query,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    flash(_("View “%(name)s” saved.", name=name), "success")
    return redirect(f"{base}?{query}")


@bp.post("/<entity_name>/views/<id:view_id>/delete")
def delete_view(entity_name: str, view_id: int):
    entity = _entity(entity_name)
    table = _table()
    with g.metacrm_state.write.begin() as conn:  # only one's own: the user id is in the WHERE
        conn.execute(
            delete(table).where(table.c.id == view_id, table.c.user_id == g.metacrm_context.user_id)
        )
    flash(_("View deleted."), "success")
    return redirect(url_for("screens.list_page", entity_name=entity.name))
