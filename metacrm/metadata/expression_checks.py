"""Type-check every expression of the compiled model, with file and line for each error.

Rules, formulas, defaults, visible_if/required_if, rollup filters, pipeline
conditions, automation and approval expressions, view filters; plus cycles between formula fields.
"""

from __future__ import annotations

from metacrm.expressions import ExpressionError, Registry, check
from metacrm.expressions import nodes as n
from metacrm.expressions import types as T
from metacrm.expressions.sql_backend import has_sql_form
from metacrm.metadata.drafts import Drafts
from metacrm.metadata.errors import MetadataError
from metacrm.metadata.model import Model
from metacrm.metadata.scope import EntityScope, field_expression_type


def _message(exc: ExpressionError) -> str:
    where = f" (at {exc.line}:{exc.column})" if exc.line else ""
    return f"{exc.message}{where}"


def _formula_cycles(model: Model) -> list[tuple[str, str, list[str]]]:
    """(entity, field, cycle path) for each virtual/stored formula that depends on itself."""
    found = []

    def deps(entity: str, field: str) -> set[tuple[str, str]]:
        f = model.entities[entity].fields[field]
        out: set[tuple[str, str]] = set()
        try:
            node = check(f.spec.expression, EntityScope(model, entity)).node
        except (ExpressionError, KeyError):
            return out
        for path in n.field_paths(node):
            try:
                steps = EntityScope(model, entity).walk(path)
            except KeyError:
                continue
            ent, target, name = steps[-1]
            if target is not None and target.type == "formula":
                out.add((ent.name, name))
        return out

    for entity in model.entities.values():
        for f in entity.fields.values():
            if f.type != "formula":
                continue
            start = (entity.name, f.name)
            stack = [(start, [f"{entity.name}.{f.name}"])]
            seen = set()
            while stack:
                node, trail = stack.pop()
                for dep in deps(*node):
                    if dep == start:
                        found.append((entity.name, f.name, [*trail, f"{dep[0]}.{dep[1]}"]))
                        stack = []
                        break
                    if dep not in seen:
                        seen.add(dep)
                        stack.append((dep, [*trail, f"{dep[0]}.{dep[1]}"]))
    return found


