"""Automation throughput: events processed per second for a set-field rule, by one rq
worker (real Redis, `metacrm worker`) and inline (the embedded default). Prints JSON.

The rule (bench/automation_pack): every created lead with a budget gets rating 'hot'.
Leads are written with bulk creates; each record's event runs the rule, which writes
the lead again through the record service (validation, history, the done mark).
Approval decision latency: p50/p95 of an approve request through the Flask app.
Usage: .venv/bin/python bench/automations.py [--events 5000] [--approvals 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "bench" / "automation_pack"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leads(n: int) -> list[dict]:
    return [
        {"last_name": f"L{i}", "company": f"Co {i}", "estimated_budget": 1000 + i} for i in range(n)
    ]


def runtime_for(env: dict):
    from metacrm.platform.runtime import Runtime
    from metacrm.platform.settings import settings_from_env

    return Runtime(settings_from_env(env))


def service_for(runtime, state):
    from metacrm.platform.access.context import Context
    from metacrm.platform.records.service import RecordService

    return RecordService(state, Context.system(state.name), runtime.pm, runtime.registry)


def count_done(state) -> int:
    from sqlalchemy import func, select

    outbox = state.system["outbox"]
    with state.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.status == "done")
        ).scalar_one()


def count_hot(state) -> int:
    from sqlalchemy import func, select

    lead = state.tables["lead"]
    with state.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(lead).where(lead.c.rating == "hot")
        ).scalar_one()


def base_env(database_url: str | None) -> dict:
    env = {
        "METACRM_DATA_DIR": tempfile.mkdtemp(prefix="metacrm-auto-bench-"),
        "METACRM_SECRET_KEY": "bench",
        "METACRM_PACKAGES": str(PACK),
    }
    if database_url:
        env["METACRM_DATABASE_URL"] = database_url
        env["METACRM_SCHEMA_PREFIX"] = f"bench{os.getpid()}_"
    return env


def drop(runtime, env) -> None:
    runtime.close()
    if env.get("METACRM_DATABASE_URL"):
        from sqlalchemy import create_engine, text

        engine = create_engine(env["METACRM_DATABASE_URL"])
        with engine.begin() as conn:
            for (name,) in conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                {"p": env["METACRM_SCHEMA_PREFIX"] + "%"},
            ).all():
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


def inline(n: int, database_url: str | None) -> dict:
    env = base_env(database_url)
    runtime = runtime_for(env)
    state = runtime.tenants.create("default")
    service = service_for(runtime, state)
    t = time.perf_counter()
    for start in range(0, n, 500):
        service.create_many("lead", leads(n)[start : start + 500])
    elapsed = time.perf_counter() - t
    done, hot = count_done(state), count_hot(state)
    drop(runtime, env)
    return {
        "events": done,
        "leads_rated_hot": hot,
        "seconds_incl_writes": round(elapsed, 2),
        "events_per_s_incl_writes": round(done / elapsed),
    }


def with_worker(n: int, database_url: str | None) -> dict:
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        return {"skipped": "redis-server not installed"}
    port = free_port()
    redis = subprocess.Popen(
        [redis_bin, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    env = {**base_env(database_url), "METACRM_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    runtime = runtime_for(env)
    state = runtime.tenants.create("default")
    service = service_for(runtime, state)
    for start in range(0, n, 500):  # queued, not run: no worker yet
        service.create_many("lead", leads(n)[start : start + 500])
    worker = subprocess.Popen(
        [sys.executable, "-m", "metacrm", "worker"],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    t = time.perf_counter()
    first = None  # when the first event was done: the worker is up and running
    try:
        while (done := count_done(state)) < n:
            if time.perf_counter() - t > 600:
                raise RuntimeError("worker too slow")
            if first is None and done:
                first = (time.perf_counter(), done)
            time.sleep(0.01)
        end = time.perf_counter()
        elapsed = end - t
    finally:
        worker.kill()
        redis.kill()
    hot = count_hot(state)
    drop(runtime, env)
    first_at, first_done = first or (t, 0)
    steady = (n - first_done) / (end - first_at) if end > first_at else None
    return {
        "events": n,
        "seconds": round(elapsed, 2),
        "events_per_s": round(n / elapsed),
        "target_1000_per_s": n / elapsed >= 1000,
        "note": "events_per_s includes the worker's start-up (process, imports, compile)",
        "events_per_s_running": round(steady) if steady else None,
        "leads_rated_hot": hot,
    }


def approval_latency(n: int, database_url: str | None) -> dict:
    """p50/p95 of `POST /api/v1/approvals/{id}/approve` through the Flask app (the whole
    request: auth, the decision, the outcome write, the audit trail, the response)."""
    from metacrm.platform.access import auth
    from metacrm.platform.app import create_app
    from metacrm.platform.settings import settings_from_env

    env = base_env(database_url)
    env.pop("METACRM_PACKAGES")
    app = create_app(settings_from_env(env))
    runtime = app.extensions["metacrm"]
    state = runtime.tenants.create("default")
    client = app.test_client()
    admin = auth.create_token(state, auth.create_user(state, "admin", "admin-pass", is_admin=True))

    def api(token, method, url, body=None):
        response = getattr(client, method)(
            url, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code < 300, (url, response.json)
        return response.json

    def person(name, roles, manager=None):
        body = {"username": name, "password": f"{name}-password", "roles": roles}
        uid = api(admin, "post", "/api/v1/admin/users", {**body, "manager": manager})["id"]
        return uid, api(admin, "post", f"/api/v1/admin/users/{uid}/tokens", {})["token"]

    mgr_id, mgr = person("mgr", ["sales_manager"])
    _, rep = person("rep", ["sales_rep"], mgr_id)
    account = api(rep, "post", "/api/v1/records/account", {"name": "Bench Co"})["id"]
    ids = []
    for i in range(n):
        body = {"name": f"Q{i}", "account": account, "list_amount": 1000, "discount": 30}
        quote = api(rep, "post", "/api/v1/records/quote", body)["id"]
        flow = {"flow": "quote_discount"}
        ids.append(api(rep, "post", f"/api/v1/records/quote/{quote}/approvals", flow)["id"])
    times = []
    for approval in ids:
        t = time.perf_counter()
        result = api(mgr, "post", f"/api/v1/approvals/{approval}/approve", {})
        times.append((time.perf_counter() - t) * 1000)
        assert result["status"] == "approved"
    drop(runtime, env)
    times.sort()
    return {
        "decisions": n,
        "p50_ms": round(times[n // 2], 1),
        "p95_ms": round(times[int(n * 0.95)], 1),
        "what": "one-step quote discount approval decided through the HTTP API",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite)")
    args = parser.parse_args()
    result = {
        "database": "postgresql" if args.database_url else "sqlite",
        "one_rq_worker": with_worker(args.events, args.database_url),
        "inline": inline(args.events, args.database_url),
        "approval_decision": approval_latency(args.approvals, args.database_url),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
