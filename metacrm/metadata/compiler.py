"""Layering and compilation: packages in dependency order, then the tenant overlay.

One pipeline, as Frappe's `Meta.process()`: base declarations, extensions
(`extend:` in packages that depend on the base), then the tenant overlay, then
semantic checks over the merged result, then frozen model objects. Every error
is collected; nothing is compiled unless there are none.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from types import MappingProxyType

from metacrm.expressions import Registry, builtin_registry
from metacrm.metadata import build
from metacrm.metadata.drafts import Drafts, EntityDraft, FieldDraft
from metacrm.metadata.errors import MetadataError, MetadataInvalid
from metacrm.metadata.expression_checks import check_expressions
from metacrm.metadata.field_types import FieldTypes, builtin_field_types
from metacrm.metadata.loader import SourceDoc
from metacrm.metadata.model import Model, NavSection, label_of, label_text
from metacrm.metadata.packages import (
    PackageSource,
    dependency_closure,
    order_packages,
    read_packages,
)
from metacrm.metadata.process_checks import PluginActions
from metacrm.metadata.process_extend import extend_process
from metacrm.metadata.schema_check import check_document, check_fragment
from metacrm.metadata.semantics import check_semantics

OVERLAY_FILE = "tenant overlay"
MODIFIABLE_NARROWING = {"max_length", "precision"}


def _define_entity(
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


def _extend_entity(
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
        _apply_modification(base, changes, doc, mpath, draft, errors)


def _apply_modification(
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


def _add_package(drafts: Drafts, pkg: PackageSource, by_name: dict[str, PackageSource], errors):
    allowed = dependency_closure(pkg, by_name)
    for doc in pkg.docs.get("entity", []):
        if "extend" in doc.data:
            _extend_entity(drafts, doc.data, doc, (), pkg.key, allowed, errors)
        else:
            _define_entity(drafts, doc.data, doc, (), pkg.key, pkg.name, errors)
    for kind, target in (
        ("pipeline", drafts.pipelines),
        ("view", drafts.views),
        ("role", drafts.roles),
        ("automation", drafts.automations),
        ("approval", drafts.approvals),
        ("pool", drafts.pools),
    ):
        extensions = [d for d in pkg.docs.get(kind, []) if "extend" in d.data]
        for doc in pkg.docs.get(kind, []):
            if "extend" in doc.data:
                continue
            name = doc.data["name"]
            if name in target:
                errors.append(
                    doc.error(
                        ("name",), f"{kind} '{name}' is already defined in {target[name][1].file}"
                    )
                )
                continue
            target[name] = (copy.deepcopy(doc.data), doc)
            drafts.process_package[(kind, name)] = pkg.name
        for doc in extensions:
            errors += extend_process(drafts, kind, target, doc, allowed)


# overlay `documents` kinds -> the Drafts attribute they land in
OVERLAY_DOCUMENTS = {
    "pipeline": "pipelines",
    "view": "views",
    "role": "roles",
    "automation": "automations",
    "approval": "approvals",
    "pool": "pools",
}


def overlay_document(overlay: dict | None) -> SourceDoc:
    """The stored overlay as a SourceDoc: positions are JSON paths (it has no lines)."""
    return SourceDoc(OVERLAY_FILE, overlay or {}, {})


def _check_overlay(
    checked: dict, doc: SourceDoc, known_valid: set[str] | None, types: FieldTypes
) -> list[MetadataError]:
    """Schema-check the overlay piece by piece, skipping pieces already known valid.

    Editing one field re-checks only the entity it touches, so the time of an
    add-field does not grow with the size of the tenant's overlay.
    """
    sections_ok = isinstance(checked, dict) and not set(checked) - {
        "entities",
        "extend",
        "documents",
    }
    sections_ok = sections_ok and all(
        isinstance(checked.get(k, {}), dict) for k in ("entities", "extend", "documents")
    )
    documents = checked.get("documents", {}) if sections_ok else {}
    sections_ok = sections_ok and all(
        kind in OVERLAY_DOCUMENTS and isinstance(docs, dict) for kind, docs in documents.items()
    )
    if known_valid is None or not sections_ok:
        return check_document(doc, "overlay", types)
    errors: list[MetadataError] = []
    for section in ("entities", "extend"):
        for name, data in checked.get(section, {}).items():
            fields = data.get("fields") if isinstance(data, dict) else None
            if isinstance(fields, dict) and fields:
                # fields one by one, so the unchanged ones are skipped
                for fname, fdata in fields.items():
                    key = json.dumps(["field", fname, fdata], sort_keys=True, default=str)
                    if key in known_valid:
                        continue
                    prefix = (section, name, "fields", fname)
                    field_errors = check_fragment(doc, fname, "common.json#/$defs/name", prefix)
                    field_errors += check_fragment(
                        doc, fdata, "entity.json#/$defs/field", prefix, types
                    )
                    errors += field_errors
                    if not field_errors:
                        known_valid.add(key)
                data = {**data, "fields": {}}
            key = json.dumps([section, name, data], sort_keys=True, default=str)
            if key in known_valid:
                continue
            piece = SourceDoc(OVERLAY_FILE, {section: {name: data}}, {})
            piece_errors = check_document(piece, "overlay", types)
            errors += piece_errors
            if not piece_errors:
                known_valid.add(key)
    for kind, docs in checked.get("documents", {}).items():  # one document at a time
        for name, data in docs.items():
            key = json.dumps(["document", kind, name, data], sort_keys=True, default=str)
            if key in known_valid:
                continue
            piece = SourceDoc(OVERLAY_FILE, {"documents": {kind: {name: data}}}, {})
            piece_errors = check_document(piece, "overlay", types)
            errors += piece_errors
            if not piece_errors:
                known_valid.add(key)
    return errors


def _add_overlay(
    drafts: Drafts,
    overlay: dict,
    errors,
    types: FieldTypes,
    known_valid: set[str] | None = None,
):
    checked = copy.deepcopy(overlay)
    for name, data in (checked.get("extend") or {}).items() if isinstance(checked, dict) else ():
        if isinstance(data, dict):
            data.setdefault("extend", name)
    doc = overlay_document(checked)
    errors += _check_overlay(checked, doc, known_valid, types)
    if errors:
        return
    for name, data in overlay.get("entities", {}).items():
        _define_entity(drafts, data, doc, ("entities", name), "overlay", None, errors)
    for name, data in checked.get("extend", {}).items():
        if data["extend"] != name:
            errors.append(
                doc.error(
                    ("extend", name, "extend"), f"names '{data['extend']}' under the key '{name}'"
                )
            )
            continue
        _extend_entity(drafts, data, doc, ("extend", name), "overlay", None, errors)
    for kind, docs in checked.get("documents", {}).items():
        target = getattr(drafts, OVERLAY_DOCUMENTS[kind])
        for name, data in docs.items():
            if data.get("name") != name:
                errors.append(
                    doc.error(("documents", kind, name, "name"), f"must be '{name}', its key")
                )
                continue
            # a package's document of that name is replaced whole; a new name adds one;
            # its later errors name it (paths inside it are relative to it)
            target[name] = (copy.deepcopy(data), SourceDoc(f"{OVERLAY_FILE} {kind} '{name}'", data))


def _navigation(
    packages: list[PackageSource], drafts: Drafts, errors: list[MetadataError]
) -> tuple[NavSection, ...]:
    """The packages' navigation sections; each entity named must exist, in one section."""
    sections: list[NavSection] = []
    placed: dict[str, str] = {}
    for pkg in packages:
        manifest = pkg.manifest or SourceDoc(f"{pkg.root.name}/package.yaml", None)
        for i, section in enumerate(pkg.navigation):
            section_label = label_of(section["label"], "section")
            here = label_text(section_label, "en")
            for j, name in enumerate(section["entities"]):
                where = ("navigation", i, "entities", j)
                if name not in drafts.entities and name not in pkg.broken_entities:
                    known = ", ".join(sorted(drafts.entities))
                    errors.append(
                        manifest.error(where, f"unknown entity '{name}' (known: {known})")
                    )
                elif name in placed:
                    errors.append(
                        manifest.error(where, f"'{name}' is already in section '{placed[name]}'")
                    )
                placed.setdefault(name, here)
            sections.append(NavSection(section_label, tuple(section["entities"])))
    by_label = {label_text(s.label, "en"): i for i, s in enumerate(sections)}
    for name, draft in drafts.entities.items():  # an entity that names its section
        wanted = draft.data.get("nav_section")
        if not wanted or name in placed:
            continue
        if wanted not in by_label:
            known = ", ".join(by_label) or "none"
            errors.append(
                draft.doc.error(
                    (*draft.path, "nav_section"),
                    f"no navigation section '{wanted}' (known: {known})",
                )
            )
            continue
        i = by_label[wanted]
        sections[i] = NavSection(sections[i].label, (*sections[i].entities, name))
    return tuple(sections)


