"""Jobs with a real Redis and real `metacrm worker` processes (rq), on PostgreSQL:
delivery, a worker killed with SIGKILL mid-job, Redis down while records are written."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from metacrm.platform.access import auth
from metacrm.platform.app import create_app
from metacrm.platform.worker import sweep_all
from tests.conftest import Api, drop_schemas, make_settings

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.platform.job_plugin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server the test can stop and start again on the same port."""

    def __init__(self, tmp: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("CI=true but redis-server is not installed: Redis tests must run")
            pytest.skip("redis-server not installed")
        self.binary, self.tmp, self.port, self.proc = binary, tmp, _free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def redis_env(tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    settings = make_settings(tmp_path, "postgres").with_overrides(
        plugins=(PLUGIN,), redis_url=redis.url, job_lease_seconds=2.0, job_retry_seconds=0.2
    )
    app = create_app(settings)
    runtime = app.extensions["metacrm"]
    state = runtime.tenants.create("default")
    admin = auth.create_user(state, "admin", "admin-password", is_admin=True)
    env = {
        **os.environ,
        "METACRM_DATABASE_URL": settings.database_url,
        "METACRM_SCHEMA_PREFIX": settings.schema_prefix,
        "METACRM_DATA_DIR": str(settings.data_dir),
        "METACRM_SECRET_KEY": "test-secret",
        "METACRM_REDIS_URL": redis.url,
        "METACRM_PLUGINS": PLUGIN,
        "METACRM_JOB_LEASE_SECONDS": "2",
        "METACRM_JOB_RETRY_SECONDS": "0.2",
        "PYTHONPATH": str(ROOT),
    }
    workers: list[subprocess.Popen] = []

    def start_worker() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "metacrm", "worker"], cwd=ROOT, env=env)
        workers.append(proc)
        return proc

    yield runtime, Api(app.test_client(), auth.create_token(state, admin)), redis, start_worker
    for proc in workers:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    runtime.close()
    redis.stop()
    drop_schemas(settings)


def events(runtime, **where) -> list[dict]:
    state = runtime.tenant()
    table = state.system["outbox"]
    query = select(table).order_by(table.c.id)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    with state.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def wait_for(check, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def descriptions(api, ids):
    return [api.get(f"/api/v1/records/account/{i}").json["description"] for i in ids]


def test_workers_run_events_from_redis(redis_env):
    runtime, api, _redis, start_worker = redis_env
    ids = [
        api.post("/api/v1/records/account", json={"name": f"A{i}"}).json["id"] for i in range(20)
    ]
    assert {e["status"] for e in events(runtime)} == {"dispatched"}  # not run in the web process
    start_worker()
    start_worker()
    wait_for(lambda: set(descriptions(api, ids)) == {"stamped;"}, what="20 stamps")
    wait_for(lambda: {e["status"] for e in events(runtime)} == {"done"}, what="all done")
    assert all(e["attempts"] == 1 for e in events(runtime))


def test_a_worker_killed_mid_job_has_its_event_run_again_once(redis_env):
    runtime, api, _redis, start_worker = redis_env
    rid = api.post("/api/v1/records/account", json={"name": "slow 3"}).json["id"]
    victim = start_worker()
    wait_for(
        lambda: events(runtime, record_id=rid)[0]["status"] == "running", what="the job to start"
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert descriptions(api, [rid]) == [None]  # its transaction died with it
    start_worker()
    # once the claim lapses (lease 2 s) the scheduler hands the event on again
    wait_for(lambda: sweep_all(runtime) >= 1, what="the lapsed claim to be handed on")
    wait_for(lambda: descriptions(api, [rid]) == ["stamped;"], what="the re-run")
    created = events(runtime, record_id=rid, topic="record.created")[0]
    assert created["status"] == "done" and created["attempts"] == 2
    log = api.get(f"/api/v1/records/account/{rid}/executions").json["data"]
    runs = [x for x in log if x["topic"] == "record.created" and x["handler"] == "stamp"]
    assert [x["status"] for x in runs] == ["ok"]  # the effect happened once, not twice


def test_events_wait_in_the_outbox_while_redis_is_down(redis_env):
    runtime, api, redis, start_worker = redis_env
    redis.stop()
    ids = []
    for i in range(10):
        r = api.post("/api/v1/records/account", json={"name": f"Offline {i}"})
        assert r.status_code == 201  # writes go on without Redis
        ids.append(r.json["id"])
    assert {e["status"] for e in events(runtime)} == {"pending"}
    assert sweep_all(runtime) == 0  # still down: nothing handed on, nothing lost
    assert {e["status"] for e in events(runtime)} == {"pending"}
    redis.start()  # an empty Redis: whatever was queued before is gone too
    start_worker()
    assert sweep_all(runtime) == 10
    wait_for(lambda: set(descriptions(api, ids)) == {"stamped;"}, what="delivery after Redis")
    wait_for(lambda: {e["status"] for e in events(runtime)} == {"done"}, what="all done")
