"""Edits of a tenant's overlay document, shared by the meta API and the designer: each
returns a function `mutate(overlay) -> overlay` for `TenantRegistry.update_overlay`,
which compiles, plans and applies the result in one transaction (or refuses it whole)."""

from __future__ import annotations

from collections.abc import Callable

from metacrm.metadata.model import Entity
from metacrm.platform.errors import RecordInvalid

Mutation = Callable[[dict], dict]


def create_entity(name: str, declaration: dict) -> Mutation:
    def mutate(overlay: dict) -> dict:
        entities = overlay.setdefault("entities", {})
        if name in entities:
            raise RecordInvalid(
                f"entity '{name}' already exists in this tenant",
                [{"field": "name", "message": "already exists"}],
            )
        entities[name] = declaration
        return overlay

    return mutate


def modify_entity(entity: Entity, changes: dict) -> Mutation:
    """An entity's own settings: rewritten on a tenant entity; on a package's entity an
    `extend` entry carries them (labels and icon only: the package keeps the rest)."""

    def mutate(overlay: dict) -> dict:
        if entity.origin == "overlay":
            overlay["entities"][entity.name].update(changes)
        else:
            allowed = {k: v for k, v in changes.items() if k in ("label", "plural", "icon")}
            overlay.setdefault("extend", {}).setdefault(entity.name, {}).update(allowed)
        return overlay

    return mutate


def add_field(entity: str, name: str, declaration: dict) -> Mutation:
    """A new field: in the tenant's own entity, or as an extension of a package's."""

    def mutate(overlay: dict) -> dict:
        if entity in overlay.get("entities", {}):
            overlay["entities"][entity].setdefault("fields", {})[name] = declaration
        else:
            ext = overlay.setdefault("extend", {}).setdefault(entity, {})
            ext.setdefault("fields", {})[name] = declaration
        return overlay

    return mutate


def modify_field(entity: Entity, field: str, changes: dict) -> Mutation:
    """Changed properties: a tenant-made field is rewritten; a package's field gets a
    `modify` entry (the package is never edited; its type never changes). A None value
    takes the tenant's own setting out."""
    origin = entity.fields[field].origin

    def mutate(overlay: dict) -> dict:
        if origin == "overlay":
            if entity.name in overlay.get("entities", {}):
                target = overlay["entities"][entity.name]["fields"][field]
            else:
                target = overlay["extend"][entity.name]["fields"][field]
            if "type" in changes and changes["type"] != target["type"]:
                raise RecordInvalid(
                    "a field's type cannot change; add a new field instead",
                    [{"field": "type", "message": "immutable"}],
                )
            _update(target, changes)
        else:
            ext = overlay.setdefault("extend", {}).setdefault(entity.name, {})
            modify = ext.setdefault("modify", {})
            _update(modify.setdefault(field, {}), changes)
            if not modify[field]:  # nothing of the tenant's left on this field
                del modify[field]
                if not modify:
                    del ext["modify"]
                if not ext:
                    del overlay["extend"][entity.name]
        return overlay

    return mutate


def _update(target: dict, changes: dict) -> None:
    """Apply changes; None takes a property out (back to what the package says)."""
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def put_document(kind: str, name: str, data: dict) -> Mutation:
    """A whole process document (pipeline, view, role, ...) in the overlay's `documents`:
    it replaces the package's document of that name, or adds one."""

    def mutate(overlay: dict) -> dict:
        overlay.setdefault("documents", {}).setdefault(kind, {})[name] = data
        return overlay

    return mutate


def chain(*mutations: Mutation) -> Mutation:
    """Several edits applied as one change (one version, one transaction)."""

    def mutate(overlay: dict) -> dict:
        for m in mutations:
            overlay = m(overlay)
        return overlay

    return mutate
