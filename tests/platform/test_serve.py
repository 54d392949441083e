"""`metacrm init` + `metacrm serve` as a user runs them: a real gunicorn server over loopback."""

import fcntl
import os
import socket
import subprocess
import sys
import time
import uuid

import psutil
import pytest
import requests

from tests.conftest import PG_URL, _postgres_or_skip, drop_schemas, make_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_then_serve_answers_the_api(tmp_path, backend):
    env = {
        **os.environ,
        "METACRM_DATA_DIR": str(tmp_path / "instance"),
        "METACRM_ADMIN_PASSWORD": "serve-password",
    }
    env.pop("METACRM_DATABASE_URL", None)
    if backend == "postgres":
        env["METACRM_DATABASE_URL"] = PG_URL or _postgres_or_skip()
        env["METACRM_SCHEMA_PREFIX"] = f"s{uuid.uuid4().hex[:8]}_"
    cli = [sys.executable, "-m", "metacrm"]
    subprocess.run([*cli, "init", "--demo"], env=env, check=True, capture_output=True, timeout=180)
    token = subprocess.run(
        [*cli, "token", "create", "--user", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still booting
                time.sleep(0.1)
        else:
            raise AssertionError("server did not answer /healthz")
        headers = {"Authorization": f"Bearer {token}"}
        listed = requests.get(
            base + "/api/v1/records/opportunity?stage=proposal&sort=-amount&limit=5",
            headers=headers,
            timeout=10,
        )
        assert listed.status_code == 200 and 0 < len(listed.json()["data"]) <= 5
        amounts = [r["amount"] for r in listed.json()["data"]]
        assert amounts == sorted(amounts, reverse=True)
        for _ in range(30):  # every worker loads the tenant's state before the change
            requests.get(
                base + "/api/v1/records/account?limit=1",
                headers={**headers, "Connection": "close"},
                timeout=10,
            )
        added = requests.post(
            base + "/api/v1/meta/entities/account/fields",
            json={"name": "vip", "type": "boolean"},
            headers=headers,
            timeout=10,
        )
        assert added.status_code == 201, added.text
        # every worker process uses the new field on the very next request: 30 creates,
        # each on a fresh connection (so spread over the workers), all accepted
        statuses = [
            requests.post(
                base + "/api/v1/records/account",
                json={"name": f"VIP {i}", "vip": True},
                headers={**headers, "Connection": "close"},
                timeout=10,
            ).status_code
            for i in range(30)
        ]
        assert statuses == [201] * 30
        assert requests.get(base + "/api/v1/records/account", timeout=10).status_code == 401
        # the outbox sweep runs in a thread of one worker: no scheduler process of its own
        children = psutil.Process(server.pid).children()
        assert len(children) == 3
        assert not any("scheduler" in " ".join(c.cmdline()) for c in children)
        lock = tmp_path / "instance" / "scheduler.lock"
        with open(lock, "a") as probe, pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        server.terminate()
        server.wait(10)
        if backend == "postgres":
            drop_schemas(
                make_settings(tmp_path, "postgres").with_overrides(
                    schema_prefix=env["METACRM_SCHEMA_PREFIX"]
                )
            )
