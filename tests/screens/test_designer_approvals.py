"""The designer's approval flow editor: add a step for discounts over 30% approved by
the sales director, simulate it on a quote before saving (which steps run, who would
approve), save, and a rep's submit then runs it; bad steps are refused beside their
control with nothing applied; a new flow for another entity."""

import re

from tests.conftest import user
from tests.screens.conftest import current_form
from tests.screens.test_designer import csrf, session

PATH = "/setup/approvals/quote_discount"


def quote(env, client, discount: int) -> int:
    headers = {"X-CSRFToken": client.get("/login").json["csrf_token"]}
    account = client.post("/api/v1/records/account", json={"name": "Acme"}, headers=headers)
    made = client.post(
        "/api/v1/records/quote",
        json={
            "name": f"Q{discount}",
            "account": account.json["id"],
            "list_amount": 1000,
            "discount": discount,
        },
        headers=headers,
    )
    assert made.status_code == 201, made.json
    return made.json["id"]


def with_big_discount_step(form: dict) -> dict:
    form.update(
        {
            "step_name._new": ["big_discount"],
            "step_label._new": ["Big discount"],
            "step_label_zh._new": ["大额折扣"],
            "condition._new": ["discount > 30"],
            "approver._new": ["role:sales_director", ""],
            "mode._new": ["any"],
            "timeout._new": ["24"],
            "escalate._new": ["manager:submitter"],
        }
    )
    return form


