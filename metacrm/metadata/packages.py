"""Read package folders into schema-checked documents and order them by `depends_on`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from metacrm.metadata.errors import MetadataError
from metacrm.metadata.field_types import FieldTypes
from metacrm.metadata.loader import SourceDoc, load_file
from metacrm.metadata.schema_check import check_document

# folder -> schema kind. Folders for later kinds (reports, dashboards,
# templates) are read by the engines that own them.
KIND_FOLDERS = {
    "entities": "entity",
    "pipelines": "pipeline",
    "views": "view",
    "roles": "role",
    "automations": "automation",
    "approvals": "approval",
    "pools": "pool",
}
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class PackageSource:
    name: str
    version: str
    depends_on: tuple[str, ...]
    root: Path
    label: object = None
    manifest: SourceDoc | None = None  # package.yaml (its lines, for errors)
    navigation: list[dict] = field(default_factory=list)  # sections: {label, entities}
    docs: dict[str, list[SourceDoc]] = field(default_factory=dict)
    # entities whose file failed its schema check: reported once, then known to exist,
    # so "unknown entity 'course'" does not follow a typo in course.yaml
    broken_entities: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return f"package:{self.name}"


def read_package(
    root: Path, types: FieldTypes | None = None
) -> tuple[PackageSource | None, list[MetadataError]]:
    """Load and schema-check every document of the package in `root` (fields may have
    the `types` plugins add)."""
    root = Path(root)
    errors: list[MetadataError] = []
    manifest_path = root / "package.yaml"
    display_root = root.name
    if not manifest_path.is_file():
        return None, [MetadataError(str(root), 0, "", "not a package: package.yaml is missing")]
    manifest, errs = load_file(manifest_path, f"{display_root}/package.yaml")
    errors += errs
    if manifest is None:
        return None, errors
    schema_errors = check_document(manifest, "package")
    if schema_errors:
        return None, errors + schema_errors
    data = manifest.data
    pkg = PackageSource(
        name=data["name"],
        version=str(data["version"]),
        depends_on=tuple(data.get("depends_on", ())),
        root=root,
        label=data.get("label"),
        manifest=manifest,
        navigation=list(data.get("navigation", ())),
    )
    for folder, kind in KIND_FOLDERS.items():
        docs = []
        for path in sorted((root / folder).glob("*")) if (root / folder).is_dir() else []:
            if path.suffix not in SUFFIXES:
                continue
            doc, errs = load_file(path, f"{display_root}/{folder}/{path.name}")
            errors += errs
            if doc is None or errs:
                continue
            schema_errors = check_document(doc, kind, types)
            errors += schema_errors
            if not schema_errors:
                docs.append(doc)
            elif kind == "entity" and isinstance(doc.data, dict):
                name = doc.data.get("name") or doc.data.get("extend")
                if isinstance(name, str):
                    pkg.broken_entities.add(name)
        pkg.docs[kind] = docs
    return pkg, errors


def read_packages(
    paths: list[Path], field_types: FieldTypes | None = None
) -> tuple[list[PackageSource], list[MetadataError]]:
    """Every package folder read and schema-checked: the packages, and every error."""
    packages, errors = [], []
    for path in paths:
        pkg, errs = read_package(Path(path), field_types)
        errors += errs
        if pkg is not None:
            packages.append(pkg)
    return packages, errors


def order_packages(
    packages: list[PackageSource],
) -> tuple[list[PackageSource], list[MetadataError]]:
    """Topological order by `depends_on`; unknown dependencies and cycles are errors."""
    by_name: dict[str, PackageSource] = {}
    errors: list[MetadataError] = []
    for pkg in packages:
        if pkg.name in by_name:
            errors.append(
                MetadataError(
                    f"{pkg.root.name}/package.yaml",
                    1,
                    "name",
                    f"package '{pkg.name}' is loaded twice",
                )
            )
            continue
        by_name[pkg.name] = pkg
    ordered: list[PackageSource] = []
    state: dict[str, str] = {}

    def visit(pkg: PackageSource, chain: list[str]) -> None:
        if state.get(pkg.name) == "done":
            return
        if state.get(pkg.name) == "visiting":
            cycle = " -> ".join([*chain[chain.index(pkg.name) :], pkg.name])
            errors.append(
                MetadataError(
                    f"{pkg.root.name}/package.yaml", 1, "depends_on", f"dependency cycle: {cycle}"
                )
            )
            return
        state[pkg.name] = "visiting"
        for dep in pkg.depends_on:
            if dep not in by_name:
                errors.append(
                    MetadataError(
                        f"{pkg.root.name}/package.yaml",
                        1,
                        "depends_on",
                        f"depends on package '{dep}', which is not installed (installed: {', '.join(sorted(by_name))})",
                    )
                )
                continue
            visit(by_name[dep], [*chain, pkg.name])
        state[pkg.name] = "done"
        ordered.append(pkg)

    for pkg in sorted(by_name.values(), key=lambda p: p.name):
        visit(pkg, [])
    return ordered, errors


def dependency_closure(pkg: PackageSource, by_name: dict[str, PackageSource]) -> set[str]:
    seen: set[str] = set()
    stack = list(pkg.depends_on)
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        stack.extend(by_name[name].depends_on)
    return seen
