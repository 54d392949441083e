"""A plugin as an integrator would write one (loaded by dotted name in tests)."""

import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, jsonify
from marshmallow import ValidationError, validate
from sqlalchemy import SmallInteger

from metacrm.metadata.field_types import CoerceError, IntegerType, JsonInteger
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

    schema = {
        "type": "object",
        "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 10}},
        "required": ["score"],
    }
    return [PluginAction("sample.score", score, params_schema=schema)]


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


@hookimpl
def metacrm_field_types():
    return [RatingType()]


@dataclass(frozen=True)
class RatingSpec:
    stars: int = 5


class RatingType(IntegerType):
    """1 to `stars` (5 unless declared) stars. Stored in a small integer; a spreadsheet
    cell may say 4, ★★★★ or 4/5, and an export writes ★★★★☆."""

    name = "rating"
    options = {"stars": {"type": "integer", "minimum": 3, "maximum": 10}}
    default_schema = {"type": "integer", "minimum": 1, "maximum": 10}

    def spec(self, data):
        return RatingSpec(stars=data.get("stars", 5))

    def column_type(self, field):
        return SmallInteger()

    def marshmallow_field(self, field, **kw):
        stars = field.spec.stars
        return JsonInteger(
            validate=validate.Range(1, stars, error=f"a rating is 1 to {stars} stars"), **kw
        )

    def coerce(self, field, value):
        stars = super().coerce(field, value)
        if not 1 <= stars <= field.spec.stars:
            raise CoerceError(f"{stars} is not a rating of 1 to {field.spec.stars} stars")
        return stars

    def json_schema(self, field):
        return {"type": "integer", "minimum": 1, "maximum": field.spec.stars}

    def filter_schema(self, field):
        return self.json_schema(field)

    def parse_query(self, field, raw):
        stars = super().parse_query(field, raw)
        if not 1 <= stars <= field.spec.stars:
            raise ValidationError(f"a rating is 1 to {field.spec.stars} stars")
        return stars

    def import_value(self, field, value, options):
        if isinstance(value, str):
            if value.replace("☆", "") and not value.replace("☆", "").strip("★"):
                return value.count("★")
            out_of = re.fullmatch(r"(\d+)\s*/\s*(\d+)", value)
            if out_of:
                return int(out_of.group(1))
        return super().import_value(field, value, options)

    def export_value(self, field, value):
        return "★" * value + "☆" * (field.spec.stars - value)
