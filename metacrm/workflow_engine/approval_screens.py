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

SCREEN_ACTIONS = ("approve", "reject", "recall", "comment")
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


def act(approval_id: int, action: str):
    if action not in SCREEN_ACTIONS:
        raise BadQuery(f"unknown action '{action}'")
    comment = request.form.get("comment", "").strip()
    try:
        Approvals(service()).act(approval_id, action, {"comment": comment} if comment else {})
    except ServiceError as exc:
        messages = [e.get("message", "") for e in exc.errors or ()] or [exc.detail]
        return inbox_page("; ".join(messages), exc.status)
    done = {
        "approve": _("Approved."),
        "reject": _("Rejected."),
        "recall": _("Recalled."),
        "comment": _("Comment added."),
    }
    flash(done[action], "success")
    return redirect(url_for("approval_screens.inbox_page", tab=request.args.get("tab", "assigned")))


def blueprint() -> Blueprint:
    bp = Blueprint(
        "approval_screens", __name__, url_prefix="/app/approvals", template_folder="templates"
    )
    bp.before_request(_signed_in)
    bp.add_url_rule("", "inbox_page", inbox_page, methods=["GET"])
    bp.add_url_rule("/<id:approval_id>/<action>", "act", act, methods=["POST"])
    return bp
