"""Build the plugin manager of one app: default plugins, entry points, settings."""

from __future__ import annotations

import importlib

import pluggy

from metacrm.plugins import hookspecs

# Internal plugins registered through the same hooks an outside plugin uses.
DEFAULT_PLUGINS = ("metacrm.default_app", "metacrm.workflow_engine")
ENTRY_POINT_GROUP = "metacrm.plugins"


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
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm
