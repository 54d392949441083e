"""The permission matrix through the HTTP API: roles x operations x own/team/other records."""

import pytest

from tests.conftest import Api


@pytest.fixture
def org(env):
    """mgr manages rep1 and rep2; rep3 reports to nobody; agent and am have their roles."""
    admin = env.api

    def user(name, roles, manager=None):
        body = {"username": name, "password": f"{name}-password", "roles": roles}
        if manager:
            body["manager"] = manager
        created = admin.post("/api/v1/admin/users", json=body)
        assert created.status_code == 201, created.json
        token = admin.post(
            f"/api/v1/admin/users/{created.json['id']}/tokens", json={"name": "t"}
        ).json["token"]
        return created.json["id"], Api(env.app.test_client(), token)

    ids, apis = {}, {}
    ids["mgr"], apis["mgr"] = user("mgr", ["sales_manager"])
    for name in ("rep1", "rep2"):
        ids[name], apis[name] = user(name, ["sales_rep"], ids["mgr"])
    ids["rep3"], apis["rep3"] = user("rep3", ["sales_rep"])
    ids["agent"], apis["agent"] = user("agent", ["service_agent"])
    ids["am"], apis["am"] = user("am", ["account_manager"])
    accounts = {}
    for name in ("rep1", "rep2", "rep3"):
        r = apis[name].post(
            "/api/v1/records/account", json={"name": f"{name} corp", "annual_revenue": 1000}
        )
        assert r.status_code == 422 and r.json["errors"] == [
            {"field": "annual_revenue", "message": "is read-only for your role"}
        ]
        r = apis[name].post("/api/v1/records/account", json={"name": f"{name} corp"})
        assert r.status_code == 201, r.json
        accounts[name] = r.json["id"]
    return ids, apis, accounts


READ = {  # who can GET whose account: rep=own, mgr=team, agent/am=all
    "rep1": {"rep1"},
    "rep2": {"rep2"},
    "rep3": {"rep3"},
    "mgr": {"rep1", "rep2"},
    "agent": {"rep1", "rep2", "rep3"},
    "am": {"rep1", "rep2", "rep3"},
}


@pytest.mark.parametrize("who", sorted(READ))
def test_read_scope_in_get_list_aggregate_and_filter(env, org, who):
    ids, apis, accounts = org
    api = apis[who]
    for owner, account_id in accounts.items():
        status = api.get(f"/api/v1/records/account/{account_id}").status_code
        assert status == (200 if owner in READ[who] else 404), (who, owner)
    listed = {r["name"] for r in api.get("/api/v1/records/account").json["data"]}
    assert listed == {f"{o} corp" for o in READ[who]}
    count = api.get("/api/v1/aggregate/account?measures=count").json["data"][0]["count"]
    assert count == len(READ[who])
    found = api.get("/api/v1/records/account", query_string={"filter": "name = 'rep3 corp'"}).json[
        "data"
    ]
    assert len(found) == (1 if "rep3" in READ[who] else 0)


UPDATE = {"rep1": {"rep1"}, "mgr": {"rep1", "rep2"}, "agent": set(), "am": {"rep1", "rep2", "rep3"}}


@pytest.mark.parametrize("who", sorted(UPDATE))
def test_update_scope(env, org, who):
    ids, apis, accounts = org
    for owner, account_id in accounts.items():
        r = apis[who].patch(
            f"/api/v1/records/account/{account_id}", json={"billing_city": f"by {who}"}
        )
        if owner in UPDATE[who]:
            assert r.status_code == 200, (who, owner, r.json)
        elif owner in READ[who]:
            assert r.status_code == 403, (who, owner)  # may read, may not change
        else:
            assert r.status_code == 404, (who, owner)


def test_delete_and_create_actions(env, org):
    ids, apis, accounts = org
    assert (
        apis["rep1"].delete(f"/api/v1/records/account/{accounts['rep1']}").status_code == 403
    )  # no delete on accounts
    assert (
        apis["mgr"].delete(f"/api/v1/records/account/{accounts['rep3']}").status_code == 404
    )  # outside the team
    assert apis["mgr"].delete(f"/api/v1/records/account/{accounts['rep2']}").status_code == 204
    assert apis["agent"].post("/api/v1/records/account", json={"name": "x"}).status_code == 403
    assert apis["agent"].get("/api/v1/records/opportunity").status_code == 404  # not granted at all
    assert apis["agent"].get("/api/v1/aggregate/opportunity").status_code == 404
    opp = apis["rep1"].post(
        "/api/v1/records/opportunity", json={"name": "D", "account": accounts["rep1"]}
    )
    assert opp.status_code == 201
    assert apis["rep2"].delete(f"/api/v1/records/opportunity/{opp.json['id']}").status_code == 404
    assert apis["rep1"].delete(f"/api/v1/records/opportunity/{opp.json['id']}").status_code == 204


