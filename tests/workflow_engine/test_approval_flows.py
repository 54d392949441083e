"""Approval flow mechanics beyond the default app's: mode `all`, the owner's manager and a
user field as approvers, timeout escalation (scheduler), outcomes that move the stage,
the approval_decided automation trigger, and metadata errors with file:line."""

import datetime as dt
from pathlib import Path

import pytest

from metacrm.default_app import PACKAGE_DIR
from metacrm.metadata.compiler import load_and_compile
from metacrm.metadata.errors import MetadataInvalid
from metacrm.workflow_engine.approval_timeouts import escalate_due
from tests.conftest import _env_fixture, contact
from tests.workflow_engine.test_automations import user

PACK = Path(__file__).parent / "approval_pack"


@pytest.fixture
def desk_env(tmp_path, backend):
    yield from _env_fixture(tmp_path, backend, (PACK,))


def test_all_mode_timeout_escalation_and_decided_trigger(desk_env):
    env = desk_env
    boss_id, boss = user(env, "boss", ["sales_manager"])
    mia_id, mia = user(env, "mia", ["sales_manager"], boss_id)
    zoe_id, zoe = user(env, "zoe", [], boss_id)
    rob_id, rob = user(env, "rob", ["sales_rep"], mia_id)
    account = rob.post("/api/v1/records/account", json={"name": "Desk Co"}).json["id"]
    deal = rob.post(
        "/api/v1/records/opportunity",
        json={
            "name": "Desk",
            "account": account,
            "amount": 1200,
            "close_date": "2027-01-31",
            "reviewer": zoe_id,
            "primary_contact": contact(rob),
        },
    ).json
    url = f"/api/v1/records/opportunity/{deal['id']}"
    approval = rob.post(f"{url}/approvals", json={"flow": "deal_desk"}).json
    pending = {(t["user_id"], t["status"]) for t in approval["tasks"]}
    assert pending == {(mia_id, "pending"), (zoe_id, "pending")}  # owner's manager + field
    assert all(t["due_at"] for t in approval["tasks"])
    # mode all: one approval is not enough
    after_mia = mia.post(f"/api/v1/approvals/{approval['id']}/approve", json={}).json
    assert after_mia["status"] == "pending"
    # zoe lets it time out: the scheduler hands her task to her manager
    state = env.runtime.tenant()
    now = dt.datetime.now(dt.UTC)
    assert escalate_due(env.runtime, state, now) == 0  # not due yet
    assert escalate_due(env.runtime, state, now + dt.timedelta(hours=2)) == 1
    assert escalate_due(env.runtime, state, now + dt.timedelta(hours=3)) == 0
    detail = rob.get(f"/api/v1/approvals/{approval['id']}").json
    assert {(t["user_id"], t["status"], t["escalated_from"]) for t in detail["tasks"]} == {
        (mia_id, "approved", None),
        (zoe_id, "escalated", None),
        (boss_id, "pending", zoe_id),
    }
    assert detail["log"][-1]["action"] == "escalated"
    assert detail["log"][-1]["detail"] == {"from": zoe_id, "to": [boss_id]}
    assert zoe.post(f"/api/v1/approvals/{approval['id']}/approve", json={}).status_code == 403
    assert [a["id"] for a in boss.get("/api/v1/approvals?assigned=me").json["data"]] == [
        approval["id"]
    ]
    done = boss.post(f"/api/v1/approvals/{approval['id']}/approve", json={})
    assert done.json["status"] == "approved"
    record = rob.get(url).json
    assert record["stage"] == "proposal" and record["next_step"] == "send the proposal"
    stages = [s["stage"] for s in rob.get(f"{url}/stages").json["data"]]
    assert stages == ["prospecting", "proposal"]
    titles = [n["title"] for n in rob.get("/api/v1/notifications").json["data"]]
    assert "Desk approved" in titles and "Deal desk: approved" in titles
    log = rob.get(f"{url}/executions").json["data"]
    assert any(
        x["topic"] == "approval.decided" and "desk_approved" in (x["detail"] or "") for x in log
    )


