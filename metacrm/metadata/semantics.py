"""Semantic checks over merged declarations: what a JSON Schema cannot say.

References to unknown entities or fields, reserved or colliding names, empty or
duplicate options, `renamed_from` that names nothing, stages that are not
options of their field, views naming unknown columns, bad auto-number patterns.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from metacrm.metadata.errors import MetadataError
from metacrm.metadata.model import RESERVED_FIELD_NAMES, SYSTEM_COLUMNS

if TYPE_CHECKING:
    from metacrm.metadata.compiler import Drafts, EntityDraft

UNIQUE_CAPABLE = {
    "text",
    "integer",
    "decimal",
    "currency",
    "email",
    "phone",
    "url",
    "select",
    "date",
    "datetime",
    "reference",
    "user",
    "auto_number",
    "boolean",
    "percent",
}
NUMERIC = {"integer", "decimal", "currency", "percent"}
AUTO_NUMBER_TOKEN = re.compile(r"\{([^{}]*)\}")
AUTO_NUMBER_PARTS = re.compile(r"^(YYYY|YY|MM|DD|seq(:0?[1-9][0-9]?)?)$")


def _numeric_type(data: dict) -> str:
    """The field's type, or a formula's result type (what a rollup would sum)."""
    return data.get("result_type", "") if data["type"] == "formula" else data["type"]


def _option_values(data: dict) -> list[str]:
    return [o if isinstance(o, str) else o["value"] for o in data.get("options", [])]


def _check_field(ent: EntityDraft, fname: str, drafts: Drafts, out: list[MetadataError]) -> None:
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
            elif data["function"] in ("sum", "avg") and _numeric_type(target.data) not in NUMERIC:
                out.append(
                    doc.error(
                        path + ("field",),
                        f"cannot {data['function']} a {target.data['type']} field",
                    )
                )
    if data.get("unique") and ftype not in UNIQUE_CAPABLE:
        out.append(doc.error(path + ("unique",), f"a {ftype} field cannot be unique"))
    if data.get("indexed") and ftype not in UNIQUE_CAPABLE:
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


def _check_entity(ent: EntityDraft, drafts: Drafts, out: list[MetadataError]) -> None:
    doc, path = ent.doc, ent.path
    if not ent.fields:
        out.append(doc.error(path + ("fields",), "an entity needs at least one field"))
    renamed_seen: dict[str, str] = {}
    for fname in ent.fields:
        _check_field(ent, fname, drafts, out)
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
        elif ent.fields[f].data["type"] not in (
            "text",
            "long_text",
            "email",
            "phone",
            "url",
            "auto_number",
            "select",
        ):
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


COMPUTED_TYPES = ("formula", "rollup", "auto_number")


def _writable(ent, fname: str, path, doc, out) -> None:
    fd = ent.fields.get(fname)
    if fd is None:
        out.append(doc.error(path, f"unknown field '{fname}' of '{ent.name}'"))
    elif fd.data.get("type") in COMPUTED_TYPES or fd.data.get("type") == "many_to_many":
        out.append(doc.error(path, f"'{fname}' is a {fd.data['type']} field: it cannot be set"))


def _template_errors(spec: dict, path, doc, out) -> bool:
    """Email subject/body are sandboxed Jinja2 templates: report syntax errors up front."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    found = False
    for key in ("subject", "body"):
        try:
            ImmutableSandboxedEnvironment().parse(spec[key])
        except TemplateSyntaxError as exc:
            out.append(
                doc.error((*path, key), f"template error (line {exc.lineno}): {exc.message}")
            )
            found = True
    return found


