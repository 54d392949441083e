"""Stage pipelines on the write path: entry requirements, entry rules and allowed
transitions, enforced on create, PATCH and bulk alike (422 naming what is unmet)."""


def opportunity(api, **fields):
    account = api.post("/api/v1/records/account", json={"name": "Pipeline Co"}).json["id"]
    r = api.post("/api/v1/records/opportunity", json={"name": "Deal", "account": account, **fields})
    assert r.status_code == 201, r.json
    return r.json


def test_moving_a_record_enforces_the_entry_requirements(env):
    api = env.api
    deal = opportunity(api)
    url = f"/api/v1/records/opportunity/{deal['id']}"
    r = api.patch(url, json={"stage": "proposal"})
    assert r.status_code == 422
    assert sorted((e["field"], e["message"], e["rule"]) for e in r.json["errors"]) == [
        ("amount", "is required to enter stage 'proposal'", "sales.proposal"),
        ("close_date", "is required to enter stage 'proposal'", "sales.proposal"),
    ]
    r = api.patch(url, json={"stage": "proposal", "amount": 0, "close_date": "2026-12-31"})
    assert r.status_code == 422 and r.json["errors"] == [
        {
            "field": "stage",
            "message": "A proposal needs a positive amount",
            "rule": "sales.proposal.1",
        }
    ]
    zh = api.patch(
        url,
        json={"stage": "proposal", "amount": 0, "close_date": "2026-12-31"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert zh.json["errors"][0]["message"] == "报价金额必须大于零"
    r = api.patch(url, json={"stage": "proposal", "amount": 5000, "close_date": "2026-12-31"})
    assert r.status_code == 200 and r.json["stage"] == "proposal"
    # a record already in a stage keeps it: only moves are checked
    assert api.patch(url, json={"next_step": "call"}).status_code == 200


def test_allowed_transitions_and_lost_reasons(env):
    api = env.api
    deal = opportunity(api, amount=100)
    url = f"/api/v1/records/opportunity/{deal['id']}"
    r = api.patch(url, json={"stage": "closed_lost"})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "lost_reason"
    assert api.patch(url, json={"stage": "closed_lost", "lost_reason": "price"}).status_code == 200
    r = api.patch(url, json={"stage": "negotiation", "close_date": "2027-01-31"})
    assert r.status_code == 422 and r.json["errors"] == [
        {
            "field": "stage",
            "message": "cannot move from 'closed_lost' to 'negotiation' (allowed: prospecting, qualification)",
            "rule": "sales.closed_lost.transitions",
        }
    ]
    assert api.patch(url, json={"stage": "prospecting"}).status_code == 200  # reopened
    assert api.patch(url, json={"stage": "closed_won"}).status_code == 200
    r = api.patch(url, json={"stage": "prospecting"})
    assert r.status_code == 422 and "(allowed: none)" in r.json["errors"][0]["message"]


def test_create_and_bulk_create_enforce_the_stage_too(env):
    api = env.api
    account = api.post("/api/v1/records/account", json={"name": "Bulk Co"}).json["id"]
    r = api.post(
        "/api/v1/records/opportunity",
        json=[
            {"name": "ok", "account": account},
            {"name": "bad", "account": account, "stage": "negotiation"},
        ],
    )
    assert r.status_code == 422
    assert {(e["index"], e["field"]) for e in r.json["errors"]} == {
        (1, "amount"),
        (1, "close_date"),
    }
    assert api.get("/api/v1/records/opportunity").json["data"] == []  # all or nothing