def test_hidden_fields_never_appear_nor_can_be_used(env, org):
    ids, apis, accounts = org
    env.api.patch(f"/api/v1/records/account/{accounts['rep1']}", json={"annual_revenue": 5000})
    agent = apis["agent"]
    record = agent.get(f"/api/v1/records/account/{accounts['rep1']}").json
    assert "annual_revenue" not in record and record["name"] == "rep1 corp"
    assert all("annual_revenue" not in r for r in agent.get("/api/v1/records/account").json["data"])
    for query in (
        "annual_revenue=5000",
        "sort=annual_revenue",
        "fields=name,annual_revenue",
        "annual_revenue__gt=1",
    ):
        assert agent.get(f"/api/v1/records/account?{query}").status_code == 400, query
    r = agent.get("/api/v1/records/account", query_string={"filter": "annual_revenue > 1"})
    assert r.status_code == 400 and "unknown field 'annual_revenue'" in r.json["detail"]
    assert agent.get("/api/v1/aggregate/account?measures=sum:annual_revenue").status_code == 400
    r = agent.patch("/api/v1/records/contact/999", json={"annual_revenue": 1})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "annual_revenue"
    # the rep may read the field but not write it; the admin may do both
    rep = apis["rep1"]
    assert (
        rep.get(f"/api/v1/records/account/{accounts['rep1']}").json["annual_revenue"] == "5000.00"
    )
    r = rep.patch(f"/api/v1/records/account/{accounts['rep1']}", json={"annual_revenue": 1})
    assert r.status_code == 422 and r.json["errors"][0]["message"] == "is read-only for your role"


def test_shares_grant_read_or_write_on_one_record(env, org):
    ids, apis, accounts = org
    rep1, rep2 = apis["rep1"], apis["rep2"]
    target = accounts["rep1"]
    assert rep2.get(f"/api/v1/records/account/{target}").status_code == 404
    assert (
        rep2.post(
            f"/api/v1/records/account/{target}/shares", json={"user": ids["rep2"]}
        ).status_code
        == 404
    )  # cannot share what you cannot see
    assert (
        rep1.post(
            f"/api/v1/records/account/{target}/shares", json={"user": ids["rep2"], "access": "read"}
        ).status_code
        == 201
    )
    assert rep2.get(f"/api/v1/records/account/{target}").status_code == 200
    assert (
        rep2.patch(f"/api/v1/records/account/{target}", json={"billing_city": "x"}).status_code
        == 403
    )
    assert (
        rep1.post(
            f"/api/v1/records/account/{target}/shares",
            json={"user": ids["rep2"], "access": "write"},
        ).status_code
        == 201
    )
    assert (
        rep2.patch(f"/api/v1/records/account/{target}", json={"billing_city": "x"}).status_code
        == 200
    )
    assert {r["id"] for r in rep2.get("/api/v1/records/account").json["data"]} == {
        accounts["rep2"],
        target,
    }
    assert rep1.delete(f"/api/v1/records/account/{target}/shares/{ids['rep2']}").status_code == 204
    assert rep2.get(f"/api/v1/records/account/{target}").status_code == 404


