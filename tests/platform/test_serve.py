"""`metacrm init` + `metacrm serve` as a user runs them: a real gunicorn server over loopback."""

import os
import socket
import subprocess
import sys
import time
import uuid

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
        [*cli, "serve", "--port", str(port), "--workers", "2"],
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
        added = requests.post(
            base + "/api/v1/meta/entities/account/fields",
            json={"name": "vip", "type": "boolean"},
            headers=headers,
            timeout=10,
        )
        assert added.status_code == 201, added.text
        # every worker process sees the new field (state refresh across processes)
        deadline = time.time() + 5
        seen = 0
        while time.time() < deadline and seen < 10:
            fields = requests.get(
                base + "/api/v1/meta/entities/account", headers=headers, timeout=10
            ).json()["fields"]
            seen = seen + 1 if "vip" in [f["name"] for f in fields] else 0
        assert seen == 10
        assert requests.get(base + "/api/v1/records/account", timeout=10).status_code == 401
    finally:
        server.terminate()
        server.wait(10)
        if backend == "postgres":
            drop_schemas(
                make_settings(tmp_path, "postgres").with_overrides(
                    schema_prefix=env["METACRM_SCHEMA_PREFIX"]
                )
            )
