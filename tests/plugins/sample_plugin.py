"""A plugin as an integrator would write one (loaded by dotted name in tests)."""

from pathlib import Path

from flask import Blueprint, jsonify

from metacrm.platform.errors import RecordInvalid
from metacrm.plugins.hookspecs import hookimpl

EVENTS: list[tuple] = []
PACK = Path(__file__).parent / "sample_pack"


@hookimpl
def metacrm_metadata_packages():
    return [PACK]


@hookimpl
def metacrm_expression_functions():
    from decimal import Decimal

    from metacrm.expressions import Function
    from metacrm.expressions.functions import fixed

    def sql(dialect, ctx, amount):
        return amount * Decimal("0.2")

    return [
        Function(
            "vat",
            "20% VAT of an amount",
            fixed("vat", [{"decimal", "integer"}], "decimal"),
            lambda a: a * Decimal("0.2"),
            sql,
        ),
        Function(  # Python only: fine where Python computes, refused where SQL must
            "py_double",
            "twice an amount, computed in Python only",
            fixed("py_double", [{"decimal", "integer"}], "decimal"),
            lambda a: a * 2,
            None,
        ),
    ]


@hookimpl
def metacrm_register_blueprints(app, runtime):
    bp = Blueprint("sample", __name__)
    bp.add_url_rule(
        "/sample/ping", "ping", lambda: jsonify({"pong": True, "tenants": runtime.tenants.names()})
    )
    app.register_blueprint(bp)


@hookimpl
def metacrm_before_save(entity, record, previous, context):
    if entity.name == "lead" and record.get("company"):
        record["company"] = record["company"].strip().upper()
    if entity.name == "lead" and record.get("last_name") == "Forbidden":
        raise RecordInvalid(
            "rejected by plugin", [{"field": "last_name", "message": "this name is not allowed"}]
        )


@hookimpl
def metacrm_after_commit(entity, record, previous, operation, context):
    EVENTS.append((entity.name, operation, (record or previous)["id"], context.username))


@hookimpl
def metacrm_demo_data(runtime, tenant, service, context):
    service.create("lead", {"last_name": "Plugin", "company": "demo co"})
    return {"plugin_lead": 1}


JOB_RUNS: list[tuple] = []


@hookimpl
def metacrm_event_handlers():
    """Deleted leads are logged by a background job (inline here: no Redis in this test)."""
    from metacrm.platform.jobs.handlers import EventHandler

    def on_deleted(run):
        JOB_RUNS.append((run.event["entity"], run.event["record_id"], run.event["payload"]))
        run.note("seen by the sample plugin")

    def wants(model, entity, topic):
        return entity == "lead" and topic == "record.deleted"

    return [EventHandler("sample.deleted_leads", on_deleted, wants)]


SCHEDULED: list[str] = []


@hookimpl
def metacrm_scheduled(runtime, state, now):
    SCHEDULED.append(state.name)


@hookimpl
def metacrm_automation_actions():
    """`plugin: {name: sample.score, params: {score}}` scores the lead through the record
    service, inside the automation's transaction."""
    from metacrm.workflow_engine.actions import PluginAction

    def score(target, params):
        target.service.update(
            "lead", target.raw["id"], {"sample_score": params["score"]}, target.run.conn
        )
        return f"scored {params['score']}"

    return [PluginAction("sample.score", score)]


def _ticks_table(metadata):
    from sqlalchemy import Column, DateTime, Integer, String, Table

    return Table(
        "_sample_ticks",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("tenant", String(40), nullable=False),
        Column("at", DateTime(timezone=True)),
        Column("note", String(40)),  # added by the plugin's second release: see the patch
    )


@hookimpl
def metacrm_system_tables(metadata):
    """The plugin's own table, in every tenant database: state.system["sample_ticks"]."""
    return {"sample_ticks": _ticks_table(metadata)}


@hookimpl
def metacrm_patches():
    """Databases made by the plugin's first release have no `note` column yet."""
    from sqlalchemy import Column, String

    from metacrm.platform.db.patches import Patch, add_column_if_missing

    return [
        Patch(
            "sample.ticks_note",
            lambda conn: add_column_if_missing(conn, "_sample_ticks", Column("note", String(40))),
        )
    ]
