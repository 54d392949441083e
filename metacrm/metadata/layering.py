"""How one source adds to the drafts: an entity defined, extended (`extend:`, from a
package that depends on the base, or the overlay) or a field modified (`modify:`, which
may only widen what the base allows). Packages and the tenant overlay layer the same way.
"""

from __future__ import annotations

import copy

from metacrm.metadata.drafts import Drafts, EntityDraft, FieldDraft
from metacrm.metadata.loader import SourceDoc

MODIFIABLE_NARROWING = {"max_length", "precision"}


def define_entity(
    drafts: Drafts,
    data: dict,
    doc: SourceDoc,
    path: tuple,
    origin: str,
    package: str | None,
    errors,
):
    name = data["name"]
    if name in drafts.entities:
        other = drafts.entities[name]
        errors.append(
            doc.error(
                path + ("name",),
                f"entity '{name}' is already defined by {other.origin} ({other.doc.file}); use `extend: {name}` to add to it",
            )
        )
        return
    entity_data = {k: copy.deepcopy(v) for k, v in data.items() if k != "fields"}
    draft = EntityDraft(name, entity_data, doc, path, origin, package)
    for fname, fdata in data.get("fields", {}).items():
        draft.fields[fname] = FieldDraft(
            copy.deepcopy(fdata), doc, path + ("fields", fname), origin
        )
    drafts.entities[name] = draft


def extend_entity(
    drafts: Drafts,
    data: dict,
    doc: SourceDoc,
    path: tuple,
    origin: str,
    allowed: set[str] | None,
    errors,
):
    target = data["extend"]
    draft = drafts.entities.get(target)
    if draft is None or (allowed is not None and draft.package not in allowed):
        hint = (
            ""
            if draft is None
            else f" (it is defined by {draft.origin}, which is not in depends_on)"
        )
        errors.append(doc.error(path + ("extend",), f"extends unknown entity '{target}'{hint}"))
        return
    for key in ("label", "plural", "search_fields", "icon"):
        if key in data:
            draft.data[key] = copy.deepcopy(data[key])
    for key in ("indexes", "validation_rules", "duplicate_rules"):
        for i, item in enumerate(data.get(key, ())):
            existing = {x.get("name") for x in draft.data.get(key, ()) if x.get("name")}
            if item.get("name") and item["name"] in existing:
                errors.append(
                    doc.error(
                        path + (key, i, "name"),
                        f"'{item['name']}' already exists on entity '{target}'",
                    )
                )
                continue
            draft.data.setdefault(key, []).append(copy.deepcopy(item))
    for fname, fdata in data.get("fields", {}).items():
        if fname in draft.fields:
            declared = draft.fields[fname]
            conflict = (
                " (conflict: the base package now declares this field; rename or remove yours)"
                if origin == "overlay"
                else ""
            )
            errors.append(
                doc.error(
                    path + ("fields", fname),
                    f"field '{fname}' already exists on '{target}' ({declared.origin}, type {declared.data['type']}); "
                    f"use `modify:` to adjust it{conflict}",
                )
            )
            continue
        draft.fields[fname] = FieldDraft(
            copy.deepcopy(fdata), doc, path + ("fields", fname), origin
        )
    for fname, changes in data.get("modify", {}).items():
        mpath = path + ("modify", fname)
        base = draft.fields.get(fname)
        if base is None:
            errors.append(
                doc.error(mpath, f"cannot modify '{fname}': entity '{target}' has no such field")
            )
            continue
        apply_modification(base, changes, doc, mpath, draft, errors)


def apply_modification(
    base: FieldDraft, changes: dict, doc: SourceDoc, mpath: tuple, draft: EntityDraft, errors
):
    ftype = base.data["type"]
    for key, value in changes.items():
        if key == "options":
            if ftype not in ("select", "multi_select"):
                errors.append(
                    doc.error(
                        mpath + (key,), f"field '{base.path[-1]}' is {ftype}, it has no options"
                    )
                )
                continue
            old = [o if isinstance(o, str) else o["value"] for o in base.data.get("options", [])]
            new = [o if isinstance(o, str) else o["value"] for o in value]
            missing = [v for v in old if v not in new]
            if missing:
                errors.append(
                    doc.error(
                        mpath + (key,),
                        f"an extension may add or relabel options but not remove them: missing {missing}",
                    )
                )
                continue
        elif key in MODIFIABLE_NARROWING:
            applies = (
                ("text", "long_text") if key == "max_length" else ("decimal", "currency", "percent")
            )
            if ftype not in applies:
                errors.append(
                    doc.error(mpath + (key,), f"'{key}' does not apply to a {ftype} field")
                )
                continue
            current = base.data.get(key, 255 if key == "max_length" else 18)
            if value < current:
                errors.append(
                    doc.error(
                        mpath + (key,),
                        f"{key} can only grow ({current} -> {value} would narrow it)",
                    )
                )
                continue
        elif key == "order":
            names = list(draft.fields)
            fname = base.path[-1]
            names.remove(fname)
            names.insert(max(0, min(len(names), value - 1)), fname)
            draft.fields = {n: draft.fields[n] for n in names}
            continue
        base.data[key] = copy.deepcopy(value)
