"""Giving records to another owner (a list's bulk "assign"): only records the caller may
change, all or nothing, with history and an update event like any change of owner."""

from tests.conftest import user


def test_assign_gives_records_to_a_user_with_history(env):
    rita_id, rita = user(env, "rita", ["sales_rep"])
    ids = [
        env.api.post("/api/v1/records/account", json={"name": n}).json["id"]
        for n in ("Acme", "Bolt", "Cora")
    ]
    answer = env.api.post("/api/v1/records/account/assign", json={"ids": ids[:2], "owner": rita_id})
    assert answer.status_code == 200, answer.json
    assert answer.json == {"owner": rita_id, "changed": ids[:2]}
    mine = {r["name"] for r in rita.get("/api/v1/records/account").json["data"]}
    assert mine == {"Acme", "Bolt"}  # a rep sees own records: the two given to her
    history = env.api.get(f"/api/v1/records/account/{ids[0]}/history").json["data"]
    assert any(h["field"] == "owner_id" and h["new"] == rita_id for h in history)
    again = env.api.post("/api/v1/records/account/assign", json={"ids": ids[:2], "owner": rita_id})
    assert again.json["changed"] == []  # already hers: nothing to change


def test_assign_is_all_or_nothing_and_only_what_the_caller_may_change(env):
    rita_id, rita = user(env, "rita", ["sales_rep"])
    sam_id, _ = user(env, "sam", ["sales_rep"])
    hers = rita.post("/api/v1/records/account", json={"name": "Rita's"}).json["id"]
    admins = env.api.post("/api/v1/records/account", json={"name": "Admin's"}).json["id"]
    refused = rita.post(
        "/api/v1/records/account/assign", json={"ids": [hers, admins], "owner": sam_id}
    )
    assert refused.status_code == 403
    assert str(admins) in refused.json["detail"]
    assert rita.get(f"/api/v1/records/account/{hers}").json["owner_id"] == rita_id  # unchanged


def test_assign_names_what_is_wrong(env):
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    bad = env.api.post("/api/v1/records/account/assign", json={"ids": "all", "owner": "rita"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json["errors"]} == {"ids", "owner"}
    nobody = env.api.post("/api/v1/records/account/assign", json={"ids": [acme], "owner": 9999})
    assert nobody.status_code == 422
    assert nobody.json["errors"] == [{"field": "owner", "message": "no such active user"}]
