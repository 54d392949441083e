"""The designer's history (`/setup/history`): every version of the tenant's overlay, who
made it, when and what it changed; and a revert to any earlier one, applied through the
same compile -> plan -> apply path. A revert that would drop a column (and its data) is
refused by the schema planner, and the page says which fields are in the way."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from metacrm.form_engine.designer import bp
from metacrm.metadata.errors import MetadataInvalid
from metacrm.platform.api.common import runtime
from metacrm.platform.db.migrations import MigrationFailed, MigrationRefused
from metacrm.platform.errors import NotFound

LIMIT = 100


DEPTH = 4  # extend.account.fields.tier: a change is named down to the field


def changes_between(old: Any, new: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, added|removed|changed) from one overlay document to the next."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, str]] = []
        for key in sorted(set(old) | set(new)):
            where = f"{path}.{key}" if path else str(key)
            depth = DEPTH - 1 if where.startswith("documents") else DEPTH  # documents.role.x
            deeper = where.count(".") + 1 < depth
            if key not in old:
                value = new[key]
                if deeper and isinstance(value, dict) and value:
                    out += [(p, "added") for p, _how in changes_between({}, value, where)]
                else:
                    out.append((where, "added"))
            elif key not in new:
                value = old[key]
                if deeper and isinstance(value, dict) and value:
                    out += [(p, "removed") for p, _how in changes_between(value, {}, where)]
                else:
                    out.append((where, "removed"))
            else:
                out += changes_between(old[key], new[key], where)
        return out
    return [] if old == new else [(path, "changed")]


def _versions() -> list[dict]:
    state = g.metacrm_state
    overlay, users = state.system["overlay"], state.system["users"]
    with state.engine.connect() as conn:
        rows = conn.execute(
            select(overlay, users.c.username)
            .outerjoin(users, users.c.id == overlay.c.created_by)
            .order_by(overlay.c.id.desc())
            .limit(LIMIT)
        ).all()
    versions = [
        {"id": r.id, "at": r.created_at, "by": r.username, "document": r.document} for r in rows
    ]
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        before = older["document"] if older else {}
        newer["changes"] = changes_between(before, newer["document"])
    return versions


@bp.get("/history")
def history():
    return render_template("setup/history.html", versions=_versions())


@bp.post("/history/<id:version_id>/revert")
@bp.post("/history/original/revert", defaults={"version_id": None})
def revert(version_id: int | None):
    """Make an earlier version (None: the packages alone) the current one, as a new version."""
    if version_id is None:
        document: dict = {}
    else:
        found = next((v for v in _versions() if v["id"] == version_id), None)
        if found is None:
            raise NotFound(_("There is no version %(id)s.", id=version_id))
        document = found["document"]
    try:
        state, _plan = runtime().tenants.update_overlay(
            g.metacrm_context.tenant,
            lambda _current: dict(document),
            actor_id=g.metacrm_context.user_id,
        )
    except MigrationRefused as exc:
        flash(
            _(
                "Not reverted: it would remove data (%(what)s). Hide those fields instead.",
                what="; ".join(exc.plan.refused),
            ),
            "error",
        )
    except (MetadataInvalid, MigrationFailed) as exc:
        flash(_("Not reverted: %(why)s", why=str(exc)), "error")
    else:
        g.metacrm_state = state
        flash(_("Reverted. The change is a new version: it can be undone the same way."), "success")
    return redirect(url_for("setup.history"))
