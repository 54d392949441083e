"""A tenant's overlay as a package (package.yaml, entities/*.yaml, and pipelines/,
views/, roles/... for whole documents), and back: what
`metacrm metadata export` writes and the designer downloads and imports. Importing merges
into the target tenant's overlay; a declaration that differs from one already there is
a conflict, reported and never overwritten."""

from __future__ import annotations

from typing import Any

import yaml

from metacrm.metadata.packages import KIND_FOLDERS

DOCUMENT_FOLDERS = {kind: folder for folder, kind in KIND_FOLDERS.items() if kind != "entity"}


def package_files(tenant: str, packages: list[str], overlay: dict) -> dict[str, str]:
    """Relative path -> YAML text of the overlay as a package depending on `packages`."""
    manifest = {
        "name": f"{tenant}_overlay",
        "version": "1.0.0",
        "label": f"Overlay of tenant {tenant}",
        "depends_on": packages,
    }
    files = {"package.yaml": _dump(manifest)}
    for name, decl in overlay.get("entities", {}).items():
        files[f"entities/{name}.yaml"] = _dump(decl)
    for name, decl in overlay.get("extend", {}).items():
        files[f"entities/{name}.extend.yaml"] = _dump({"extend": name, **decl})
    for kind, docs in overlay.get("documents", {}).items():
        for name, doc in docs.items():
            files[f"{DOCUMENT_FOLDERS[kind]}/{name}.yaml"] = _dump(doc)
    return files


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def overlay_from_files(files: dict[str, str]) -> tuple[dict, list[str]]:
    """The overlay a package's entity documents declare, and what could not be read."""
    overlay: dict[str, dict] = {}
    problems: list[str] = []
    kinds = {folder: kind for kind, folder in DOCUMENT_FOLDERS.items()}
    for path, text in sorted(files.items()):
        folder = path.split("/", 1)[0]
        if folder not in ("entities", *kinds) or not path.endswith((".yaml", ".yml")):
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not YAML ({exc})")
            continue
        if folder in kinds:
            if isinstance(doc, dict) and isinstance(doc.get("name"), str):
                overlay.setdefault("documents", {}).setdefault(kinds[folder], {})[doc["name"]] = doc
            else:
                problems.append(f"{path}: a document needs a `name`")
        elif not isinstance(doc, dict):
            problems.append(f"{path}: not an entity document")
        elif isinstance(doc.get("extend"), str):
            name = doc.pop("extend")
            overlay.setdefault("extend", {})[name] = doc
        elif isinstance(doc.get("name"), str):
            overlay.setdefault("entities", {})[doc["name"]] = doc
        else:
            problems.append(f"{path}: neither `name` nor `extend`")
    return overlay, problems


def merge(current: dict, incoming: dict) -> tuple[dict, list[str]]:
    """`incoming` added to `current`; a key both declare differently is a conflict."""
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in current.items()}
    conflicts: list[str] = []
    for name, decl in incoming.get("entities", {}).items():
        have = merged.setdefault("entities", {}).get(name)
        if have is not None and have != decl:
            conflicts.append(f"entity {name}: this tenant declares it differently")
        else:
            merged["entities"][name] = decl
    for name, ext in incoming.get("extend", {}).items():
        target = merged.setdefault("extend", {}).setdefault(name, {})
        for section, entries in ext.items():
            if isinstance(entries, dict):
                have_section = target.setdefault(section, {})
                for key, value in entries.items():
                    if key in have_section and have_section[key] != value:
                        conflicts.append(f"{name}.{section}.{key}: this tenant has another value")
                    else:
                        have_section[key] = value
            elif isinstance(entries, list):
                have_list = target.setdefault(section, [])
                have_list.extend(e for e in entries if e not in have_list)
            elif section in target and target[section] != entries:
                conflicts.append(f"{name}.{section}: this tenant has another value")
            else:
                target[section] = entries
    for kind, docs in incoming.get("documents", {}).items():
        have_docs = merged.setdefault("documents", {}).setdefault(kind, {})
        for name, doc in docs.items():
            if name in have_docs and have_docs[name] != doc:
                conflicts.append(f"{kind} {name}: this tenant declares it differently")
            else:
                have_docs[name] = doc
    return merged, conflicts
