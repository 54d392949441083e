"""The designer's automation editor: a new automation built from forms (a stage trigger,
a condition, set and notify actions, one added with its button), saved and then run by
a stage move; its recent runs list what it did and an action's failure; a package's
automation is edited (its assignment rules keep their shape); bad input is refused."""

from tests.screens.conftest import current_form
from tests.screens.test_designer import csrf, session

NEW = "/setup/entities/opportunity/automations/new"


def deal(env, stage="prospecting") -> dict:
    account = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    contact = env.api.post(
        "/api/v1/records/contact", json={"last_name": "Li", "account": account}
    ).json["id"]
    body = {"name": "D", "account": account, "primary_contact": contact}
    made = env.api.post(
        "/api/v1/records/opportunity",
        json={**body, "amount": 5000, "close_date": "2027-01-01"},
    )
    assert made.status_code == 201, made.json
    return made.json


def test_build_an_automation_from_forms_and_see_its_runs(site):
    env, _ = site
    admin = session(env)
    token = csrf(admin, NEW)
    form = {
        "csrf_token": token,
        "name": "won_handover",
        "label": "Won: hand over",
        "enabled": "true",
        "on": "stage_changed",
        "trigger_to": "negotiation",
        "condition": "amount > 1000",
        "add_action": "set",
    }
    added = admin.post(NEW, data=form)  # the button adds a blank action, saves nothing
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and 'data-action="set"' in html
    assert "won_handover" not in env.state().model.automations
    form.update(
        {
            "action": ["0", "1"],
            "kind.0": "set",
            "values.0": "next_step = 'Hand over to delivery'",
            "kind.1": "notify",
            "to.1": "owner",
            "message.1": "Negotiation started",
            "message_zh.1": "进入谈判",
        }
    )
    del form["add_action"]
    saved = admin.post(NEW, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    automation = env.state().model.automations["won_handover"]
    assert [a.kind for a in automation.actions] == ["set", "notify"]

    record = deal(env)
    moved = env.api.patch(
        f"/api/v1/records/opportunity/{record['id']}",
        json={"stage": "negotiation", "version": record["version"]},
    )
    assert moved.status_code == 200, moved.json
    assert env.api.get(f"/api/v1/records/opportunity/{record['id']}").json["next_step"] == (
        "Hand over to delivery"
    )
    page = admin.get("/setup/automations/won_handover", headers={"Accept": "text/html"})
    runs = page.get_data(as_text=True).split("data-runs")[1]
    assert 'data-run="ok"' in runs and "next_step" in runs

    # an action that fails at run time shows as a failed run
    path = "/setup/automations/won_handover"
    form = current_form(admin, path)
    form["csrf_token"] = [csrf(admin, path)]
    form["trigger_to"] = ["proposal"]
    form["action"] = ["0", "1", "2"]
    form.update({"kind.2": ["create"], "create_entity.2": ["contact"], "values.2": ["email = 'x'"]})
    assert admin.post(path, data=form).status_code == 302
    second = deal(env)
    env.api.patch(
        f"/api/v1/records/opportunity/{second['id']}",
        json={"stage": "proposal", "version": second["version"]},
    )
    runs = admin.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-run="error"' in runs.split("data-runs")[1]
    record_page = admin.get(f"/app/opportunity/{second['id']}", headers={"Accept": "text/html"})
    assert "An automation failed" in record_page.get_data(as_text=True)  # on its timeline


def test_edit_a_package_automation_and_refusals(site):
    env, _ = site
    admin = session(env)
    path = "/setup/automations/ticket_dispatch"
    form = current_form(admin, path)
    assert form["on"] == ["created"]
    assert "type = 'billing' -> role:finance" in form["rules.0"][0]
    form["csrf_token"] = [csrf(admin, path)]
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]
    bad = {**form, "condition": ["status = "], "rules.0": ["no arrow here"]}
    refused = admin.post(path, data=bad)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="e-action.0"' in html
    bad["rules.0"] = form["rules.0"]
    refused = admin.post(path, data=bad)
    assert refused.status_code == 422 and 'id="e-condition"' in refused.get_data(as_text=True)
    assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before
    form["remove_action.2"] = ["true"]  # no notice to the owner any more
    assert admin.post(path, data=form).status_code == 302
    automation = env.state().model.automations["ticket_dispatch"]
    assert [a.kind for a in automation.actions] == ["assign", "set"]
    assert automation.actions[0].rules[0].when == "type = 'billing'"
