"""Turn merged, schema-valid declaration dicts into frozen model objects."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import inflection

from metacrm.metadata import model as m
from metacrm.metadata.field_types import FieldTypes, builtin_field_types
from metacrm.metadata.field_types.numbers import summary_scale
from metacrm.metadata.model import humanize, label_of

__all__ = ["build_entity", "build_field", "humanize", "label_of", "plural_of"]


def plural_of(value: Any, label: m.Label) -> m.Label:
    """The declared plural, else the label's: English by the Rails rules (`opportunity` ->
    `opportunities`, `person` -> `people`); other languages (Chinese) keep the label."""
    if value is not None:
        return label_of(value, "")
    return MappingProxyType(
        {
            locale: inflection.pluralize(text) if locale == "en" else text
            for locale, text in label.items()
        }
    )


def rollup_scale(data: dict, drafts, types: FieldTypes) -> dict:
    """A rollup's declaration with the decimal places of its values (`scale`), from the
    field it summarises (`summary_scale`). Other fields are returned as they are."""
    if data["type"] != "rollup" or data["function"] == "count":
        return data
    child = drafts.entities.get(data["entity"])
    target = child.fields.get(data.get("field") or "") if child is not None else None
    if target is None:
        return data
    summarised = build_field(data["field"], target.data, target.origin, types)
    return {**data, "scale": summary_scale(summarised, data["function"])}


def build_field(name: str, data: dict, origin: str, types: FieldTypes | None = None) -> m.Field:
    types = types or builtin_field_types()
    kind = types[data["type"]]
    return m.Field(
        name=name,
        type=data["type"],
        label=label_of(data.get("label"), name),
        spec=kind.spec(data),
        required=data.get("required", False),
        unique=data.get("unique", False),
        # references and user fields are always indexed (joins, on_delete, scope): say so
        indexed=data.get("indexed", False) or kind.always_indexed,
        default=data.get("default"),
        default_expression=data.get("default_expression"),
        help=label_of(data["help"], name) if data.get("help") else None,
        read_only=data.get("read_only", False),
        hidden=data.get("hidden", False),
        visible_if=data.get("visible_if"),
        required_if=data.get("required_if"),
        renamed_from=data.get("renamed_from"),
        origin=origin,
        kind=kind,
        value_kind=types[data["result_type"]] if "result_type" in data else kind,
    )


def build_entity(
    name: str,
    data: dict,
    fields: dict[str, tuple[dict, str]],
    origin: str,
    types: FieldTypes | None = None,
) -> m.Entity:
    built = {
        fname: build_field(fname, fdata, forigin, types)
        for fname, (fdata, forigin) in fields.items()
    }
    indexes = tuple(
        m.Index(
            name=ix.get("name") or f"ix_{name}_{'_'.join(f.lstrip('-') for f in ix['fields'])}",
            fields=tuple(ix["fields"]),
            unique=ix.get("unique", False),
        )
        for ix in data.get("indexes", ())
    )
    return m.Entity(
        name=name,
        label=label_of(data.get("label"), name),
        plural=plural_of(data.get("plural"), label_of(data.get("label"), name)),
        fields=MappingProxyType(built),
        title_field=data.get("title_field") or ("name" if "name" in built else None),
        search_fields=tuple(data.get("search_fields", ())),
        indexes=indexes,
        validation_rules=tuple(
            m.ValidationRule(r["name"], r["expression"], label_of(r["message"], r["name"]))
            for r in data.get("validation_rules", ())
        ),
        duplicate_rules=tuple(
            m.DuplicateRule(r["name"], tuple(r["fields"]), r.get("action", "warn"))
            for r in data.get("duplicate_rules", ())
        ),
        pipeline=data.get("pipeline"),
        scope=data.get("ownership", {}).get("scope", "all"),
        audit=data.get("audit", False),
        origin=origin,
        icon=data.get("icon"),
    )


def build_pipeline(data: dict) -> m.Pipeline:
    stages = tuple(
        m.Stage(
            name=s["name"],
            label=label_of(s.get("label"), s["name"]),
            category=s["category"],
            probability=s.get("probability"),
            requires=tuple(s.get("requires", ())),
            entry_rules=tuple(
                (r["expression"], label_of(r["message"], "rule")) for r in s.get("entry_rules", ())
            ),
            transitions=tuple(s["transitions"]) if "transitions" in s else None,
            idle_alert_days=s.get("idle_alert_days"),
            optional=s.get("optional", False),
        )
        for s in data["stages"]
    )
    return m.Pipeline(
        name=data["name"],
        label=label_of(data.get("label"), data["name"]),
        entity=data["entity"],
        field=data["field"],
        stages=stages,
        applies_if=data.get("applies_if"),
    )


def build_role(data: dict) -> m.Role:
    return m.Role(
        name=data["name"],
        label=label_of(data.get("label"), data["name"]),
        admin=data.get("admin", False),
        entities=MappingProxyType(
            {
                name: m.EntityGrant(
                    actions=frozenset(grant.get("actions", ())),
                    scope=grant.get("scope"),
                    fields=MappingProxyType(dict(grant.get("fields", {}))),
                )
                for name, grant in data.get("entities", {}).items()
            }
        ),
    )


def build_view(data: dict) -> m.View:
    return m.View(
        name=data["name"],
        label=label_of(data.get("label"), data["name"]),
        entity=data["entity"],
        kind=data["kind"],
        columns=tuple(data.get("columns", ())),
        filter=data.get("filter"),
        sort=tuple(data.get("sort", ())),
        group_by=data.get("group_by"),
        default=data.get("default", False),
        sections=tuple(
            m.FormSection(
                label_of(s["label"], "section") if s.get("label") else None,
                tuple(s["fields"]),
                s.get("columns"),
            )
            for s in data.get("sections", ())
        ),
        related=tuple(data["related"]) if "related" in data else None,
    )


def _action(kind: str, spec: dict) -> m.Action:
    if kind == "set":
        return m.Action("set", values=tuple(spec.items()))
    if kind == "create":
        return m.Action("create", entity=spec["entity"], values=tuple(spec["values"].items()))
    if kind == "notify":
        return m.Action("notify", to=spec["to"], message=label_of(spec["message"], "notice"))
    if kind == "assign":
        return m.Action(
            "assign",
            strategy=spec.get("strategy", "round_robin"),
            people=_approvers(spec.get("to")),
            rules=tuple(
                m.AssignRule(r["when"], _approvers(r["to"])) for r in spec.get("rules", ())
            ),
            open_filter=spec.get("open_filter"),
        )
    if kind == "return_to_pool":
        return m.Action("return_to_pool", pool=spec.get("pool"), reason=spec["reason"])
    if kind == "email":
        return m.Action("email", to=spec["to"], subject=spec["subject"], body=spec["body"])
    if kind == "webhook":
        return m.Action("webhook", url=spec["url"])
    return m.Action(
        "plugin", name=spec["name"], params=MappingProxyType(dict(spec.get("params", {})))
    )


def build_automation(data: dict) -> m.Automation:
    trigger = data["trigger"]
    actions = [_action(*next(iter(item.items()))) for item in data["actions"]]
    return m.Automation(
        name=data["name"],
        label=label_of(data.get("label"), data["name"]),
        entity=data["entity"],
        trigger=m.Trigger(
            on=trigger["on"],
            fields=tuple(trigger.get("fields", ())),
            to=tuple(trigger.get("to", ())),
            to_category=trigger.get("to_category"),
            flows=tuple(trigger.get("flows", ())),
            outcome=trigger.get("outcome"),
            field=trigger.get("field"),
            offset_days=trigger.get("offset_days", 0),
            cron=trigger.get("cron"),
        ),
        actions=tuple(actions),
        condition=data.get("condition"),
        enabled=data.get("enabled", True),
    )


def _approvers(items) -> tuple[m.Approver, ...]:
    return tuple(m.Approver(*next(iter(item.items()))) for item in items or ())


def _outcome(data: dict | None) -> m.Outcome:
    data = data or {}
    return m.Outcome(values=tuple((data.get("set") or {}).items()), stage=data.get("stage"))


def build_approval(data: dict) -> m.ApprovalFlow:
    return m.ApprovalFlow(
        name=data["name"],
        label=label_of(data.get("label"), data["name"]),
        entity=data["entity"],
        steps=tuple(
            m.ApprovalStep(
                name=step["name"],
                label=label_of(step.get("label"), step["name"]),
                approvers=_approvers(step["approvers"]),
                mode=step.get("mode", "any"),
                condition=step.get("condition"),
                timeout_hours=step.get("timeout_hours"),
                escalate_to=_approvers(step.get("escalate_to")),
            )
            for step in data["steps"]
        ),
        entry=data.get("entry"),
        entry_message=label_of(data["entry_message"], "") if data.get("entry_message") else None,
        lock=data.get("lock", True),
        enabled=data.get("enabled", True),
        on_submit=_outcome(data.get("on_submit")),
        on_approve=_outcome(data.get("on_approve")),
        on_reject=_outcome(data.get("on_reject")),
        on_recall=_outcome(data.get("on_recall")),
    )


def build_pool(data: dict) -> m.Pool:
    return m.Pool(
        name=data["name"],
        label=label_of(data.get("label"), data["name"]),
        entity=data["entity"],
        members=_approvers(data["members"]),
        managers=_approvers(data.get("managers")),
        default=data.get("default", False),
        columns=tuple(data.get("columns", ())),
        max_held=data.get("max_held"),
        daily_claims=data.get("daily_claims"),
        limits_by_role=MappingProxyType(
            {r: MappingProxyType(dict(v)) for r, v in data.get("limits_by_role", {}).items()}
        ),
        return_reasons=tuple(data.get("return_reasons", ())),
        recycle=tuple(
            m.RecycleRule(
                name=r["name"],
                after_days=r["after_days"],
                since=r.get("since", "updated_at"),
                condition=r.get("condition"),
                warn_days=r.get("warn_days"),
            )
            for r in data.get("recycle", ())
        ),
    )
