"""Pools through the HTTP API: atomic claims under concurrency, holding limits and daily
caps, returns with reasons, transfers, who sees what, and recycle rules (scheduler)."""

import datetime as dt
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from metacrm.workflow_engine.pool_recycle import recycle_due
from tests.conftest import Api, _env_fixture
from tests.workflow_engine.test_automations import user

PACK = Path(__file__).parent / "pool_pack"


@pytest.fixture
def pool_env(tmp_path, backend):
    yield from _env_fixture(tmp_path, backend, (PACK,))


def pooled_leads(env, n, pool="trial_pool"):
    rows = [{"last_name": f"Lead {i}", "company": f"Co {i}"} for i in range(n)]
    ids = [r["id"] for r in env.api.post("/api/v1/records/lead", json=rows).json["data"]]
    back = env.api.post(f"/api/v1/pools/{pool}/return", json={"ids": ids, "reason": "other"})
    assert back.status_code == 200, back.json
    return ids


def test_200_concurrent_claims_on_50_leads(pool_env):
    env = pool_env
    ids = pooled_leads(env, 50)
    reps = [user(env, f"rep{i}", ["sales_rep"]) for i in range(20)]
    tokens = [(uid, api.token) for uid, api in reps]
    rnd = random.Random(5)
    jobs = [(tokens[i % 20], rnd.sample(ids, rnd.randint(1, 2))) for i in range(200)]

    def claim(job):
        (uid, token), wanted = job
        api = Api(env.app.test_client(), token)
        response = api.post("/api/v1/pools/trial_pool/claim", json={"ids": wanted})
        return uid, response.status_code, response.json

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(claim, jobs))
    assert {status for _, status, _ in results} <= {200, 409}
    got = [(uid, rid) for uid, status, body in results if status == 200 for rid in body["claimed"]]
    claimed_ids = [rid for _, rid in got]
    assert sorted(claimed_ids) == sorted(ids)  # every lead claimed, and exactly once
    state = env.runtime.tenant()
    lead, log = state.tables["lead"], state.system["pool_log"]
    with state.engine.connect() as conn:
        owners = dict(conn.execute(select(lead.c.id, lead.c.owner_id)).all())
        per_user = dict(
            conn.execute(select(lead.c.owner_id, func.count()).group_by(lead.c.owner_id)).all()
        )
        claims = conn.execute(
            select(log.c.record_id, func.count())
            .where(log.c.action == "claim")
            .group_by(log.c.record_id)
        ).all()
    assert all(owners[rid] == uid for uid, rid in got)
    assert max(per_user.values()) <= 5  # nobody over the holding limit
    assert {n for _, n in claims} == {1} and len(claims) == 50
    assert env.api.get("/api/v1/pools/trial_pool/records").json["data"] == []


