"""Every extension point of metacrm, one hookspec each, keyword arguments only."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("metacrm")
hookimpl = pluggy.HookimplMarker("metacrm")


@hookspec
def metacrm_metadata_packages():
    """Return a list of package folders (default app, industry packs) to layer for every tenant."""


@hookspec
def metacrm_expression_functions():
    """Return a list of metacrm.expressions.Function that expressions may call."""


@hookspec
def metacrm_field_types():
    """Return a list of metacrm.metadata.field_types.FieldType instances: field types that
    declarations may use (`type: rating`). Subclass the built-in type closest to yours
    (e.g. IntegerType) and override what differs: the YAML keys it takes, its column,
    validation, OpenAPI schema, filter parsing, expression type, import and export.
    Names must not clash with built-in or other plugins' types."""


@hookspec
def metacrm_register_blueprints(app, runtime):
    """Register extra Flask blueprints (routes) on the app."""


@hookspec
def metacrm_before_save(entity, record, previous, context):
    """Adjust or veto (raise RecordInvalid) a record about to be written; `previous` is None on create."""


@hookspec
def metacrm_after_commit(entity, record, previous, operation, context):
    """React to a committed create/update/delete (operation names which)."""


@hookspec
def metacrm_demo_data(runtime, tenant, service, context):
    """Fill a freshly initialised tenant with demo records (`metacrm init --demo`)."""


@hookspec
def metacrm_event_handlers():
    """Return a list of metacrm.platform.jobs.handlers.EventHandler: what runs for outbox events
    (record.created / record.updated / record.deleted, and topics of their own)."""


@hookspec
def metacrm_scheduled(runtime, state, now):
    """Time-based work (idle alerts, date triggers, timeouts, recycling): called by the
    sweep at most once a minute per tenant (the platform throttles it, for every plugin),
    with the current UTC time."""


@hookspec
def metacrm_automation_actions():
    """Return a list of metacrm.workflow_engine.actions.PluginAction: actions automations
    call as `plugin: {name, params}`. `fn(target, params)` runs inside the event's
    transaction (target.run.conn, target.service, target.raw) and returns a note."""


@hookspec
def metacrm_system_tables(metadata):
    """Return {key: sqlalchemy.Table} of the plugin's own tables in `metadata` (names start
    with `_`): created in every tenant database next to the platform's and reached as
    `state.system[key]`. Change them later only through `metacrm_patches`."""


@hookspec
def metacrm_patches():
    """Return a list of metacrm.platform.db.patches.Patch: idempotent upgrades of databases
    made by an earlier release of the plugin (its tables), run once per tenant, in order,
    and recorded in the tenant's `_patches` log."""