def _canonical(drafts: Drafts, packages: list[PackageSource]) -> dict:
    return {
        "packages": [[p.name, p.version] for p in packages],
        "entities": {
            n: {
                "data": d.data,
                "origin": d.origin,
                "fields": [[f, fd.data, fd.origin] for f, fd in d.fields.items()],
            }
            for n, d in drafts.entities.items()
        },
        "pipelines": {n: d for n, (d, _) in drafts.pipelines.items()},
        "views": {n: d for n, (d, _) in drafts.views.items()},
        "roles": {n: d for n, (d, _) in drafts.roles.items()},
        "automations": {n: d for n, (d, _) in drafts.automations.items()},
        "approvals": {n: d for n, (d, _) in drafts.approvals.items()},
        "pools": {n: d for n, (d, _) in drafts.pools.items()},
    }


def compile_model(
    packages: list[PackageSource],
    overlay: dict | None = None,
    known_valid: set[str] | None = None,
    registry: Registry | None = None,
    field_types: FieldTypes | None = None,
    actions: PluginActions = None,
) -> Model:
    """Merge packages (in dependency order) and the overlay; raise MetadataInvalid with every error.

    `registry` holds the expression functions (built-ins plus plugins') that
    expressions may call; every expression is type-checked against it.
    `field_types` holds the field types (built-ins plus plugins') fields may have;
    `actions` the installed plugin actions with their params schemas (None: unchecked).
    """
    types = field_types or builtin_field_types()
    errors: list[MetadataError] = []
    ordered, order_errors = order_packages(packages)
    errors += order_errors
    by_name = {p.name: p for p in ordered}
    drafts = Drafts()
    for pkg in ordered:
        _add_package(drafts, pkg, by_name, errors)
    if overlay:
        _add_overlay(drafts, overlay, errors, types, known_valid)
    errors += check_semantics(drafts, types, actions)
    navigation = _navigation(ordered, drafts, errors)
    if errors:
        raise MetadataInvalid(errors)
    canonical = _canonical(drafts, ordered)
    if navigation:  # (a package without sections keeps the digest it had)
        canonical["navigation"] = [[dict(s.label), list(s.entities)] for s in navigation]
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()
    entities = {
        name: build.build_entity(
            name,
            d.data,
            {
                f: (build.rollup_scale(fd.data, drafts, types), fd.origin)
                for f, fd in d.fields.items()
            },
            d.origin,
            types,
        )
        for name, d in drafts.entities.items()
    }
    model = Model(
        entities=MappingProxyType(entities),
        pipelines=MappingProxyType(
            {n: build.build_pipeline(d) for n, (d, _) in drafts.pipelines.items()}
        ),
        views=MappingProxyType({n: build.build_view(d) for n, (d, _) in drafts.views.items()}),
        roles=MappingProxyType({n: build.build_role(d) for n, (d, _) in drafts.roles.items()}),
        automations=MappingProxyType(
            {n: build.build_automation(d) for n, (d, _) in drafts.automations.items()}
        ),
        approvals=MappingProxyType(
            {n: build.build_approval(d) for n, (d, _) in drafts.approvals.items()}
        ),
        pools=MappingProxyType({n: build.build_pool(d) for n, (d, _) in drafts.pools.items()}),
        packages=tuple((p.name, p.version) for p in ordered),
        navigation=navigation,
        content_hash=digest,
    )
    errors = check_expressions(model, drafts, registry or builtin_registry())
    if errors:
        raise MetadataInvalid(errors)
    return model


def _about_broken(error: MetadataError, broken: set[str]) -> bool:
    """An error that only follows from an entity file already reported as invalid."""
    return any(f"entity '{name}'" in error.message for name in broken)


def load_and_compile(
    paths: list[Path],
    overlay: dict | None = None,
    registry: Registry | None = None,
    field_types: FieldTypes | None = None,
    actions: PluginActions = None,
) -> Model:
    """Read package folders and compile them; every error of every file at once."""
    packages, errors = read_packages(paths, field_types)
    try:
        model = compile_model(packages, overlay, None, registry, field_types, actions)
    except MetadataInvalid as exc:
        broken = {name for pkg in packages for name in pkg.broken_entities}
        errors += [e for e in exc.errors if not _about_broken(e, broken)]
        model = None
    if errors or model is None:
        raise MetadataInvalid(errors)
    return model
