"""`extend:` for process documents: a pack changes another package's pipeline, role,
approval flow, automation, pool or view the way it extends an entity, without copying
it, so the base can be upgraded under it.

An extension document names its target (`extend: sales`) and says what changes:
- the named list of its kind (pipeline `stages`, approval `steps`, pool `recycle`) gets
  new items, placed with `before:` / `after:` (else at the end); an item whose name the
  target already has is refused (change it under `modify:`);
- `modify: {item: {key: value}}` replaces keys of one named item (a list value, such as a
  stage's `entry_rules`, is replaced whole);
- a role's `entities` and a pool's `limits_by_role` merge per entity / role;
- a pool's `members`, `managers`, `return_reasons`, a view's `columns` add what is new;
- any other key replaces the target's (`label`, `entry`, `condition`, `max_held`, ...).
`name`, `entity`, `field` and `kind` are the target's and cannot change. The merged
document is then checked like any other."""

from __future__ import annotations

import copy
from typing import Any

from metacrm.metadata.drafts import Drafts
from metacrm.metadata.loader import SourceDoc
from metacrm.metadata.schema_check import check_document

NAMED_LISTS = {"pipeline": "stages", "approval": "steps", "pool": "recycle"}
MERGED_MAPS = {"role": ("entities",), "pool": ("limits_by_role",)}
ADDED_LISTS = {"pool": ("members", "managers", "return_reasons"), "view": ("columns",)}
FIXED = ("name", "entity", "field", "kind")

Problem = tuple[tuple, str]  # (path in the extension document, message)


def extend_document(kind: str, base: dict, ext: dict) -> tuple[dict, list[Problem]]:
    """The target as the extension leaves it, and what is wrong with the extension."""
    merged = copy.deepcopy(base)
    problems: list[Problem] = []
    listed = NAMED_LISTS.get(kind)
    for key, value in ext.items():
        if key in ("extend", "modify"):
            continue
        if key in FIXED:
            problems.append(((key,), f"the {kind}'s {key} is its own and cannot change"))
        elif key == listed:
            _add_items(merged, key, value, problems)
        elif key in MERGED_MAPS.get(kind, ()) and isinstance(value, dict):
            merged.setdefault(key, {}).update(copy.deepcopy(value))
        elif key in ADDED_LISTS.get(kind, ()) and isinstance(value, list):
            have = merged.setdefault(key, [])
            have += [copy.deepcopy(v) for v in value if v not in have]
        else:
            merged[key] = copy.deepcopy(value)
    modify = ext.get("modify") or {}
    if modify and listed is None:
        problems.append(((("modify",)), f"a {kind} has no named items to modify"))
    elif isinstance(modify, dict):
        items = {item.get("name"): item for item in merged.get(listed or "", [])}
        for name, changes in modify.items():
            if name not in items:
                known = ", ".join(n for n in items if n)
                item = (listed or "items")[:-1]
                problems.append((("modify", name), f"no {item} '{name}' (known: {known})"))
            elif "name" in changes:
                problems.append((("modify", name, "name"), "an item's name cannot change"))
            else:
                items[name].update(copy.deepcopy(changes))
    return merged, problems


def _add_items(merged: dict, key: str, items: Any, problems: list[Problem]) -> None:
    have = merged.setdefault(key, [])
    for i, raw in enumerate(items if isinstance(items, list) else []):
        item = copy.deepcopy(raw)
        before, after = item.pop("before", None), item.pop("after", None)
        names = [x.get("name") for x in have]
        if item.get("name") in names:
            problems.append(
                ((key, i, "name"), f"'{item.get('name')}' exists already: change it under modify:")
            )
            continue
        anchor = before or after
        if anchor is not None and anchor not in names:
            where = "before" if before else "after"
            problems.append(((key, i, where), f"no '{anchor}' to place it {where}"))
            continue
        at = len(have) if anchor is None else names.index(anchor) + (0 if before else 1)
        have.insert(at, item)


def extend_process(
    drafts: Drafts, kind: str, target: dict, doc: SourceDoc, allowed: set[str]
) -> list:
    """Apply a pack's `extend:` of a pipeline, role, approval, automation, pool or view to
    its drafts (`target`: name -> (data, doc)); the errors, named in the pack's file. Like
    an entity, only a document of a package in the pack's `depends_on` may be extended."""
    name = doc.data["extend"]
    if name not in target:
        known = ", ".join(sorted(target)) or "none"
        return [doc.error(("extend",), f"extends unknown {kind} '{name}' (known: {known})")]
    owner = drafts.process_package.get((kind, name))
    if owner not in allowed:
        return [
            doc.error(
                ("extend",),
                f"extends {kind} '{name}' of package '{owner}', which is not in depends_on",
            )
        ]
    merged, problems = extend_document(kind, target[name][0], doc.data)
    if problems:
        return [doc.error(path, message) for path, message in problems]
    errors = [
        doc.error((), f"the {kind} '{name}' as extended: {e.path}: {e.message}")
        for e in check_document(SourceDoc(doc.file, merged, {}), kind)
    ]
    target[name] = (merged, doc)
    if kind == "pipeline":
        _stage_options(drafts, merged)
    return errors


def _stage_options(drafts: Drafts, pipeline: dict) -> None:
    """A stage a pack adds becomes an option of the stage field (with the stage's label)."""
    entity = drafts.entities.get(pipeline.get("entity", ""))
    field = entity.fields.get(pipeline.get("field", "")) if entity else None
    if field is None or not isinstance(field.data.get("options"), list):
        return
    values = {o if isinstance(o, str) else o.get("value") for o in field.data["options"]}
    for stage in pipeline.get("stages", ()):
        if stage["name"] not in values:
            option = {"value": stage["name"]}
            if stage.get("label"):
                option["label"] = stage["label"]
            field.data["options"].append(option)
