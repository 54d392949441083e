"""The default app's quote discount approval walked end to end through the HTTP API by
different users: submit, approve step 1, reject step 2, recall, re-submit, delegate;
the record lock, the inbox, the audit trail and who may do what."""

from tests.workflow_engine.test_automations import user


def people(env):
    mia_id, mia = user(env, "mia", ["sales_manager"])
    dan_id, dan = user(env, "dan", ["sales_director"])
    dora_id, dora = user(env, "dora", ["sales_director"])
    ann_id, ann = user(env, "ann", [])
    rob_id, rob = user(env, "rob", ["sales_rep"], mia_id)
    eve_id, eve = user(env, "eve", ["sales_rep"], mia_id)
    return {
        "mia": (mia_id, mia),
        "dan": (dan_id, dan),
        "dora": (dora_id, dora),
        "ann": (ann_id, ann),
        "rob": (rob_id, rob),
        "eve": (eve_id, eve),
    }


def new_quote(rob, discount):
    account = rob.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    body = {"name": "Acme renewal", "account": account, "list_amount": 10000, "discount": discount}
    response = rob.post("/api/v1/records/quote", json=body)
    assert response.status_code == 201, response.json
    return response.json


def inbox(api):
    return [
        (a["id"], a["step"]["name"]) for a in api.get("/api/v1/approvals?assigned=me").json["data"]
    ]


def test_quote_discount_approval_end_to_end(env):
    p = people(env)
    (mia_id, mia), (dan_id, dan), (dora_id, dora) = p["mia"], p["dan"], p["dora"]
    (ann_id, ann), (rob_id, rob), (_, eve) = p["ann"], p["rob"], p["eve"]
    quote = new_quote(rob, 45)
    assert quote["amount"] == "5500.00"
    url = f"/api/v1/records/quote/{quote['id']}"

    # 1. submit: pending at the manager step, the quote says so and is locked
    submitted = rob.post(f"{url}/approvals", json={"flow": "quote_discount", "comment": "key deal"})
    assert submitted.status_code == 201, submitted.json
    first = submitted.json
    assert first["status"] == "pending" and first["step"]["name"] == "sales_manager"
    assert submitted.headers["Location"] == f"/api/v1/approvals/{first['id']}"
    assert rob.get(url).json["status"] == "pending_approval"
    locked = rob.patch(url, json={"discount": 10})
    assert locked.status_code == 423 and "pending approval" in locked.json["detail"]
    assert mia.delete(url).status_code == 423  # the manager may delete team quotes, not now
    again = rob.post(f"{url}/approvals", json={"flow": "quote_discount"})
    assert again.status_code == 409
    assert inbox(mia) == [(first["id"], "sales_manager")]
    assert inbox(dan) == [] and inbox(rob) == []
    notices = [n["source"] for n in mia.get("/api/v1/notifications").json["data"]]
    assert notices == [f"approval:{first['id']}"]
    # an approver reads what they approve (a read share), a colleague outside does not
    assert mia.get(url).status_code == 200
    assert eve.get(f"/api/v1/approvals/{first['id']}").status_code == 404
    assert eve.post(f"/api/v1/approvals/{first['id']}/approve", json={}).status_code == 404
    # only the current step's approvers decide
    assert dan.post(f"/api/v1/approvals/{first['id']}/approve", json={}).status_code == 403

    # 2. approve at step 1: the director step starts (discount > 40), both directors asked
    step1 = mia.post(f"/api/v1/approvals/{first['id']}/approve", json={"comment": "ok by me"})
    assert step1.status_code == 200, step1.json
    assert step1.json["step"]["name"] == "director"
    assert inbox(mia) == []
    assert inbox(dan) == [(first["id"], "director")] and inbox(dora) == inbox(dan)
    assert dan.get(url).status_code == 200

    # 3. reject at step 2: the request ends, the quote is rejected and unlocked
    rejected = dan.post(f"/api/v1/approvals/{first['id']}/reject", json={"comment": "too deep"})
    assert rejected.status_code == 200
    assert rejected.json["status"] == "rejected" and rejected.json["step"] is None
    assert inbox(dora) == []  # the other director's task was withdrawn
    assert rob.get(url).json["status"] == "rejected"
    assert dora.post(f"/api/v1/approvals/{first['id']}/approve", json={}).status_code == 409
    assert [n["title"] for n in rob.get("/api/v1/notifications").json["data"]] == [
        "Quote discount approval: rejected"
    ]
    assert rob.patch(url, json={"discount": 42}).status_code == 200

    # 4. re-submit, then recall (the submitter only)
    second = rob.post(f"{url}/approvals", json={"flow": "quote_discount"}).json
    assert second["id"] != first["id"] and second["status"] == "pending"
    assert mia.post(f"/api/v1/approvals/{second['id']}/recall", json={}).status_code == 403
    recalled = rob.post(f"/api/v1/approvals/{second['id']}/recall", json={"comment": "fixing"})
    assert recalled.status_code == 200 and recalled.json["status"] == "recalled"
    assert rob.get(url).json["status"] == "draft"
    assert inbox(mia) == []

    # 5. re-submit, delegate step 1 to Ann, she approves; a director approves: approved
    third = rob.post(f"{url}/approvals", json={"flow": "quote_discount"}).json
    bad = mia.post(f"/api/v1/approvals/{third['id']}/delegate", json={"to": rob_id})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "to"
    delegated = mia.post(
        f"/api/v1/approvals/{third['id']}/delegate", json={"to": ann_id, "comment": "on leave"}
    )
    assert delegated.status_code == 200, delegated.json
    assert inbox(mia) == [] and inbox(ann) == [(third["id"], "sales_manager")]
    assert ann.post(f"/api/v1/approvals/{third['id']}/approve", json={}).status_code == 200
    commented = rob.post(f"/api/v1/approvals/{third['id']}/comment", json={"comment": "thanks!"})
    assert commented.status_code == 200
    done = dora.post(f"/api/v1/approvals/{third['id']}/approve", json={})
    assert done.json["status"] == "approved"
    final = rob.get(url).json
    assert final["status"] == "approved" and final["approved_at"] is not None
    assert rob.patch(url, json={"notes": "sent to customer"}).status_code == 200

    # the audit trail of the last request, and its tasks
    trail = [(e["action"], e["user_id"], e["step"]) for e in done.json["log"]]
    assert trail == [
        ("submitted", rob_id, None),
        ("step_started", rob_id, 0),
        ("delegated", mia_id, 0),
        ("approved_step", ann_id, 0),
        ("step_started", ann_id, 1),
        ("commented", rob_id, 1),
        ("approved_step", dora_id, 1),
        ("approved", dora_id, 1),
    ]
    tasks = {(t["user_id"], t["status"], t["delegated_from"]) for t in done.json["tasks"]}
    assert tasks == {
        (mia_id, "delegated", None),
        (ann_id, "approved", mia_id),
        (dan_id, "cancelled", None),
        (dora_id, "approved", None),
    }
    assert (
        done.json["log"][2]["detail"] == {"to": ann_id}
        and done.json["log"][2]["comment"] == "on leave"
    )
    history = rob.get(f"{url}/approvals").json["data"]
    assert [(h["id"], h["status"]) for h in history] == [
        (third["id"], "approved"),
        (second["id"], "recalled"),
        (first["id"], "rejected"),
    ]
    assert history[0]["record_title"] == "Acme renewal"
    mine = rob.get("/api/v1/approvals?submitted=me&status=rejected").json["data"]
    assert [m["id"] for m in mine] == [first["id"]]


