"""The screens: home, lists, record pages and forms (`/app/...`, DESIGN.md section 4).

Each request signs in like an API call (the session cookie), gets a RecordService
with the user's Context, and reads and writes only through it and the query engine.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from metacrm.form_engine import display, forms
from metacrm.form_engine.columns import default_columns
from metacrm.form_engine.i18n import LANGUAGES, save_language
from metacrm.form_engine.timeline import timeline
from metacrm.metadata.model import Entity, Label, Pipeline, View
from metacrm.platform.api import notifications
from metacrm.platform.api.common import resolve_request, service
from metacrm.platform.errors import Forbidden, NotFound, ServiceError, Unauthorized
from metacrm.platform.query.lists import list_records
from metacrm.platform.records import lifecycle

bp = Blueprint("screens", __name__, url_prefix="/app", template_folder="templates")


@bp.errorhandler(ServiceError)
def _refused(exc: ServiceError):
    return render_template("screens/error.html", error=exc), exc.status


def _readable_entities() -> list[Entity]:
    svc = service()
    out = []
    for entity in svc.state.model.entities.values():
        try:
            svc.require(entity, "read")
        except (Forbidden, NotFound):
            continue
        out.append(entity)
    return sorted(out, key=lambda e: display.label(e.plural).casefold())


def _nav_groups() -> list[tuple[str | None, list[Entity]]]:
    """The navigation: the packages' sections (package.yaml `navigation`), each with the
    entities of it this user may read; the rest (custom entities too) under "More". An
    app without sections gets one list, by label."""
    readable = {e.name: e for e in _readable_entities()}
    sections = g.metacrm_state.model.navigation
    if not sections:
        return [(None, list(readable.values()))]
    groups: list[tuple[str | None, list[Entity]]] = []
    placed: set[str] = set()
    for section in sections:
        shown = [readable[n] for n in section.entities if n in readable]
        placed.update(section.entities)
        if shown:
            groups.append((display.label(section.label), shown))
    rest = [e for n, e in readable.items() if n not in placed]
    if rest:
        groups.append((_("More"), rest))
    return groups


SCREENS = ("/app", "/setup")  # the screens (of any engine) and the designer


def sign_in():
    """Before every /app and /setup request: sign in like an API call, or go to the
    login page (an htmx request is told to go there)."""
    if not request.path.startswith(SCREENS):
        return None
    try:
        resolve_request()
    except Unauthorized:
        target = "/login?" + urlencode({"next": request.full_path.rstrip("?")})
        if request.headers.get("HX-Request"):
            return "", 204, {"HX-Redirect": target}
        return redirect(target)
    return None


def shell() -> dict:
    """What the shell template needs: navigation, the user, the label helper. The
    navigation and the unread count are functions the page's shell calls, so fragments
    (a polled progress bar, a page of rows) do not query them."""
    if getattr(g, "metacrm_context", None) is None or not request.path.startswith(SCREENS):
        return {}
    return {
        "nav": _readable_entities,
        "nav_groups": _nav_groups,
        "me": g.metacrm_context,
        "label": display.label,
        "when": display.when,
        "files": display.files,
        "file_size": display.file_size,
        "option_class": display.option_class,
        "choosable": display.choosable,
        "options_version": lambda: g.metacrm_state.model.content_hash[:12],
        "engine_nav": current_app.extensions.get("metacrm_nav", []),
        "unread_count": lambda: notifications.unread_count(
            g.metacrm_state, g.metacrm_context.user_id
        ),
    }


@bp.get("/options.css")
def options_css():
    """The pick lists' option colors as classes (CSP allows no inline style)."""
    response = current_app.response_class(
        display.options_css(g.metacrm_state.model), mimetype="text/css"
    )
    response.headers["Cache-Control"] = "private, max-age=86400"  # versioned by the URL
    return response


@bp.get("")
def home():
    return render_template("screens/home.html")


