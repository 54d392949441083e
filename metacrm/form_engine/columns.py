"""Which list views an entity has and which columns a list (or a card, a related list,
a search hit) shows: the view's, else the first few sortable fields; the title first;
never a field the role may not read or that is `hidden:`."""

from __future__ import annotations

from metacrm.metadata.field_types.structural import UserType
from metacrm.metadata.field_types.temporal import DateTimeType
from metacrm.metadata.model import Entity, Field, View
from metacrm.platform.api.common import service

UNLISTED_TYPES = ("json", "attachment")


def _system(name: str, kind, en: str, zh: str) -> Field:
    return Field(
        name, kind.name, {"en": en, "zh-CN": zh}, None, read_only=True, kind=kind, value_kind=kind
    )


# the columns every record has, as fields a list can show, sort and filter by
SYSTEM_FIELDS = {
    f.name: f
    for f in (
        _system("owner_id", UserType(), "Owner", "负责人"),
        _system("created_at", DateTimeType(), "Created", "创建时间"),
        _system("updated_at", DateTimeType(), "Last modified", "最后修改"),
    )
}


def field_of(entity: Entity, name: str) -> Field | None:
    """The entity's field, or a system column as a field (owner, created, modified)."""
    return entity.fields.get(name) or SYSTEM_FIELDS.get(name)


def list_views(entity: Entity) -> list[View]:
    return [
        v
        for v in service().state.model.views.values()
        if v.entity == entity.name and v.kind == "list"
    ]


def pick_view(entity: Entity, name: str | None = None) -> View | None:
    """The view called `name`, else the package's default list view, else its first."""
    views = list_views(entity)
    if name:
        return next((v for v in views if v.name == name), None)
    return next((v for v in views if v.default), views[0] if views else None)


def listable(entity: Entity, readable: list[str]) -> list[Field]:
    """Fields a column chooser offers: readable, shown, with a value a cell can hold,
    then the owner and the record's times."""
    return [
        entity.fields[n]
        for n in readable
        if n in entity.fields
        and not entity.fields[n].hidden
        and entity.fields[n].value_kind.name not in UNLISTED_TYPES
    ] + [f for n, f in SYSTEM_FIELDS.items() if n not in entity.fields]


def list_columns(
    entity: Entity, readable: list[str], view: View | None, chosen: list[str] | None = None
) -> list[str]:
    if chosen:
        wanted = list(chosen)
    elif view is not None and view.columns:
        wanted = list(view.columns)
    else:
        wanted = [
            n
            for n, f in entity.fields.items()
            if f.stored and not f.hidden and f.value_kind.sortable
        ][:6]
    if entity.title_field and entity.title_field not in wanted:
        wanted.insert(0, entity.title_field)
    allowed = {f.name for f in listable(entity, readable)}
    return [n for n in wanted if n in allowed]


def default_columns(entity: Entity, readable: list[str]) -> list[str]:
    return list_columns(entity, readable, pick_view(entity))