def test_add_a_step_simulate_it_then_save_and_a_submit_runs_it(site):
    env, _ = site
    dora, _api = user(env, "dora", ["sales_director"])
    user(env, "max", ["sales_manager"])
    user(env, "rita", ["sales_rep"])
    rita = session(env, "rita", "rita-password")
    q35 = quote(env, rita, 35)
    admin = session(env)
    form = with_big_discount_step(current_form(admin, PATH))
    assert form["step"] == ["sales_manager", "director", "_new"]
    form["csrf_token"] = [csrf(admin, PATH)]
    form["simulate_record"] = [str(q35)]
    simulated = admin.post(PATH, data={**form, "simulate": "1"})
    html = simulated.get_data(as_text=True)
    assert simulated.status_code == 200, html
    assert 'data-enters="yes"' in html
    assert 'data-step="big_discount" data-applies="yes"' in html
    assert 'data-step="director" data-applies="no"' in html  # 35 is not over 40
    assert "dora" in html.split('data-step="big_discount"')[1].split("</li>")[0]
    assert "big_discount" not in [
        s.name for s in env.state().model.approvals["quote_discount"].steps
    ]

    typed = admin.post(
        PATH, data={**form, "simulate": "1", "simulate_record": "", "sim.discount": "10"}
    )
    assert 'data-enters="no"' in typed.get_data(as_text=True)  # the entry needs over 20%

    saved = admin.post(PATH, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    flow = env.state().model.approvals["quote_discount"]
    assert [s.name for s in flow.steps] == ["sales_manager", "director", "big_discount"]
    assert flow.steps[2].timeout_hours == 24

    headers = {"X-CSRFToken": rita.get("/login").json["csrf_token"]}
    submitted = rita.post(
        f"/api/v1/records/quote/{q35}/approvals", json={"flow": "quote_discount"}, headers=headers
    )
    assert submitted.status_code == 201, submitted.json
    approval = submitted.json["id"]
    max_ = session(env, "max", "max-password")
    headers = {"X-CSRFToken": max_.get("/login").json["csrf_token"]}
    approved = max_.post(f"/api/v1/approvals/{approval}/approve", json={}, headers=headers)
    assert approved.status_code in (200, 204), approved.json
    detail = env.api.get(f"/api/v1/approvals/{approval}").json
    open_tasks = [t for t in detail["tasks"] if t["status"] == "pending"]
    assert [t["step_name"] for t in open_tasks] == ["big_discount"]  # the director's skipped
    assert open_tasks[0]["user_id"] == dora


def test_bad_steps_are_refused_beside_their_control(site):
    env, _ = site
    admin = session(env)
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]
    form = with_big_discount_step(current_form(admin, PATH))
    form["csrf_token"] = [csrf(admin, PATH)]
    form["condition._new"] = ["discount >> 30"]
    form["approver._new"] = [""]
    form["escalate._new"] = [""]
    refused = admin.post(PATH, data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="e-approver._new"' in html
    form["approver._new"] = ["role:sales_director"]
    refused = admin.post(PATH, data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="e-condition._new"' in html, html[:3000]
    form["condition._new"] = ["discount > 30"]
    form["on_approve"] = ["status = 'approved'\nnot a line"]
    refused = admin.post(PATH, data=form)
    assert 'id="e-on_approve"' in refused.get_data(as_text=True)
    assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before


def new_flow_form(admin, path: str, name: str, label: str, step: str, approver: str) -> dict:
    """The new-flow page's form, filled with a name and one step, as a browser posts it."""
    form = current_form(admin, path)
    form["csrf_token"] = [csrf(admin, path)]
    form.update(
        {
            "name": [name],
            "label": [label],
            "step_name._new": [step],
            "approver._new": [approver],
        }
    )
    return form


def test_a_new_flow_for_contracts(site):
    env, _ = site
    admin = session(env)
    path = "/setup/entities/ticket/approvals/new"
    form = new_flow_form(admin, path, "refund", "Refund approval", "finance", "role:finance")
    saved = admin.post(path, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert saved.location.endswith("/setup/approvals/refund")
    flow = env.state().model.approvals["refund"]
    assert flow.entity == "ticket" and flow.steps[0].approvers[0].value == "finance"
    again = admin.post(path, data=form)
    assert again.status_code == 422 and "already taken" in again.get_data(as_text=True)


def test_an_outcome_moves_the_record_to_the_stage_chosen(site):
    """'When approved, move it to Negotiation': a menu of the pipeline's stages beside each
    outcome; the approval then moves the deal, and choosing nothing clears the move."""
    env, _ = site
    _, max_ = user(env, "max", ["sales_manager"])  # the approver (not the submitter)
    admin = session(env)
    path = "/setup/entities/opportunity/approvals/new"
    page = admin.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
    assert re.search(r'<option value="negotiation"\s*>Negotiation</option>', page)
    form = new_flow_form(admin, path, "deal_review", "Deal review", "manager", "user:max")
    form.update({"on_approve_stage": ["negotiation"], "on_reject_stage": ["closed_lost"]})
    saved = admin.post(path, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    flow = env.state().model.approvals["deal_review"]
    assert flow.on_approve.stage == "negotiation" and flow.on_reject.stage == "closed_lost"

    account = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    contact = env.api.post(
        "/api/v1/records/contact", json={"last_name": "Li", "account": account}
    ).json["id"]
    deal = env.api.post(  # what Negotiation requires, so the move can happen
        "/api/v1/records/opportunity",
        json={
            "name": "Big",
            "account": account,
            "amount": 50000,
            "close_date": "2026-12-31",
            "primary_contact": contact,
        },
    ).json["id"]
    submitted = env.api.post(
        f"/api/v1/records/opportunity/{deal}/approvals", json={"flow": "deal_review"}
    )
    assert submitted.status_code == 201, submitted.json
    approved = max_.post(f"/api/v1/approvals/{submitted.json['id']}/approve", json={})
    assert approved.status_code in (200, 204), approved.json
    env.run_outbox()
    assert env.api.get(f"/api/v1/records/opportunity/{deal}").json["stage"] == "negotiation"

    edit = "/setup/approvals/deal_review"
    form = current_form(admin, edit)
    assert form["on_approve_stage"] == ["negotiation"]  # shown as saved
    form["csrf_token"] = [csrf(admin, edit)]
    form["on_approve_stage"] = [""]
    assert admin.post(edit, data=form).status_code == 302
    assert env.state().model.approvals["deal_review"].on_approve.stage is None
    assert env.state().model.approvals["deal_review"].on_reject.stage == "closed_lost"