def check_expressions(model: Model, drafts: Drafts, registry: Registry) -> list[MetadataError]:
    errors: list[MetadataError] = []

    def run(source, entity, expect, doc, path, sql: str | None = None):
        """Type-check; `sql` names a context computed by the database, where every
        function needs an SQL form (a plugin function may have only a Python one)."""
        try:
            checked = check(source, EntityScope(model, entity), registry, expect)
        except ExpressionError as exc:
            errors.append(doc.error(path, _message(exc)))
            return
        if sql is None:
            return
        for node in n.walk(checked.node):
            if isinstance(node, n.Call) and not has_sql_form(registry, node.name):
                errors.append(
                    doc.error(
                        path,
                        f"{node.name}() has no SQL form, and {sql} is computed by the database"
                        f" (at {node.line}:{node.column}); use functions with an SQL form"
                        + (
                            " or make the formula stored: true"
                            if sql == "a virtual formula"
                            else ""
                        ),
                    )
                )

    def check_values(target, source: str, values: dict, doc, path) -> None:
        """`field: expression` pairs that set fields of `target` from a `source` record."""
        for fname, expression in values.items():
            f = target.fields.get(fname)
            if f is None:
                continue  # reported by the semantic checks
            expected = field_expression_type(f)
            if expected is None or expected == T.LIST:
                errors.append(
                    doc.error(path + (fname,), f"a {f.type} field cannot be set by expression")
                )
                continue
            run(expression, source, expected, doc, path + (fname,))

    for name, draft in drafts.entities.items():
        entity = model.entities[name]
        for fname, fd in draft.fields.items():
            f = entity.fields[fname]
            if f.type == "formula":
                run(
                    f.spec.expression,
                    name,
                    field_expression_type(f),
                    fd.doc,
                    fd.path + ("expression",),
                    None if f.spec.stored else "a virtual formula",
                )
            if f.default_expression:
                expected = field_expression_type(f)
                if expected is None or expected == T.LIST:
                    errors.append(
                        fd.doc.error(
                            fd.path + ("default_expression",),
                            f"a {f.type} field cannot have an expression default",
                        )
                    )
                else:
                    run(
                        f.default_expression,
                        name,
                        expected,
                        fd.doc,
                        fd.path + ("default_expression",),
                    )
            for key in ("visible_if", "required_if"):
                source = getattr(f, key)
                if source:
                    run(source, name, T.BOOLEAN, fd.doc, fd.path + (key,))
            if f.type == "rollup" and f.spec.filter:
                run(
                    f.spec.filter,
                    f.spec.entity,
                    T.BOOLEAN,
                    fd.doc,
                    fd.path + ("filter",),
                    "a rollup filter",
                )
        for i, rule in enumerate(draft.data.get("validation_rules", ())):
            run(
                rule["expression"],
                name,
                T.BOOLEAN,
                draft.doc,
                draft.path + ("validation_rules", i, "expression"),
            )
    for data, doc in drafts.pipelines.values():
        if data.get("applies_if"):
            run(data["applies_if"], data["entity"], T.BOOLEAN, doc, ("applies_if",))
        for i, stage in enumerate(data["stages"]):
            for j, rule in enumerate(stage.get("entry_rules", ())):
                run(
                    rule["expression"],
                    data["entity"],
                    T.BOOLEAN,
                    doc,
                    ("stages", i, "entry_rules", j, "expression"),
                )
    for data, doc in drafts.automations.values():
        source = model.entities.get(data["entity"])
        if source is None:
            continue  # reported by the semantic checks
        if data.get("condition"):
            run(data["condition"], source.name, T.BOOLEAN, doc, ("condition",))
        for i, action in enumerate(data["actions"]):
            ((kind, spec),) = action.items()
            if kind == "assign":
                path: tuple
                for r, rule in enumerate(spec.get("rules", ())):
                    path = ("actions", i, "assign", "rules", r, "when")
                    run(rule["when"], source.name, T.BOOLEAN, doc, path)
                if spec.get("open_filter"):
                    path = ("actions", i, "assign", "open_filter")
                    run(spec["open_filter"], source.name, T.BOOLEAN, doc, path)
                continue
            if kind == "set":
                target, values, path = source, spec, ("actions", i, "set")
            elif kind == "create" and spec["entity"] in model.entities:
                target = model.entities[spec["entity"]]
                values, path = spec["values"], ("actions", i, "create", "values")
            else:
                continue
            check_values(target, source.name, values, doc, path)
    for data, doc in drafts.approvals.values():
        source = model.entities.get(data["entity"])
        if source is None:
            continue  # reported by the semantic checks
        if data.get("entry"):
            run(data["entry"], source.name, T.BOOLEAN, doc, ("entry",))
        for i, step in enumerate(data["steps"]):
            if step.get("condition"):
                run(step["condition"], source.name, T.BOOLEAN, doc, ("steps", i, "condition"))
        for key in ("on_submit", "on_approve", "on_reject", "on_recall"):
            values = (data.get(key) or {}).get("set") or {}
            check_values(source, source.name, values, doc, (key, "set"))
    for data, doc in drafts.pools.values():
        if data["entity"] in model.entities:
            for j, rule in enumerate(data.get("recycle", ())):
                if rule.get("condition"):
                    path = ("recycle", j, "condition")
                    run(rule["condition"], data["entity"], T.BOOLEAN, doc, path, "a recycle rule")
    for data, doc in drafts.views.values():
        if data.get("filter"):
            run(data["filter"], data["entity"], T.BOOLEAN, doc, ("filter",), "a view filter")
    for cycle_entity, field, trail in _formula_cycles(model):
        fd = drafts.entities[cycle_entity].fields[field]
        errors.append(
            fd.doc.error(fd.path + ("expression",), f"formula cycle: {' -> '.join(trail)}")
        )
    return errors
