"""Full-text search `q=` over search_fields: SQLite FTS5 and PostgreSQL tsvector."""


def names(api, entity, **params):
    r = api.get(f"/api/v1/records/{entity}", query_string={"sort": "id", **params})
    assert r.status_code == 200, r.json
    return [x.get("name") or x.get("company") for x in r.json["data"]]


def test_search_by_word_prefixes(env):
    api = env.api
    ids = {}
    for name in ("Acme Rockets", "Rocket Science Ltd", "Blue Ocean Trading", "Acme Foods"):
        ids[name] = api.post("/api/v1/records/account", json={"name": name}).json["id"]
    assert names(api, "account", q="rocket") == ["Acme Rockets", "Rocket Science Ltd"]
    assert names(api, "account", q="acme rock") == ["Acme Rockets"]  # every word must match
    assert names(api, "account", q="ACME") == ["Acme Rockets", "Acme Foods"]
    assert names(api, "account", q="acme", filter="name != 'Acme Foods'") == ["Acme Rockets"]
    api.patch(
        f"/api/v1/records/account/{ids['Blue Ocean Trading']}", json={"name": "Red Sea Trading"}
    )
    assert names(api, "account", q="ocean") == []  # re-indexed on update
    assert names(api, "account", q="sea") == ["Red Sea Trading"]
    api.delete(f"/api/v1/records/account/{ids['Acme Foods']}")
    assert names(api, "account", q="acme") == ["Acme Rockets"]
    page = api.get(
        "/api/v1/records/account", query_string={"q": "acme rocket science trading", "limit": 1}
    ).json
    assert page["data"] == []


def test_query_syntax_is_never_passed_through(env):
    api = env.api
    api.post("/api/v1/records/account", json={"name": "Acme Rockets"})
    for q in (
        'rocket" OR *',
        "NEAR(a b)",
        "acme -rockets",
        "'; drop table account; --",
        "*",
        '"',
        "a:b",
        "rocket & | !",
    ):
        r = api.get("/api/v1/records/account", query_string={"q": q})
        assert r.status_code == 200, (q, r.json)
    assert names(api, "account", q='rocket" *') == ["Acme Rockets"]  # only the words count
    assert names(api, "account", q="*") == ["Acme Rockets"]  # no words: no search condition


def test_search_fields_change_rebuilds_the_index(env):
    api = env.api
    api.post(
        "/api/v1/records/lead",
        json={"last_name": "Li", "company": "Northwind", "notes": "wants a quote for turbines"},
    )
    assert names(api, "lead", q="turbines") == []  # notes is not a search field yet
    _, plan = env.runtime.tenants.update_overlay(
        "default", lambda o: {"extend": {"lead": {"search_fields": ["company", "notes"]}}}
    )
    assert [(s.op, s.detail) for s in plan.steps] == [("search_index", "company, notes")]
    assert names(api, "lead", q="turbines") == ["Northwind"]


def test_search_obeys_record_scope_and_needs_search_fields(env):
    admin = env.api
    from tests.conftest import Api

    uid = admin.post(
        "/api/v1/admin/users",
        json={"username": "rep", "password": "rep-password2", "roles": ["sales_rep"]},
    )
    uid = (
        uid.json["id"]
        if uid.status_code == 201
        else admin.get("/api/v1/admin/users").json["data"][1]["id"]
    )
    admin.patch(f"/api/v1/admin/users/{uid}", json={"roles": ["sales_rep"]})
    rep = Api(
        env.app.test_client(),
        admin.post(f"/api/v1/admin/users/{uid}/tokens", json={}).json["token"],
    )
    admin.post("/api/v1/records/account", json={"name": "Acme Admin"})
    rep.post("/api/v1/records/account", json={"name": "Acme Rep"})
    assert names(rep, "account", q="acme") == ["Acme Rep"]
    assert len(names(admin, "account", q="acme")) == 2


