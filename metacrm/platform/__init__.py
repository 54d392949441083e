"""Platform: the runtime that turns compiled metadata into tables and an API.

Settings, the app factory, tenants, database engines and schema sync, the
record service, the query engine, the REST API with OpenAPI, auth and the CLI.

Rule: may import `metacrm.metadata`, `metacrm.expressions` and the plugin API
(`metacrm.plugins.hookspecs` / `metacrm.plugins.manager`); never an engine or the
default app (those attach through plugin hooks). Only `migrations.py` issues DDL.
"""
