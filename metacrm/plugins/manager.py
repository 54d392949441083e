"""Build the plugin manager of one app: default plugins, entry points, settings."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import TypeVar

import pluggy

from metacrm.plugins import hookspecs

# Internal plugins registered through the same hooks an outside plugin uses.
DEFAULT_PLUGINS = (
    "metacrm.platform.transfer.background",  # background imports: an event handler
    "metacrm.platform.file_upkeep",  # uploads nobody attached are pruned
    "metacrm.default_app",
    "metacrm.workflow_engine",
    "metacrm.form_engine",  # the screens
)
ENTRY_POINT_GROUP = "metacrm.plugins"
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


def make_plugin_manager(
    extra: tuple[str, ...] = (), default_plugins: tuple[str, ...] = DEFAULT_PLUGINS
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("metacrm")
    pm.add_hookspecs(hookspecs)
    for name in (*default_plugins, *extra):
        module = importlib.import_module(name)
        if pm.is_registered(module):
            continue
        pm.register(module, name=name)
    # entry points by hand (not pm.load_setuptools_entrypoints): a module that is both an
    # installed entry point and named in METACRM_PLUGINS is loaded once, not refused twice
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        plugin = ep.load()
        if not pm.is_registered(plugin):
            pm.register(plugin, name=ep.name)
    pm.check_pending()
    return pm


def gathered(results: Iterable[Iterable[T] | None]) -> list[T]:
    """Every plugin's answer to a hook that returns a list, as one list (None: nothing)."""
    return [item for result in results for item in result or ()]


def merged(results: Iterable[Mapping[K, V] | None]) -> dict[K, V]:
    """Every plugin's answer to a hook that returns a mapping, as one dict."""
    out: dict[K, V] = {}
    for result in results:
        out.update(result or {})
    return out