def test_rejection_outcome_and_outcomes_that_fail_roll_back(desk_env):
    env = desk_env
    mia_id, mia = user(env, "mia", ["sales_manager"])
    rob_id, rob = user(env, "rob", ["sales_rep"], mia_id)
    account = rob.post("/api/v1/records/account", json={"name": "Desk Co"}).json["id"]
    deal = rob.post(
        "/api/v1/records/opportunity",
        json={
            "name": "NoDate",
            "account": account,
            "amount": 10,
            "primary_contact": contact(rob),
        },
    ).json
    url = f"/api/v1/records/opportunity/{deal['id']}"
    approval = rob.post(f"{url}/approvals", json={"flow": "deal_desk"}).json
    assert [t["user_id"] for t in approval["tasks"]] == [mia_id]  # no reviewer set
    # approving would move the deal to proposal, which needs a close date: refused whole
    refused = mia.post(f"/api/v1/approvals/{approval['id']}/approve", json={})
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "close_date"
    assert rob.get(f"/api/v1/approvals/{approval['id']}").json["status"] == "pending"
    assert rob.get(url).json["stage"] == "prospecting"
    rejected = mia.post(f"/api/v1/approvals/{approval['id']}/reject", json={"comment": "date?"})
    assert rejected.json["status"] == "rejected"
    assert rob.get(url).json["next_step"] == "rework: NoDate"
    # desk_approved listens for approvals only: the rejection ran no action
    notes = [x["detail"] or "" for x in rob.get(f"{url}/executions").json["data"]]
    assert not [n for n in notes if "desk_approved" in n]
    assert "Desk approved" not in [
        n["title"] for n in rob.get("/api/v1/notifications").json["data"]
    ]


def write_flow(tmp_path, text: str) -> Path:
    pkg = tmp_path / "bad"
    (pkg / "approvals").mkdir(parents=True, exist_ok=True)
    (pkg / "package.yaml").write_text("name: bad\nversion: 1.0.0\ndepends_on: [crm]\n")
    (pkg / "approvals" / "f.yaml").write_text(text)
    return pkg


def test_approval_metadata_errors_name_file_line_and_rule(tmp_path):
    pkg = write_flow(
        tmp_path,
        "name: f\nentity: opportunity\nentry: amount\nsteps:\n"
        "  - name: one\n    approvers: [{role: chief}, {manager: approver}]\n"
        "  - name: one\n    approvers: [{field: name}]\n    condition: name + 1\n"
        "on_approve: {stage: won, set: {code: \"'x'\"}}\n",
    )
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile([PACKAGE_DIR, pkg])
    text = str(exc.value)
    assert "approvals/f.yaml:6 steps[0].approvers[0].role: unknown role 'chief'" in text
    assert "f.yaml:6 steps[0].approvers[1].manager: `manager: approver` is for escalate_to" in text
    assert "f.yaml:7 steps[1].name: step 'one' is listed twice" in text
    assert "f.yaml:8 steps[1].approvers[0].field: 'name' is not a user field" in text
    assert "f.yaml:10 on_approve.stage: unknown stage: 'won'" in text
    assert "f.yaml:10 on_approve.set.code: 'code' is a auto_number field" in text
    pkg = write_flow(
        tmp_path,
        "name: f\nentity: opportunity\nentry: amount\nsteps:\n"
        "  - name: one\n    approvers: [{user: admin}]\n    escalate_to: [{role: sales_manager}]\n",
    )
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile([PACKAGE_DIR, pkg])
    assert "f.yaml:5 steps[0]: 'timeout_hours' is a dependency of 'escalate_to'" in str(exc.value)
    pkg = write_flow(
        tmp_path,
        "name: f\nentity: opportunity\nentry: amount\nsteps:\n"
        "  - name: one\n    approvers: [{user: admin}]\n    condition: name\n",
    )
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile([PACKAGE_DIR, pkg])
    text = str(exc.value)
    assert "f.yaml:3 entry: a condition must be true or false" in text
    assert "f.yaml:7 steps[0].condition: a condition must be true or false" in text
