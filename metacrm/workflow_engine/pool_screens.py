"""The pool screens (`/app/pools/{pool}`): what waits in a pool, claimed with a click
within my limits (shown next to the button, with today's claims), my records of the
pool's entity to return with a reason, and transfers between pools for managers. Every
move goes through the Pools engine, as the REST API's do."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.platform.api.common import resolve_request, service
from metacrm.platform.errors import NotFound, ServiceError
from metacrm.platform.query.lists import list_records
from metacrm.workflow_engine.pools import Pools

NAV = {"endpoint": "pool_screens.pools", "label": lazy_gettext("Pools")}
PAGE = 50


def _signed_in():
    if getattr(g, "metacrm_context", None) is None:  # form_engine signs /app in first
        resolve_request()


def pools():
    """GET /app/pools: the default pool I may claim from (or the first)."""
    engine = Pools(service())
    names = engine.visible()
    if not names:
        raise NotFound("you are a member of no pool")
    default = next((n for n in names if engine.state.model.pools[n].default), names[0])
    return redirect(url_for("pool_screens.pool_page", pool=default))


def pool_page(pool: str, error: str | None = None, status: int = 200, tab: str | None = None):
    svc = service()
    engine = Pools(svc)
    spec, entity = engine.pool(pool)
    tab = tab or ("mine" if request.args.get("tab") == "mine" else "pool")
    with engine.state.engine.connect() as conn:
        held, today = engine.usage(conn, spec, entity)
    max_held, daily = engine.limits(spec)
    grant = svc.grant(entity)
    columns = [  # the pool's columns the user may read (as Pools.records returns them)
        c for c in (spec.columns or (entity.title_field,)) if c and grant.level(c) != "none"
    ]
    if tab == "pool":
        after = request.args.get("after", "")
        page = engine.records(pool, PAGE, int(after) if after.isdigit() else None)
        rows, more = page["data"], page["next_cursor"]
    else:
        mine = list_records(
            svc, entity.name, {"owner_id": [str(svc.context.user_id)], "limit": [str(PAGE)]}
        )
        rows, more = mine["data"], None
    return render_template(
        "screens/pool.html",
        pool=spec,
        entity=entity,
        pools=[engine.state.model.pools[n] for n in engine.visible()],
        tab=tab,
        rows=rows,
        columns=[c for c in columns if c in entity.fields],
        more=more,
        limits={"max_held": max_held, "daily_claims": daily, "held": held, "today": today},
        manager=engine.is_manager(spec),
        targets=[
            p for n, p in engine.state.model.pools.items() if p.entity == entity.name and n != pool
        ],
        error=error,
    ), status


def _ids() -> list[int]:
    return [int(v) for v in request.form.getlist("ids") if v.isdigit()]


def _move(pool: str, action: str):
    engine = Pools(service())
    ids = _ids()
    tab = "mine" if action == "return" else "pool"
    if not ids:
        flash(_("Select at least one record."), "error")
        return redirect(url_for("pool_screens.pool_page", pool=pool, tab=tab))
    try:
        if action == "claim":
            result = engine.claim(pool, {"ids": ids})
            done = _("Claimed %(n)d.", n=len(result["claimed"]))
            if result["unavailable"]:
                done += " " + _("%(n)d were taken by someone else.", n=len(result["unavailable"]))
        elif action == "return":
            engine.return_(pool, {"ids": ids, "reason": request.form.get("reason", "")})
            done = _("Returned %(n)d.", n=len(ids))
        else:
            engine.transfer(pool, {"ids": ids, "to": request.form.get("to", "")})
            done = _("Moved %(n)d.", n=len(ids))
    except ServiceError as exc:
        return pool_page(pool, exc.messages(), exc.status, tab)
    flash(done, "success")
    return redirect(url_for("pool_screens.pool_page", pool=pool, tab=tab))


def claim(pool: str):
    return _move(pool, "claim")


def give_back(pool: str):
    return _move(pool, "return")


def transfer(pool: str):
    return _move(pool, "transfer")


def blueprint() -> Blueprint:
    bp = Blueprint("pool_screens", __name__, url_prefix="/app/pools", template_folder="templates")
    bp.before_request(_signed_in)
    bp.add_url_rule("", "pools", pools, methods=["GET"])
    bp.add_url_rule("/<pool>", "pool_page", pool_page, methods=["GET"])
    bp.add_url_rule("/<pool>/claim", "claim", claim, methods=["POST"])
    bp.add_url_rule("/<pool>/return", "give_back", give_back, methods=["POST"])
    bp.add_url_rule("/<pool>/transfer", "transfer", transfer, methods=["POST"])
    return bp
