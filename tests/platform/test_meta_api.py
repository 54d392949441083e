"""Meta API: custom fields and entities go live through the overlay, with no restart."""

from sqlalchemy import inspect


def test_add_field_migrates_and_the_next_get_shows_it(env):
    api = env.api
    response = api.post(
        "/api/v1/meta/entities/lead/fields",
        json={
            "name": "wechat",
            "type": "text",
            "label": {"en": "WeChat", "zh-CN": "微信"},
            "indexed": True,
        },
    )
    assert response.status_code == 201, response.json
    assert [s["op"] for s in response.json["plan"]["steps"]] == ["add_column", "add_index"]
    fields = {f["name"]: f for f in api.get("/api/v1/meta/entities/lead").json["fields"]}
    assert (
        fields["wechat"]["label"] == {"en": "WeChat", "zh-CN": "微信"}
        and fields["wechat"]["origin"] == "overlay"
    )
    lead = api.post(
        "/api/v1/records/lead", json={"last_name": "Li", "company": "C", "wechat": "li_wx"}
    )
    assert lead.status_code == 201 and lead.json["wechat"] == "li_wx"
    assert api.get("/api/v1/records/lead?wechat=li_wx").json["data"][0]["id"] == lead.json["id"]
    with env.engine().connect() as conn:
        assert "wechat" in [c["name"] for c in inspect(conn).get_columns("lead")]
    # another app on the same database (another worker process) sees it too
    from metacrm.platform.app import create_app

    other = create_app(env.settings)
    try:
        assert (
            "wechat" in other.extensions["metacrm"].tenant("default").model.entities["lead"].fields
        )
    finally:
        other.extensions["metacrm"].close()


def test_another_process_uses_a_new_field_on_its_very_next_request(env):
    """Read-your-writes across processes: no window in which the new field is unknown."""
    from metacrm.platform.app import create_app

    other = create_app(env.settings)
    try:
        client = other.test_client()
        headers = {"Authorization": f"Bearer {env.api.token}"}
        assert client.get("/api/v1/records/account", headers=headers).status_code == 200
        for i in range(3):  # each change is seen at once, not after a refresh interval
            added = env.api.post(
                "/api/v1/meta/entities/account/fields", json={"name": f"f{i}", "type": "text"}
            )
            assert added.status_code == 201, added.json
            created = client.post(
                "/api/v1/records/account",
                json={"name": f"Acme {i}", f"f{i}": "x"},
                headers=headers,
            )
            assert created.status_code == 201, created.json
            assert created.json[f"f{i}"] == "x"
    finally:
        other.extensions["metacrm"].close()


def test_bad_field_is_422_and_changes_nothing(env):
    api = env.api
    before = api.get("/api/v1/meta/entities").json["content_hash"]
    for body, where in (
        ({"name": "x", "type": "money"}, "extend.lead.fields.x.type"),
        ({"name": "id", "type": "text"}, "extend.lead.fields.id"),
        ({"name": "company", "type": "text"}, "extend.lead.fields.company"),
        ({"name": "ref", "type": "reference", "entity": "ghost"}, "extend.lead.fields.ref.entity"),
        ({"name": "opts", "type": "select", "options": []}, "extend.lead.fields.opts.options"),
    ):
        response = api.post("/api/v1/meta/entities/lead/fields", json=body)
        assert response.status_code == 422, (body, response.json)
        assert response.mimetype == "application/problem+json"
        assert response.json["errors"][0]["path"] == where, response.json
    assert api.post("/api/v1/meta/entities/lead/fields", json={"type": "text"}).status_code == 422
    assert (
        api.post(
            "/api/v1/meta/entities/ghost/fields", json={"name": "a", "type": "text"}
        ).status_code
        == 404
    )
    assert api.get("/api/v1/meta/entities").json["content_hash"] == before


def test_dry_run_shows_the_plan_without_applying(env):
    response = env.api.post(
        "/api/v1/meta/entities/lead/fields?dry_run=true", json={"name": "trial", "type": "integer"}
    )
    assert response.status_code == 200 and response.json["dry_run"] is True
    assert response.json["plan"]["steps"][0]["op"] == "add_column"
    assert "trial" not in {
        f["name"] for f in env.api.get("/api/v1/meta/entities/lead").json["fields"]
    }


