"""Automations from metadata, run from the outbox (inline here): triggers, conditions,
set / create / notify actions, the execution log, the loop guard, metadata errors."""

from pathlib import Path

import pytest

from metacrm.default_app import PACKAGE_DIR
from metacrm.metadata.compiler import load_and_compile
from metacrm.metadata.errors import MetadataInvalid
from tests.conftest import _env_fixture, contact, user  # noqa: F401 (user: imported by other tests)

PACK = Path(__file__).parent / "automation_pack"


@pytest.fixture
def auto_env(tmp_path, backend):
    yield from _env_fixture(tmp_path, backend, (PACK,))


def test_stage_changes_notify_and_set_fields(auto_env):
    env = auto_env
    mgr_id, mgr = user(env, "mgr", ["sales_manager"])
    rep_id, rep = user(env, "rep1", ["sales_rep"], mgr_id)
    account = rep.post("/api/v1/records/account", json={"name": "Big Co"}).json["id"]
    deal = rep.post(
        "/api/v1/records/opportunity",
        json={
            "name": "Big",
            "account": account,
            "amount": 250000,
            "close_date": "2026-12-31",
            "primary_contact": contact(rep),
        },
    ).json
    url = f"/api/v1/records/opportunity/{deal['id']}"
    assert rep.patch(url, json={"stage": "negotiation"}).status_code == 200
    inbox = mgr.get("/api/v1/notifications").json["data"]
    assert [(n["title"], n["record_id"], n["source"]) for n in inbox] == [
        ("Big deal in negotiation", deal["id"], "automation:big_deal_alert")
    ]
    assert rep.get("/api/v1/notifications").json["data"] == []  # only the manager's
    assert mgr.post(f"/api/v1/notifications/{inbox[0]['id']}/read").status_code == 204
    assert mgr.get("/api/v1/notifications", query_string={"unread": "true"}).json["data"] == []
    assert rep.post(f"/api/v1/notifications/{inbox[0]['id']}/read").status_code == 404
    won = rep.patch(url, json={"stage": "closed_won"})
    assert won.status_code == 200
    after = rep.get(url).json
    assert after["next_step"] == "Hand over to account management"
    assert after["probability"] == "100.00"
    assert [n["source"] for n in rep.get("/api/v1/notifications").json["data"]] == [
        "automation:won_deal_handover"
    ]
    log = rep.get(f"{url}/executions").json["data"]
    notes = [x["detail"] for x in log if x["handler"] == "automations" and x["detail"]]
    assert any("won_deal_handover: set next_step, probability; notified 1" in n for n in notes)
    assert any("big_deal_alert: notified 1" in n for n in notes)


def test_conditions_field_changes_and_created_records(auto_env):
    env = auto_env
    api = env.api
    account = api.post(
        "/api/v1/records/account", json={"name": "Small Co", "industry": "retail"}
    ).json["id"]
    deal = api.post(
        "/api/v1/records/opportunity",
        json={
            "name": "Small",
            "account": account,
            "amount": 500,
            "close_date": "2026-12-31",
            "primary_contact": contact(api),
        },
    ).json
    url = f"/api/v1/records/opportunity/{deal['id']}"
    assert api.patch(url, json={"stage": "negotiation"}).status_code == 200
    assert api.get("/api/v1/notifications").json["data"] == []  # below 100k: condition false
    # the pack's automation: a changed close date on a retail account's deal logs a contact
    api.patch(url, json={"close_date": "2027-01-15"})
    contacts = api.get("/api/v1/records/contact", query_string={"account": account}).json["data"]
    assert [(c["last_name"], c["title"]) for c in contacts] == [("Small", "Close date moved")]
    api.patch(url, json={"next_step": "x"})  # not a watched field: nothing new
    again = api.get("/api/v1/records/contact", query_string={"account": account}).json["data"]
    assert len(again) == 1
    log = api.get(f"{url}/executions").json["data"]
    assert any(x["detail"] and "big_deal_alert: condition not met" in x["detail"] for x in log)


def test_automation_metadata_errors_name_file_line_and_rule(tmp_path):
    pkg = tmp_path / "bad"
    (pkg / "automations").mkdir(parents=True)
    (pkg / "package.yaml").write_text("name: bad\nversion: 1.0.0\ndepends_on: [crm]\n")
    (pkg / "automations" / "a.yaml").write_text(
        "name: a\nentity: opportunity\ntrigger: {on: stage_changed, to: [nowhere]}\n"
        "actions:\n  - set: {code: \"'x'\"}\n  - notify: {to: account, message: hi}\n"
    )
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile([PACKAGE_DIR, pkg])
    text = str(exc.value)
    assert "automations/a.yaml:3 trigger.to[0]: unknown stage 'nowhere'" in text
    assert "automations/a.yaml:5 actions[0].set.code: 'code' is a auto_number field" in text
    assert "a.yaml:6 actions[1].notify.to: 'account' is not owner, manager or a user field" in text
    (pkg / "automations" / "a.yaml").write_text(
        "name: a\nentity: opportunity\ntrigger: {on: created}\ncondition: amount + 1\n"
        "actions:\n  - set: {next_step: '42'}\n"
    )
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile([PACKAGE_DIR, pkg])
    text = str(exc.value)
    assert "a.yaml:4 condition: a condition must be true or false" in text
    assert "a.yaml:6 actions[0].set.next_step: the result must be text" in text
    (pkg / "automations" / "a.yaml").write_text(
        "name: a\nentity: opportunity\ntrigger: {on: created, fields: [amount]}\n"
        "actions:\n  - set: {next_step: \"'x'\"}\n"
    )
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile([PACKAGE_DIR, pkg])
    assert "a.yaml:3 trigger" in str(exc.value)


def test_idle_stage_alerts_reach_the_owner_once_per_visit(auto_env):
    import datetime as dt

    from metacrm.workflow_engine.idle_alerts import check_idle

    env = auto_env
    rep_id, rep = user(env, "rep1", ["sales_rep"])
    account = rep.post("/api/v1/records/account", json={"name": "Idle Co"}).json["id"]
    deal = rep.post(
        "/api/v1/records/opportunity",
        json={
            "name": "Sleepy",
            "account": account,
            "amount": 50,
            "close_date": "2026-12-31",
            "primary_contact": contact(rep),
        },
    ).json
    url = f"/api/v1/records/opportunity/{deal['id']}"
    assert rep.patch(url, json={"stage": "negotiation"}).status_code == 200
    state = env.runtime.tenant()
    now = dt.datetime.now(dt.UTC)
    assert check_idle(state, now + dt.timedelta(days=13)) == 0  # not idle long enough
    later = now + dt.timedelta(days=15)
    assert check_idle(state, later) == 1
    [notice] = rep.get("/api/v1/notifications").json["data"]
    assert notice["title"] == "Opportunity idle in Negotiation"
    assert notice["body"] == "'Sleepy' has been in Negotiation for over 14 days"
    assert notice["source"] == "idle:sales.negotiation"
    assert check_idle(state, later + dt.timedelta(minutes=2)) == 0  # once per visit
    rep.patch(url, json={"stage": "proposal"})
    rep.patch(url, json={"stage": "negotiation"})  # a new visit: may alert again later
    assert check_idle(state, later + dt.timedelta(days=31)) == 1
