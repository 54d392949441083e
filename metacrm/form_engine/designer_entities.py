"""The designer's entity screens: a tenant's own entity (names in en/zh-CN, its menu
section and icon; it starts with a Name field, its title), and any entity's settings:
labels and icon for every one, the title field and menu section for the tenant's own.
An entity's API name never changes, and a package's entity is never removed."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.form_engine.designer import _entity, _model, apply_change, bp, new_name_error
from metacrm.form_engine.designer_inputs import label_from
from metacrm.platform.tenancy import overlay_edits

# menu symbols an entity may show (plain Unicode: nothing to install, fits every language)
ICONS = (
    "📁",
    "🏢",
    "👤",
    "💼",
    "📄",
    "🧾",
    "💰",
    "🎫",
    "📦",
    "📅",
    "⭐",
    "🚚",
    "🔧",
    "🎓",
    "🏥",
    "🌾",
)


@bp.route("/entities/new", methods=["GET", "POST"])
def new_entity():
    """A tenant's own entity: names and labels; it starts with a required Name field (its
    title), and more fields are added like on any entity."""
    form = request.form
    errors: dict[str | None, list[str]] = {}
    if request.method == "POST":
        name = form.get("name", "").strip()
        taken = _("There is already an entity named %(name)s.", name=name)
        if problems := new_name_error(name, _model().entities, taken):
            errors["name"] = problems
        for control in ("label", "plural"):
            if not form.get(control, "").strip():
                errors[control] = [_("Write how people call it.")]
        if not errors:
            label, plural = {"en": form["label"].strip()}, {"en": form["plural"].strip()}
            if form.get("label_zh", "").strip():
                label["zh-CN"] = form["label_zh"].strip()
            if form.get("plural_zh", "").strip():
                plural["zh-CN"] = form["plural_zh"].strip()
            declaration = {
                "name": name,
                "label": label,
                "plural": plural,
                "title_field": "name",
                "search_fields": ["name"],
                "fields": {
                    "name": {
                        "type": "text",
                        "label": {"en": "Name", "zh-CN": "名称"},
                        "required": True,
                        "max_length": 200,
                    }
                },
            }
            if form.get("nav_section") in _section_names():
                declaration["nav_section"] = form["nav_section"]
            if form.get("icon") in ICONS:
                declaration["icon"] = form["icon"]
            _plan, errors = apply_change(overlay_edits.create_entity(name, declaration))
            if not errors:
                flash(_("%(what)s created. Add its fields now.", what=label["en"]), "success")
                return redirect(url_for("setup.entity_page", entity_name=name))
    return render_template(
        "setup/entity_new.html",
        values=form,
        errors=errors,
        sections=_model().navigation,
        icons=ICONS,
    ), (422 if errors else 200)


def _section_names() -> list[str]:
    return [dict(s.label).get("en", "") for s in _model().navigation]


@bp.route("/entities/<entity_name>/settings", methods=["GET", "POST"])
def entity_settings(entity_name: str):
    """Names (en/zh-CN) and icon of any entity; title field and menu section of the
    tenant's own (a package decides those of its entities)."""
    entity = _entity(entity_name)
    own = entity.origin == "overlay"
    form = request.form
    errors: dict[str | None, list[str]] = {}
    if request.method == "POST":
        changes: dict = {}
        for control in ("label", "plural"):
            text = label_from(form, control, f"{control}_zh", dict(getattr(entity, control)))
            if text is None:
                errors[control] = [_("Write how people call it.")]
            else:
                changes[control] = text
        if form.get("icon", "") in ICONS:
            changes["icon"] = form["icon"]
        if own:
            title = form.get("title_field", "")
            if title not in _title_choices(entity):
                errors["title_field"] = [_("Pick a text field of the entity.")]
            changes["title_field"] = title
            if form.get("nav_section") in _section_names():
                changes["nav_section"] = form["nav_section"]
        if not errors:
            _plan, errors = apply_change(overlay_edits.modify_entity(entity, changes))
            if not errors:
                flash(_("Saved."), "success")
                return redirect(url_for("setup.entity_page", entity_name=entity.name))
    values = form if request.method == "POST" else _settings_of(entity)
    return render_template(
        "setup/entity_settings.html",
        entity=entity,
        own=own,
        values=values,
        errors=errors,
        icons=ICONS,
        titles=_title_choices(entity),
        sections=_model().navigation,
    ), (422 if errors else 200)


def _title_choices(entity) -> list[str]:
    return [n for n, f in entity.fields.items() if f.type in ("text", "auto_number", "email")]


def _settings_of(entity) -> dict[str, str]:
    label, plural = dict(entity.label), dict(entity.plural)
    return {
        "label": label.get("en", ""),
        "label_zh": label.get("zh-CN", ""),
        "plural": plural.get("en", ""),
        "plural_zh": plural.get("zh-CN", ""),
        "icon": entity.icon or "",
        "title_field": entity.title_field or "",
        "nav_section": next(
            (dict(s.label).get("en", "") for s in _model().navigation if entity.name in s.entities),
            "",
        ),
    }