def test_entry_criteria_and_unknown_flows(env):
    p = people(env)
    _, rob = p["rob"]
    quote = new_quote(rob, 10)
    url = f"/api/v1/records/quote/{quote['id']}/approvals"
    refused = rob.post(url, json={"flow": "quote_discount"})
    assert refused.status_code == 422
    assert refused.json["errors"] == [
        {
            "field": "flow",
            "rule": "entry",
            "message": "Only quotes with a discount over 20% need approval",
        }
    ]
    assert rob.post(url, json={"flow": "nope"}).status_code == 404
    wrong = rob.post(url, json={"flow": "contract_approval"})
    assert wrong.status_code == 422 and "contract" in wrong.json["detail"]
    assert rob.get(f"/api/v1/records/quote/{quote['id']}").json["status"] == "draft"
    _, eve = p["eve"]  # someone who may not change the quote may not submit it
    assert eve.post(url, json={"flow": "quote_discount"}).status_code == 404
    assert rob.post("/api/v1/approvals/1/approve", json={}).status_code == 404
    assert rob.get("/api/v1/approvals?assigned=you").status_code == 400


def test_a_step_without_approvers_refuses_the_submission(env):
    (rob_id, rob) = user(env, "solo", ["sales_rep"])  # no sales manager exists yet
    quote = new_quote(rob, 30)
    refused = rob.post(
        f"/api/v1/records/quote/{quote['id']}/approvals", json={"flow": "quote_discount"}
    )
    assert refused.status_code == 422
    assert refused.json["errors"][0]["rule"] == "steps.sales_manager"
    assert rob.get(f"/api/v1/records/quote/{quote['id']}").json["status"] == "draft"
