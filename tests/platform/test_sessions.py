"""Browser sessions: login with CSRF, session-authenticated API calls, throttling, logout."""


def csrf(client) -> str:
    return client.get("/login").json["csrf_token"]


def login(client, username="admin", password="admin-password", token=None, **extra):
    return client.post(
        "/login",
        json={"username": username, "password": password, **extra},
        headers={"X-CSRFToken": token or csrf(client)},
    )


def test_login_session_and_csrf(env):
    client = env.app.test_client()
    assert (
        client.post("/login", json={"username": "admin", "password": "admin-password"}).status_code
        == 400
    )  # no CSRF token
    r = login(client)
    assert r.status_code == 200 and r.json["user"]["username"] == "admin"
    token = r.json["csrf_token"]
    assert client.get("/api/v1/records/account").status_code == 200  # the session authenticates
    no_csrf = client.post("/api/v1/records/account", json={"name": "A"})
    assert no_csrf.status_code == 400 and no_csrf.mimetype == "application/problem+json"
    assert "CSRF" in no_csrf.json["detail"]
    created = client.post(
        "/api/v1/records/account", json={"name": "A"}, headers={"X-CSRFToken": token}
    )
    assert created.status_code == 201 and created.json["created_by"] == 1
    assert client.get("/api/v1/records/account", headers={"X-Tenant": "other"}).status_code == 401
    assert client.post("/logout", headers={"X-CSRFToken": token}).status_code == 204
    assert client.get("/api/v1/records/account").status_code == 401


def test_bearer_clients_need_no_csrf(env):
    assert env.api.post("/api/v1/records/account", json={"name": "A"}).status_code == 201


def test_wrong_passwords_are_throttled(env):
    client = env.app.test_client()
    token = csrf(client)
    assert login(client, "nobody", "whatever-pw", token).status_code == 401
    for _ in range(4):
        assert login(client, "admin", "wrong-password", token).status_code == 401
    blocked = login(client, "admin", "admin-password", token)  # right password, but throttled now
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    other = env.app.test_client()
    assert login(other, "admin", "admin-password").status_code == 429  # per user, across clients
    events = [e["event"] for e in env.api.get("/api/v1/admin/audit-log").json["data"]]
    assert events.count("login.failed") == 5


def test_inactive_users_and_unknown_tenants_cannot_log_in(env):
    client = env.app.test_client()
    env.api.patch("/api/v1/admin/users/2", json={"is_active": False})
    assert login(client, "rep", "rep-password").status_code == 401
    assert login(client, tenant="nowhere").status_code == 401
    assert login(client).status_code == 200
