"""Automation actions and time triggers with their real counterparts: round-robin and
load-balanced assignment (the default app's ticket dispatch), return to pool, email to
a real SMTP server (aiosmtpd), a signed webhook to a real HTTP server, date-relative
triggers (contract expiry, overdue receivables) and cron triggers from the scheduler."""

import datetime as dt
import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from metacrm.workflow_engine.outbound import signature
from metacrm.workflow_engine.scheduled_triggers import fire_due
from tests.conftest import _env_fixture
from tests.metadata.helpers import write_package
from tests.workflow_engine.test_automations import user

PACK = Path(__file__).parent / "actions_pack"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def outside(tmp_path):
    """A real SMTP server and a real HTTP server that records webhook calls."""
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    calls = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append((dict(self.headers), body))
            status = 500 if len(calls) == 1 else 204  # the first call fails: retried
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    pack = tmp_path / "actions_pack"
    shutil.copytree(PACK, pack)
    rule = pack / "automations" / "lead_round_robin.yaml"
    rule.write_text(
        rule.read_text().replace("127.0.0.1:9/placeholder", f"127.0.0.1:{http.server_port}/hook")
    )
    yield {"mailbox": mailbox, "calls": calls, "pack": pack, "smtp_port": smtp.port}
    smtp.stop()
    http.shutdown()


@pytest.fixture
def actions_env(tmp_path, backend, outside):
    yield from _env_fixture(
        tmp_path,
        backend,
        (outside["pack"],),
        smtp_host="127.0.0.1",
        smtp_port=outside["smtp_port"],
        smtp_from="crm@example.com",
        webhook_allow_private=True,  # the test receiver listens on loopback
        job_retry_seconds=0.0,
    )


def test_round_robin_email_and_signed_webhook(actions_env, outside):
    env = actions_env
    ids = []
    for name in ("ann", "bob", "cid"):
        body = {"username": name, "password": f"{name}-password", "roles": ["sales_rep"]}
        body["email"] = f"{name}@example.com"
        ids.append(env.api.post("/api/v1/admin/users", json=body).json["id"])
    leads = [
        env.api.post(
            "/api/v1/records/lead",
            json={
                "last_name": f"L{i}",
                "company": f"Co{i}",
                "source": "web",
                "estimated_budget": 10,
            },
        ).json["id"]
        for i in range(4)
    ]
    owners = [env.api.get(f"/api/v1/records/lead/{i}").json["owner_id"] for i in leads]
    assert owners == [ids[0], ids[1], ids[2], ids[0]]  # in turn, and round again
    other = env.api.post("/api/v1/records/lead", json={"last_name": "X", "company": "Y"}).json
    assert other["owner_id"] == 1  # not from the web: the rule's condition kept it
    # email: one per lead, to the new owner, rendered in a sandbox
    mails = outside["mailbox"].messages
    assert [to for to, _ in mails] == [[f"{n}@example.com"] for n in ("ann", "bob", "cid", "ann")]
    assert "Subject: New web lead L0" in mails[0][1] and "Company: Co0" in mails[0][1]
    # webhook: the first call failed (500) and stays pending for its retry; run it
    state = env.runtime.tenant()
    env.runtime.jobs.sweep(state)
    calls = outside["calls"]
    assert len(calls) == 5  # 4 leads, the first one twice
    headers, body = calls[-1]
    secret = env.api.get("/api/v1/admin/webhook-secret").json["secret"]  # the tenant's own key
    assert headers["X-Metacrm-Signature"] == signature(secret, body)
    delivered = [json.loads(b)["record"]["id"] for _, b in calls]
    assert sorted(delivered) == sorted([leads[0], *leads])
    log = env.api.get(f"/api/v1/records/lead/{leads[0]}/executions").json["data"]
    assert {x["handler"] for x in log} >= {"automations", "email", "webhooks"}
    assert any(x["handler"] == "webhooks" and x["attempt"] == 2 for x in log)  # the retry


def test_return_to_pool_and_cron_and_date_triggers(actions_env):
    env = actions_env
    mgr_id, mgr = user(env, "mgr", ["sales_manager"])
    rep_id, rep = user(env, "rep1", ["sales_rep"], mgr_id)
    lead = rep.post(
        "/api/v1/records/lead", json={"last_name": "Q", "company": "Q", "status": "working"}
    ).json
    state = env.runtime.tenant()
    monday = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)  # a Monday, after 09:00
    assert fire_due(env.runtime, state, monday) == 1
    assert fire_due(env.runtime, state, monday + dt.timedelta(minutes=5)) == 0
    assert [n["title"] for n in rep.get("/api/v1/notifications").json["data"]] == ["Weekly nudge"]
    # disqualifying the lead sends it back to the default lead pool
    url = f"/api/v1/records/lead/{lead['id']}"
    assert rep.patch(url, json={"status": "disqualified"}).status_code == 200
    assert rep.get(url).status_code == 404
    pooled = env.api.get("/api/v1/pools/lead_pool/records").json["data"]
    assert [(p["id"], p["return_reason"]) for p in pooled] == [
        (lead["id"], "disqualified by its owner")
    ]


