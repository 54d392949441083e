"""Notifications in the shell: the unread count on every page, the list, mark read."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from metacrm.form_engine.screens import bp
from metacrm.platform.api import notifications
from metacrm.platform.errors import NotFound


@bp.get("/notifications")
def notifications_page():
    items = notifications.inbox(g.metacrm_state, g.metacrm_context.user_id)
    return render_template("screens/notifications.html", items=items)


@bp.post("/notifications/<id:notification_id>/read")
def read_notification(notification_id: int):
    if not notifications.mark_read(g.metacrm_state, g.metacrm_context.user_id, notification_id):
        raise NotFound(f"no notification {notification_id}")
    target = request.form.get("open", "")
    if target.startswith("/app/") and "//" not in target:  # open the record it is about
        return redirect(target)
    return redirect(url_for("screens.notifications_page"))


@bp.post("/notifications/read")
def read_all_notifications():
    notifications.mark_read(g.metacrm_state, g.metacrm_context.user_id)
    return redirect(url_for("screens.notifications_page"))