@bp.post("/lang")
def language():
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:  # saved in the profile: the next sign-in speaks it too
        save_language(g.metacrm_state, g.metacrm_context.user_id, chosen)
    back = request.referrer or ""
    host = request.host_url.rstrip("/")
    return redirect(back if back.startswith(host + "/app") else url_for("screens.home"))


def _entity(name: str) -> Entity:
    svc = service()
    entity = svc.entity(name)
    svc.require(entity, "read")
    return entity


def _undo(entity: Entity) -> int | None:
    """The record of this entity the user just deleted (the list offers to restore it)."""
    undo = session.get("metacrm_undo") or {}
    return undo.get("id") if undo.get("entity") == entity.name else None


def search_params(entity: Entity, q: str) -> dict[str, list[str]]:
    """`q` as the list API takes it: full-text over search_fields, else the title contains it."""
    if not q:
        return {}
    if entity.search_fields or not entity.title_field:
        return {"q": [q]}
    text = q.replace("\\", "\\\\").replace("'", "\\'")
    return {"filter": [f"contains(lower({entity.title_field}), lower('{text}'))"]}


def _may(entity: Entity, action: str) -> bool:
    try:
        service().require(entity, action)
    except (Forbidden, NotFound):
        return False
    return True


def _form_view(entity: Entity) -> View | None:
    for v in service().state.model.views.values():
        if v.entity == entity.name and v.kind == "form":
            return v
    return None


def _layout(entity: Entity) -> tuple:
    view = _form_view(entity)
    return view.sections if view else ()


@bp.get("/<entity_name>/<id:record_id>")
def record_page(entity_name: str, record_id: int):
    return render_record(_entity(entity_name), record_id)


def stage_labels(entity: Entity, pipeline: Pipeline) -> list[tuple[str, Label]]:
    """(stage, label) in order: the stage field's option label, else the stage's own."""
    labels = {o.value: o.label for o in entity.fields[pipeline.field].spec.options}
    return [(s.name, labels.get(s.name, s.label)) for s in pipeline.stages]


def _path(entity: Entity, record: dict) -> dict | None:
    """The stage path of the record's pipeline: its stages, the current one, labels."""
    pipeline = service().state.model.pipeline_of(entity.name)
    if pipeline is None:
        return None
    return {
        "pipeline": pipeline,
        "current": record.get(pipeline.field),
        "stages": stage_labels(entity, pipeline),
    }


HIGHLIGHTS = 4


def _highlights(entity: Entity, record: dict, readable: list[str], path) -> list:
    """The key fields under the title: the list view's first columns with a value, less
    the title and the stage (the path shows it)."""
    skip = {entity.title_field, path["pipeline"].field if path else None}
    names = [c for c in default_columns(entity, readable) if c not in skip]
    return [
        entity.fields[n]
        for n in names
        if n in entity.fields and record.get(n) not in (None, "", [])
    ][:HIGHLIGHTS]


def render_record(entity: Entity, record_id: int, stage_error: str | None = None) -> str:
    svc = service()
    record = svc.get(entity.name, record_id)
    readable = set(svc.readable(entity)) | {n for n in record if n in entity.fields}  # + links
    hidden = svc.grant(entity).hidden
    layout = forms.sections(entity, _layout(entity), readable, hidden)
    lookups = display.Lookups(svc)
    lookups.load(entity, [record], [*readable, "owner_id"])
    related = _related(entity, record_id)
    path = _path(entity, record)
    return render_template(
        "screens/record.html",
        entity=entity,
        record=record,
        highlights=_highlights(entity, record, sorted(readable), path),
        sections=layout,
        lookups=lookups,
        show=display.show,
        related=related,
        can_edit=_may(entity, "update"),
        can_delete=_may(entity, "delete"),
        timeline=timeline(
            svc, entity, record_id, current_app.extensions.get("metacrm_timeline", [])
        ),
        path=path,
        stage_error=stage_error,
        title=record.get(entity.title_field) if entity.title_field else f"#{record_id}",
        panels=[
            html
            for panel in current_app.extensions.get("metacrm_record_panels", [])
            if (html := panel(entity, record))
        ],
    )


