"""How a spreadsheet's columns and cells become field values.

Real files have their own headers, labels in Chinese and names of related
records. Columns map to fields by API name or by label in any locale (case,
spaces, punctuation and full-width forms ignored), or explicitly
(`COLUMN=FIELD`); a column that maps to no field is reported once as ignored.
Select cells match an option's value or label in any locale; reference cells
hold a record id, or a value of the target's title field (or of a unique field
chosen with `FIELD=TARGET_FIELD`), resolved per batch in one query per field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import String, cast, func, select

from metacrm.metadata.field_types import fold_key
from metacrm.metadata.model import SYSTEM_COLUMNS, Entity, Field, SelectSpec
from metacrm.platform.access.permissions import scope_binds
from metacrm.platform.errors import BadQuery


@dataclass(frozen=True)
class ColumnMapping:
    """Which column fills which field, the columns left out and why, and what reference
    cells are matched on."""

    fields: Mapping[str, str]  # column -> field
    ignored: Mapping[str, str]  # column -> why it is left out
    match: Mapping[str, str]  # reference field -> target field its names are matched on
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # select lookups

    def as_dict(self) -> dict:
        return {
            "columns": dict(self.fields),
            "ignored": [{"column": c, "reason": r} for c, r in self.ignored.items()],
            "match": dict(self.match),
        }


def _param_error(param: str, message: str) -> BadQuery:
    return BadQuery(message, [{"field": None, "message": message, "param": param}])


def _labels(f: Field) -> list[str]:
    return [f.name, *f.label.values()]


def map_columns(
    entity: Entity,
    targets: Mapping[str, Entity],
    headers: list[str],
    writable: set[str],
    explicit: Mapping[str, str] | None = None,
    match: Mapping[str, str] | None = None,
    key: str | None = None,
) -> ColumnMapping:
    """The mapping for a file with `headers`; a bad explicit mapping is a 400 naming it.

    `explicit` maps a column to a field ('' = leave the column out); `key` (the upsert
    key) is mapped even when it is not writable, since it is only matched on.
    """
    explicit = dict(explicit or {})
    for column, target in explicit.items():
        if column not in headers:
            raise _param_error(
                "mapping",
                f"mapping: the file has no column '{column}' (it has {', '.join(headers)})",
            )
        if target and target not in entity.fields:
            raise _param_error("mapping", f"mapping: '{target}' is not a field of {entity.name}")
    by_key: dict[str, str] = {}
    for f in entity.fields.values():
        for text in _labels(f):
            by_key.setdefault(fold_key(text), f.name)
    fields: dict[str, str] = {}
    ignored: dict[str, str] = {}
    taken: dict[str, str] = {}
    for column in headers:
        if column in explicit and not explicit[column]:
            ignored[column] = "left out by the mapping"
            continue
        name = explicit.get(column) or by_key.get(fold_key(column))
        if name is None:
            why = "a system column" if column in SYSTEM_COLUMNS else f"not a field of {entity.name}"
            ignored[column] = why
        elif name not in writable and name != key:
            ignored[column] = f"'{name}' is computed or read-only"
        elif name in taken:
            if column in explicit and taken[name] not in explicit:
                ignored[taken.pop(name)] = f"'{name}' comes from column '{column}'"
                fields = {c: n for c, n in fields.items() if n != name}
                fields[column], taken[name] = name, column
            else:
                ignored[column] = f"'{name}' comes from column '{taken[name]}'"
        else:
            fields[column], taken[name] = name, column
    return ColumnMapping(
        fields, ignored, _match_fields(entity, targets, match or {}), _option_lookups(entity)
    )


def _match_fields(
    entity: Entity, targets: Mapping[str, Entity], match: Mapping[str, str]
) -> dict[str, str]:
    out = {}
    for name, f in entity.fields.items():
        if f.kind.target(f) is None:
            continue  # user ids are matched as ids only
        target = targets[f.spec.entity]
        chosen = match.get(name)
        if chosen is None:
            if target.title_field:
                out[name] = target.title_field
            continue
        tf = target.fields.get(chosen)
        if tf is None or not tf.stored or not (tf.unique or chosen == target.title_field):
            usable = [target.title_field] if target.title_field else []
            usable += [n for n, g in target.fields.items() if g.unique and g.stored]
            raise _param_error(
                "match",
                f"match: {name} can be matched on {', '.join(usable) or 'ids only'} of "
                f"{target.name}, not '{chosen}'",
            )
        out[name] = chosen
    for name in match:
        if name not in out:
            raise _param_error(
                "match", f"match: '{name}' is not a reference field of {entity.name}"
            )
    return out


def option_lookup(f: Field) -> dict[str, str] | None:
    """A select field's options by folded value and label (any locale) -> the value, so
    a cell or a form may name an option as people write it; None for other fields."""
    if not isinstance(f.spec, SelectSpec):
        return None
    table: dict[str, str] = {}
    for option in f.spec.options:
        for text in (option.value, *option.label.values()):
            table.setdefault(fold_key(text), option.value)
    return table


def _option_lookups(entity: Entity) -> dict[str, dict[str, str]]:
    return {
        name: table for name, f in entity.fields.items() if (table := option_lookup(f)) is not None
    }


def convert(f: Field, value, options: Mapping[str, str] | None = None):
    """A cell -> the JSON-ish value the API would accept for this field (None = empty).

    The field's type converts it; reference names stay strings here:
    `resolve_references` turns them into ids.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, str):
        value = value.strip()
    return f.kind.import_value(f, value, options)


def resolve_references(
    conn, service, entity: Entity, mapping: ColumnMapping, batch: list[tuple[int, dict]]
) -> list[dict]:
    """Replace names in reference cells by record ids, in place; the row errors of names
    that match no record, or several (naming the candidates). One query per field."""
    errors = []
    for name, target_field in mapping.match.items():
        names = {v for _, body in batch for v in _texts(body.get(name))}
        if not names:
            continue
        target = service.entity(entity.fields[name].spec.entity)
        table = service.state.tables[target.name]
        column = table.c[target_field]
        folded = {n.casefold(): n for n in names}
        query = select(column, table.c.id).where(
            func.lower(cast(column, String)).in_(sorted(folded)), table.c.deleted_at.is_(None)
        )
        scope = service.scope(target)  # None: the user reads every record
        if scope is not None:
            query = query.where(scope)
        found: dict[str, list[int]] = {}
        for value, rid in conn.execute(query, scope_binds(service.context.access)):
            found.setdefault(str(value).casefold(), []).append(rid)
        for number, body in batch:
            cell = body.get(name)
            values = cell if isinstance(cell, list) else [cell]
            resolved = []
            for value in values:
                if not isinstance(value, str):
                    resolved.append(value)
                    continue
                ids = sorted(found.get(value.casefold(), []))
                if len(ids) == 1:
                    resolved.append(ids[0])
                    continue
                what = f"{target.name} with {target_field} '{value}'"
                message = (
                    f"no {what}"
                    if not ids
                    else f"{len(ids)} records match ({what}): ids {', '.join(map(str, ids))}; "
                    "use ids, or match on a unique field"
                )
                errors.append({"row": number, "field": name, "message": message})
                resolved.append(value)
            body[name] = resolved if isinstance(cell, list) else resolved[0]
    return errors


def _texts(value) -> list[str]:
    """The text values of a cell (a list field's items, or the one value)."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, str)]
