"""Plugin actions in the automation editor: an installed action is added from the "add
an action" menu, and its params are a form drawn from the JSON Schema the plugin
declares (`PluginAction.params_schema`): text, whole and decimal numbers, yes/no and
choices get their own control, anything else a JSON box. The compile step checks the
params against the schema, so the form only turns text into JSON values."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext as _

from metacrm.platform.api.common import runtime
from metacrm.platform.runtime import params_schemas

SIMPLE = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean"}


def installed() -> dict[str, dict | None]:
    """The plugin actions this app runs: name -> its params schema (None: any)."""
    return params_schemas(runtime().plugin_actions)


def controls(name: str, params: dict | None) -> list[dict[str, Any]] | None:
    """One control per declared param, with its current value as text; None when the
    action declares no object schema (its params are one JSON box)."""
    schema = installed().get(name)
    if not schema or schema.get("type") != "object" or "properties" not in schema:
        return None
    required = set(schema.get("required", ()))
    out = []
    for prop, spec in schema["properties"].items():
        value = (params or {}).get(prop)
        kind = "choice" if "enum" in spec else SIMPLE.get(spec.get("type"), "json")
        if value is None:
            text = ""
        elif kind == "json":
            text = json.dumps(value, ensure_ascii=False)
        else:
            text = str(value).lower() if kind == "boolean" else str(value)
        out.append(
            {
                "prop": prop,
                "label": spec.get("title") or prop.replace("_", " ").capitalize(),
                "help": spec.get("description", ""),
                "kind": kind,
                "choices": [str(c) for c in spec.get("enum", ())],
                "required": prop in required,
                "value": text,
            }
        )
    return out


def _value(kind: str, text: str, spec: dict) -> Any:
    """Text from a control -> a JSON value (ValueError: it is not one of that kind)."""
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "boolean":
        return text == "true"
    if kind == "choice":
        return next((c for c in spec["enum"] if str(c) == text), text)
    if kind == "json":
        return json.loads(text)
    return text


def posted(form, key: str, name: str, errors: dict) -> dict[str, Any]:
    """The action as the form describes it (`param.<key>.<prop>`, or `params.<key>`)."""
    fields = controls(name, None)
    if fields is None:
        text = form.get(f"params.{key}", "").strip() or "{}"
        try:
            params = json.loads(text)
        except ValueError:
            errors.setdefault(f"params.{key}", []).append(_("Write the params as JSON."))
            params = {}
        return {"plugin": {"name": name, "params": params}}
    schema = installed()[name] or {}
    values: dict[str, Any] = {}
    for f in fields:
        text = form.get(f"param.{key}.{f['prop']}", "").strip()
        if not text and f["kind"] != "boolean":
            continue
        try:
            values[f["prop"]] = _value(f["kind"], text, schema["properties"][f["prop"]])
        except ValueError:
            control = f"param.{key}.{f['prop']}"
            errors.setdefault(control, []).append(_("Not a value of this kind."))
    return {"plugin": {"name": name, "params": values}}
