"""Semantic checks of the process definitions: automations (triggers, conditions,
actions and the fields they write), approvals, pools and roles, over the merged
drafts: what a JSON Schema cannot say."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from metacrm.metadata.drafts import Drafts
from metacrm.metadata.errors import MetadataError

COMPUTED_TYPES = ("formula", "rollup", "auto_number")
# installed plugin actions: name -> the JSON Schema of its params (None: any params);
# None as a whole: not known here, so not checked
PluginActions = Mapping[str, dict | None] | None


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


def _plugin_action(spec: dict, path: tuple, doc, actions: PluginActions, out) -> None:
    """A plugin action must be installed, and its params fit the schema it declares."""
    if actions is None:  # the caller did not say which are installed
        return
    if spec["name"] not in actions:
        known = ", ".join(sorted(actions)) or "none"
        message = f"no plugin action '{spec['name']}' is installed (installed: {known})"
        out.append(doc.error((*path, "name"), message))
        return
    schema = actions[spec["name"]]
    if schema is not None:
        for problem in Draft202012Validator(schema).iter_errors(spec.get("params") or {}):
            where = (*path, "params", *problem.absolute_path)
            out.append(doc.error(where, f"{spec['name']} params: {problem.message}"))


def check_automation(
    data: dict, doc, drafts: Drafts, out: list[MetadataError], actions: PluginActions = None
) -> None:
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
            people: list[tuple[tuple, int, Any]] = [
                (("to",), j, x) for j, x in enumerate(spec.get("to", ()))
            ]
            for r, rule in enumerate(spec.get("rules", ())):
                people += [(("rules", r, "to"), j, x) for j, x in enumerate(rule["to"])]
            if not spec.get("to") and not spec.get("rules"):
                out.append(doc.error(("actions", i, "assign"), "give `to` or `rules`"))
            for where, j, item in people:
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
        elif kind == "plugin":
            _plugin_action(spec, ("actions", i, "plugin"), doc, actions, out)
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


def check_approval(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
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


def check_pool(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
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


def check_role(data: dict, doc, drafts: Drafts, out: list[MetadataError]) -> None:
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
