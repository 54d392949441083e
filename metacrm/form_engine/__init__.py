"""Screens from metadata (Jinja2 + htmx): list, kanban, record, form, designer.

Rule: may import the platform and metadata; attaches to the app through the
`metacrm_register_blueprints` hook. Built by the screens issue.
"""
