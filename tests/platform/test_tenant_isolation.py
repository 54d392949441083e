"""Tenant isolation: with tenant A's token, every route of the app, aimed at tenant B's
records, answers 401/403/404 and never shows B's data."""

import datetime as dt
import io
import re

from metacrm.platform.access import auth
from tests.conftest import Api

SECRET = "B-secret"


def test_every_route_refuses_other_tenants_data(env):
    runtime, app = env.runtime, env.app
    state_b = runtime.tenants.create("bravo")
    admin_b = auth.create_user(state_b, "admin", "admin-password", is_admin=True)
    api_b = Api(app.test_client(), auth.create_token(state_b, admin_b), "bravo")
    for i in range(30):  # B's ids run past anything A has
        api_b.post("/api/v1/records/account", json={"name": f"{SECRET} account {i}"})
    b_account = api_b.post("/api/v1/records/account", json={"name": f"{SECRET} target"}).json["id"]
    api_b.post(
        "/api/v1/records/contact", json={"last_name": f"{SECRET} contact", "account": b_account}
    )
    b_import = api_b.client.post(
        "/api/v1/import/account",
        data=f"name\n{SECRET} imported\n".encode(),
        query_string={"background": "true"},
        headers={"Authorization": f"Bearer {api_b.token}", "Content-Type": "text/csv"},
    ).json["id"]
    with state_b.write.begin() as conn:  # a notice in B's inbox: A must not read or mark it
        conn.execute(
            state_b.system["notifications"]
            .insert()
            .values(user_id=1, title=f"{SECRET} notice", created_at=dt.datetime.now(dt.UTC))
        )
    with state_b.write.begin() as conn:  # a pending approval in B: A must not see or decide it
        now = dt.datetime.now(dt.UTC)
        b_approval = conn.execute(
            state_b.system["approvals"]
            .insert()
            .values(
                flow="quote_discount",
                entity="account",
                record_id=b_account,
                status="pending",
                step=0,
                submitted_by=1,
                submitted_at=now,
            )
            .returning(state_b.system["approvals"].c.id)
        ).scalar_one()
        conn.execute(
            state_b.system["approval_tasks"]
            .insert()
            .values(approval_id=b_approval, step=0, user_id=1, status="pending", created_at=now)
        )
    for i in range(5):  # ids past A's users and tokens too
        body = {"username": f"filler{i}", "password": "filler-password"}
        filler = api_b.post("/api/v1/admin/users", json=body).json["id"]
        api_b.post(f"/api/v1/admin/users/{filler}/tokens", json={})
    b_user = api_b.post(
        "/api/v1/admin/users", json={"username": "bob", "password": "bob-password"}
    ).json["id"]
    b_token = api_b.post(f"/api/v1/admin/users/{b_user}/tokens", json={}).json["id"]
    api_b.post(
        "/api/v1/meta/entities/account/fields", json={"name": "b_only_field", "type": "text"}
    )

    b_file = api_b.post(  # B's file and comment: A must not read them by id
        "/api/v1/files",
        data={"file": (io.BytesIO(f"{SECRET} file".encode()), "b.txt")},
        content_type="multipart/form-data",
    ).json["id"]
    b_comment = api_b.post(
        f"/api/v1/records/account/{b_account}/comments", json={"body": f"{SECRET} comment"}
    ).json["id"]
    app.config["METACRM_BASE_DOMAIN"] = "crm.test"  # tenants as subdomains
    a = env.api  # admin of tenant "default"
    a.post("/api/v1/records/account", json={"name": "A account"})
    values = {
        "entity": "account",
        "record_id": b_account,
        "user_id": b_user,
        "head_id": b_user,
        "import_id": b_import,
        "approval_id": b_approval,
        "action": "approve",
        "pool": "public_pool",
        "notification_id": 1,  # B's first notification below
        "event_id": "00000000-0000-4000-8000-000000000000",
        "token_id": b_token,
        "field": "b_only_field",
        "file_id": b_file,
        "comment_id": b_comment,
    }
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(
            r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule.rule
        )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            body = (
                {"name": "x", "type": "text", "user": b_user, "ids": [b_account]}
                if method in ("POST", "PATCH")
                else None
            )
            for headers, expected in (
                ({"X-Tenant": "bravo"}, {401}),  # asking for B with A's token
                ({"Host": "bravo.crm.test"}, {401}),  # nor is B's host name
                ({}, None),  # A's own tenant, with B's ids
            ):
                response = getattr(a.client, method.lower())(
                    path, json=body, headers={"Authorization": f"Bearer {a.token}", **headers}
                )
                text = response.get_data(as_text=True)
                assert SECRET not in text, (method, path, headers)
                if (
                    response.status_code < 400
                ):  # an error may echo the requested name back; data never
                    assert "b_only_field" not in text, (method, path, headers)
                if expected:
                    assert response.status_code in expected, (method, path, response.status_code)
                elif any(
                    k in rule.rule
                    for k in ("record_id", "user_id", "token_id", "approval_id", "file_id")
                ):
                    assert response.status_code in (401, 403, 404, 422), (
                        method,
                        path,
                        response.status_code,
                        text,
                    )
                checked += 1
    assert checked > 50
    # and B's own token works in B, not in A
    assert api_b.get(f"/api/v1/records/account/{b_account}").json["name"] == f"{SECRET} target"
    wrong = app.test_client().get(
        "/api/v1/records/account",
        headers={"Authorization": f"Bearer {api_b.token}", "X-Tenant": "default"},
    )
    assert wrong.status_code == 401


def test_subdomain_names_the_tenant(env):
    state_b = env.runtime.tenants.create("bravo")
    token_b = auth.create_token(
        state_b, auth.create_user(state_b, "admin", "admin-password", is_admin=True)
    )
    env.app.config["METACRM_BASE_DOMAIN"] = "crm.test"
    client = env.app.test_client()
    ok = client.get(
        "/api/v1/records/account",
        headers={"Authorization": f"Bearer {token_b}", "Host": "bravo.crm.test"},
    )
    assert ok.status_code == 200
    other = client.get(
        "/api/v1/records/account",
        headers={"Authorization": f"Bearer {token_b}", "Host": "default.crm.test"},
    )
    assert other.status_code == 401
