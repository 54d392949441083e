"""Write throwaway packages for metadata tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from metacrm.default_app import PACKAGE_DIR


def write_package(
    root: Path,
    name: str = "pack",
    files: dict[str, str] | None = None,
    depends_on=("crm",),
    version="1.0.0",
) -> Path:
    pkg = root / name
    pkg.mkdir(parents=True, exist_ok=True)
    deps = f"depends_on: [{', '.join(depends_on)}]\n" if depends_on else ""
    (pkg / "package.yaml").write_text(f"name: {name}\nversion: {version}\n{deps}")
    for rel, text in (files or {}).items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return pkg


BASE = PACKAGE_DIR
