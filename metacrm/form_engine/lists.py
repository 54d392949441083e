"""The list screen: a view (the package's `views/*.yaml`, or one the user saved), its
columns (or the ones picked in the column chooser), filters as removable chips built
per field type, sort, search, keyset "load more", totals when asked.

Everything a list shows is in its URL (`?columns=`, `?amount__gte=`, `?totals=1`), so
a list can be bookmarked or shared, and a saved view is a name for a query string.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from metacrm.form_engine import display, saved_views
from metacrm.form_engine.columns import (
    SYSTEM_FIELDS,
    field_of,
    list_columns,
    list_views,
    listable,
    pick_view,
)
from metacrm.form_engine.facets import facets
from metacrm.form_engine.screens import _entity, _may, _undo, bp, search_params
from metacrm.metadata.model import Entity, Field, View
from metacrm.platform.api.common import service
from metacrm.platform.errors import BadQuery
from metacrm.platform.query.aggregate import aggregate
from metacrm.platform.query.lists import list_records

PAGE = 50
SCREEN_PARAMS = ("q", "columns", "totals", "view", "cursor")  # the screen's, not filters
NOT_FILTERS = (*SCREEN_PARAMS, "sort", "filter")
OPERATOR_SIGNS = {
    "eq": "=",
    "ne": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "in": "∈",
    "isnull": "∅",
}


def current_view(entity: Entity) -> View | None:
    return pick_view(entity, request.args.get("view"))


def query_params(entity: Entity, view: View | None) -> dict[str, list[str]]:
    """The list API's parameters for this screen's URL: its filters and sort, the
    view's sort and filter unless the URL gives its own, `q` as the entity searches."""
    params = {k: request.args.getlist(k) for k in request.args if k not in SCREEN_PARAMS}
    params.update(search_params(entity, request.args.get("q", "").strip()))
    if view is not None:
        if "sort" not in params and view.sort:
            params["sort"] = [",".join(view.sort)]
        if view.filter and "filter" not in params:
            params["filter"] = [view.filter]
    return params


def _args(*, drop: tuple = (), extra: list | None = None) -> str:
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in drop]
    return urlencode([*kept, *(extra or [])])


def filter_chips(entity: Entity, lookups: display.Lookups) -> list[dict]:
    """One removable chip per filter in the URL: "Amount ≥ 1,000 ✕"."""
    chips = []
    pairs = list(request.args.items(multi=True))
    for i, (key, value) in enumerate(pairs):
        if key in NOT_FILTERS and key != "filter":
            continue
        rest = urlencode([p for j, p in enumerate(pairs) if j != i and p[0] != "cursor"])
        href = url_for("screens.list_page", entity_name=entity.name) + ("?" + rest if rest else "")
        if key == "filter":
            chips.append({"text": value, "href": href, "field": "filter"})
            continue
        name, _sep, op = key.partition("__")
        f = field_of(entity, name)
        what = display.label(f.label) if f else name
        if op == "isnull":
            text = f"{what} {_('is empty') if value == 'true' else _('is not empty')}"
        else:
            shown = display.show(f, _typed(f, value), lookups, name) if f else value
            text = f"{what} {OPERATOR_SIGNS.get(op or 'eq', op)} {shown or value}"
        chips.append({"text": text, "href": href, "field": name})
    return chips


def _typed(f: Field, value: str):
    """A filter's text as the field's value, for display (user and reference ids)."""
    if f.kind.references and value.isdigit():
        return int(value)
    return value


def _totals(entity: Entity, columns: list[str], params: dict) -> dict[str, str] | None:
    """Sums of the shown number columns over every matching record (not just this page)."""
    names = [
        c
        for c in columns
        if c in entity.fields and entity.fields[c].stored and entity.fields[c].kind.summable
    ]
    if not names or "q" in params:  # aggregates do not take full-text search
        return None
    filters = {k: v for k, v in params.items() if k not in ("sort", "limit")}
    row = aggregate(
        service(),
        entity.name,
        {"measures": [",".join(f"sum:{n}" for n in names)], **filters},
    )["data"][0]
    return {n: display.show(entity.fields[n], row.get(f"sum_{n}")) for n in names}


