"""The approval inbox screen (`/app/approvals`): requests waiting for me, with approve and
reject (and a comment), and the ones I submitted, with recall. It renders in the shell
of form_engine's templates; the decisions go through the same Approvals engine as the
REST API, so the same checks apply."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.platform.api.common import resolve_request, service
from metacrm.platform.errors import BadQuery, ServiceError
from metacrm.workflow_engine.approval_api import inbox
from metacrm.workflow_engine.approvals import Approvals

SCREEN_ACTIONS = ("approve", "reject", "recall", "comment", "delegate")
TABS = {"assigned": lazy_gettext("Waiting for me"), "submitted": lazy_gettext("Submitted by me")}
NAV = {"endpoint": "approval_screens.inbox_page", "label": lazy_gettext("Approvals")}


def _signed_in():
    if getattr(g, "metacrm_context", None) is None:  # form_engine signs /app in first
        resolve_request()


def inbox_page(error: str | None = None, status: int = 200):
    tab = request.args.get("tab", "assigned")
    if tab not in TABS:
        raise BadQuery(f"tab is one of {', '.join(TABS)}")
    engine = Approvals(service())
    items = inbox(engine, assigned=tab == "assigned", submitted=tab == "submitted")
    return render_template(
        "screens/approvals.html", items=items, tab=tab, tabs=TABS, error=error
    ), status


def _back() -> str | None:
    """The record page an action came from (`?back=`), to return to; None: the inbox."""
    back = request.args.get("back", "")
    return back if back.startswith("/app/") and "//" not in back and "\\" not in back else None


def act(approval_id: int, action: str):
    if action not in SCREEN_ACTIONS:
        raise BadQuery(f"unknown action '{action}'")
    comment = request.form.get("comment", "").strip()
    body: dict = {"comment": comment} if comment else {}
    if action == "delegate":
        to = request.form.get("to", "")
        body["to"] = int(to) if to.isdigit() else to
    try:
        Approvals(service()).act(approval_id, action, body)
    except ServiceError as exc:
        back = _back()
        if back:
            flash(exc.messages(), "error")
            return redirect(back)
        return inbox_page(exc.messages(), exc.status)
    done = {
        "approve": _("Approved."),
        "reject": _("Rejected."),
        "recall": _("Recalled."),
        "comment": _("Comment added."),
        "delegate": _("Delegated."),
    }
    flash(done[action], "success")
    return redirect(
        _back() or url_for("approval_screens.inbox_page", tab=request.args.get("tab", "assigned"))
    )


def submit(entity_name: str, record_id: int):
    """Submit a record for approval from its page; a refusal (the flow's entry rule, a
    request already pending) is said on the record page."""
    back = f"/app/{entity_name}/{record_id}"
    comment = request.form.get("comment", "").strip()
    body = {"flow": request.form.get("flow", ""), **({"comment": comment} if comment else {})}
    try:
        Approvals(service()).submit(entity_name, record_id, body)
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        flash(exc.messages(), "error")
        return redirect(back)
    flash(_("Submitted for approval."), "success")
    return redirect(back)


def blueprint() -> Blueprint:
    bp = Blueprint(
        "approval_screens", __name__, url_prefix="/app/approvals", template_folder="templates"
    )
    bp.before_request(_signed_in)
    bp.add_url_rule("", "inbox_page", inbox_page, methods=["GET"])
    bp.add_url_rule("/<id:approval_id>/<action>", "act", act, methods=["POST"])
    bp.add_url_rule("/submit/<entity_name>/<id:record_id>", "submit", submit, methods=["POST"])
    return bp
