"""Semantic checks over merged declarations: what a JSON Schema cannot say.

References to unknown entities or fields, reserved or colliding names, empty or
duplicate options, `renamed_from` that names nothing, stages that are not
options of their field, views naming unknown columns, bad auto-number patterns.
"""

from __future__ import annotations

import re

from metacrm.metadata.drafts import Drafts, EntityDraft
from metacrm.metadata.errors import MetadataError
from metacrm.metadata.field_types import FieldTypes
from metacrm.metadata.model import RESERVED_ENTITY_NAMES, RESERVED_FIELD_NAMES, SYSTEM_COLUMNS
from metacrm.metadata.process_checks import (
    PluginActions,
    check_approval,
    check_automation,
    check_pool,
    check_role,
)

AUTO_NUMBER_TOKEN = re.compile(r"\{([^{}]*)\}")
AUTO_NUMBER_PARTS = re.compile(r"^(YYYY|YY|MM|DD|seq(:0?[1-9][0-9]?)?)$")


def _summable(data: dict, types: FieldTypes) -> bool:
    """Whether a rollup may sum the field: its type's values (a formula's result's) are numbers."""
    kind = types.get(data.get("result_type") or data["type"])
    return kind is not None and kind.summable


def _option_values(data: dict) -> list[str]:
    return [o if isinstance(o, str) else o["value"] for o in data.get("options", [])]


def _check_field(
    ent: EntityDraft, fname: str, drafts: Drafts, types: FieldTypes, out: list[MetadataError]
) -> None:
    fd = ent.fields[fname]
    data, doc, path = fd.data, fd.doc, fd.path
    ftype = data["type"]
    if fname in RESERVED_FIELD_NAMES or fname.startswith("_"):
        out.append(
            doc.error(
                path, f"'{fname}' is a reserved name (system columns: {', '.join(SYSTEM_COLUMNS)})"
            )
        )
    if ftype in ("select", "multi_select"):
        values = _option_values(data)
        if not values:
            out.append(doc.error(path + ("options",), f"a {ftype} field needs at least one option"))
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            out.append(doc.error(path + ("options",), f"duplicate option values: {dupes}"))
        default = data.get("default")
        defaults = (
            default if isinstance(default, list) else [default] if default is not None else []
        )
        for d in defaults:
            if d not in values:
                out.append(
                    doc.error(
                        path + ("default",), f"default '{d}' is not one of the options {values}"
                    )
                )
    if ftype in ("reference", "many_to_many", "rollup") and data["entity"] not in drafts.entities:
        out.append(
            doc.error(
                path + ("entity",),
                f"unknown entity '{data['entity']}' (known: {', '.join(sorted(drafts.entities))})",
            )
        )
    if ftype == "rollup" and data["entity"] in drafts.entities:
        child = drafts.entities[data["entity"]]
        via = child.fields.get(data["via"])
        if via is None or via.data["type"] != "reference" or via.data.get("entity") != ent.name:
            out.append(
                doc.error(
                    path + ("via",),
                    f"'{data['via']}' must be a reference field of '{child.name}' pointing to '{ent.name}'",
                )
            )
        if data["function"] != "count":
            target = child.fields.get(data.get("field") or "")
            if target is None:
                out.append(
                    doc.error(
                        path + ("field",),
                        f"rollup {data['function']} needs `field:` naming a field of '{child.name}'",
                    )
                )
            elif not _summable(target.data, types):  # a rollup's values are numbers
                out.append(
                    doc.error(
                        path + ("field",),
                        f"cannot {data['function']} a {target.data['type']} field",
                    )
                )
    if data.get("unique") and not types[ftype].unique_capable:
        out.append(doc.error(path + ("unique",), f"a {ftype} field cannot be unique"))
    if data.get("indexed") and not types[ftype].unique_capable:
        out.append(doc.error(path + ("indexed",), f"a {ftype} field cannot be indexed"))
    if ftype in ("decimal", "currency", "percent") and data.get("scale", 2) > data.get(
        "precision", 18
    ):
        out.append(
            doc.error(
                path + ("scale",),
                f"scale {data['scale']} is larger than precision {data.get('precision', 18)}",
            )
        )
    if data.get("min") is not None and data.get("max") is not None and data["min"] > data["max"]:
        out.append(
            doc.error(path + ("min",), f"min {data['min']} is larger than max {data['max']}")
        )
    if ftype == "auto_number":
        for token in AUTO_NUMBER_TOKEN.findall(data["pattern"]):
            if not AUTO_NUMBER_PARTS.match(token):
                out.append(
                    doc.error(
                        path + ("pattern",),
                        f"unknown placeholder '{{{token}}}' (use YYYY, YY, MM, DD, seq or seq:05)",
                    )
                )
    renamed = data.get("renamed_from")
    if renamed:
        if renamed == fname:
            out.append(doc.error(path + ("renamed_from",), "renamed_from names the field itself"))
        elif renamed in ent.fields:
            out.append(
                doc.error(
                    path + ("renamed_from",),
                    f"renamed_from '{renamed}' names a field that still exists; a column cannot belong to two fields",
                )
            )


