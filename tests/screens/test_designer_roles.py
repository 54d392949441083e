"""The designer's role matrix: an admin lets sales reps see every account (scope all)
and hides a field from them on one page; the rep's API and screens follow at once;
a new role; bad combinations are refused beside their row."""

from tests.conftest import user
from tests.screens.conftest import current_form
from tests.screens.test_designer import csrf, session

PATH = "/setup/roles/sales_rep"


def test_the_matrix_widens_a_scope_and_hides_a_field(site):
    env, _ = site
    other = {"name": "Someone else's", "website": "https://x.cn"}
    assert env.api.post("/api/v1/records/account", json=other).status_code == 201
    user(env, "rita", ["sales_rep"])
    rita = session(env, "rita", "rita-password")
    assert rita.get("/api/v1/records/account").json["data"] == []  # scope: own
    admin = session(env)
    form = current_form(admin, PATH)
    assert form["act.account"] == ["create", "read", "update"] and form["scope.account"] == ["own"]
    assert form["field.account.annual_revenue"] == ["read"]
    form["csrf_token"] = [csrf(admin, PATH)]
    form["scope.account"] = ["all"]
    form["field.account.website"] = ["none"]
    preview = admin.post(PATH, data={**form, "preview": "1"})
    assert preview.status_code == 200 and "scope: all" in preview.get_data(as_text=True)
    saved = admin.post(PATH, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    [account] = rita.get("/api/v1/records/account").json["data"]
    assert account["name"] == "Someone else's" and "website" not in account
    page = rita.get(f"/app/account/{account['id']}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "x.cn" not in page.get_data(as_text=True)
    assert rita.get("/setup/roles/sales_rep", headers={"Accept": "text/html"}).status_code == 403


def test_refusals_and_a_new_role(site):
    env, _ = site
    admin = session(env)
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]
    form = current_form(admin, PATH)
    form["csrf_token"] = [csrf(admin, PATH)]
    form["act.lead"] = ["update"]  # not read
    refused = admin.post(PATH, data=form)
    assert refused.status_code == 422 and 'id="e-act.lead"' in refused.get_data(as_text=True)
    assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before

    path = "/setup/roles/new"
    form = current_form(admin, path)
    form.update(
        {
            "csrf_token": [csrf(admin, path)],
            "name": ["auditor"],
            "label": ["Auditor"],
            "act.contract": ["read", "export"],
            "scope.contract": ["all"],
        }
    )
    saved = admin.post(path, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    role = env.state().model.roles["auditor"]
    assert "auditor" in str(role) and "contract" in str(role)
    made = env.api.post(
        "/api/v1/admin/users",
        json={"username": "ann", "password": "ann-password", "roles": ["auditor"]},
    )
    assert made.status_code == 201, made.json
    ann = session(env, "ann", "ann-password")
    assert ann.get("/api/v1/records/contract").status_code == 200
    assert ann.get("/api/v1/records/account").status_code == 404  # not even named