@bp.get("/<entity_name>")
def list_page(entity_name: str):
    entity = _entity(entity_name)
    if request.args.get("f_field"):
        return _add_filter(entity)
    svc = service()
    readable = svc.readable(entity)
    view = current_view(entity)
    columns = list_columns(entity, readable, view, request.args.getlist("columns"))
    params = query_params(entity, view)
    error = None
    try:
        page = list_records(svc, entity.name, {**params, "limit": [str(PAGE)]})
        totals = _totals(entity, columns, params) if request.args.get("totals") else None
    except BadQuery as exc:  # a filter typed wrong: say which, keep the chips to remove it
        page, totals = {"data": [], "next_cursor": None}, None
        error = exc.messages()
    lookups = display.Lookups(svc)
    lookups.load(entity, page["data"], columns)
    chip_lookups = display.Lookups(svc)
    chip_lookups.load(entity, [_chip_row(entity)], [*entity.fields, "owner_id"])
    can_assign, can_delete = _may(entity, "update"), _may(entity, "delete")
    bulk = can_assign or can_delete
    saved = saved_views.mine(entity.name)
    more = None
    if page["next_cursor"]:
        more = (
            url_for("screens.list_page", entity_name=entity.name)
            + "?"
            + _args(drop=("cursor",), extra=[("cursor", page["next_cursor"])])
        )
    context = {
        "entity": entity,
        "columns": columns,
        "rows": page["data"],
        "lookups": lookups,
        "more": more,
        "show": display.show,
        "sort": request.args.get("sort") or (",".join(view.sort) if view and view.sort else ""),
        "q": request.args.get("q", ""),
        "error": error,
        "totals": totals,
        "chips": filter_chips(entity, chip_lookups),
        "views": list_views(entity),
        "view": view,
        "saved": saved,
        "query": _args(drop=("cursor", "view")),
        "listable": listable(entity, readable),
        "filterable": _filterable(entity, svc),
        "can_create": _may(entity, "create"),
        "has_board": svc.state.model.pipeline_of(entity.name) is not None,
        "undo": _undo(entity),
        "can_export": _may(entity, "export"),
        "can_delete": can_delete,
        "can_assign": can_assign,
        "field_of": field_of,
        "bulk": bulk,
        "users": active_users(svc) if can_assign else [],
        "current": _current(view, saved),
        "hrefs": {
            "sort_base": "".join(f"{a}&" for a in [_args(drop=("sort", "cursor"))] if a),
            "reset_columns": _args(drop=("cursor", "columns")),
            "totals": _args(
                drop=("cursor", "totals"),
                extra=[] if request.args.get("totals") else [("totals", "1")],
            ),
        },
        "facets_url": url_for("screens.facets_fragment", entity_name=entity.name)
        + "?"
        + _args(drop=("cursor",)),
        "filtered": any(k not in ("sort", "cursor", "columns", "totals") for k in request.args),
        "export_query": urlencode(
            [
                ("headers", "labels"),
                *((k, v) for k, v in request.args.items(multi=True) if k not in SCREEN_PARAMS),
                *(("q", v) for v in request.args.getlist("q")),
                *(("fields", c) for c in [",".join(columns)] if request.args.get("columns")),
            ]
        ),
    }
    if request.headers.get("HX-Request") and request.args.get("cursor"):
        return render_template("screens/list_rows.html", **context)
    return render_template("screens/list.html", **context)


def _current(view: View | None, saved: list[dict]) -> str:
    """Which view the list shows: a saved one whose query is the URL's, else the view."""
    query = _args(drop=("cursor", "view"))
    for s in saved:
        if s["query"] == query:
            return f"saved:{s['id']}"
    if view is not None and (request.args.get("view") or not query):
        return f"view:{view.name}"
    return ""