def _check_entity(
    ent: EntityDraft, drafts: Drafts, types: FieldTypes, out: list[MetadataError]
) -> None:
    doc, path = ent.doc, ent.path
    if ent.name in RESERVED_ENTITY_NAMES:
        where = path + (("name",) if "name" in ent.data else ())
        out.append(
            doc.error(where, f"'{ent.name}' is a reserved name (a word of the screens' URLs)")
        )
    if not ent.fields:
        out.append(doc.error(path + ("fields",), "an entity needs at least one field"))
    renamed_seen: dict[str, str] = {}
    for fname in ent.fields:
        _check_field(ent, fname, drafts, types, out)
        renamed = ent.fields[fname].data.get("renamed_from")
        if renamed:
            if renamed in renamed_seen:
                fd = ent.fields[fname]
                out.append(
                    fd.doc.error(
                        fd.path + ("renamed_from",),
                        f"'{renamed}' is also renamed to '{renamed_seen[renamed]}'",
                    )
                )
            renamed_seen[renamed] = fname
    known = set(ent.fields) | set(SYSTEM_COLUMNS)
    title = ent.data.get("title_field")
    if title and title not in ent.fields:
        out.append(doc.error(path + ("title_field",), f"unknown field '{title}'"))
    for i, f in enumerate(ent.data.get("search_fields", ())):
        if f not in ent.fields:
            out.append(doc.error(path + ("search_fields", i), f"unknown field '{f}'"))
        elif not types[ent.fields[f].data["type"]].searchable:
            out.append(
                doc.error(
                    path + ("search_fields", i),
                    f"'{f}' is {ent.fields[f].data['type']}; only text-like fields can be searched",
                )
            )
    for key in ("indexes", "duplicate_rules"):
        for i, item in enumerate(ent.data.get(key, ())):
            for j, f in enumerate(item["fields"]):
                if f.lstrip("-") not in known:
                    out.append(
                        doc.error(path + (key, i, "fields", j), f"unknown field '{f.lstrip('-')}'")
                    )
    pipeline = ent.data.get("pipeline")
    if pipeline:
        if pipeline not in drafts.pipelines:
            out.append(doc.error(path + ("pipeline",), f"unknown pipeline '{pipeline}'"))
        elif drafts.pipelines[pipeline][0]["entity"] != ent.name:
            out.append(
                doc.error(
                    path + ("pipeline",),
                    f"pipeline '{pipeline}' belongs to entity '{drafts.pipelines[pipeline][0]['entity']}'",
                )
            )


def _check_pipeline(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
    ent = drafts.entities.get(data["entity"])
    if ent is None:
        out.append(doc.error(("entity",), f"unknown entity '{data['entity']}'"))
        return
    stage_field = ent.fields.get(data["field"])
    if stage_field is None or stage_field.data["type"] != "select":
        out.append(
            doc.error(("field",), f"'{data['field']}' must be a select field of '{ent.name}'")
        )
        return
    options = _option_values(stage_field.data)
    names = [s["name"] for s in data["stages"]]
    for i, stage in enumerate(data["stages"]):
        if stage["name"] not in options:
            out.append(
                doc.error(
                    ("stages", i, "name"),
                    f"stage '{stage['name']}' is not an option of {ent.name}.{data['field']} {options}",
                )
            )
        if names.count(stage["name"]) > 1:
            out.append(doc.error(("stages", i, "name"), f"stage '{stage['name']}' is listed twice"))
        for j, req in enumerate(stage.get("requires", ())):
            if req not in ent.fields:
                out.append(
                    doc.error(
                        ("stages", i, "requires", j), f"unknown field '{req}' of '{ent.name}'"
                    )
                )
        for j, target in enumerate(stage.get("transitions", ())):
            if target not in names:
                out.append(doc.error(("stages", i, "transitions", j), f"unknown stage '{target}'"))


def _check_view(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
    ent = drafts.entities.get(data["entity"])
    if ent is None:
        out.append(doc.error(("entity",), f"unknown entity '{data['entity']}'"))
        return
    known = set(ent.fields) | set(SYSTEM_COLUMNS)
    for i, col in enumerate(data.get("columns", ())):
        if col not in known:
            out.append(doc.error(("columns", i), f"unknown field '{col}' of '{ent.name}'"))
    for i, key in enumerate(data.get("sort", ())):
        if key.lstrip("-") not in known:
            out.append(doc.error(("sort", i), f"unknown field '{key.lstrip('-')}' of '{ent.name}'"))
    if data.get("group_by") and data["group_by"] not in ent.fields:
        out.append(doc.error(("group_by",), f"unknown field '{data['group_by']}' of '{ent.name}'"))
    for i, section in enumerate(data.get("sections", ())):
        for j, f in enumerate(section["fields"]):
            if f not in ent.fields:
                out.append(
                    doc.error(("sections", i, "fields", j), f"unknown field '{f}' of '{ent.name}'")
                )
    for i, link in enumerate(data.get("related", ())):
        other, _dot, fname = link.partition(".")
        fd = drafts.entities[other].fields.get(fname) if other in drafts.entities else None
        if fd is None or fd.data.get("type") != "reference" or fd.data.get("entity") != ent.name:
            out.append(
                doc.error(
                    ("related", i), f"'{link}' is not a reference of another entity to '{ent.name}'"
                )
            )


def check_semantics(
    drafts: Drafts, types: FieldTypes, actions: PluginActions = None
) -> list[MetadataError]:
    out: list[MetadataError] = []
    for ent in drafts.entities.values():
        _check_entity(ent, drafts, types, out)
    for data, doc in drafts.pipelines.values():
        _check_pipeline(data, doc, drafts, out)
    for data, doc in drafts.views.values():
        _check_view(data, doc, drafts, out)
    for data, doc in drafts.roles.values():
        check_role(data, doc, drafts, out)
    for data, doc in drafts.automations.values():
        check_automation(data, doc, drafts, out, actions)
    for data, doc in drafts.approvals.values():
        check_approval(data, doc, drafts, out)
    for data, doc in drafts.pools.values():
        check_pool(data, doc, drafts, out)
    return out