def _related(entity: Entity, record_id: int) -> list[dict]:
    """Every entity with a reference to this one that the user may read (or those the form
    view's `related` names, in its order), and its first rows."""
    svc = service()
    out = []
    links = [
        (other, name)
        for other in _readable_entities()
        for name, f in other.fields.items()
        if f.kind.name == "reference"
        and f.spec.entity == entity.name
        and name not in svc.grant(other).hidden
    ]
    view = _form_view(entity)
    if view is not None and view.related is not None:  # the layout's choice and order
        chosen = {f"{o.name}.{n}": (o, n) for o, n in links}
        links = [chosen[link] for link in view.related if link in chosen]
    for other, name in links:
        page = list_records(svc, other.name, {name: [str(record_id)], "limit": ["5"]})
        columns = [c for c in default_columns(other, svc.readable(other)) if c != name][:3]
        lookups = display.Lookups(svc)
        lookups.load(other, page["data"], columns)
        out.append(
            {
                "entity": other,
                "field": other.fields[name],
                "rows": page["data"],
                "columns": columns,
                "lookups": lookups,
                "more": bool(page["next_cursor"]),
                "new": url_for("screens.new_record", entity_name=other.name)
                + "?"
                + urlencode({name: record_id})
                if _may(other, "create")
                else None,
            }
        )
    return out


@bp.post("/<entity_name>/<id:record_id>/delete")
def delete_record(entity_name: str, record_id: int):
    """Delete (to the recycle bin): the list says so, with Undo (restore)."""
    entity = _entity(entity_name)
    service().delete(entity.name, record_id)
    flash(_("Deleted. It stays in the recycle bin until someone empties it."), "success")
    session["metacrm_undo"] = {"entity": entity.name, "id": record_id}
    return redirect(url_for("screens.list_page", entity_name=entity.name))


@bp.post("/<entity_name>/bulk-delete")
def bulk_delete(entity_name: str):
    """Delete the ticked rows (each through the record service: its checks, its events)."""
    entity = _entity(entity_name)
    svc = service()
    svc.require(entity, "delete")
    ids = [int(v) for v in request.form.getlist("ids") if v.isdigit()]
    deleted, refused = 0, []
    for record_id in ids:
        try:
            svc.delete(entity.name, record_id)
            deleted += 1
        except ServiceError as exc:
            refused.append(f"#{record_id}: {exc.detail}")
    flash(_("Deleted %(n)d to the recycle bin.", n=deleted), "success")
    for message in refused:
        flash(message, "error")
    return redirect(url_for("screens.list_page", entity_name=entity.name))


@bp.post("/<entity_name>/<id:record_id>/restore")
def restore_record(entity_name: str, record_id: int):
    entity = _entity(entity_name)
    lifecycle.restore(service(), entity.name, record_id)
    session.pop("metacrm_undo", None)
    flash(_("Restored."), "success")
    return redirect(url_for("screens.record_page", entity_name=entity.name, record_id=record_id))


@bp.get("/<entity_name>/options")
def reference_options(entity_name: str):
    """`<option>`s of records whose title matches `q`: the reference search box."""
    entity = _entity(entity_name)
    svc = service()
    q = request.args.get("q", "").strip()
    page = list_records(svc, entity.name, {"limit": ["20"], **search_params(entity, q)})
    title = entity.title_field
    rows, kept = page["data"], set()
    keep = request.args.get("keep")  # a many-to-many picker: its picked records stay
    if keep:
        ids = [int(v) for v in request.args.getlist(keep) if v.isdigit()][:200]
        found = svc.get_many(entity.name, ids) if ids else {}
        kept = {i for i in ids if i in found}
        rows = [found[i] for i in ids if i in found] + [r for r in rows if r["id"] not in kept]
    return render_template(
        "screens/options.html",
        rows=rows,
        title=lambda r: str(r.get(title) or f"#{r['id']}") if title else f"#{r['id']}",
        selected=request.args.get("selected", ""),
        kept=kept,
        empty=None if keep else _("(none)"),
    )