def test_admin_endpoints_are_for_admins_and_validate(env, org):
    ids, apis, accounts = org
    assert apis["mgr"].get("/api/v1/admin/users").status_code == 403
    admin = env.api
    assert {u["username"] for u in admin.get("/api/v1/admin/users").json["data"]} >= {
        "mgr",
        "rep1",
        "agent",
    }
    assert (
        admin.post(
            "/api/v1/admin/users",
            json={"username": "x", "password": "long-password", "roles": ["pilot"]},
        ).status_code
        == 422
    )
    assert (
        admin.patch(f"/api/v1/admin/users/{ids['mgr']}", json={"manager": ids["rep1"]}).status_code
        == 422
    )  # a loop
    assert (
        admin.patch(f"/api/v1/admin/users/{ids['rep3']}", json={"manager": ids["mgr"]}).status_code
        == 200
    )
    assert (
        apis["mgr"].get(f"/api/v1/records/account/{accounts['rep3']}").status_code == 200
    )  # now in the team
    assert admin.patch(f"/api/v1/admin/users/{ids['rep3']}", json={"roles": []}).status_code == 200
    assert apis["rep3"].get("/api/v1/records/account").status_code == 404  # no role, no access
    token = admin.post(f"/api/v1/admin/users/{ids['agent']}/tokens", json={}).json
    agent2 = Api(env.app.test_client(), token["token"])
    assert agent2.get("/api/v1/records/account").status_code == 200
    assert admin.delete(f"/api/v1/admin/tokens/{token['id']}").status_code == 204
    assert agent2.get("/api/v1/records/account").status_code == 401  # revoked at once
    assert admin.delete(f"/api/v1/admin/tokens/{token['id']}").status_code == 404
    assert (
        admin.patch(f"/api/v1/admin/users/{ids['agent']}", json={"is_active": False}).status_code
        == 200
    )
    assert apis["agent"].get("/api/v1/records/account").status_code == 401


def test_metadata_shows_only_what_the_role_may_read(env, org):
    ids, apis, accounts = org
    agent = apis["agent"]
    names = {e["name"] for e in agent.get("/api/v1/meta/entities").json["data"]}
    assert names == {"account", "contact", "ticket"}  # service_agent works tickets
    fields = {f["name"] for f in agent.get("/api/v1/meta/entities/account").json["fields"]}
    assert "annual_revenue" not in fields and "name" in fields
    assert agent.get("/api/v1/meta/entities/opportunity").status_code == 404


def test_cli_user_create_with_roles_and_manager(tmp_path):
    from tests.platform.test_cli import run

    run(["init"], tmp_path)
    assert (
        "user 'boss' created with roles sales_manager"
        in run(
            ["user", "create", "boss", "--password", "boss-password", "--role", "sales_manager"],
            tmp_path,
        ).stdout
    )
    out = run(
        [
            "user",
            "create",
            "rep",
            "--password",
            "rep-password",
            "--role",
            "sales_rep",
            "--manager",
            "boss",
        ],
        tmp_path,
    ).stdout
    assert "with roles sales_rep" in out
    bad = run(
        ["user", "create", "x", "--password", "x-password", "--role", "pilot"],
        tmp_path,
        check=False,
    )
    assert bad.returncode != 0 and "unknown roles ['pilot']" in bad.stderr


def test_cannot_link_to_records_outside_the_scope(env, org):
    ids, apis, accounts = org
    r = apis["rep2"].post(
        "/api/v1/records/opportunity", json={"name": "D", "account": accounts["rep1"]}
    )
    assert r.status_code == 422
    assert r.json["errors"] == [
        {"field": "account", "message": f"no account record with id {accounts['rep1']}"}
    ]
    ok = apis["mgr"].post(
        "/api/v1/records/opportunity", json={"name": "D", "account": accounts["rep1"]}
    )
    assert ok.status_code == 201  # in the manager's team


def test_team_shares_reach_the_head_and_everyone_below(env, org):
    """rep3 shares with mgr's team: mgr, rep1 and rep2 see it; agent-less others do not."""
    ids, apis, accounts = org
    target = accounts["rep3"]
    url = f"/api/v1/records/account/{target}/shares"
    assert apis["rep1"].get(f"/api/v1/records/account/{target}").status_code == 404
    r = apis["rep3"].post(url, json={"team": ids["mgr"], "user": ids["rep1"]})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "user"
    assert apis["rep3"].post(url, json={"team": 999999}).status_code == 422
    assert apis["rep3"].post(url, json={"team": ids["mgr"]}).status_code == 201
    for who in ("mgr", "rep1", "rep2"):
        assert apis[who].get(f"/api/v1/records/account/{target}").status_code == 200, who
        listed = {r["id"] for r in apis[who].get("/api/v1/records/account").json["data"]}
        assert target in listed, who
        patched = apis[who].patch(f"/api/v1/records/account/{target}", json={"billing_city": "x"})
        assert patched.status_code == 403, who  # read access only
    assert apis["rep3"].get(url).json["data"] == [{"team": ids["mgr"], "access": "read"}]
    assert apis["rep3"].post(url, json={"team": ids["mgr"], "access": "write"}).status_code == 201
    r = apis["rep2"].patch(f"/api/v1/records/account/{target}", json={"billing_city": "y"})
    assert r.status_code == 200
    assert apis["rep3"].delete(f"{url}/team/{ids['mgr']}").status_code == 204
    assert apis["rep3"].delete(f"{url}/team/{ids['mgr']}").status_code == 404
    for who in ("mgr", "rep1", "rep2"):
        assert apis[who].get(f"/api/v1/records/account/{target}").status_code == 404, who
    events = [e["event"] for e in env.api.get("/api/v1/admin/audit-log").json["data"]]
    assert "record.unshared" in events and "record.shared" in events


