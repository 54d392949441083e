"""`metacrm plugins`: what each loaded plugin adds (its hooks, and the functions,
automation actions, field types, event handlers, packages, tables and patches it
contributes), read from the plugins themselves without starting the app."""

from __future__ import annotations

import json

import click

from metacrm.platform.cli.base import main

# hooks that return a list of things with a name: what the listing names
CONTRIBUTIONS = {
    "metacrm_expression_functions": "functions",
    "metacrm_automation_actions": "automation actions",
    "metacrm_field_types": "field types",
    "metacrm_event_handlers": "event handlers",
    "metacrm_metadata_packages": "packages",
    "metacrm_patches": "patches",
}


def describe(pm) -> list[dict]:
    """One entry per plugin: its name, module, hooks and contributions."""
    from sqlalchemy import MetaData

    out = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or ())
        entry: dict = {"name": name, "module": getattr(plugin, "__name__", repr(plugin))}
        entry["hooks"] = hooks
        for hook, title in CONTRIBUTIONS.items():
            if hook in hooks:
                items = getattr(plugin, hook)() or []
                entry[title] = [str(getattr(i, "name", i)) for i in items]
                if hook == "metacrm_automation_actions":  # what `params:` must look like
                    entry["action params"] = {a.name: a.params_schema for a in items}
                if hook == "metacrm_expression_functions":  # where each may be used
                    entry["function details"] = {
                        f.name: {"doc": f.doc, "sql": f.sql is not None} for f in items
                    }
        if "metacrm_system_tables" in hooks:
            entry["tables"] = sorted(
                t.name for t in (plugin.metacrm_system_tables(metadata=MetaData()) or {}).values()
            )
        out.append(entry)
    return out


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def plugins_command(as_json: bool) -> None:
    """List the loaded plugins (default ones, entry points, METACRM_PLUGINS) and what
    each adds."""
    from metacrm.platform.cli.base import build_runtime

    found = describe(build_runtime().pm)
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for entry in found:
        click.echo(f"{entry['name']}")
        click.echo(f"  hooks: {', '.join(entry['hooks']) or '-'}")
        for title in (*CONTRIBUTIONS.values(), "tables"):
            if entry.get(title):
                click.echo(f"  {title}: {', '.join(_shown(entry, title))}")


def _shown(entry: dict, title: str) -> list[str]:
    """The names of one contribution, with what an integrator must know beside each: a
    function with no SQL form works in rules and formulas but not in list filters, and an
    action's params follow its schema."""
    names = entry[title]
    if title == "functions":
        details = entry["function details"]
        return [n if details[n]["sql"] else f"{n} (Python only)" for n in names]
    if title == "automation actions":
        schemas = entry["action params"]
        return [f"{n} params {json.dumps(schemas[n])}" if schemas[n] else n for n in names]
    return names
