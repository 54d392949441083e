"""The list's filter sidebar (as Frappe's): for the select fields among the list's
columns, each value with its count under the other filters; a click filters by it
(`?field=value`, so the URL stays shareable), a second click clears it."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from metacrm.form_engine import display
from metacrm.metadata.model import Entity, SelectSpec
from metacrm.platform.query.aggregate import aggregate
from metacrm.platform.records.service import RecordService

MAX_FACETS = 3


def facets(
    svc: RecordService, entity: Entity, columns: list[str], filters: dict[str, list[str]]
) -> list[dict]:
    """[{field, options: [{value, label, count, active, href}]}] (none while searching):
    each select column's counts under the list's `filters` other than its own."""
    if request.args.get("q"):
        return []  # counts come from aggregates, which do not take full-text search
    hidden = svc.grant(entity).hidden
    names = [
        c
        for c in columns
        if c in entity.fields
        and isinstance(entity.fields[c].spec, SelectSpec)
        and entity.fields[c].stored
        and entity.fields[c].kind.name == "select"
        and c not in hidden
    ][:MAX_FACETS]
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    out = []
    for name in names:
        others = {k: v for k, v in filters.items() if k != name}
        rows = aggregate(svc, entity.name, {"group_by": [name], "measures": ["count"], **others})
        counts = {r[name]: r["count"] for r in rows["data"]}
        chosen = request.args.get(name)
        values = []
        for option in entity.fields[name].spec.options:
            active = option.value == chosen
            kept = [(k, v) for k, v in args if k != name]
            href = "?" + urlencode(kept if active else [*kept, (name, option.value)])
            values.append(
                {
                    "value": option.value,
                    "label": display.label(option.label),
                    "count": counts.get(option.value, 0),
                    "active": active,
                    "href": href,
                }
            )
        shown = [v for v in values if v["count"] or v["active"]]
        if shown:
            out.append({"field": entity.fields[name], "options": shown})
    return out
