"""Stage pipelines on the write path: entry requirements, entry rules and allowed
transitions, enforced on create, PATCH and bulk alike (422 naming what is unmet)."""

from tests.conftest import contact


def opportunity(api, **fields):
    account = api.post("/api/v1/records/account", json={"name": "Pipeline Co"}).json["id"]
    r = api.post("/api/v1/records/opportunity", json={"name": "Deal", "account": account, **fields})
    assert r.status_code == 201, r.json
    return r.json


def test_moving_a_record_enforces_the_entry_requirements(env):
    api = env.api
    deal = opportunity(api)
    url = f"/api/v1/records/opportunity/{deal['id']}"
    r = api.patch(url, json={"stage": "proposal"})
    assert r.status_code == 422
    assert sorted((e["field"], e["message"], e["rule"]) for e in r.json["errors"]) == [
        ("amount", "is required to enter stage 'proposal'", "sales.proposal"),
        ("close_date", "is required to enter stage 'proposal'", "sales.proposal"),
        # qualification is skipped, its requirement is not: requirements are cumulative
        (
            "primary_contact",
            "is required to enter stage 'proposal' ('qualification' requires it)",
            "sales.qualification",
        ),
    ]
    li = contact(api)
    assert api.patch(url, json={"primary_contact": li}).status_code == 200
    r = api.patch(url, json={"stage": "proposal", "amount": 0, "close_date": "2026-12-31"})
    assert r.status_code == 422 and r.json["errors"] == [
        {
            "field": "stage",
            "message": "A proposal needs a positive amount",
            "rule": "sales.proposal.1",
        }
    ]
    zh = api.patch(
        url,
        json={"stage": "proposal", "amount": 0, "close_date": "2026-12-31"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert zh.json["errors"][0]["message"] == "报价金额必须大于零"
    r = api.patch(url, json={"stage": "proposal", "amount": 5000, "close_date": "2026-12-31"})
    assert r.status_code == 200 and r.json["stage"] == "proposal"
    # a record already in a stage keeps it: only moves are checked
    assert api.patch(url, json={"next_step": "call"}).status_code == 200


def test_allowed_transitions_and_lost_reasons(env):
    api = env.api
    deal = opportunity(api, amount=100)
    url = f"/api/v1/records/opportunity/{deal['id']}"
    r = api.patch(url, json={"stage": "closed_lost"})  # a lost stage checks only its own
    assert [e["field"] for e in r.json["errors"]] == ["lost_reason"]
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "lost_reason"
    assert api.patch(url, json={"stage": "closed_lost", "lost_reason": "price"}).status_code == 200
    li = contact(api)
    body = {"stage": "negotiation", "close_date": "2027-01-31", "primary_contact": li}
    r = api.patch(url, json=body)
    assert r.status_code == 422 and r.json["errors"] == [
        {
            "field": "stage",
            "message": "cannot move from 'closed_lost' to 'negotiation' (allowed: prospecting, qualification)",
            "rule": "sales.closed_lost.transitions",
        }
    ]
    assert api.patch(url, json={"stage": "prospecting"}).status_code == 200  # reopened
    won = api.patch(url, json={"stage": "closed_won"})  # won: every open stage's requirements
    assert sorted(e["field"] for e in won.json["errors"]) == ["close_date", "primary_contact"]
    done = {"stage": "closed_won", "close_date": "2026-12-31", "primary_contact": li}
    assert api.patch(url, json=done).status_code == 200
    r = api.patch(url, json={"stage": "prospecting"})
    assert r.status_code == 422 and "(allowed: none)" in r.json["errors"][0]["message"]


def test_create_and_bulk_create_enforce_the_stage_too(env):
    api = env.api
    account = api.post("/api/v1/records/account", json={"name": "Bulk Co"}).json["id"]
    r = api.post(
        "/api/v1/records/opportunity",
        json=[
            {"name": "ok", "account": account},
            {"name": "bad", "account": account, "stage": "negotiation"},
        ],
    )
    assert r.status_code == 422
    assert {(e["index"], e["field"]) for e in r.json["errors"]} == {
        (1, "amount"),
        (1, "close_date"),
        (1, "primary_contact"),
    }
    assert api.get("/api/v1/records/opportunity").json["data"] == []  # all or nothing


def test_stage_history_and_time_in_stage(env):
    api = env.api
    deal = opportunity(api, amount=900, close_date="2026-12-31", primary_contact=contact(api))
    url = f"/api/v1/records/opportunity/{deal['id']}"
    assert api.patch(url, json={"stage": "proposal"}).status_code == 200
    api.patch(url, json={"next_step": "call"})  # not a move: no new visit
    assert api.patch(url, json={"stage": "negotiation"}).status_code == 200
    stages = api.get(f"{url}/stages").json["data"]
    assert [(s["stage"], s["category"], s["left_at"] is None) for s in stages] == [
        ("prospecting", "open", False),
        ("proposal", "open", False),
        ("negotiation", "open", True),
    ]
    assert stages[0]["left_at"] == stages[1]["entered_at"]
    assert all(s["seconds"] >= 0 for s in stages)
    other = opportunity(api)  # a second deal, still prospecting
    times = api.get("/api/v1/aggregate/opportunity/stage-times").json["data"]
    by_stage = {t["stage"]: t for t in times}
    assert [t["stage"] for t in times] == ["prospecting", "proposal", "negotiation"]
    assert (by_stage["prospecting"]["visits"], by_stage["prospecting"]["current"]) == (2, 1)
    assert (by_stage["negotiation"]["visits"], by_stage["negotiation"]["current"]) == (1, 1)
    assert by_stage["proposal"]["max_seconds"] >= by_stage["proposal"]["avg_seconds"] >= 0
    # record scope applies: a rep with the sales_rep role sees only their own deals
    rep_id = api.post(
        "/api/v1/admin/users",
        json={"username": "rep9", "password": "rep9-password", "roles": ["sales_rep"]},
    ).json["id"]
    token = api.post(f"/api/v1/admin/users/{rep_id}/tokens", json={"name": "t"}).json["token"]
    from tests.conftest import Api

    rep = Api(env.app.test_client(), token)
    assert rep.get("/api/v1/aggregate/opportunity/stage-times").json["data"] == []
    assert rep.get(f"/api/v1/records/opportunity/{other['id']}/stages").status_code == 404
    bad = api.get("/api/v1/aggregate/opportunity/stage-times", query_string={"pipeline": "x"})
    assert bad.status_code == 400
    assert api.get("/api/v1/aggregate/account/stage-times").status_code == 400


def test_an_optional_stage_may_be_skipped_without_its_requirements(tmp_path, backend):
    from tests.conftest import env_with
    from tests.metadata.helpers import write_package

    pack = write_package(
        tmp_path / "pkgs",
        "optional",
        files={
            "entities/gadget.yaml": "name: gadget\nfields:\n  name: {type: text}\n"
            "  owner_note: {type: text}\n  serial: {type: text}\n"
            "  stage: {type: select, options: [new, checked, done], default: new}\n",
            "pipelines/gadgets.yaml": "name: gadgets\nentity: gadget\nfield: stage\nstages:\n"
            "  - {name: new, category: open}\n"
            "  - {name: checked, category: open, requires: [owner_note], optional: true}\n"
            "  - {name: done, category: won, requires: [serial]}\n",
        },
    )
    with env_with(tmp_path, backend, (pack,)) as env:
        api = env.api
        rid = api.post("/api/v1/records/gadget", json={"name": "G"}).json["id"]
        r = api.patch(f"/api/v1/records/gadget/{rid}", json={"stage": "done"})
        assert [e["field"] for e in r.json["errors"]] == ["serial"]  # not owner_note
        ok = api.patch(f"/api/v1/records/gadget/{rid}", json={"stage": "done", "serial": "S1"})
        assert ok.status_code == 200


def test_changing_the_field_that_picks_the_pipeline_cannot_strand_a_record(tmp_path, backend):
    from tests.conftest import env_with
    from tests.metadata.helpers import write_package

    pack = write_package(
        tmp_path / "pkgs",
        "lines",
        files={
            "entities/job.yaml": "name: job\nfields:\n  name: {type: text}\n"
            "  line: {type: select, options: [project, retail]}\n"
            "  stage: {type: select, options: [new, site_survey, quoted, won], default: new}\n",
            "pipelines/projects.yaml": "name: projects\nentity: job\nfield: stage\n"
            "applies_if: \"line = 'project'\"\nstages:\n"
            "  - {name: new, category: open}\n  - {name: site_survey, category: open}\n"
            "  - {name: won, category: won}\n",
            "pipelines/standard.yaml": "name: standard\nentity: job\nfield: stage\nstages:\n"
            "  - {name: new, category: open}\n  - {name: quoted, category: open}\n"
            "  - {name: won, category: won}\n",
        },
    )
    with env_with(tmp_path, backend, (pack,)) as env:
        api = env.api
        job = api.post("/api/v1/records/job", json={"name": "J", "line": "project"}).json
        url = f"/api/v1/records/job/{job['id']}"
        assert api.patch(url, json={"stage": "site_survey"}).status_code == 200
        stranded = api.patch(url, json={"line": None})
        assert stranded.status_code == 422 and stranded.json["errors"] == [
            {
                "field": "stage",
                "message": "the record is now governed by the standard pipeline, which has no "
                "stage 'site_survey': move it to one of new, quoted, won in the same change",
                "rule": "standard",
            }
        ]
        assert api.get(url).json["line"] == "project"  # nothing changed
        moved = api.patch(url, json={"line": None, "stage": "new"})
        assert moved.status_code == 200 and moved.json["stage"] == "new"