def _chip_row(entity: Entity) -> dict:
    """The filter values of the URL as a row, so their reference titles load at once."""
    row: dict = {}
    for key, value in request.args.items(multi=True):
        name = key.partition("__")[0]
        f = field_of(entity, name)
        if f is not None and f.kind.references and value.isdigit():
            row.setdefault(name, []).append(int(value))
    return row


def _filterable(entity: Entity, svc) -> list[Field]:
    hidden = svc.grant(entity).hidden
    readable = set(svc.readable(entity))
    return [
        f
        for n, f in entity.fields.items()
        if n in readable
        and n not in hidden
        and not f.hidden
        and f.stored
        and f.value_kind.filterable
    ] + [f for n, f in SYSTEM_FIELDS.items() if n not in entity.fields]


def _add_filter(entity: Entity):
    """The filter builder's submit (`f_field`, `f_op`, `f_value`) as `field__op=value` in
    the URL, so the list, its chips and its shared link all read the same thing."""
    name = request.args.get("f_field", "")
    op = request.args.get("f_op", "eq")
    value = request.args.get("f_value", "")
    if op == "isnull":
        value = "true"
    key = name if op == "eq" else f"{name}__{op}"
    query = _args(drop=("f_field", "f_op", "f_value", "cursor"), extra=[(key, value)])
    return redirect(url_for("screens.list_page", entity_name=entity.name) + "?" + query)


@bp.get("/<entity_name>/filter-input")
def filter_input(entity_name: str):
    """The filter builder's operator and value controls for the picked field (htmx)."""
    entity = _entity(entity_name)
    svc = service()
    fields = {f.name: f for f in _filterable(entity, svc)}
    f = fields.get(request.args.get("f_field", ""))
    users = (
        active_users(svc)
        if f is not None and f.kind.references and f.kind.target(f) is None
        else []
    )
    return render_template(
        "screens/filter_input.html",
        f=f,
        operators=sorted(f.value_kind.operators - {"in"}, key=list(OPERATOR_SIGNS).index)
        if f
        else [],
        signs=OPERATOR_SIGNS,
        users=users,
        widget=display.filter_widget(f) if f else "text",
        options=[(o.value, display.label(o.label)) for o in f.spec.options]
        if f is not None and hasattr(f.spec, "options")
        else [],
    )


def active_users(svc) -> list[tuple[int, str]]:
    """Active users for a user filter, the signed-in user first."""
    users = svc.state.system["users"]
    with svc.state.engine.connect() as conn:
        rows = conn.execute(
            select(users.c.id, users.c.username)
            .where(users.c.is_active.is_(True))
            .order_by(users.c.username)
            .limit(500)
        ).all()
    me = g.metacrm_context.user_id
    return sorted(((r.id, r.username) for r in rows), key=lambda r: r[0] != me)


@bp.get("/<entity_name>/facets")
def facets_fragment(entity_name: str):
    """The filter sidebar, loaded after the list (its counts are aggregates over every
    matching record: the list itself answers without waiting for them)."""
    entity = _entity(entity_name)
    svc = service()
    view = current_view(entity)
    columns = list_columns(entity, svc.readable(entity), view, request.args.getlist("columns"))
    filters = {k: v for k, v in query_params(entity, view).items() if k != "sort"}
    try:
        groups = facets(svc, entity, columns, filters)
    except BadQuery:  # the list page says what is wrong with the filter
        groups = []
    return render_template("screens/facets.html", facets=groups)


@bp.post("/<entity_name>/bulk-assign")
def bulk_assign(entity_name: str):
    """Give the ticked rows to a user (all or nothing, through the record service)."""
    from flask import flash

    entity = _entity(entity_name)
    ids = [int(v) for v in request.form.getlist("ids") if v.isdigit()]
    owner = request.form.get("owner", "")
    back = url_for("screens.list_page", entity_name=entity.name) + (
        "?" + request.form["query"] if request.form.get("query") else ""
    )
    if not ids or not owner.isdigit():
        flash(_("Tick the records and pick the new owner."), "error")
        return redirect(back)
    changed = service().reassign(entity.name, ids, int(owner))
    flash(_("Assigned %(n)d records.", n=len(changed)), "success")
    return redirect(back)
