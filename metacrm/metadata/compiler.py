"""Compilation: packages in dependency order, then the tenant overlay (`overlay`), each
layered the same way (`layering`).

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
from metacrm.metadata.drafts import Drafts
from metacrm.metadata.errors import MetadataError, MetadataInvalid
from metacrm.metadata.expression_checks import check_expressions
from metacrm.metadata.field_types import FieldTypes, builtin_field_types
from metacrm.metadata.layering import define_entity, extend_entity
from metacrm.metadata.loader import SourceDoc
from metacrm.metadata.model import Model, NavSection, label_of, label_text
from metacrm.metadata.overlay import add_overlay
from metacrm.metadata.packages import (
    PackageSource,
    dependency_closure,
    order_packages,
    read_packages,
)
from metacrm.metadata.process_checks import PluginActions
from metacrm.metadata.process_extend import extend_process
from metacrm.metadata.semantics import check_semantics


def _add_package(drafts: Drafts, pkg: PackageSource, by_name: dict[str, PackageSource], errors):
    allowed = dependency_closure(pkg, by_name)
    for doc in pkg.docs.get("entity", []):
        if "extend" in doc.data:
            extend_entity(drafts, doc.data, doc, (), pkg.key, allowed, errors)
        else:
            define_entity(drafts, doc.data, doc, (), pkg.key, pkg.name, errors)
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
        add_overlay(drafts, overlay, errors, types, known_valid)
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