def test_paths_through_references_only_reach_readable_records(env, org):
    """A filter on `account.industry` must not reveal an account the reader cannot see."""
    ids, apis, accounts = org
    admin, rep1 = env.api, apis["rep1"]
    secret = admin.post("/api/v1/records/account", json={"name": "Hidden", "industry": "retail"})
    secret_id = secret.json["id"]
    admin.post(f"/api/v1/records/account/{secret_id}/shares", json={"user": ids["rep1"]})
    deal = rep1.post(
        "/api/v1/records/opportunity", json={"name": "Linked", "account": secret_id}
    ).json["id"]
    query = {"filter": "account.industry = 'retail'"}
    listed = rep1.get("/api/v1/records/opportunity", query_string=query).json["data"]
    assert [d["id"] for d in listed] == [deal]  # shared: visible, so the path resolves
    assert (
        admin.delete(f"/api/v1/records/account/{secret_id}/shares/{ids['rep1']}").status_code == 204
    )
    assert rep1.get(f"/api/v1/records/opportunity/{deal}").status_code == 200  # still theirs
    assert rep1.get("/api/v1/records/opportunity", query_string=query).json["data"] == []
    nulls = {"filter": "account.industry is null"}
    assert [
        d["id"] for d in rep1.get("/api/v1/records/opportunity", query_string=nulls).json["data"]
    ] == [deal]
    counted = rep1.get("/api/v1/aggregate/opportunity", query_string=query).json["data"]
    assert counted == [{"count": 0}]
    assert (
        admin.get("/api/v1/records/opportunity", query_string=query).json["data"][0]["id"] == deal
    )


def test_revocations_and_role_changes_apply_to_the_very_next_request(env):
    """Tokens and access are cached per process, keyed by the tenant's auth epoch."""
    from metacrm.platform.access import auth
    from tests.conftest import Api

    admin = env.api
    uid = admin.post(
        "/api/v1/admin/users",
        json={"username": "seller", "password": "seller-password", "roles": ["sales_rep"]},
    ).json["id"]
    created = admin.post(f"/api/v1/admin/users/{uid}/tokens", json={})
    seller = Api(env.app.test_client(), created.json["token"])
    assert seller.get("/api/v1/records/account").status_code == 200
    assert seller.get("/api/v1/records/ticket").status_code == 200
    admin.patch(f"/api/v1/admin/users/{uid}", json={"roles": ["service_agent"]})
    assert seller.get("/api/v1/records/opportunity").status_code == 404  # at once: unknown to them
    admin.post("/api/v1/records/account", json={"name": "Mine?"})
    # a new report joins the manager's team at once
    admin.patch(f"/api/v1/admin/users/{uid}", json={"roles": ["sales_manager"]})
    before = len(seller.get("/api/v1/records/account").json["data"])
    report = admin.post(
        "/api/v1/admin/users",
        json={
            "username": "newrep",
            "password": "newrep-pass",
            "roles": ["sales_rep"],
            "manager": uid,
        },
    ).json["id"]
    rep = Api(env.app.test_client(), auth.create_token(env.state(), report))
    assert rep.post("/api/v1/records/account", json={"name": "R"}).status_code == 201
    assert len(seller.get("/api/v1/records/account").json["data"]) == before + 1
    admin.delete(f"/api/v1/admin/tokens/{created.json['id']}")
    assert seller.get("/api/v1/records/account").status_code == 401  # revoked: at once
