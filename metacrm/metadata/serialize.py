"""Compiled model -> plain JSON data (meta API, stored versions)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from metacrm.metadata.model import Entity, Field, Model, SelectSpec


def to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def field_to_dict(f: Field) -> dict:
    out = {k: v for k, v in to_plain(f).items() if k not in ("spec", "kind", "value_kind")}
    out.update(to_plain(f.spec))
    if isinstance(f.spec, SelectSpec):
        out["options"] = [to_plain(o) for o in f.spec.options]
    out["stored"] = f.stored
    return out


def entity_to_dict(e: Entity, pipeline: Any = None) -> dict:
    out = {k: v for k, v in to_plain(e).items() if k != "fields"}
    out["fields"] = [field_to_dict(f) for f in e.fields.values()]
    if pipeline is not None:
        out["pipeline_definition"] = to_plain(pipeline)
    return out


def model_to_dict(model: Model) -> dict:
    return {
        "content_hash": model.content_hash,
        "packages": [list(p) for p in model.packages],
        "entities": {n: entity_to_dict(e) for n, e in model.entities.items()},
        "pipelines": to_plain(model.pipelines),
        "views": to_plain(model.views),
    }
