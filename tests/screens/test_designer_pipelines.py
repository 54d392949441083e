"""The designer's pipeline editor: stages relabelled, reordered, added (the stage field
gains the option in the same change) and removed (refused while records are in it);
entry rules and required fields that then refuse a sales rep's stage move; errors shown
beside the stage they are about, nothing applied."""

from tests.conftest import user
from tests.screens.conftest import current_form
from tests.screens.test_designer import csrf, session

PATH = "/setup/pipelines/sales"


def test_add_a_stage_with_an_entry_rule_that_then_refuses_a_move(site):
    env, _ = site
    admin = session(env)
    form = current_form(admin, PATH)
    assert form["order"][:2] == ["prospecting", "qualification"]
    form["csrf_token"] = [csrf(admin, PATH)]
    form.update(
        {
            "new_stage": ["legal_review"],
            "new_label": ["Legal review"],
            "new_label_zh": ["法务审核"],
            "new_category": ["open"],
            "new_probability": ["85"],
            "new_before": ["closed_won"],
        }
    )
    preview = admin.post(PATH, data={**form, "preview": "1"})
    assert preview.status_code == 200
    text = preview.get_data(as_text=True)
    assert "legal_review" in text and "data-diff" in text
    assert "legal_review" not in [s.name for s in env.state().model.pipelines["sales"].stages]
    saved = admin.post(PATH, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    sales = env.state().model.pipelines["sales"]
    names = [s.name for s in sales.stages]
    assert names.index("legal_review") == names.index("closed_won") - 1
    stage_field = env.state().model.entities["opportunity"].fields["stage"]
    option = {o.value: dict(o.label) for o in stage_field.spec.options}["legal_review"]
    assert option == {"en": "Legal review", "zh-CN": "法务审核"}

    # the new stage gets an entry rule; a rep's move into it is refused with its message
    form = current_form(admin, PATH)
    form["csrf_token"] = [csrf(admin, PATH)]
    form["rule.legal_review"] = ["amount >= 1000"]
    form["rule_message.legal_review"] = ["Legal reviews deals of 1000 or more"]
    form["rule_message_zh.legal_review"] = ["法务只审核 1000 以上的商机"]
    form["requires.legal_review"] = ["amount", "close_date"]
    assert admin.post(PATH, data=form).status_code == 302
    user(env, "rita", ["sales_rep"])
    rita = session(env, "rita", "rita-password")
    account = rita.post(
        "/api/v1/records/account", json={"name": "Acme"}, headers=rita_headers(rita)
    ).json["id"]
    deal = {"name": "Small", "account": account, "amount": 10, "close_date": "2027-01-01"}
    made = rita.post("/api/v1/records/opportunity", json=deal, headers=rita_headers(rita))
    assert made.status_code == 201, made.json
    moved = rita.patch(
        f"/api/v1/records/opportunity/{made.json['id']}",
        json={"stage": "legal_review", "version": made.json["version"]},
        headers=rita_headers(rita),
    )
    assert moved.status_code == 422
    assert "Legal reviews deals of 1000 or more" in str(moved.json)


def rita_headers(client) -> dict:
    return {"X-CSRFToken": client.get("/login").json["csrf_token"]}


def test_bad_stage_settings_are_named_beside_the_stage_and_nothing_changes(site):
    env, _ = site
    admin = session(env)
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]
    form = current_form(admin, PATH)
    form["csrf_token"] = [csrf(admin, PATH)]
    form["rule.proposal"] = ["amount >", "amount > 0"]
    form["rule_message.proposal"] = ["Broken", "A proposal needs a positive amount"]
    form["probability.negotiation"] = ["150"]
    form["new_stage"] = ["Bad Name"]
    form["new_label"] = ["Bad"]
    refused = admin.post(PATH, data=form)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="e-probability.negotiation"' in html
    assert 'id="e-new_stage"' in html
    form["probability.negotiation"] = ["75"]
    form["new_stage"] = [""]
    form["new_label"] = [""]
    refused = admin.post(PATH, data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="e-rule.proposal"' in html
    assert "column" in html  # the expression error says where
    account = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    env.api.post("/api/v1/records/opportunity", json={"name": "D", "account": account})
    form["rule.proposal"] = ["amount > 0"]
    form["rule_message.proposal"] = ["A proposal needs a positive amount"]
    form["remove.prospecting"] = ["true"]
    refused = admin.post(PATH, data=form)
    assert refused.status_code == 422
    assert "1 records are in this stage" in refused.get_data(as_text=True)
    assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before


def test_saving_a_pipeline_keeps_its_stage_options_colors_and_deactivation(site):
    """Relabelling a stage rewrites the stage field's options: the others keep their
    color and an option no longer offered stays so."""
    env, _ = site

    def options():
        fields = env.api.get("/api/v1/meta/entities/opportunity").json["fields"]
        stage = next(f for f in fields if f["name"] == "stage")
        return {o["value"]: o for o in stage["options"]}

    before = options()
    changed = [
        {**o, "active": o["value"] != "closed_lost", "color": o["color"] or "#2563eb"}
        for o in before.values()
    ]
    env.runtime.tenants.update_overlay(
        "default",
        lambda o: {**o, "extend": {"opportunity": {"modify": {"stage": {"options": changed}}}}},
    )
    admin = session(env)
    form = current_form(admin, PATH)
    form["csrf_token"] = [csrf(admin, PATH)]
    form["label.negotiation"] = ["Haggling"]
    assert admin.post(PATH, data=form).status_code == 302
    after = options()
    assert after["negotiation"]["label"]["en"] == "Haggling"
    assert after["closed_lost"]["active"] is False
    assert all(o["color"] for o in after.values())