def test_default_app_dispatch_expiry_and_overdue(actions_env):
    env = actions_env
    mgr_id, mgr = user(env, "mgr", ["sales_manager"])
    rep_id, rep = user(env, "rep1", ["sales_rep"], mgr_id)
    a1, agent1 = user(env, "agent1", ["service_agent"])
    a2, agent2 = user(env, "agent2", ["service_agent"])
    fin_id, fin = user(env, "fin", ["finance"])
    account = rep.post("/api/v1/records/account", json={"name": "Svc Co"}).json["id"]
    # tickets: billing goes to finance, the rest to the least busy agent
    ticket = agent1.post(
        "/api/v1/records/ticket", json={"subject": "Invoice wrong", "type": "billing"}
    ).json
    got = env.api.get(f"/api/v1/records/ticket/{ticket['id']}").json
    assert got["owner_id"] == fin_id and got["status"] == "assigned"
    owners = []
    for i in range(4):
        t = agent1.post("/api/v1/records/ticket", json={"subject": f"How to {i}"}).json
        owners.append(env.api.get(f"/api/v1/records/ticket/{t['id']}").json["owner_id"])
    assert sorted(owners) == [a1, a1, a2, a2]  # balanced
    fault = agent1.post("/api/v1/records/ticket", json={"subject": "Broken", "type": "fault"}).json
    stuck = env.api.get(f"/api/v1/records/ticket/{fault['id']}").json
    assert stuck["status"] == "new"  # no field engineer exists: not assigned, not marked
    assert "stopped: not assigned: no active candidate" in " ".join(
        x["detail"] or ""
        for x in env.api.get(f"/api/v1/records/ticket/{fault['id']}/executions").json["data"]
    )
    assert [n["title"] for n in fin.get("/api/v1/notifications").json["data"]] == [
        "Ticket auto-dispatch"
    ]
    # a contract ending in 30 days: owner and manager reminded once
    today = dt.datetime.now(dt.UTC).date()
    contract = rep.post(
        "/api/v1/records/contract",
        json={
            "name": "Support 2026",
            "account": account,
            "amount": 1000,
            "start_date": str(today - dt.timedelta(days=335)),
            "end_date": str(today + dt.timedelta(days=30)),
        },
    ).json
    state = env.runtime.tenant()
    with state.write.begin() as conn:  # as if approved
        table = state.tables["contract"]
        conn.execute(table.update().where(table.c.id == contract["id"]).values(status="active"))
    receivable = rep.post(
        "/api/v1/records/receivable",
        json={
            "contract": contract["id"],
            "account": account,
            "due_date": str(today - dt.timedelta(days=2)),
            "amount": 500,
            "received_amount": 100,
        },
    ).json
    now = dt.datetime.now(dt.UTC)
    assert fire_due(env.runtime, state, now) == 2
    assert fire_due(env.runtime, state, now) == 0  # once
    rep_titles = {n["title"] for n in rep.get("/api/v1/notifications").json["data"]}
    assert {"Contract expires in 30 days", "Receivable overdue"} <= rep_titles
    mgr_titles = {n["title"] for n in mgr.get("/api/v1/notifications").json["data"]}
    assert {"Contract expires in 30 days", "Receivable overdue"} <= mgr_titles
    after = rep.get(f"/api/v1/records/receivable/{receivable['id']}").json
    assert after["status"] == "overdue" and after["outstanding"] == "400.00"


def test_action_and_trigger_metadata_errors(tmp_path):
    from metacrm.default_app import PACKAGE_DIR
    from metacrm.metadata.compiler import load_and_compile
    from metacrm.metadata.errors import MetadataInvalid

    a = (
        "name: a\nentity: contact\ntrigger: {on: date, field: last_name}\nactions:\n"
        "  - assign: {to: [{role: boss}]}\n"
        "  - return_to_pool: {reason: x}\n"
        '  - email: {to: account, subject: "{{ x", body: b}\n'
    )
    b = (
        "name: b\nentity: lead\ntrigger: {on: cron, cron: '61 * * * *'}\nactions:\n"
        "  - return_to_pool: {pool: public_pool, reason: x}\n"
    )
    pkg = write_package(tmp_path, "bad", {"automations/a.yaml": a, "automations/b.yaml": b})
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile([PACKAGE_DIR, pkg])
    text = str(exc.value)
    assert "a.yaml:3 trigger.field: 'last_name' is not a date or datetime field" in text
    assert "a.yaml:5 actions[0].assign.to[0].role: unknown role 'boss'" in text
    assert "a.yaml:6 actions[1].return_to_pool: 'contact' has no default pool" in text
    assert (
        "a.yaml:7 actions[2].email.to: 'account' is not owner, manager, a user or an email" in text
    )
    assert "b.yaml:3 trigger.cron: '61 * * * *' is not a five-field cron expression" in text
    assert "b.yaml:5 actions[0].return_to_pool.pool: 'public_pool' is not a pool of 'lead'" in text
