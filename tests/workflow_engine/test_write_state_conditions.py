"""is_new(), previous(f) and changed(f) in automations: they read the write that raised
the event (a create, or an update and the old values it logged), so a condition says
"when the amount more than doubles" without a helper field. Run through the outbox as in
production, on both databases."""


def automation(name: str, on: str, condition: str, next_step: str) -> dict:
    return {
        "name": name,
        "entity": "opportunity",
        "trigger": {"on": on},
        "condition": condition,
        "actions": [{"set": {"next_step": f"'{next_step}'"}}],
    }


def test_conditions_see_the_write_that_raised_the_event(env):
    rules = {
        "doubled": automation(
            "doubled", "updated", "changed(amount) and amount > previous(amount) * 2", "Re-quote"
        ),
        "slipped": automation(
            "slipped", "updated", "previous(close_date) < close_date", "Ask why it slipped"
        ),
        "welcome": automation("welcome", "created", "is_new() and not changed(amount)", "Call"),
    }
    env.runtime.tenants.update_overlay(
        "default", lambda o: {**o, "documents": {"automation": rules}}
    )
    api = env.api
    account = api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    deal = api.post(
        "/api/v1/records/opportunity",
        json={"name": "Fit-out", "account": account, "amount": "1000", "close_date": "2027-01-10"},
    ).json
    url = f"/api/v1/records/opportunity/{deal['id']}"

    def next_step():
        env.run_outbox()
        return api.get(url).json["next_step"]

    assert next_step() == "Call"  # created: is_new() holds, nothing "changed"
    api.patch(url, json={"amount": "1500"})
    assert next_step() == "Call"  # 1500 is not more than twice 1000
    api.patch(url, json={"amount": "3100.50"})
    assert next_step() == "Re-quote"  # previous(amount) is 1500, a decimal as stored
    api.patch(url, json={"close_date": "2027-01-05", "next_step": "-"})
    assert next_step() == "-"  # earlier, not later
    api.patch(url, json={"close_date": "2027-02-01"})
    assert next_step() == "Ask why it slipped"  # previous(close_date) is a date
    log = api.get(f"{url}/executions").json["data"]
    notes = " ".join(x["detail"] or "" for x in log if x["handler"] == "automations")
    assert "doubled: condition not met" in notes and "slipped: condition not met" in notes
