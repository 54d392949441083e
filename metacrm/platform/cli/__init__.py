"""The `metacrm` command line: one group, its commands in modules by theme.

Imports of the app and metadata engine are inside the commands, so `metacrm serve`'s
gunicorn master stays small (workers import the app when they boot)."""

from metacrm.platform.cli import (  # noqa: F401 - registers commands
    data,
    metadata,
    plugins,
    serve,
    setup,
)
from metacrm.platform.cli.base import main

__all__ = ["main"]
