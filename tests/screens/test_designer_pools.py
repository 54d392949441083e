"""The designer's pool editor: limits for members and per role, return reasons and a
recycle rule, saved and then enforced by the pool (a rep over the daily cap is refused);
bad numbers are refused beside their box with nothing applied."""

from tests.conftest import user
from tests.screens.conftest import current_form
from tests.screens.test_designer import csrf, session

PATH = "/setup/pools/lead_pool"


def test_limits_reasons_and_a_recycle_rule(site):
    env, _ = site
    admin = session(env)
    form = current_form(admin, PATH)
    assert form["max_held"] == ["50"] and form["max_held.sales_manager"] == ["200"]
    assert "unreachable" in form["return_reasons"][0]
    form["csrf_token"] = [csrf(admin, PATH)]
    form["daily_claims"] = ["1"]
    form["return_reasons"] = ["unreachable\nbudget_frozen"]
    form["recycle_name.1"] = ["stale_new"]
    form["after_days.1"] = ["7"]
    form["recycle_condition.1"] = ["status = 'new'"]
    saved = admin.post(PATH, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    pool = env.state().model.pools["lead_pool"]
    assert pool.daily_claims == 1 and pool.return_reasons == ("unreachable", "budget_frozen")
    assert [r.name for r in pool.recycle] == ["no_follow_up", "stale_new"]
    assert pool.limits_by_role["sales_manager"]["max_held"] == 200  # kept as it was

    rows = [{"last_name": f"L{i}", "company": "C"} for i in range(2)]
    ids = [r["id"] for r in env.api.post("/api/v1/records/lead", json=rows).json["data"]]
    url = "/api/v1/pools/lead_pool"
    bad = env.api.post(f"{url}/return", json={"ids": ids, "reason": "other"})
    assert bad.status_code == 422  # "other" is no longer a reason
    back = env.api.post(f"{url}/return", json={"ids": ids, "reason": "budget_frozen"})
    assert back.status_code == 200, back.json
    _uid, rita = user(env, "rita", ["sales_rep"])
    assert rita.post(f"{url}/claim", json={"ids": ids[:1]}).json["claimed"] == ids[:1]
    over = rita.post(f"{url}/claim", json={"ids": ids[1:]})
    assert over.status_code == 409 and over.json["limit"] == "daily_claims"  # one a day now


def test_bad_numbers_are_refused(site):
    env, _ = site
    admin = session(env)
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]
    form = current_form(admin, PATH)
    form["csrf_token"] = [csrf(admin, PATH)]
    form["max_held"] = ["many"]
    form["recycle_name.1"] = ["x"]
    form["after_days.1"] = ["0"]
    form["members"] = ["", ""]
    refused = admin.post(PATH, data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    for control in ("max_held", "after_days.1", "members"):
        assert f'id="e-{control}"' in html, control
    assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before