def test_limits_returns_transfers_and_visibility(pool_env):
    env = pool_env
    ids = pooled_leads(env, 12)
    mgr_id, mgr = user(env, "mgr", ["sales_manager"])
    rep_id, rep = user(env, "rep1", ["sales_rep"], mgr_id)
    other_id, other = user(env, "rep2", ["sales_rep"], mgr_id)
    _, outsider = user(env, "agent", ["service_agent"])
    names = [p["name"] for p in rep.get("/api/v1/pools").json["data"]]
    assert names == ["lead_pool", "public_pool", "trial_pool"]
    assert outsider.get("/api/v1/pools").json["data"] == []
    assert outsider.post("/api/v1/pools/trial_pool/claim", json={"ids": ids[:1]}).status_code == 404
    listing = rep.get("/api/v1/pools/trial_pool/records?limit=5").json
    assert [r["id"] for r in listing["data"]] == ids[:5] and listing["next_cursor"] == ids[4]
    assert set(listing["data"][0]) == {
        "id",
        "last_name",
        "company",
        "in_pool_since",
        "return_reason",
    }
    assert listing["limits"] == {"max_held": 5, "daily_claims": 8}
    # the pooled leads are nobody's: a rep cannot read them until claimed
    assert rep.get(f"/api/v1/records/lead/{ids[0]}").status_code == 404
    first = rep.post("/api/v1/pools/trial_pool/claim", json={"ids": ids[:3]}).json
    assert first == {"claimed": ids[:3], "unavailable": []}
    assert rep.get(f"/api/v1/records/lead/{ids[0]}").json["owner_id"] == rep_id
    taken = other.post("/api/v1/pools/trial_pool/claim", json={"ids": ids[2:4]}).json
    assert taken == {"claimed": [ids[3]], "unavailable": [ids[2]]}
    over = rep.post("/api/v1/pools/trial_pool/claim", json={"ids": ids[4:7]})
    assert over.status_code == 409 and over.json["limit"] == "max_held"  # 3 held + 3 > 5
    # returns: a reason from the pool's list, own records only
    url = "/api/v1/pools/trial_pool/return"
    assert rep.post(url, json={"ids": ids[:1]}).status_code == 422
    bad = rep.post(url, json={"ids": ids[:1], "reason": "bored"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "reason"
    assert rep.post(url, json={"ids": [ids[3]], "reason": "other"}).status_code == 404
    back = rep.post(url, json={"ids": ids[:2], "reason": "unreachable"})
    assert back.status_code == 200
    assert rep.get(f"/api/v1/records/lead/{ids[0]}").status_code == 404
    waiting = {r["id"]: r["return_reason"] for r in rep.get(f"{url[:-7]}/records").json["data"]}
    assert waiting[ids[0]] == "unreachable"
    # daily cap: 3 + 2 more claims today is 5; then 4 more passes 8
    assert rep.post("/api/v1/pools/trial_pool/claim", json={"ids": ids[:2]}).status_code == 200
    back = rep.post(url, json={"ids": ids[:3], "reason": "other"})
    capped = rep.post("/api/v1/pools/trial_pool/claim", json={"ids": ids[4:8]})
    assert capped.status_code == 409 and capped.json["limit"] == "daily_claims"
    # managers return anyone's records and move records between pools
    assert mgr.post(url, json={"ids": [ids[3]], "reason": "other"}).status_code == 200
    moved = mgr.post("/api/v1/pools/trial_pool/transfer", json={"ids": [ids[3]], "to": "lead_pool"})
    assert moved.json == {"transferred": [ids[3]], "pool": "lead_pool"}
    assert rep.post("/api/v1/pools/trial_pool/claim", json={"ids": [ids[3]]}).json[
        "unavailable"
    ] == [ids[3]]
    assert (
        rep.post(
            "/api/v1/pools/trial_pool/transfer", json={"ids": [ids[4]], "to": "lead_pool"}
        ).status_code
        == 403
    )
    state = env.runtime.tenant()
    log = state.system["pool_log"]
    with state.engine.connect() as conn:
        actions = [
            a
            for (a,) in conn.execute(
                select(log.c.action).where(log.c.record_id == ids[3]).order_by(log.c.id)
            )
        ]
    assert actions == ["return", "claim", "return", "transfer"]


def test_recycle_rules_warn_then_return_to_the_pool(pool_env):
    env = pool_env
    mgr_id, mgr = user(env, "mgr", ["sales_manager"])
    rep_id, rep = user(env, "rep1", ["sales_rep"], mgr_id)
    stale = rep.post("/api/v1/records/lead", json={"last_name": "Stale", "company": "S"}).json
    done = rep.post(
        "/api/v1/records/lead", json={"last_name": "Done", "company": "D", "status": "qualified"}
    ).json
    fresh = rep.post("/api/v1/records/lead", json={"last_name": "Fresh", "company": "F"}).json
    state = env.runtime.tenant()
    lead = state.tables["lead"]
    now = dt.datetime.now(dt.UTC)
    with state.write.begin() as conn:  # as if untouched for a while
        conn.execute(
            update(lead)
            .where(lead.c.id.in_([stale["id"], done["id"]]))
            .values(updated_at=now - dt.timedelta(days=28))
        )
    assert recycle_due(env.runtime, state, now) == {"recycled": 0, "warned": 1}
    assert recycle_due(env.runtime, state, now) == {"recycled": 0, "warned": 0}
    [warning] = rep.get("/api/v1/notifications").json["data"]
    assert warning["record_id"] == stale["id"] and "in 3 day(s)" in warning["title"]
    later = now + dt.timedelta(days=3)
    assert recycle_due(env.runtime, state, later) == {"recycled": 1, "warned": 0}
    assert rep.get(f"/api/v1/records/lead/{stale['id']}").status_code == 404
    assert rep.get(f"/api/v1/records/lead/{done['id']}").status_code == 200  # qualified: kept
    assert rep.get(f"/api/v1/records/lead/{fresh['id']}").status_code == 200
    pooled = {r["id"]: r for r in rep.get("/api/v1/pools/lead_pool/records").json["data"]}
    assert pooled[stale["id"]]["return_reason"] == "recycled: no_follow_up"
    for api in (rep, mgr):  # the owner and their manager hear of it
        titles = [n["title"] for n in api.get("/api/v1/notifications").json["data"]]
        assert f"Lead {stale['id']} went back to Lead pool" in titles
