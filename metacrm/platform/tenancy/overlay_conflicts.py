"""Upgrade safety: when the packages change under a tenant's overlay (a new default app
version, a pack upgraded or removed), the overlay is re-applied piece by piece. Pieces
that no longer fit the new base are set aside, with the compiler's reasons, and the
rest is served; the stored overlay keeps them (nothing is silently dropped) until an
administrator fixes or removes each one on /setup/conflicts.

A piece is a unit an administrator made: a tenant entity, one field added to or
modified on a package's entity, an entity's other extension settings, or one whole
process document (`documents.<kind>.<name>`)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from metacrm.metadata.errors import MetadataError, MetadataInvalid
from metacrm.metadata.model import Model

Piece = tuple[str, ...]  # its path in the overlay document


@dataclass(frozen=True)
class Conflict:
    piece: Piece
    errors: tuple[str, ...]

    @property
    def where(self) -> str:
        return ".".join(self.piece)


def pieces(overlay: dict) -> list[Piece]:
    out: list[Piece] = [("entities", name) for name in overlay.get("entities", {})]
    for entity, ext in overlay.get("extend", {}).items():
        for section in ("fields", "modify"):
            out += [("extend", entity, section, f) for f in ext.get(section, {})]
        if set(ext) - {"fields", "modify", "extend"}:
            out.append(("extend", entity, "settings"))
    for kind, docs in overlay.get("documents", {}).items():
        out += [("documents", kind, name) for name in docs]
    return out


def without(overlay: dict, removed: list[Piece]) -> dict:
    """The overlay with `removed` pieces taken out (empty containers pruned)."""
    out = copy.deepcopy(overlay)
    for piece in removed:
        if piece[0] == "extend" and piece[-1] == "settings":
            ext = out.get("extend", {}).get(piece[1], {})
            for key in [k for k in ext if k not in ("fields", "modify", "extend")]:
                del ext[key]
        else:
            node = out
            for key in piece[:-1]:
                node = node.get(key, {})
            node.pop(piece[-1], None)
    for section in ("entities", "documents", "extend"):
        container = out.get(section, {})
        if section == "extend":
            for entity in list(container):
                ext = container[entity]
                for sub in ("fields", "modify"):
                    if sub in ext and not ext[sub]:
                        del ext[sub]
                if not set(ext) - {"extend"}:
                    del container[entity]
        if section == "documents":
            for kind in [k for k, v in container.items() if not v]:
                del container[kind]
        if section in out and not out[section]:
            del out[section]
    return out


def _named(piece: Piece, error: MetadataError) -> bool:
    """Whether an error is about `piece` (by its path, or the document it names)."""
    text = f"{error.file} {error.path} {error.message}"
    if piece[0] == "documents":
        return f"{piece[1]} '{piece[2]}'" in error.file or ".".join(piece) in text
    dotted = ".".join(piece[:-1] if piece[-1] == "settings" else piece)
    return dotted in text


def reconcile(compile_: Callable[[dict | None], Model], overlay: dict | None):
    """(model, conflicts): the overlay compiled whole when it can be; otherwise the pieces
    its errors name are set aside, one round at a time, and then (if the errors name none)
    each piece whose removal alone lets it compile. Raises MetadataInvalid when even the
    packages alone do not compile."""
    try:
        return compile_(overlay), ()
    except MetadataInvalid as exc:
        errors = list(exc.errors)
    if not overlay:
        raise MetadataInvalid(errors)
    aside: dict[Piece, list[str]] = {}
    candidates = pieces(overlay)
    while True:
        named = [p for p in candidates if p not in aside and any(_named(p, e) for e in errors)]
        if not named:
            named = _single_culprits(compile_, overlay, list(aside), candidates)
            if not named:  # nothing the tenant made explains it: the base itself is broken
                raise MetadataInvalid(errors)
        for p in named:
            aside[p] = [str(e) for e in errors if _named(p, e)] or [str(e) for e in errors]
        try:
            model = compile_(without(overlay, list(aside)))
        except MetadataInvalid as exc:
            errors = list(exc.errors)
            continue
        return model, tuple(Conflict(p, tuple(msgs)) for p, msgs in aside.items())


def _single_culprits(compile_, overlay: dict, aside: list[Piece], candidates) -> list[Piece]:
    for piece in candidates:
        if piece in aside:
            continue
        try:
            compile_(without(overlay, [*aside, piece]))
        except MetadataInvalid:
            continue
        return [piece]
    return []