def test_bulk_created_rows_are_indexed_and_stay_consistent(env):
    """Bulk inserts index in one statement (SQLite defers the trigger): search, update
    and delete must behave exactly as for rows created one by one."""
    api = env.api
    bodies = [{"name": f"Bulk Harbor {i}"} for i in range(5)] + [{"name": "Bulk Quay"}]
    created = api.post("/api/v1/records/account", json=bodies)
    assert created.status_code == 201, created.json
    ids = [r["id"] for r in created.json["data"]]
    assert names(api, "account", q="harbor") == [f"Bulk Harbor {i}" for i in range(5)]
    api.patch(f"/api/v1/records/account/{ids[0]}", json={"name": "Bulk Pier"})
    api.delete(f"/api/v1/records/account/{ids[1]}")
    assert names(api, "account", q="harbor") == [f"Bulk Harbor {i}" for i in (2, 3, 4)]
    assert names(api, "account", q="pier") == ["Bulk Pier"]
    single = api.post("/api/v1/records/account", json={"name": "Single Harbor"})
    assert single.status_code == 201  # the insert trigger is live again after the batch
    assert names(api, "account", q="harbor")[-1] == "Single Harbor"
    state = env.runtime.tenants.state("default")
    if state.engine.dialect.name == "sqlite":
        with state.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM _fts_deferred").scalar() == 0
            check = "INSERT INTO _fts_account(_fts_account) VALUES ('integrity-check')"
            conn.exec_driver_sql(check)  # raises if the index disagrees with the table


CHINESE = ["深圳星河科技有限公司", "北京星河传媒", "Acme 星河 Holdings", "河科大学", "上海云杉网络"]


def test_chinese_search_finds_any_substring_of_two_or_more_characters(env):
    api = env.api
    for name in CHINESE:
        assert api.post("/api/v1/records/account", json={"name": name}).status_code == 201
    assert names(api, "account", q="星河科技") == ["深圳星河科技有限公司"]
    assert names(api, "account", q="星河") == CHINESE[:3]
    assert names(api, "account", q="深圳星河") == ["深圳星河科技有限公司"]
    assert names(api, "account", q="科技有限") == ["深圳星河科技有限公司"]
    assert names(api, "account", q="河科") == ["深圳星河科技有限公司", "河科大学"]
    assert names(api, "account", q="星河科") == ["深圳星河科技有限公司"]  # a phrase, not any bigram
    assert names(api, "account", q="科星") == []
    assert names(api, "account", q="acme 星河") == ["Acme 星河 Holdings"]
    assert names(api, "account", q="星河acme") == ["Acme 星河 Holdings"]  # mixed text
    assert names(api, "account", q="ＡＣＭＥ") == ["Acme 星河 Holdings"]  # full-width folded
    assert names(api, "account", q="云杉 上海") == ["上海云杉网络"]


def test_chinese_search_follows_updates_deletes_and_bulk_inserts(env):
    api = env.api
    created = api.post("/api/v1/records/account", json=[{"name": n} for n in CHINESE])
    assert created.status_code == 201
    ids = [r["id"] for r in created.json["data"]]
    assert names(api, "account", q="云杉") == ["上海云杉网络"]
    api.patch(f"/api/v1/records/account/{ids[4]}", json={"name": "上海红杉资本"})
    assert names(api, "account", q="云杉") == []
    assert names(api, "account", q="红杉") == ["上海红杉资本"]
    api.delete(f"/api/v1/records/account/{ids[0]}")
    assert names(api, "account", q="星河") == CHINESE[1:3]
    state = env.runtime.tenants.state("default")
    if state.engine.dialect.name == "sqlite":
        with state.engine.connect() as conn:
            conn.exec_driver_sql(
                "INSERT INTO _fts_account(_fts_account) VALUES ('integrity-check')"
            )


SAMPLES = [
    "深圳星河科技有限公司",
    "Acme 星河 Holdings",
    "ＡＢＣ１２３ 全角",
    "東京タワー 株式会社",
    "삼성전자 Samsung",
    "星",
    "a星b河c",
    "",
    "Ünïcode Straße",
    "email@example.com 电话: 138-0013-8000",
]


def test_postgres_indexes_the_same_document_as_python(tmp_path):
    """search_document (Python, SQLite's triggers) and its PL/pgSQL twin agree."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from sqlalchemy import text

    from metacrm.platform.db.search_text import search_document
    from tests.conftest import build_env, drop_schemas

    env = build_env(tmp_path, "postgres")
    try:
        engine = env.engine()

        def pg(value):
            with engine.connect() as conn:
                return conn.execute(
                    text("SELECT metacrm_search_document(:v)"), {"v": value}
                ).scalar()

        for sample in SAMPLES:
            assert pg(sample) == search_document(sample), sample

        alphabet = st.sampled_from(list("星河科技有限公司タワー삼성 abcXYZ１２-.,'\"_"))

        @settings(max_examples=150, deadline=None)
        @given(st.text(alphabet, max_size=20))
        def agree(value):
            assert pg(value) == search_document(value)

        agree()
    finally:
        env.runtime.close()
        drop_schemas(env.settings)
