"""Screens from metadata (Jinja2 + htmx): the shell, lists, record pages and forms.

Rule: may import the platform and metadata; attaches to the app through the
`metacrm_register_blueprints` hook, like any plugin. Every read and write goes
through the record service, with the signed-in user's Context, so screens obey the
same permissions, rules and events as the API.
"""

from metacrm.plugins.hookspecs import hookimpl


@hookimpl
def metacrm_register_blueprints(app, runtime):
    from metacrm.form_engine.web import install

    install(app)


@hookimpl
def metacrm_system_tables(metadata):
    from metacrm.form_engine.tables import saved_view_tables

    return saved_view_tables(metadata)
