"""Global search (the box in the top bar): every entity the user may read that declares
search_fields, a few matches each, through the same full-text search as `?q=`."""

from __future__ import annotations

from flask import render_template, request

from metacrm.form_engine import display
from metacrm.form_engine.columns import default_columns
from metacrm.form_engine.screens import _readable_entities, bp
from metacrm.platform.api.common import service
from metacrm.platform.query.lists import list_records

PER_ENTITY = 5


@bp.get("/search")
def search_page():
    q = request.args.get("q", "").strip()
    svc = service()
    groups = []
    if q:
        for entity in _readable_entities():
            if not entity.search_fields:
                continue
            page = list_records(svc, entity.name, {"q": [q], "limit": [str(PER_ENTITY)]})
            if not page["data"]:
                continue
            columns = [
                c for c in default_columns(entity, svc.readable(entity)) if c != entity.title_field
            ]
            lookups = display.Lookups(svc)
            lookups.load(entity, page["data"], columns[:3])
            groups.append(
                {
                    "entity": entity,
                    "rows": page["data"],
                    "columns": columns[:3],
                    "lookups": lookups,
                    "more": bool(page["next_cursor"]),
                }
            )
    return render_template("screens/search.html", q=q, groups=groups, show=display.show)
