"""The Runtime: what one app owns (settings, plugins, packages, tenants).

No module-level state: `create_app()` builds one Runtime and keeps it in
`app.extensions["metacrm"]`; the CLI builds one the same way.
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from metacrm.expressions import Registry, builtin_registry
from metacrm.metadata.compiler import compile_model
from metacrm.metadata.errors import MetadataInvalid
from metacrm.metadata.field_types import FieldTypes, builtin_field_types
from metacrm.metadata.model import Model
from metacrm.metadata.packages import PackageSource, read_packages
from metacrm.platform.db import tables as tbl
from metacrm.platform.db.migrations import FormulaFiller, SystemSchema
from metacrm.platform.db.patches import PLATFORM_PATCHES
from metacrm.platform.jobs.dispatch import Jobs
from metacrm.platform.records.backfill import backfill as fill_formulas
from metacrm.platform.settings import Settings
from metacrm.platform.tenancy.registry import TenantRegistry, TenantState
from metacrm.plugins.manager import gathered, make_plugin_manager, merged


def expression_registry(pm) -> Registry:
    """Built-in expression functions plus the ones plugins contribute (names must be unique)."""
    extra = gathered(pm.hook.metacrm_expression_functions())
    return builtin_registry().extended(extra) if extra else builtin_registry()


def field_types(pm) -> FieldTypes:
    """Built-in field types plus the ones plugins contribute (names must be unique)."""
    extra = gathered(pm.hook.metacrm_field_types())
    return builtin_field_types().extended(extra) if extra else builtin_field_types()


def plugin_actions(pm) -> dict[str, Any]:
    """The automation actions plugins add (`PluginAction`s), by name, gathered once: the
    automations run them, and compiling checks their params against `params_schema`."""
    out: dict[str, Any] = {}
    for action in gathered(pm.hook.metacrm_automation_actions()):
        if action.name in out:
            raise ValueError(f"two plugins add the automation action '{action.name}'")
        schema = getattr(action, "params_schema", None)
        if schema is not None:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(
                    f"plugin action '{action.name}': params_schema is not a JSON Schema: "
                    f"{exc.message}"
                ) from None
        out[action.name] = action
    return out


def params_schemas(actions: dict[str, Any]) -> dict[str, dict | None]:
    """name -> the JSON Schema of an action's params (None: any), as compile_model takes."""
    return {name: getattr(a, "params_schema", None) for name, a in actions.items()}


def package_paths(pm, settings: Settings) -> list[Path]:
    """The installed packages: those plugins contribute, then METACRM_PACKAGES."""
    return [Path(p) for p in gathered(pm.hook.metacrm_metadata_packages())] + list(
        settings.packages
    )


class Runtime:
    def __init__(self, settings: Settings, plugin_manager=None):
        self.settings = settings
        self.pm = plugin_manager or make_plugin_manager(settings.plugins)
        self._packages: list[PackageSource] | None = None
        # models live as long as a tenant state (or a caller) holds them: a process that
        # saw 30 overlay versions keeps one model per live version, not 30
        self._compiled: weakref.WeakValueDictionary[str, Model] = weakref.WeakValueDictionary()
        self._valid_overlay_pieces: set[str] = set()  # schema-checked overlay pieces
        self._lock = threading.Lock()
        self.registry = self._expression_registry()
        self.field_types = field_types(self.pm)
        self.plugin_actions = plugin_actions(self.pm)
        self.system_schema = self._system_schema()
        self.jobs = Jobs(self)
        self.tenants = TenantRegistry(self)

    def _expression_registry(self) -> Registry:
        return expression_registry(self.pm)

    def _system_schema(self) -> SystemSchema:
        """The platform's system tables and patches, and those plugins add."""
        patches = gathered(self.pm.hook.metacrm_patches())
        names = [p.name for p in patches]
        if len(set(names)) != len(names):
            raise ValueError(f"two patches share a name: {sorted(names)}")
        return SystemSchema((tbl.system_tables, self._plugin_tables), (*PLATFORM_PATCHES, *patches))

    def _plugin_tables(self, metadata) -> dict:
        return merged(self.pm.hook.metacrm_system_tables(metadata=metadata))

    def package_paths(self) -> list[Path]:
        return package_paths(self.pm, self.settings)

    def formula_filler(self, timezone: str) -> FormulaFiller:
        """How schema changes compute new stored formulas for existing rows (the record
        layer's code, handed down to db.migrations, which cannot import it)."""
        return functools.partial(fill_formulas, registry=self.registry, timezone=timezone)

    def packages(self):
        """Installed packages, read and schema-checked once per runtime."""
        with self._lock:
            if self._packages is None:
                packages, errors = read_packages(self.package_paths(), self.field_types)
                if errors:
                    raise MetadataInvalid(errors)
                self._packages = packages
            return self._packages

    def compile(self, overlay: dict | None) -> Model:
        """The model of packages + `overlay` (cached by overlay text while anything holds it)."""
        key = json.dumps(overlay or {}, sort_keys=True)
        model = self._compiled.get(key)
        if model is None:
            if len(self._valid_overlay_pieces) > 10_000:
                self._valid_overlay_pieces.clear()
            model = compile_model(
                self.packages(),
                overlay or None,
                self._valid_overlay_pieces,
                self.registry,
                self.field_types,
                params_schemas(self.plugin_actions),
            )
            self._compiled[key] = model
        return model

    def tenant(self, name: str | None = None) -> TenantState:
        return self.tenants.state(name or self.settings.default_tenant)

    def close(self) -> None:
        self.tenants.dispose()
