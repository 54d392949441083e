"""Owner changes go through the record service: a pool claim, a return and an assignment
rule each bump the version, write field history and fire `field_changed: [owner_id]`."""

from pathlib import Path

import pytest

from tests.conftest import _env_fixture, env_with
from tests.workflow_engine.test_automations import user

PACK = Path(__file__).parent / "owner_pack"


@pytest.fixture
def owner_env(tmp_path, backend):
    yield from _env_fixture(tmp_path, backend, (PACK,))


def owner_history(api, rid):
    rows = api.get(f"/api/v1/records/lead/{rid}/history").json["data"]
    return [(r["old"], r["new"]) for r in rows if r["field"] == "owner_id"]


def test_a_pool_claim_fires_owner_automations_and_writes_history(owner_env):
    env = owner_env
    rep_id, rep = user(env, "rep1", ["sales_rep"])
    lead = env.api.post("/api/v1/records/lead", json={"last_name": "Li", "company": "C"}).json
    back = env.api.post(
        "/api/v1/pools/trial_pool/return", json={"ids": [lead["id"]], "reason": "other"}
    )
    assert back.status_code == 200
    pooled = env.api.get(f"/api/v1/records/lead/{lead['id']}").json
    assert pooled["owner_id"] is None and pooled["rating"] is None  # unowned: condition false
    claimed = rep.post("/api/v1/pools/trial_pool/claim", json={"ids": [lead["id"]]})
    assert claimed.json == {"claimed": [lead["id"]], "unavailable": []}
    after = env.api.get(f"/api/v1/records/lead/{lead['id']}").json
    assert after["owner_id"] == rep_id and after["rating"] == "warm"  # the automation ran
    assert after["version"] == pooled["version"] + 2  # the claim, then the automation's set
    admin_id = lead["owner_id"]
    assert owner_history(env.api, lead["id"]) == [(admin_id, None), (None, rep_id)]
    executions = env.api.get(f"/api/v1/records/lead/{lead['id']}/executions").json["data"]
    assert "owner_rating" in str(executions)


def test_an_assignment_rule_fires_owner_automations_and_writes_history(owner_env):
    env = owner_env
    rep_id, _ = user(env, "rep1", ["sales_rep"])
    lead = env.api.post(
        "/api/v1/records/lead", json={"last_name": "Wu", "company": "W", "source": "web"}
    ).json
    after = env.api.get(f"/api/v1/records/lead/{lead['id']}").json
    assert after["owner_id"] == rep_id and after["rating"] == "warm"
    assert owner_history(env.api, lead["id"]) == [(lead["owner_id"], rep_id)]


def test_owner_id_is_the_only_system_column_a_field_changed_trigger_takes(tmp_path):
    from tests.metadata.helpers import BASE, write_package
    from tests.metadata.test_compiler import errors_of

    pkg = write_package(
        tmp_path,
        "bad",
        files={
            "automations/a.yaml": "name: a\nentity: lead\ntrigger: {on: field_changed, fields: [created_by]}\n"
            "actions:\n  - set: {rating: \"'hot'\"}\n"
        },
    )
    assert errors_of(BASE, pkg) == [
        "bad/automations/a.yaml:3 trigger.fields[0]: unknown field 'created_by' of 'lead' (fields, or owner_id)"
    ]


def test_on_delete_set_null_is_a_change_automations_see(owner_env):
    api = owner_env.api
    parent = api.post("/api/v1/records/account", json={"name": "Parent"}).json["id"]
    child = api.post("/api/v1/records/account", json={"name": "Child", "parent": parent}).json
    assert api.delete(f"/api/v1/records/account/{parent}").status_code == 204
    after = api.get(f"/api/v1/records/account/{child['id']}").json
    assert after["parent"] is None and after["description"] == "parent account deleted"
    history = api.get(f"/api/v1/records/account/{child['id']}/history").json["data"]
    assert [(h["field"], h["old"], h["new"]) for h in history if h["field"] == "parent"] == [
        ("parent", parent, None)
    ]


def test_automations_may_write_read_only_fields_people_may_not(tmp_path, backend):
    from tests.metadata.helpers import write_package

    pack = write_package(
        tmp_path / "pkgs",
        "school",
        files={
            "entities/enrollment.yaml": "name: enrollment\nfields:\n  student: {type: text}\n"
            "  paid: {type: boolean}\n  paid_at: {type: date, read_only: true}\n"
            "  seats: {type: integer, min: 1}\n",
            "automations/stamp.yaml": "name: stamp\nentity: enrollment\n"
            "trigger: {on: field_changed, fields: [paid]}\ncondition: paid\n"
            "actions:\n  - set: {paid_at: 'today()'}\n",
            "automations/bad.yaml": "name: bad\nentity: enrollment\n"
            "trigger: {on: field_changed, fields: [student]}\ncondition: \"student = 'x'\"\n"
            "actions:\n  - set: {seats: '0'}\n",
        },
    )
    with env_with(tmp_path, backend, (pack,)) as env:
        api = env.api
        rid = api.post("/api/v1/records/enrollment", json={"student": "Li"}).json["id"]
        refused = api.patch(f"/api/v1/records/enrollment/{rid}", json={"paid_at": "2026-01-01"})
        assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "paid_at"
        api.patch(f"/api/v1/records/enrollment/{rid}", json={"paid": True})
        assert api.get(f"/api/v1/records/enrollment/{rid}").json["paid_at"] is not None
        # an action's error keeps every field's message
        api.patch(f"/api/v1/records/enrollment/{rid}", json={"student": "x"})
        log = api.get(f"/api/v1/records/enrollment/{rid}/executions").json["data"]
        errors = [x["detail"] for x in log if x["status"] == "error"]
        assert errors and "automation bad, action 1 (set):" in errors[0]
        assert "seats: Must be greater than or equal to 1." in errors[0]


def test_every_timestamp_has_one_rfc3339_form(owner_env):
    import re

    form = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
    api = owner_env.api
    lead = api.post("/api/v1/records/lead", json={"last_name": "Li", "company": "C"}).json
    api.post("/api/v1/pools/trial_pool/return", json={"ids": [lead["id"]], "reason": "other"})
    url = f"/api/v1/records/lead/{lead['id']}"
    stamps = [lead["created_at"], lead["updated_at"]]
    stamps += [h["at"] for h in api.get(f"{url}/history").json["data"]]
    stamps += [x["at"] for x in api.get(f"{url}/executions").json["data"]]
    stamps += [s["entered_at"] for s in api.get(f"{url}/stages").json["data"]]
    stamps += [e["at"] for e in api.get("/api/v1/admin/audit-log").json["data"]][:1]
    pooled = api.get("/api/v1/pools/trial_pool/records").json["data"]
    stamps += [r["in_pool_since"] for r in pooled]
    assert len(stamps) >= 6 and all(form.match(s) for s in stamps), stamps
