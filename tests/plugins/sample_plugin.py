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
