"""JSON Schema (draft 2020-12) validation of declarations, errors with lines."""

from __future__ import annotations

import copy
import json
from functools import cache, lru_cache
from importlib import resources

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from metacrm.metadata.errors import MetadataError
from metacrm.metadata.field_types import FieldType, FieldTypes
from metacrm.metadata.loader import SourceDoc

KINDS = (
    "package",
    "entity",
    "pipeline",
    "view",
    "role",
    "automation",
    "approval",
    "pool",
    "overlay",
)
_BASE = "https://metacrm.dev/schemas/"


@cache
def _documents() -> dict[str, dict]:
    return {
        name: json.loads(
            resources.files("metacrm.metadata.schemas").joinpath(f"{name}.json").read_text()
        )
        for name in (*KINDS, "common")
    }


def with_field_types(entity: dict, added: tuple[FieldType, ...]) -> dict:
    """entity.json with the field types plugins add: each one's name in the `type` enum,
    and its own keys (`options`, `required_options`, `default_schema`) as a definition."""
    out = copy.deepcopy(entity)
    defs = out["$defs"]
    defs["field_common"]["properties"]["type"]["enum"] += [t.name for t in added]
    for t in added:
        defs[f"field_{t.name}"] = {
            "allOf": [{"$ref": "#/$defs/field_common"}],
            "properties": {**t.options, "default": dict(t.default_schema)},
            **({"required": list(t.required_options)} if t.required_options else {}),
            "unevaluatedProperties": False,
        }
        defs["field"]["allOf"].append(
            {
                "if": {"properties": {"type": {"const": t.name}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/field_{t.name}"},
            }
        )
    return out


@lru_cache(maxsize=16)
def _registry(added: tuple[FieldType, ...] = ()) -> Registry:
    documents = dict(_documents())
    if added:
        documents["entity"] = with_field_types(documents["entity"], added)
    return Registry().with_resources(
        (_BASE + f"{name}.json", Resource.from_contents(schema))
        for name, schema in documents.items()
    )


def _added(types: FieldTypes | None) -> tuple[FieldType, ...]:
    return types.added if types is not None else ()


@lru_cache(maxsize=64)
def _validator(kind: str, added: tuple[FieldType, ...]) -> Draft202012Validator:
    registry = _registry(added)
    return Draft202012Validator(
        registry.contents(_BASE + f"{kind}.json"),
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def validator(kind: str, types: FieldTypes | None = None) -> Draft202012Validator:
    """The validator for one declaration kind with `types` (built once; validators are
    immutable)."""
    return _validator(kind, _added(types))


@lru_cache(maxsize=64)
def _fragment_validator(ref: str, added: tuple[FieldType, ...]) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": _BASE + ref},
        registry=_registry(added),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def fragment_validator(ref: str, types: FieldTypes | None = None) -> Draft202012Validator:
    """A validator for one definition, e.g. `entity.json#/$defs/field`."""
    return _fragment_validator(ref, _added(types))


def check_fragment(
    doc: SourceDoc, data, ref: str, prefix: tuple, types: FieldTypes | None = None
) -> list[MetadataError]:
    """Errors of `data` (found at `prefix` inside `doc`) against one schema definition."""
    out = []
    for error in fragment_validator(ref, types).iter_errors(data):
        for leaf in _leaf_errors(error):
            out.append(doc.error(prefix + tuple(leaf.absolute_path), leaf.message))
    return out


def json_schema(kind: str, types: FieldTypes | None = None) -> dict:
    return _registry(_added(types)).contents(_BASE + f"{kind}.json")


def _leaf_errors(error):
    """Descend into oneOf/anyOf contexts so the message names the real problem."""
    if error.context and error.validator in ("oneOf", "anyOf"):
        # Prefer the branch that got furthest (deepest path) into the document.
        best = max(error.context, key=lambda e: (len(e.absolute_path), -len(list(e.context or []))))
        if len(best.absolute_path) > len(error.absolute_path):
            yield from _leaf_errors(best)
            return
    yield error


def check_document(
    doc: SourceDoc, kind: str, types: FieldTypes | None = None
) -> list[MetadataError]:
    """Every schema error of `doc`, each with its file, line and path."""
    if (
        kind not in ("entity", "overlay", "package")
        and isinstance(doc.data, dict)
        and "extend" in doc.data
    ):
        # an extension of another package's document (metadata/process_extend.py): only
        # its shape here; the merged document is checked whole when it is compiled
        out = []
        if not isinstance(doc.data["extend"], str) or not doc.data["extend"]:
            out.append(doc.error(("extend",), f"names the {kind} it extends"))
        modify = doc.data.get("modify", {})
        if not isinstance(modify, dict) or not all(isinstance(v, dict) for v in modify.values()):
            out.append(doc.error(("modify",), "maps an item's name to the keys it changes"))
        return out
    out = []
    for error in validator(kind, types).iter_errors(doc.data):
        for leaf in _leaf_errors(error):
            path = tuple(leaf.absolute_path)
            out.append(doc.error(path, leaf.message))
    return out