def test_modify_base_field_and_overlay_field(env):
    api = env.api
    r = api.patch(
        "/api/v1/meta/entities/lead/fields/company",
        json={"label": "Organisation", "required": False},
    )
    assert r.status_code == 200, r.json
    assert (
        r.json["field"]["label"] == {"en": "Organisation"} and r.json["field"]["required"] is False
    )
    assert api.post("/api/v1/records/lead", json={"last_name": "NoCompany"}).status_code == 201
    r = api.patch("/api/v1/meta/entities/lead/fields/status", json={"options": ["new", "working"]})
    assert r.status_code == 422 and "not remove them" in r.json["errors"][0]["message"]
    r = api.patch("/api/v1/meta/entities/lead/fields/company", json={"type": "integer"})
    assert r.status_code == 422
    r = api.patch("/api/v1/meta/entities/lead/fields/company", json={"max_length": 500})
    assert r.status_code == 200 and r.json["field"]["max_length"] == 500
    # a field the tenant added can be changed, but not retyped; narrowing is refused by the plan
    api.post(
        "/api/v1/meta/entities/lead/fields", json={"name": "code", "type": "text", "max_length": 50}
    )
    assert (
        api.patch("/api/v1/meta/entities/lead/fields/code", json={"type": "integer"}).status_code
        == 422
    )
    r = api.patch("/api/v1/meta/entities/lead/fields/code", json={"max_length": 10})
    assert r.status_code == 409 and "narrows" in r.json["detail"]
    assert (
        api.patch("/api/v1/meta/entities/lead/fields/code", json={"max_length": 80}).status_code
        == 200
    )
    assert (
        api.patch("/api/v1/meta/entities/lead/fields/nope", json={"label": "x"}).status_code == 404
    )


def test_create_custom_entity(env):
    api = env.api
    body = {
        "name": "site_visit",
        "label": {"en": "Site visit", "zh-CN": "拜访"},
        "fields": {
            "subject": {"type": "text", "required": True},
            "account": {"type": "reference", "entity": "account"},
            "visited_on": {"type": "date"},
        },
    }
    r = api.post("/api/v1/meta/entities", json=body)
    assert r.status_code == 201, r.json
    assert [(s["op"], s["table"]) for s in r.json["plan"]["steps"]] == [
        ("create_table", "site_visit")
    ]
    acct = api.post("/api/v1/records/account", json={"name": "A"}).json["id"]
    visit = api.post(
        "/api/v1/records/site_visit",
        json={"subject": "Kickoff", "account": acct, "visited_on": "2026-11-01"},
    )
    assert visit.status_code == 201
    assert (
        api.post(
            "/api/v1/meta/entities/site_visit/fields", json={"name": "notes", "type": "long_text"}
        ).status_code
        == 201
    )
    assert api.post("/api/v1/meta/entities", json=body).status_code == 422  # already exists
    assert api.post("/api/v1/meta/entities", json={**body, "name": "lead"}).status_code == 422
    paths = api.get("/api/v1/openapi.json").json["paths"]
    assert "/records/site_visit" in paths


def test_only_admins_change_metadata(env):
    r = env.user_api.post("/api/v1/meta/entities/lead/fields", json={"name": "x", "type": "text"})
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    assert env.user_api.get("/api/v1/meta/entities").status_code == 200


def test_a_reference_field_says_it_is_indexed(env):
    r = env.api.post(
        "/api/v1/meta/entities/lead/fields",
        json={"name": "partner", "type": "reference", "entity": "account"},
    )
    assert r.status_code == 201 and "add_index" in [s["op"] for s in r.json["plan"]["steps"]]
    fields = {f["name"]: f for f in env.api.get("/api/v1/meta/entities/lead").json["fields"]}
    assert fields["partner"]["indexed"] is True


def test_an_entity_without_a_plural_gets_a_proper_english_one(env):
    body = {
        "name": "bench_opportunity",
        "label": {"en": "Bench opportunity", "zh-CN": "测试商机"},
        "fields": {"title": {"type": "text"}},
    }
    assert env.api.post("/api/v1/meta/entities", json=body).status_code == 201
    entity = env.api.get("/api/v1/meta/entities/bench_opportunity").json
    assert entity["plural"] == {"en": "Bench opportunities", "zh-CN": "测试商机"}


