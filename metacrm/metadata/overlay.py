"""The tenant overlay as the last layer: schema-checked piece by piece (a piece already
known valid is not checked again), then its entities defined or extended and its
documents (pipelines, views, roles, automations, approvals, pools) put in place.
"""

from __future__ import annotations

import copy
import json

from metacrm.metadata.drafts import Drafts
from metacrm.metadata.errors import MetadataError
from metacrm.metadata.field_types import FieldTypes
from metacrm.metadata.layering import define_entity, extend_entity
from metacrm.metadata.loader import SourceDoc
from metacrm.metadata.schema_check import check_document, check_fragment

OVERLAY_FILE = "tenant overlay"

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


def check_overlay(
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


def add_overlay(
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
    errors += check_overlay(checked, doc, known_valid, types)
    if errors:
        return
    for name, data in overlay.get("entities", {}).items():
        define_entity(drafts, data, doc, ("entities", name), "overlay", None, errors)
    for name, data in checked.get("extend", {}).items():
        if data["extend"] != name:
            errors.append(
                doc.error(
                    ("extend", name, "extend"), f"names '{data['extend']}' under the key '{name}'"
                )
            )
            continue
        extend_entity(drafts, data, doc, ("extend", name), "overlay", None, errors)
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
