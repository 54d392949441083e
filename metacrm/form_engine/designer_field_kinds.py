"""What the new-field form configures for some kinds: a rollup's source (a link to this
entity, a function, a field of the linked records, a filter) and a typed default."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _

from metacrm.form_engine import display
from metacrm.form_engine.designer import _model
from metacrm.metadata.model import Entity

NUMBER_TYPES = ("integer", "decimal", "currency", "percent")
LITERAL_DEFAULT_TYPES = ("text", "long_text", *NUMBER_TYPES, "boolean", "date", "select", "email")
ROLLUP_FUNCTIONS = ("count", "sum", "avg", "min", "max")


def typed_default(kind: str, text: str, declaration: dict) -> Any:
    """A typed default -> the value the declaration holds (ValueError says what is wrong)."""
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(_("Write a whole number."))
        return int(text)
    if kind in NUMBER_TYPES:
        try:
            return float(text)
        except ValueError:
            raise ValueError(_("Write a number.")) from None
    if kind == "boolean":
        answer = {"yes": True, "true": True, "no": False, "false": False}.get(text.lower())
        if answer is None:
            raise ValueError(_("Write yes or no."))
        return answer
    if kind == "select" and text not in declaration.get("options", ()):
        raise ValueError(_("Pick one of the options."))
    if kind == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(_("Write the date as 2026-12-31."))
    return text


def rollup_source(entity: Entity, form, declaration: dict, refuse) -> None:
    """A rollup's source: which link (`other.via`), what function, which field, a filter."""
    other, _dot, via = form.get("rollup_link", "").partition(".")
    source = _model().entities.get(other)
    if source is None or f"{other}.{via}" not in dict(rollup_links(entity)):
        refuse("rollup_link", _("Pick the link whose records it summarizes."))
        return
    declaration.update({"entity": other, "via": via})
    function = form.get("rollup_function", "count")
    declaration["function"] = function if function in ROLLUP_FUNCTIONS else "count"
    of, _dot, field = form.get("rollup_field", "").partition(".")
    if declaration["function"] != "count":
        if of != other or field not in source.fields:
            refuse("rollup_field", _("Pick a field of the linked records."))
        else:
            declaration["field"] = field
    if form.get("rollup_filter", "").strip():
        declaration["filter"] = form["rollup_filter"].strip()


def rollup_links(entity: Entity) -> list[tuple[str, str]]:
    """(other.via, its label) for every reference of another entity to `entity`."""
    return [
        (
            f"{other.name}.{name}",
            f"{display.label(other.plural)} ({display.label(f.label)})",
        )
        for other in _model().entities.values()
        for name, f in other.fields.items()
        if f.type == "reference" and f.kind.target(f) == entity.name
    ]


def rollup_fields(entity: Entity) -> list[tuple[str, list[tuple[str, str]]]]:
    """The fields a rollup may summarize, grouped by the linked entity."""
    groups = []
    for other in dict.fromkeys(link.split(".")[0] for link, _text in rollup_links(entity)):
        source = _model().entities[other]
        fields = [
            (f"{other}.{n}", display.label(f.label))
            for n, f in source.fields.items()
            if f.stored and (f.value_kind.summable or f.value_kind.dated)
        ]
        if fields:
            groups.append((display.label(source.plural), fields))
    return groups