def test_the_version_check_survives_a_dropped_connection(env):
    """PostgreSQL keeps one connection per process for the per-request version check;
    when the server drops it, the next request opens another."""
    from sqlalchemy import text

    from metacrm.platform.tenancy.registry import VersionReader

    reader = VersionReader(env.engine())
    first = reader.read()
    if reader.dedicated:
        pid = reader.connection.info.backend_pid
        with env.engine().connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    assert reader.read() == first
    assert env.api.get("/api/v1/records/account").status_code == 200
    reader.close()


def test_a_stored_formula_added_later_is_computed_for_existing_rows(env, monkeypatch):
    from metacrm.platform.records import backfill as formula_backfill

    monkeypatch.setattr(formula_backfill, "BATCH", 1)  # every row its own batch
    api = env.api
    ids = [
        api.post("/api/v1/records/account", json={"name": n, "employees": e}).json["id"]
        for n, e in (("A", 10), ("B", None))
    ]
    body = {
        "name": "staff_label",
        "type": "formula",
        "stored": True,
        "result_type": "text",
        "expression": "if(employees is null, 'unknown', upper(name))",
    }
    r = api.post("/api/v1/meta/entities/account/fields", json=body)
    assert r.status_code == 201, r.json
    assert ("backfill_formula", "staff_label") in [
        (s["op"], s.get("name")) for s in r.json["plan"]["steps"]
    ]
    values = [api.get(f"/api/v1/records/account/{i}").json["staff_label"] for i in ids]
    assert values == ["A", "unknown"]


def test_stored_formulas_that_read_other_records_are_backfilled(env):
    """Through references and rollups, and through other stored formulas the same plan
    adds (whatever the order of its steps): the value the next save would store."""
    api = env.api
    acct = api.post("/api/v1/records/account", json={"name": "Acme"}).json
    other = api.post("/api/v1/records/account", json={"name": "Zed"}).json
    li = api.post("/api/v1/records/contact", json={"last_name": "Li", "account": acct["id"]}).json
    lone = api.post("/api/v1/records/contact", json={"last_name": "Wu"}).json
    for name, amount in (("big", 500), ("small", 100)):
        body = {"name": name, "account": acct["id"], "amount": amount}
        assert api.post("/api/v1/records/opportunity", json=body).status_code == 201
    rollup = {
        "name": "sum_amount",
        "type": "rollup",
        "entity": "opportunity",
        "via": "account",
        "function": "sum",
        "field": "amount",
    }
    assert api.post("/api/v1/meta/entities/account/fields", json=rollup).status_code == 201

    def add_both(overlay):  # one plan: the contact's formula reads the account's new one
        extend = overlay.setdefault("extend", {})
        extend.setdefault("contact", {}).setdefault("fields", {})["acct_label"] = {
            "type": "formula",
            "stored": True,
            "result_type": "text",
            "expression": "concat(account.name, ': ', account.pipeline_total)",
        }
        extend.setdefault("account", {}).setdefault("fields", {})["pipeline_total"] = {
            "type": "formula",
            "stored": True,
            "result_type": "decimal",
            "expression": "sum_amount * 2",
        }
        return overlay

    _, plan = env.runtime.tenants.update_overlay("default", add_both)
    steps = {(s.name, s.detail) for s in plan.steps if s.op == "backfill_formula"}
    assert steps == {
        ("acct_label", "computed for the existing rows"),
        ("pipeline_total", "computed for the existing rows"),
    }

    def get(entity, record, field):
        return api.get(f"/api/v1/records/{entity}/{record['id']}").json[field]

    assert float(get("account", acct, "pipeline_total")) == 1200
    assert float(get("account", other, "pipeline_total")) == 0
    backfilled = get("contact", li, "acct_label")
    assert backfilled.startswith("Acme: 1200.00")
    assert get("contact", lone, "acct_label") == ": "  # concat() skips what is empty
    # what the next save computes is what the backfill wrote
    api.patch(f"/api/v1/records/contact/{li['id']}", json={"title": "CEO"})
    assert get("contact", li, "acct_label") == backfilled
