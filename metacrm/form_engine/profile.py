"""The user menu's profile page: the language the screens speak, and the password."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select, update

from metacrm.form_engine.i18n import LANGUAGES, save_language
from metacrm.form_engine.screens import bp
from metacrm.platform.access import auth
from metacrm.platform.db.audit import log_event

MIN_PASSWORD = 8


def _user_row():
    users = g.metacrm_state.system["users"]
    with g.metacrm_state.engine.connect() as conn:
        return conn.execute(
            select(
                users.c.username, users.c.email, users.c.display_name, users.c.password_hash
            ).where(users.c.id == g.metacrm_context.user_id)
        ).one()


@bp.get("/profile")
def profile_page():
    return render_template("screens/profile.html", user=_user_row(), errors={})


@bp.post("/profile")
def save_profile():
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        save_language(g.metacrm_state, g.metacrm_context.user_id, chosen)
        flash(_("Saved."), "success")
    return redirect(url_for("screens.profile_page"))


@bp.post("/profile/password")
def change_password():
    """A new password needs the current one (a borrowed, unlocked screen must not be
    enough to take the account over)."""
    row = _user_row()
    current, new, again = (request.form.get(k, "") for k in ("current", "new", "again"))
    errors: dict[str, str] = {}
    if not auth.verify_password(row.password_hash, current):
        errors["current"] = _("This is not your current password.")
    if len(new) < MIN_PASSWORD:
        errors["new"] = _("At least %(n)d characters.", n=MIN_PASSWORD)
    elif new != again:
        errors["again"] = _("The two new passwords differ.")
    if errors:
        return render_template("screens/profile.html", user=row, errors=errors), 422
    state = g.metacrm_state
    users = state.system["users"]
    with state.write.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == g.metacrm_context.user_id)
            .values(password_hash=auth.hash_password(new))
        )
        log_event(conn, state, "password.changed", g.metacrm_context.user_id, {})
    flash(_("Your password was changed."), "success")
    return redirect(url_for("screens.profile_page"))
