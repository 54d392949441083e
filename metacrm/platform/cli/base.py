"""The `metacrm` command group, and the runtime its commands build."""

from __future__ import annotations

import click

# Imports of the app and metadata engine are inside the commands, so `metacrm serve`'s
# gunicorn master stays small (workers import the app when they boot).


def build_runtime():
    from metacrm.platform.runtime import Runtime
    from metacrm.platform.settings import settings_from_env

    return Runtime(settings_from_env())


@click.group()
def main() -> None:
    """metacrm: a CRM whose entities, fields and processes are metadata."""
