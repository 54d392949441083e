"""The record page's timeline in words a person reads: a change of owner, a delete and a
restore, a merge (and the fields it took), newest first; nothing in English words the
code uses internally."""

import re

from tests.conftest import user


def signed_in(env):
    client = env.app.test_client()
    client.post(
        "/login",
        json={"username": "admin", "password": "admin-password"},
        headers={"X-CSRFToken": client.get("/login").json["csrf_token"]},
    )
    return client


def timeline(client, path: str) -> list[str]:
    html = client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
    section = html.split('class="card timeline"', 1)[1].split("</section>", 1)[0]
    return [re.sub(r"\s+", " ", t).strip() for t in re.findall(r"<span>(.*?)</span>", section)]


def test_owner_changes_deletes_restores_and_merges_read_as_sentences(site):
    env, _ = site
    rita_id, _ = user(env, "rita", ["sales_rep"])
    keep = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    dupe = env.api.post(
        "/api/v1/records/account", json={"name": "ACME Ltd", "website": "https://acme.cn"}
    ).json["id"]
    env.api.post("/api/v1/records/account/assign", json={"ids": [keep], "owner": rita_id})
    env.api.delete(f"/api/v1/records/account/{keep}")
    env.api.post(f"/api/v1/records/account/{keep}/restore")
    merged = env.api.post(
        f"/api/v1/records/account/{keep}/merge",
        json={"from": [dupe], "fields": {"website": dupe}},
    )
    assert merged.status_code == 200, merged.json
    client = signed_in(env)
    said = timeline(client, f"/app/account/{keep}")
    assert set(said[:2]) == {  # one merge, at one moment: its own row and the field it took
        "admin merged records into it",
        "admin changed Website from “” to “https://acme.cn”",
    }
    assert said[2:] == [
        "admin restored it",
        "admin deleted it",
        "admin gave it to rita",
        "admin created it",
    ]


def test_what_an_automation_did_is_on_the_timeline(site):
    env, _ = site
    user(env, "ada", ["service_agent"])
    ticket = env.api.post("/api/v1/records/ticket", json={"subject": "No power"}).json
    assert ticket["status"] == "new"  # the automation runs after the commit (jobs inline)
    said = timeline(signed_in(env), f"/app/ticket/{ticket['id']}")
    [note] = [t for t in said if t.startswith("Automation")]
    assert note.startswith("Automation “Ticket auto-dispatch”: ")
    assert "assigned to user" in note and "set status" in note


def test_a_changed_reference_reads_as_titles_and_a_stage_move_once(site):
    env, _ = site
    acme = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    li = env.api.post("/api/v1/records/contact", json={"last_name": "Li", "account": acme}).json
    deal = env.api.post("/api/v1/records/opportunity", json={"name": "Deal", "account": acme}).json[
        "id"
    ]
    env.api.patch(f"/api/v1/records/opportunity/{deal}", json={"primary_contact": li["id"]})
    env.api.patch(f"/api/v1/records/opportunity/{deal}", json={"stage": "qualification"})
    said = timeline(signed_in(env), f"/app/opportunity/{deal}")
    assert said[:2] == [
        "admin moved it to Qualification",  # once: not also as a change of Stage
        "admin changed Primary contact from “” to “Li”",
    ]
