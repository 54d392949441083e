"""Plugins: the pluggy hook specifications, discovery, and bundled plugins.

`hookspecs.py` declares every extension point; `manager.py` builds a plugin
manager per app (no global manager) from the default plugins, the
`metacrm.plugins` entry-point group and the `METACRM_PLUGINS` setting.
`hookspecs` and `manager` import nothing from metacrm, so the platform can use
them without importing any engine or plugin.
"""
