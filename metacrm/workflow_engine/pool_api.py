"""REST of pools (DESIGN.md section 4):

GET  /api/v1/pools                       the pools I may claim from, with my limits
GET  /api/v1/pools/{pool}/records        what waits in a pool (?limit=&cursor=)
POST /api/v1/pools/{pool}/claim          {"ids": [...]} -> claimed / unavailable
POST /api/v1/pools/{pool}/return         {"ids": [...], "reason": "..."}
POST /api/v1/pools/{pool}/transfer       {"ids": [...], "to": other pool} (pool managers)
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.metadata.model import label_text
from metacrm.platform.api.common import json_body, resolve_request, service
from metacrm.platform.errors import BadQuery
from metacrm.workflow_engine.pools import Pools


def list_route():
    engine = Pools(service())
    data = []
    for name in engine.visible():
        pool = engine.state.model.pools[name]
        held, daily = engine.limits(pool)
        data.append(
            {
                "name": name,
                "label": label_text(pool.label, engine.ctx.locale),
                "entity": pool.entity,
                "default": pool.default,
                "return_reasons": list(pool.return_reasons),
                "limits": {"max_held": held, "daily_claims": daily},
                "manager": engine.is_manager(pool),
            }
        )
    return jsonify({"data": data})


def records_route(pool: str):
    try:
        limit = int(request.args.get("limit", 50))
        cursor = int(request.args["cursor"]) if request.args.get("cursor") else None
    except ValueError:
        raise BadQuery("limit and cursor are integers") from None
    if not 1 <= limit <= 500:
        raise BadQuery("limit is 1-500")
    return jsonify(Pools(service()).records(pool, limit, cursor))


def claim_route(pool: str):
    return jsonify(Pools(service()).claim(pool, json_body()))


def return_route(pool: str):
    return jsonify(Pools(service()).return_(pool, json_body()))


def transfer_route(pool: str):
    return jsonify(Pools(service()).transfer(pool, json_body()))


def blueprint() -> Blueprint:
    bp = Blueprint("pools", __name__, url_prefix="/api/v1")
    bp.before_request(resolve_request)
    bp.add_url_rule("/pools", "pools", list_route, methods=["GET"])
    bp.add_url_rule("/pools/<pool>/records", "pool_records", records_route, methods=["GET"])
    bp.add_url_rule("/pools/<pool>/claim", "pool_claim", claim_route, methods=["POST"])
    bp.add_url_rule("/pools/<pool>/return", "pool_return", return_route, methods=["POST"])
    bp.add_url_rule("/pools/<pool>/transfer", "pool_transfer", transfer_route, methods=["POST"])
    return bp