def _check_automation(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
    ent = drafts.entities.get(data["entity"])
    if ent is None:
        out.append(doc.error(("entity",), f"unknown entity '{data['entity']}'"))
        return
    trigger = data["trigger"]
    for i, fname in enumerate(trigger.get("fields", ())):
        if fname not in ent.fields and fname != "owner_id":  # owner changes trigger too
            out.append(
                doc.error(
                    ("trigger", "fields", i),
                    f"unknown field '{fname}' of '{ent.name}' (fields, or owner_id)",
                )
            )
    for i, flow in enumerate(trigger.get("flows", ())):
        found = drafts.approvals.get(flow)
        if found is None or found[0]["entity"] != ent.name:
            out.append(
                doc.error(
                    ("trigger", "flows", i), f"'{flow}' is not an approval flow of '{ent.name}'"
                )
            )
    if trigger["on"] == "date":
        fd = ent.fields.get(trigger["field"])
        if trigger["field"] not in ("created_at", "updated_at") and (
            fd is None or fd.data.get("type") not in ("date", "datetime")
        ):
            out.append(
                doc.error(
                    ("trigger", "field"),
                    f"'{trigger['field']}' is not a date or datetime field of '{ent.name}'",
                )
            )
    if trigger["on"] == "cron":
        from croniter import croniter

        if not croniter.is_valid(trigger["cron"]) or len(trigger["cron"].split()) != 5:
            out.append(
                doc.error(
                    ("trigger", "cron"), f"'{trigger['cron']}' is not a five-field cron expression"
                )
            )
    if trigger["on"] == "stage_changed":
        pipelines = [p for p, _ in drafts.pipelines.values() if p["entity"] == ent.name]
        if not pipelines:
            out.append(doc.error(("trigger", "on"), f"'{ent.name}' has no stage pipeline"))
        stages = {st["name"] for p in pipelines for st in p["stages"]}
        for i, stage in enumerate(trigger.get("to", ())):
            if pipelines and stage not in stages:
                out.append(doc.error(("trigger", "to", i), f"unknown stage '{stage}'"))
    for i, action in enumerate(data["actions"]):
        ((kind, spec),) = action.items()
        if kind == "set":
            for fname in spec:
                _writable(ent, fname, ("actions", i, "set", fname), doc, out)
        elif kind == "create":
            target = drafts.entities.get(spec["entity"])
            if target is None:
                out.append(
                    doc.error(
                        ("actions", i, "create", "entity"), f"unknown entity '{spec['entity']}'"
                    )
                )
                continue
            for fname in spec["values"]:
                _writable(target, fname, ("actions", i, "create", "values", fname), doc, out)
        elif kind == "assign":
            people = [("to", j, x) for j, x in enumerate(spec.get("to", ()))]
            for r, rule in enumerate(spec.get("rules", ())):
                people += [(("rules", r, "to"), j, x) for j, x in enumerate(rule["to"])]
            if not spec.get("to") and not spec.get("rules"):
                out.append(doc.error(("actions", i, "assign"), "give `to` or `rules`"))
            for where, j, item in people:
                where = where if isinstance(where, tuple) else (where,)
                if "role" in item and item["role"] not in drafts.roles:
                    path = ("actions", i, "assign", *where, j, "role")
                    out.append(doc.error(path, f"unknown role '{item['role']}'"))
        elif kind == "return_to_pool":
            pools = {n: d for n, (d, _) in drafts.pools.items() if d["entity"] == ent.name}
            if spec.get("pool") and spec["pool"] not in pools:
                path = ("actions", i, "return_to_pool", "pool")
                out.append(doc.error(path, f"'{spec['pool']}' is not a pool of '{ent.name}'"))
            elif not spec.get("pool") and not any(d.get("default") for d in pools.values()):
                path = ("actions", i, "return_to_pool")
                out.append(doc.error(path, f"'{ent.name}' has no default pool: name one"))
        elif kind == "email":
            _template_errors(spec, ("actions", i, "email"), doc, out)
            fd = ent.fields.get(spec["to"])
            if spec["to"] not in ("owner", "manager") and (
                fd is None or fd.data.get("type") not in ("user", "email")
            ):
                out.append(
                    doc.error(
                        ("actions", i, "email", "to"),
                        f"'{spec['to']}' is not owner, manager, a user or an email field of '{ent.name}'",
                    )
                )
        elif kind == "notify" and spec["to"] not in ("owner", "manager"):
            fd = ent.fields.get(spec["to"])
            if fd is None or fd.data.get("type") != "user":
                out.append(
                    doc.error(
                        ("actions", i, "notify", "to"),
                        f"'{spec['to']}' is not owner, manager or a user field of '{ent.name}'",
                    )
                )


def _check_approvers(items, path, ent, drafts: Drafts, doc, out, escalation: bool) -> None:
    for j, item in enumerate(items):
        ((kind, value),) = item.items()
        where = (*path, j, kind)
        if kind == "role" and value not in drafts.roles:
            out.append(doc.error(where, f"unknown role '{value}'"))
        elif kind == "field":
            fd = ent.fields.get(value)
            if fd is None or fd.data.get("type") != "user":
                out.append(doc.error(where, f"'{value}' is not a user field of '{ent.name}'"))
        elif kind == "manager" and value == "approver" and not escalation:
            out.append(doc.error(where, "`manager: approver` is for escalate_to only"))


def _check_approval(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
    ent = drafts.entities.get(data["entity"])
    if ent is None:
        out.append(doc.error(("entity",), f"unknown entity '{data['entity']}'"))
        return
    names = [step["name"] for step in data["steps"]]
    for i, step in enumerate(data["steps"]):
        if names.count(step["name"]) > 1:
            out.append(doc.error(("steps", i, "name"), f"step '{step['name']}' is listed twice"))
        _check_approvers(step["approvers"], ("steps", i, "approvers"), ent, drafts, doc, out, False)
        escalation = step.get("escalate_to", ())
        _check_approvers(escalation, ("steps", i, "escalate_to"), ent, drafts, doc, out, True)
    pipelines = [p for p, _ in drafts.pipelines.values() if p["entity"] == ent.name]
    stages = {st["name"] for p in pipelines for st in p["stages"]}
    for key in ("on_submit", "on_approve", "on_reject", "on_recall"):
        outcome = data.get(key) or {}
        for fname in outcome.get("set", {}):
            _writable(ent, fname, (key, "set", fname), doc, out)
        stage = outcome.get("stage")
        if stage is not None and stage not in stages:
            found = f"'{ent.name}' has no stage pipeline" if not pipelines else "unknown stage"
            out.append(doc.error((key, "stage"), f"{found}: '{stage}'"))
        if stage is not None and len({p["field"] for p in pipelines}) > 1:
            out.append(
                doc.error((key, "stage"), "the entity has pipelines on several fields: use set")
            )


def _check_pool(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
    ent = drafts.entities.get(data["entity"])
    if ent is None:
        out.append(doc.error(("entity",), f"unknown entity '{data['entity']}'"))
        return
    for key in ("members", "managers"):
        for j, item in enumerate(data.get(key, ())):
            if "role" in item and item["role"] not in drafts.roles:
                out.append(doc.error((key, j, "role"), f"unknown role '{item['role']}'"))
    for role in data.get("limits_by_role", {}):
        if role not in drafts.roles:
            out.append(doc.error(("limits_by_role", role), f"unknown role '{role}'"))
    for j, column in enumerate(data.get("columns", ())):
        if column not in ent.fields:
            out.append(doc.error(("columns", j), f"unknown field '{column}' of '{ent.name}'"))
    for j, rule in enumerate(data.get("recycle", ())):
        since = rule.get("since", "updated_at")
        fd = ent.fields.get(since)
        if since not in ("created_at", "updated_at") and (
            fd is None or fd.data.get("type") not in ("date", "datetime")
        ):
            out.append(
                doc.error(
                    ("recycle", j, "since"),
                    f"'{since}' is not a date or datetime field of '{ent.name}'",
                )
            )
        if rule.get("warn_days") and rule["warn_days"] >= rule["after_days"]:
            out.append(doc.error(("recycle", j, "warn_days"), "must be fewer than after_days"))
    if data.get("default"):
        others = [
            n
            for n, (d, _) in drafts.pools.items()
            if d["entity"] == ent.name and d.get("default") and n != data["name"]
        ]
        if others and others[0] < data["name"]:
            out.append(
                doc.error(
                    ("default",), f"'{others[0]}' is already the default pool of '{ent.name}'"
                )
            )


def _check_role(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
    for name, grant in data.get("entities", {}).items():
        if name == "*":
            if grant.get("fields"):
                out.append(
                    doc.error(
                        ("entities", name, "fields"),
                        "`*` applies to every entity; name fields under a real entity",
                    )
                )
            continue
        ent = drafts.entities.get(name)
        if ent is None:
            out.append(doc.error(("entities", name), f"unknown entity '{name}'"))
            continue
        for fname in grant.get("fields", {}):
            if fname not in ent.fields:
                out.append(
                    doc.error(
                        ("entities", name, "fields", fname), f"unknown field '{fname}' of '{name}'"
                    )
                )


def check_semantics(drafts: Drafts) -> list[MetadataError]:
    out: list[MetadataError] = []
    for ent in drafts.entities.values():
        _check_entity(ent, drafts, out)
    for data, doc in drafts.pipelines.values():
        _check_pipeline(data, doc, drafts, out)
    for data, doc in drafts.views.values():
        _check_view(data, doc, drafts, out)
    for data, doc in drafts.roles.values():
        _check_role(data, doc, drafts, out)
    for data, doc in drafts.automations.values():
        _check_automation(data, doc, drafts, out)
    for data, doc in drafts.approvals.values():
        _check_approval(data, doc, drafts, out)
    for data, doc in drafts.pools.values():
        _check_pool(data, doc, drafts, out)
    return out
