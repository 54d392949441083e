"""/setup/conflicts: the tenant's changes that no longer fit the packages after an
upgrade (set aside by platform.tenancy.overlay_conflicts, never dropped): each with the
reasons, and a button that removes it from the overlay for good (one version, undoable
from the history)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine.designer import apply_change, bp
from metacrm.platform.tenancy.overlay_conflicts import without


@bp.route("/conflicts", methods=["GET", "POST"])
def conflicts():
    found = {c.where: c for c in g.metacrm_state.conflicts}
    errors: dict[str | None, list[str]] = {}
    if request.method == "POST":
        conflict = found.get(request.form.get("remove", ""))
        if conflict is None:
            errors[None] = [_("That conflict is already resolved.")]
        else:
            _plan, errors = apply_change(lambda overlay: without(overlay, [conflict.piece]))
            if not errors:
                flash(
                    _("Removed from this tenant's changes: %(what)s", what=conflict.where),
                    "success",
                )
                return redirect(url_for("setup.conflicts"))
    return render_template("setup/conflicts.html", conflicts=list(found.values()), errors=errors), (
        422 if errors else 200
    )
