"""The standard CRM as a metadata package (`crm/`) plus its few hooks.

Registered as a default plugin through the same hooks an outside plugin uses.
May import the platform; nothing imports this package except by plugin name.
"""

from __future__ import annotations

from pathlib import Path

from metacrm.plugins.hookspecs import hookimpl

PACKAGE_DIR = Path(__file__).parent / "crm"


@hookimpl
def metacrm_metadata_packages():
    return [PACKAGE_DIR]


@hookimpl
def metacrm_demo_data(runtime, tenant, service, context):
    from metacrm.default_app.demo import fill_demo_data

    return fill_demo_data(service, context)
