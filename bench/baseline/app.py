"""The baseline: a hand-written Flask + SQLAlchemy app serving the same opportunity
table with the same validation, for bench/api_crud.py to compare metacrm against.

Run: gunicorn 'bench.baseline.app:create_app()' (the benchmark starts it itself).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os

from flask import Flask, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    or_,
    select,
)

STAGES = ["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"]
SOURCES = ["web", "referral", "trade_show", "cold_call", "advertisement", "partner"]
metadata = MetaData()
account = Table(
    "account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)
opportunity = Table(
    "opportunity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_id", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", BigInteger),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", BigInteger),
    Column("version", Integer, nullable=False, default=1),
    Column("deleted_at", DateTime(timezone=True)),
    Column("name", String(200)),
    Column("code", String(64)),
    Column("account", BigInteger, index=True),
    Column("primary_contact", BigInteger),
    Column("stage", String(100)),
    Column("amount", Numeric(18, 2)),
    Column("probability", Numeric(5, 2)),
    Column("close_date", Date),
    Column("lead_source", String(100)),
    Column("next_step", String(255)),
    Column("description", Text),
    Column("lost_reason", String(100)),
)
Index("ix_opp_stage_amount", opportunity.c.stage, opportunity.c.amount)


class OpportunitySchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=200))
    account = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    primary_contact = fields.Integer(allow_none=True, strict=True)
    stage = fields.String(load_default="prospecting", validate=validate.OneOf(STAGES))
    amount = fields.Decimal(places=2, allow_none=True, validate=validate.Range(min=0))
    probability = fields.Decimal(places=2, allow_none=True, validate=validate.Range(min=0, max=100))
    close_date = fields.Date(allow_none=True)
    lead_source = fields.String(allow_none=True, validate=validate.OneOf(SOURCES))
    next_step = fields.String(allow_none=True, validate=validate.Length(max=255))
    description = fields.String(allow_none=True)
    lost_reason = fields.String(allow_none=True)


COLUMNS = [c.name for c in opportunity.columns if c.name != "deleted_at"]


def _out(row) -> dict:
    d = dict(zip(COLUMNS, row, strict=False))
    for k in ("created_at", "updated_at"):
        d[k] = d[k].isoformat()
    for k in ("amount", "probability"):
        if d[k] is not None:
            d[k] = float(d[k])
    if d["close_date"] is not None:
        d["close_date"] = d["close_date"].isoformat()
    return d


def create_app():
    path = os.environ.get("BASELINE_DB", "baseline.sqlite3")
    token = os.environ.get("BASELINE_TOKEN", "baseline-token")
    engine = create_engine(
        f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30}
    )

    @event.listens_for(engine, "connect")
    def _pragma(conn, _):
        conn.isolation_level = None
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN"
        )

    metadata.create_all(engine)
    writer = engine.execution_options(write=True)
    schema = OpportunitySchema()
    app = Flask("baseline")

    @app.before_request
    def _auth():
        if request.path != "/healthz" and request.headers.get("Authorization") != f"Bearer {token}":
            return jsonify({"title": "Unauthorized"}), 401
        return None

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.post("/accounts")
    def create_account():
        with writer.begin() as conn:
            rid = conn.execute(
                account.insert().values(name=request.json["name"])
            ).inserted_primary_key[0]
        return jsonify({"id": rid}), 201

    def _insert(items):
        now = dt.datetime.now(dt.UTC)
        with writer.begin() as conn:
            wanted = {i["account"] for i in items}
            found = {
                r[0]
                for r in conn.execute(
                    select(account.c.id).where(
                        account.c.id.in_(wanted), account.c.deleted_at.is_(None)
                    )
                )
            }
            if wanted - found:
                return None, {"account": [f"no account with id {sorted(wanted - found)[0]}"]}
            rows = [
                {
                    **i,
                    "owner_id": 1,
                    "created_at": now,
                    "created_by": 1,
                    "updated_at": now,
                    "updated_by": 1,
                    "version": 1,
                }
                for i in items
            ]
            ids = [
                r[0]
                for r in conn.execute(
                    opportunity.insert().returning(opportunity.c.id, sort_by_parameter_order=True),
                    rows,
                )
            ]
            for rid, row in zip(ids, rows, strict=True):
                row["id"] = rid
            conn.execute(
                opportunity.update()
                .where(opportunity.c.id.in_(ids))
                .values(code="OPP-" + opportunity.c.id.cast(String))
            )
        return rows, None

    @app.post("/opportunities")
    def create():
        body = request.get_json()
        many = isinstance(body, list)
        try:
            items = schema.load(body, many=many)
        except ValidationError as exc:
            return jsonify({"title": "Validation failed", "errors": exc.messages}), 422
        rows, errors = _insert(items if many else [items])
        if errors:
            return jsonify({"title": "Validation failed", "errors": errors}), 422
        out = [
            {
                k: (
                    v.isoformat()
                    if hasattr(v, "isoformat")
                    else float(v)
                    if hasattr(v, "as_tuple")
                    else v
                )
                for k, v in r.items()
            }
            for r in rows
        ]
        return jsonify({"data": out, "count": len(out)} if many else out[0]), 201

    @app.get("/opportunities")
    def list_():
        limit = min(int(request.args.get("limit", 50)), 500)
        conds = [opportunity.c.deleted_at.is_(None)]
        if "stage" in request.args:
            if request.args["stage"] not in STAGES:
                return jsonify({"title": "Bad query"}), 400
            conds.append(opportunity.c.stage == request.args["stage"])
        if request.args.get("cursor"):
            amount, rid = json.loads(base64.urlsafe_b64decode(request.args["cursor"]))
            conds.append(
                or_(
                    opportunity.c.amount < amount,
                    and_(opportunity.c.amount == amount, opportunity.c.id > rid),
                )
            )
        query = (
            select(*[opportunity.c[c] for c in COLUMNS])
            .where(*conds)
            .order_by(opportunity.c.amount.desc(), opportunity.c.id)
            .limit(limit + 1)
        )
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        data = [_out(r) for r in rows[:limit]]
        cursor = None
        if len(rows) > limit:
            cursor = base64.urlsafe_b64encode(
                json.dumps([data[-1]["amount"], data[-1]["id"]]).encode()
            ).decode()
        return jsonify({"data": data, "next_cursor": cursor})

    return app
