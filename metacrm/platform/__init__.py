"""Platform: the runtime that turns compiled metadata into tables and an API.

Subpackages in layers (docs/architecture.md; import-linter enforces them): db <
tenancy < access < records < jobs | query < transfer < runtime < api | worker < app
< cli, over settings, errors and timestamps.

Rule: may import `metacrm.metadata`, `metacrm.expressions` and the plugin API
(`metacrm.plugins`); never an engine or the default app (those attach through
plugin hooks). Only `db.migrations` and `db.patches` issue DDL.
"""
