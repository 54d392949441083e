"""Expressions at work through the API: defaults, formulas, rollups, rules, filter=."""

import datetime as dt

import pytest
from sqlalchemy import event


@pytest.fixture
def acct(rules_env):
    api = rules_env.api
    return {
        "retail": api.post(
            "/api/v1/records/account", json={"name": "Shop", "industry": "retail"}
        ).json["id"],
        "rival": api.post(
            "/api/v1/records/account", json={"name": "Rival", "type": "competitor"}
        ).json["id"],
    }


def test_defaults_and_formulas(rules_env, acct):
    api = rules_env.api
    deal = api.post(
        "/api/v1/records/deal",
        json={"name": "D", "account": acct["retail"], "amount": 5000, "qty": 3, "discount": 10},
    )
    assert deal.status_code == 201, deal.json
    rec = deal.json
    assert rec["total"] == "13500.00"  # stored formula, computed on write
    assert rec["size"] == "large" and rec["industry"] == "retail"  # virtual, computed in SQL
    assert rec["close_date"] == (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    assert rec["days_left"] in (29, 30, 31)  # today() follows the tenant timezone
    updated = api.patch(f"/api/v1/records/deal/{rec['id']}", json={"qty": 1}).json
    assert updated["total"] == "4500.00" and updated["size"] == "small"  # recomputed on every write
    assert (
        api.patch(f"/api/v1/records/deal/{rec['id']}", json={"total": 1}).status_code == 422
    )  # computed field
    assert api.get(f"/api/v1/records/deal/{rec['id']}").json["total"] == "4500.00"


def test_validation_rules_name_the_rule(rules_env, acct):
    api = rules_env.api
    r = api.post(
        "/api/v1/records/deal", json={"name": "D", "discount": 60, "account": acct["rival"]}
    )
    assert r.status_code == 422
    assert sorted(e["rule"] for e in r.json["errors"]) == ["discount_cap", "no_competitors"]
    assert "Discounts above 50% are not allowed" in [e["message"] for e in r.json["errors"]]
    zh = api.post(
        "/api/v1/records/deal",
        json={"name": "D", "discount": 60},
        headers={"Accept-Language": "zh-CN"},
    )
    assert zh.json["errors"][0]["message"] == "折扣不能超过 50%"
    # a rule on an empty field passes (SQL CHECK semantics): no discount, no account
    assert api.post("/api/v1/records/deal", json={"name": "D"}).status_code == 201
    ok = api.post("/api/v1/records/deal", json={"name": "D", "discount": 10}).json
    r = api.patch(f"/api/v1/records/deal/{ok['id']}", json={"discount": 70})
    assert r.status_code == 422 and r.json["errors"][0]["rule"] == "discount_cap"


def test_visible_if_and_required_if_on_write(rules_env):
    api = rules_env.api
    hidden = api.post(
        "/api/v1/records/deal", json={"name": "D", "discount": 5, "discount_reason": "friend"}
    )
    assert hidden.status_code == 422 and hidden.json["errors"][0]["field"] == "discount_reason"
    assert "visible_if" in hidden.json["errors"][0]["message"]
    shown = api.post(
        "/api/v1/records/deal", json={"name": "D", "discount": 30, "discount_reason": "volume"}
    )
    assert shown.status_code == 201
    lost = api.patch(f"/api/v1/records/deal/{shown.json['id']}", json={"stage": "lost"})
    assert lost.status_code == 422 and lost.json["errors"] == [
        {"field": "loss_reason", "message": "is required when stage = 'lost'"}
    ]
    lost = api.patch(
        f"/api/v1/records/deal/{shown.json['id']}", json={"stage": "lost", "loss_reason": "price"}
    )
    assert lost.status_code == 200


def test_rollups(rules_env, acct):
    api = rules_env.api
    shop = acct["retail"]
    api.post(
        "/api/v1/records/deal",
        json=[
            {"name": "A", "account": shop, "amount": 100, "stage": "won"},
            {"name": "B", "account": shop, "amount": 200, "stage": "won"},
            {"name": "C", "account": shop, "amount": 400, "stage": "open"},
        ],
    )
    account = api.get(f"/api/v1/records/account/{shop}").json
    assert account["won_total"] == "300.00" and account["deal_count"] == 3
    rows = api.get("/api/v1/records/account", query_string={"filter": "won_total > 250"}).json[
        "data"
    ]
    assert [r["id"] for r in rows] == [shop]
    assert api.get("/api/v1/records/account", query_string={"sort": "won_total"}).status_code == 400


def test_filter_parameter(rules_env, acct):
    api = rules_env.api
    api.post(
        "/api/v1/records/deal",
        json=[
            {"name": "Alpha", "account": acct["retail"], "amount": 100, "qty": 2},
            {"name": "Beta", "amount": 50},
            {"name": "Gamma", "amount": 20000},
        ],
    )

    def names(flt, **extra):
        r = api.get("/api/v1/records/deal", query_string={"filter": flt, "sort": "name", **extra})
        assert r.status_code == 200, r.json
        return [x["name"] for x in r.json["data"]]

    assert names("total > 100") == ["Alpha", "Gamma"]
    assert names("account.industry = 'retail'") == ["Alpha"]
    assert names("account.industry is null and amount < 1000") == ["Beta"]
    assert names("size = 'large' or starts_with(lower(name), 'be')") == ["Beta", "Gamma"]
    assert names("name in ['Alpha', 'Gamma'] and not (amount > 10000)") == ["Alpha"]
    assert names("days_between(today(), close_date) >= 29") == ["Alpha", "Beta", "Gamma"]
    assert names("total > 100", limit="1") == ["Alpha"]
    bad = api.get("/api/v1/records/deal", query_string={"filter": "amout > 1"})
    assert bad.status_code == 400 and bad.json["errors"][0]["param"] == "filter"
    assert "unknown field 'amout'" in bad.json["detail"] and bad.json["errors"][0]["column"] == 1
    assert api.get("/api/v1/records/deal", query_string={"filter": "amount"}).status_code == 400


INJECTIONS = [
    "name = 'x' or 1=1 --'",
    "name = 'x''; DROP TABLE deal; --'",
    "name = 'x\\'; DROP TABLE deal; --'",
    'name = "a" union select * from _users',
    "1; DELETE FROM deal",
    "name = 'Robert'); DROP TABLE deal;--'",
    "lower(name) = 'x' or '1'='1'",
    "__import__('os').system('id')",
    "name.__class__ = 'x'",
]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_filter_injection_never_reaches_sql_as_text(rules_env, attack):
    api = rules_env.api
    api.post("/api/v1/records/deal", json={"name": "Alpha"})
    statements = []
    engine = rules_env.engine()
    listener = lambda conn, cursor, statement, params, context, many: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        r = api.get("/api/v1/records/deal", query_string={"filter": attack})
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert r.status_code in (200, 400), r.data  # a syntax error or a plain comparison, never a 500
    for statement in statements:
        for fragment in ("DROP", "DELETE", "union", "1=1", "Robert", "system"):
            assert fragment not in statement
    assert api.get("/api/v1/records/deal").json["data"][0]["name"] == "Alpha"  # table intact


def test_today_follows_each_tenants_timezone(env):
    from zoneinfo import ZoneInfo

    from metacrm.platform.access import auth
    from tests.conftest import Api

    runtime = env.runtime
    results = {}
    for tenant, zone in (("east", "Pacific/Kiritimati"), ("west", "Pacific/Pago_Pago")):
        state = runtime.tenants.create(tenant, timezone=zone)
        admin = auth.create_user(state, "admin", "admin-password", is_admin=True)
        api = Api(env.app.test_client(), auth.create_token(state, admin), tenant)
        field = {"name": "opened_on", "type": "date", "default_expression": "today()"}
        assert api.post("/api/v1/meta/entities/lead/fields", json=field).status_code == 201
        lead = api.post("/api/v1/records/lead", json={"last_name": "L", "company": "C"}).json
        results[tenant] = lead["opened_on"]
        assert lead["opened_on"] == dt.datetime.now(ZoneInfo(zone)).date().isoformat()
    assert results["east"] > results["west"]  # 25 hours apart: never the same date
    with pytest.raises(ValueError, match="unknown timezone"):
        runtime.tenants.create("mars", timezone="Mars/Olympus")


def test_clock_calls_are_found_in_the_ast_through_other_formulas(tmp_path):
    """Which virtual fields read today()/now() decides whether list queries may be cached."""
    from metacrm.metadata import load_and_compile
    from metacrm.platform.records.computed import clock_calls
    from tests.metadata.helpers import write_package

    fields = {
        "a": "{type: date}",
        "today_count": "{type: integer}",
        "due": '{type: formula, result_type: date, expression: "if(a is null,today(),a)"}',
        "through": '{type: formula, result_type: date, expression: "due"}',
        "plain": '{type: formula, result_type: integer, expression: "today_count + 1"}',
        "stamp": '{type: formula, result_type: datetime, expression: "coalesce(null,now())"}',
    }
    body = "\n".join(f"  {k}: {v}" for k, v in fields.items())
    pkg = write_package(
        tmp_path,
        "clocks",
        files={"entities/clock.yaml": f"name: clock\nfields:\n{body}\n"},
        depends_on=(),
    )
    model = load_and_compile([pkg])
    entity = model.entities["clock"]
    assert clock_calls(model, entity, ["due"]) == {"today"}
    assert clock_calls(model, entity, ["through"]) == {"today"}  # via the formula it reads
    assert clock_calls(model, entity, ["plain"]) == set()  # a field named today_count
    assert clock_calls(model, entity, ["stamp", "plain"]) == {"now"}


def test_field_conditions_are_what_a_save_would_evaluate(rules_env):
    """What the form's live round trip asks: visible_if and required_if for typed values,
    half-typed ones counting as empty."""
    from metacrm.platform.access.context import Context
    from metacrm.platform.records.service import RecordService

    rt = rules_env.runtime
    svc = RecordService(rules_env.state(), Context.system("default", None), rt.pm, rt.registry)
    start = svc.field_conditions("deal", {"name": "D"})
    assert start["visible"]["discount_reason"] is False and start["required"]["name"] is True
    assert start["required"]["loss_reason"] is False
    typed = svc.field_conditions("deal", {"discount": "25", "stage": "lost"})
    assert typed["visible"]["discount_reason"] is True and typed["required"]["loss_reason"]
    assert svc.field_conditions("deal", {"discount": "2x"})["visible"]["discount_reason"] is False
