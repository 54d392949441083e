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


def test_wrong_passwords_are_throttled_per_user_and_address(env):
    client = env.app.test_client()
    token = csrf(client)
    assert login(client, "nobody", "whatever-pw", token).status_code == 401
    for _ in range(5):
        assert login(client, "admin", "wrong-password", token).status_code == 401
    blocked = login(client, "admin", "admin-password", token)  # right password, but throttled now
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    other = env.app.test_client()
    assert login(other, "admin", "admin-password").status_code == 429  # same user, same address
    assert login(other, "rep", "rep-password").status_code == 200  # the tenant is not locked
    away = env.app.test_client()  # the same user from another machine
    away_token = away.get("/login", environ_base={"REMOTE_ADDR": "203.0.113.9"}).json["csrf_token"]
    elsewhere = away.post(
        "/login",
        json={"username": "admin", "password": "admin-password"},
        headers={"X-CSRFToken": away_token},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert elsewhere.status_code == 200
    events = [e["event"] for e in env.api.get("/api/v1/admin/audit-log").json["data"]]
    assert events.count("login.failed") == 6


def test_one_address_guessing_many_users_is_throttled(env, monkeypatch):
    from metacrm.platform.api import sessions

    monkeypatch.setattr(sessions, "MAX_ADDRESS_FAILURES", 3)
    client = env.app.test_client()
    token = csrf(client)
    for name in ("ann", "bob", "cid"):
        assert login(client, name, "guess-password", token).status_code == 401
    assert login(client, "rep", "rep-password", token).status_code == 429


def test_an_unknown_user_costs_the_same_password_check(env, monkeypatch):
    from metacrm.platform.access import auth

    checked = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: checked.append(h) or real(h, p))
    client = env.app.test_client()
    token = csrf(client)
    assert login(client, "nobody", "whatever-pw", token).status_code == 401
    assert login(client, "admin", "wrong-password", token).status_code == 401
    assert len(checked) == 2 and all(h.startswith("$argon2") for h in checked)


def test_client_address_comes_from_trusted_proxies_only(tmp_path):
    from tests.conftest import build_env

    for proxies, expected in ((0, "10.0.0.1"), (1, "198.51.100.7")):
        env = build_env(tmp_path / str(proxies), "sqlite", trusted_proxies=proxies)
        client = env.app.test_client()
        base = {"REMOTE_ADDR": "10.0.0.1"}
        forwarded = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
        token = client.get("/login", environ_base=base, headers=forwarded).json["csrf_token"]
        r = client.post(
            "/login",
            json={"username": "admin", "password": "admin-password"},
            headers={"X-CSRFToken": token, "Referer": "https://localhost/", **forwarded},
            environ_base=base,
        )
        assert r.status_code == 200
        log = env.api.get("/api/v1/admin/audit-log").json["data"]
        assert [e["detail"]["ip"] for e in log if e["event"] == "login.succeeded"] == [expected]
        cookie = r.headers["Set-Cookie"]
        assert ("Secure" in cookie) is (proxies == 1)  # https as the proxy saw it
        env.runtime.close()


def test_session_cookie_is_secure_over_https(env):
    client = env.app.test_client()
    plain = login(client)
    assert "Secure" not in plain.headers["Set-Cookie"]
    secure = env.app.test_client()
    token = secure.get("/login", base_url="https://localhost").json["csrf_token"]
    r = secure.post(
        "/login",
        json={"username": "admin", "password": "admin-password"},
        headers={"X-CSRFToken": token, "Referer": "https://localhost/login"},
        base_url="https://localhost",
    )
    assert r.status_code == 200 and "Secure" in r.headers["Set-Cookie"]


def test_an_api_write_without_credentials_is_401_not_a_csrf_error(env):
    r = env.app.test_client().post("/api/v1/records/account", json={"name": "A"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_inactive_users_and_unknown_tenants_cannot_log_in(env):
    client = env.app.test_client()
    env.api.patch("/api/v1/admin/users/2", json={"is_active": False})
    assert login(client, "rep", "rep-password").status_code == 401
    assert login(client, tenant="nowhere").status_code == 401
    assert login(client).status_code == 200
