"""The designer's pool editor: who may claim from a pool and who manages it, how many
records a member may hold and claim a day (and per role), the reasons offered when a
record is returned, and the recycle rules that return idle records by themselves.
Saved as an overlay `documents.pool` entry."""

from __future__ import annotations

import re
from typing import Any

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine.designer import (
    API_NAME,
    _entity,
    _model,
    bp,
    current_document,
    origin_text,
    save_or_preview,
)
from metacrm.form_engine.designer_inputs import label_from, people_choices, person, person_value
from metacrm.platform.tenancy import overlay_edits

LIMITS = ("max_held", "daily_claims")


def _count(form, key: str, errors: dict, minimum: int = 0) -> int | None:
    raw = form.get(key, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < minimum:
        errors.setdefault(key, []).append(_("A whole number of at least %(n)s.", n=minimum))
        return None
    return int(raw)


def _draft(doc: dict, form) -> tuple[dict, dict[str | None, list[str]]]:
    errors: dict[str | None, list[str]] = {}
    draft: dict[str, Any] = {
        k: v for k, v in doc.items() if k in ("name", "entity", "default", "columns")
    }
    label = label_from(form, "label", "label_zh", doc.get("label"))
    if label:
        draft["label"] = label
    members = [p for p in map(person, form.getlist("members")) if p]
    if not members:
        errors["members"] = [_("Choose who may claim from the pool.")]
    draft["members"] = members
    managers = [p for p in map(person, form.getlist("managers")) if p]
    if managers:
        draft["managers"] = managers
    for key in LIMITS:
        value = _count(form, key, errors)
        if value is not None:
            draft[key] = value
    by_role: dict[str, dict[str, int]] = {}
    for role in form.getlist("limit_role"):
        limits = {
            key: value
            for key in LIMITS
            if (value := _count(form, f"{key}.{role}", errors)) is not None
        }
        if role in _model().roles and limits:
            by_role[role] = limits
    if by_role:
        draft["limits_by_role"] = by_role
    reasons = [line.strip() for line in form.get("return_reasons", "").splitlines() if line.strip()]
    if reasons:
        draft["return_reasons"] = reasons
    rules = []
    for key in form.getlist("recycle"):
        name = form.get(f"recycle_name.{key}", "").strip()
        if not name or form.get(f"recycle_remove.{key}") == "true":
            continue
        if not API_NAME.match(name):
            errors.setdefault(f"recycle_name.{key}", []).append(
                _("Lower-case letters, digits and _; it starts with a letter.")
            )
        rule: dict[str, Any] = {"name": name}
        after = _count(form, f"after_days.{key}", errors, minimum=1)
        if after is None:
            errors.setdefault(f"after_days.{key}", []).append(_("After how many days?"))
        rule["after_days"] = after or 1
        rule["since"] = form.get(f"since.{key}") or "updated_at"
        if form.get(f"recycle_condition.{key}", "").strip():
            rule["condition"] = form[f"recycle_condition.{key}"].strip()
        warn = _count(form, f"warn_days.{key}", errors, minimum=1)
        if warn is not None:
            rule["warn_days"] = warn
        rules.append(rule)
    if rules:
        draft["recycle"] = rules
    return draft, errors


RECYCLE_PATH = re.compile(r"recycle\[(\d+)\]\.(\w+)")


def _placed(exc, keys: list[str]) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = {}
    for e in exc.errors:
        found = RECYCLE_PATH.search(e.path or "")
        control = None
        if found and int(found.group(1)) < len(keys):
            prop = {"condition": "recycle_condition", "since": "since"}.get(found.group(2))
            control = f"{prop}.{keys[int(found.group(1))]}" if prop else None
        out.setdefault(control, []).append(e.message)
    return out


@bp.route("/pools/<name>", methods=["GET", "POST"])
def pool_page(name: str):
    doc, origin = current_document("pool", name)
    if doc is None or name not in _model().pools:
        abort(404)
    entity = _entity(doc["entity"])
    errors: dict[str | None, list[str]] = {}
    plan, diff = None, []
    draft = doc
    if request.method == "POST":
        draft, errors = _draft(doc, request.form)
        if not errors:
            keys = [
                k
                for k in request.form.getlist("recycle")
                if request.form.get(f"recycle_name.{k}", "").strip()
                and request.form.get(f"recycle_remove.{k}") != "true"
            ]
            mutation = overlay_edits.put_document("pool", name, draft)
            then = url_for("setup.pool_page", name=name)
            outcome = save_or_preview(
                mutation, _("The pool is saved."), then, place=lambda exc: _placed(exc, keys)
            )
            if outcome.done:
                return outcome.done
            plan, diff, errors = outcome.plan, outcome.diff, outcome.errors
    return render_template(
        "setup/pool.html",
        doc=draft,
        entity=entity,
        origin=origin_text(origin) if origin else None,
        choices=people_choices(None, managers=False),
        person_value=person_value,
        roles=_model().roles,
        date_fields=[n for n, f in entity.fields.items() if f.type in ("date", "datetime")]
        + ["created_at", "updated_at"],
        errors=errors,
        plan=plan,
        diff=diff,
    ), (422 if errors else 200)
