"""Field history, the recycle bin with restore, and the audit log."""


def test_field_history_of_audited_entities(env):
    api = env.api
    acct = api.post("/api/v1/records/account", json={"name": "Acme", "annual_revenue": 100}).json[
        "id"
    ]
    api.patch(
        f"/api/v1/records/account/{acct}", json={"annual_revenue": "250.50", "name": "Acme"}
    )  # name unchanged
    api.patch(f"/api/v1/records/account/{acct}", json={"industry": "retail"})
    history = api.get(f"/api/v1/records/account/{acct}/history").json["data"]
    assert [(h["operation"], h["field"], h["old"], h["new"]) for h in history] == [
        ("create", None, None, None),
        ("update", "annual_revenue", "100.00", "250.50"),
        ("update", "industry", None, "retail"),
    ]
    assert all(h["by"] == 1 and h["at"].endswith("Z") for h in history)
    memo = {"name": "memo", "label": "Memo", "fields": {"text": {"type": "text"}}}
    assert api.post("/api/v1/meta/entities", json=memo).status_code == 201  # not audited
    rid = api.post("/api/v1/records/memo", json={"text": "a"}).json["id"]
    api.patch(f"/api/v1/records/memo/{rid}", json={"text": "b"})
    assert api.get(f"/api/v1/records/memo/{rid}/history").json["data"] == []
    assert api.get("/api/v1/records/account/999/history").status_code == 404


def test_history_hides_fields_the_role_cannot_read(env):
    admin = env.api
    agent_id = admin.post(
        "/api/v1/admin/users",
        json={"username": "agent", "password": "agent-password", "roles": ["service_agent"]},
    ).json["id"]
    from tests.conftest import Api

    agent = Api(
        env.app.test_client(),
        admin.post(f"/api/v1/admin/users/{agent_id}/tokens", json={}).json["token"],
    )
    acct = admin.post("/api/v1/records/account", json={"name": "Acme", "annual_revenue": 1}).json[
        "id"
    ]
    admin.patch(f"/api/v1/records/account/{acct}", json={"annual_revenue": 2, "industry": "energy"})
    fields = [h["field"] for h in agent.get(f"/api/v1/records/account/{acct}/history").json["data"]]
    assert fields == [None, "industry"]


def test_recycle_bin_and_restore(env):
    api = env.api
    acct = api.post("/api/v1/records/account", json={"name": "Parent"}).json["id"]
    contact = api.post(
        "/api/v1/records/contact",
        json={"last_name": "C", "account": acct, "email": "c@example.com"},
    ).json["id"]
    assert api.delete(f"/api/v1/records/contact/{contact}").status_code == 204
    assert api.delete(f"/api/v1/records/account/{acct}").status_code == 204
    binned = api.get("/api/v1/recycle-bin/contact").json["data"]
    assert [r["id"] for r in binned] == [contact] and binned[0]["deleted_at"].endswith("Z")
    # its unique email is free again while it is deleted; a new contact takes it
    other = api.post(
        "/api/v1/records/contact", json={"last_name": "D", "email": "c@example.com"}
    ).json["id"]
    clash = api.post(f"/api/v1/records/contact/{contact}/restore")
    assert clash.status_code == 409 and "email" in clash.json["detail"]
    api.delete(f"/api/v1/records/contact/{other}")
    restored = api.post(f"/api/v1/records/contact/{contact}/restore")
    assert restored.status_code == 200 and restored.json["email"] == "c@example.com"
    assert api.get(f"/api/v1/records/contact/{contact}").status_code == 200
    assert (
        api.post(f"/api/v1/records/contact/{contact}/restore").status_code == 404
    )  # not in the bin any more
    ops = [
        h["operation"] for h in api.get(f"/api/v1/records/contact/{contact}/history").json["data"]
    ]
    assert ops == ["create", "delete", "restore"]


def test_recycle_bin_respects_roles(env):
    admin = env.api
    from tests.conftest import Api

    def user(name, roles):
        uid = admin.post(
            "/api/v1/admin/users",
            json={"username": name, "password": f"{name}-password", "roles": roles},
        ).json["id"]
        return uid, Api(
            env.app.test_client(),
            admin.post(f"/api/v1/admin/users/{uid}/tokens", json={}).json["token"],
        )

    _, rep1 = user("rep1", ["sales_rep"])
    _, rep2 = user("rep2", ["sales_rep"])
    acct = rep1.post("/api/v1/records/account", json={"name": "A"}).json["id"]
    deal = rep1.post("/api/v1/records/opportunity", json={"name": "D", "account": acct}).json["id"]
    assert rep1.delete(f"/api/v1/records/opportunity/{deal}").status_code == 204
    assert [r["id"] for r in rep1.get("/api/v1/recycle-bin/opportunity").json["data"]] == [deal]
    assert rep2.get("/api/v1/recycle-bin/opportunity").json["data"] == []
    assert rep2.post(f"/api/v1/records/opportunity/{deal}/restore").status_code == 404
    assert (
        rep1.get("/api/v1/recycle-bin/account").status_code == 403
    )  # reps may not delete accounts
    assert rep1.post(f"/api/v1/records/opportunity/{deal}/restore").status_code == 200


def test_audit_log_records_permission_changes(env):
    admin = env.api
    uid = admin.post(
        "/api/v1/admin/users",
        json={"username": "u", "password": "u-password", "roles": ["sales_rep"]},
    ).json["id"]
    admin.patch(
        f"/api/v1/admin/users/{uid}", json={"roles": ["sales_manager"], "password": "new-password"}
    )
    token = admin.post(f"/api/v1/admin/users/{uid}/tokens", json={}).json
    admin.delete(f"/api/v1/admin/tokens/{token['id']}")
    events = admin.get("/api/v1/admin/audit-log").json["data"]
    assert [e["event"] for e in events][:4] == [
        "token.revoked",
        "token.created",
        "user.updated",
        "user.created",
    ]
    updated = events[2]["detail"]
    assert (
        updated["changes"] == {"roles": ["sales_manager"], "password": "changed"}
        and updated["user"] == uid
    )
    assert all(e["actor"] == 1 for e in events[:4])
    assert env.user_api.get("/api/v1/admin/audit-log").status_code == 403
