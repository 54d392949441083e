"""JSON Schema (draft 2020-12) validation of declarations, errors with lines."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from metacrm.metadata.errors import MetadataError
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
def _registry() -> Registry:
    resources_ = []
    for name in (*KINDS, "common"):
        text = resources.files("metacrm.metadata.schemas").joinpath(f"{name}.json").read_text()
        resources_.append((_BASE + f"{name}.json", Resource.from_contents(json.loads(text))))
    return Registry().with_resources(resources_)


@cache
def validator(kind: str) -> Draft202012Validator:
    """The validator for one declaration kind (built once; validators are immutable)."""
    schema = _registry().contents(_BASE + f"{kind}.json")
    return Draft202012Validator(
        schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@cache
def fragment_validator(ref: str) -> Draft202012Validator:
    """A validator for one definition, e.g. `entity.json#/$defs/field`."""
    return Draft202012Validator(
        {"$ref": _BASE + ref},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def check_fragment(doc: SourceDoc, data, ref: str, prefix: tuple) -> list[MetadataError]:
    """Errors of `data` (found at `prefix` inside `doc`) against one schema definition."""
    out = []
    for error in fragment_validator(ref).iter_errors(data):
        for leaf in _leaf_errors(error):
            out.append(doc.error(prefix + tuple(leaf.absolute_path), leaf.message))
    return out


def json_schema(kind: str) -> dict:
    return _registry().contents(_BASE + f"{kind}.json")


def _leaf_errors(error):
    """Descend into oneOf/anyOf contexts so the message names the real problem."""
    if error.context and error.validator in ("oneOf", "anyOf"):
        # Prefer the branch that got furthest (deepest path) into the document.
        best = max(error.context, key=lambda e: (len(e.absolute_path), -len(list(e.context or []))))
        if len(best.absolute_path) > len(error.absolute_path):
            yield from _leaf_errors(best)
            return
    yield error


def check_document(doc: SourceDoc, kind: str) -> list[MetadataError]:
    """Every schema error of `doc`, each with its file, line and path."""
    if (
        kind not in ("entity", "overlay", "package")
        and isinstance(doc.data, dict)
        and "extend" in doc.data
    ):
        # one clear error instead of one per missing key
        return [
            doc.error(
                ("extend",),
                f"`extend:` works for entities only; a {kind} file declares a whole {kind} "
                f"(see docs/metadata.md); to change another package's {kind}, copy it under "
                "a new name",
            )
        ]
    out = []
    for error in validator(kind).iter_errors(doc.data):
        for leaf in _leaf_errors(error):
            path = tuple(leaf.absolute_path)
            out.append(doc.error(path, leaf.message))
    return out
