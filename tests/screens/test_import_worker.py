"""The import screen with the production setup: PostgreSQL, a real Redis and a real
`metacrm worker` process (rq). The page is shown while the job waits in the queue; once a
worker starts, the progress block polls itself to the finished report, no reload."""

import os
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.conftest import _env_fixture
from tests.platform.test_jobs_redis import ROOT, RedisServer
from tests.screens.conftest import serve, shot, sign_in

ROWS = 600


@pytest.fixture
def worker_site(tmp_path):
    """(env, base URL, start_worker): the app on PostgreSQL with its jobs on Redis."""
    redis = RedisServer(tmp_path)
    redis.start()
    workers: list[subprocess.Popen] = []
    served = serve(_env_fixture(tmp_path, "postgres", redis_url=redis.url))
    env, base = next(served)
    settings = env.settings
    worker_env = {
        **os.environ,
        "METACRM_DATABASE_URL": settings.database_url,
        "METACRM_SCHEMA_PREFIX": settings.schema_prefix,
        "METACRM_DATA_DIR": str(settings.data_dir),
        "METACRM_SECRET_KEY": "test-secret",
        "METACRM_REDIS_URL": redis.url,
        "PYTHONPATH": str(ROOT),
    }

    def start_worker() -> None:
        workers.append(
            subprocess.Popen([sys.executable, "-m", "metacrm", "worker"], cwd=ROOT, env=worker_env)
        )

    yield env, base, start_worker
    for proc in workers:
        proc.kill()
        proc.wait(10)
    next(served, None)
    redis.stop()


def test_the_progress_block_follows_a_job_on_a_worker(page, worker_site, tmp_path):
    env, base, start_worker = worker_site
    upload = tmp_path / "accounts.csv"
    lines = ["Account name,Employees"] + [f"Company {i:04d},{i}" for i in range(ROWS)]
    upload.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sign_in(page, base)
    page.goto(base + "/app/account/import")
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('Check the file')")
    page.wait_for_url(re.compile(r".*/app/imports/\d+$"))
    progress = page.locator(".import-progress")
    expect(progress).to_have_attribute("data-status", "queued")  # no worker yet
    assert f"0 of {ROWS} rows" in progress.inner_text()
    shot(page, "import-queued-desktop-en")

    start_worker()  # the page, left alone, follows the job to its end
    expect(progress).to_have_attribute("data-status", "done", timeout=60_000)
    assert f"{ROWS} rows are ready to import" in page.inner_text("[data-report]")
    assert env.api.get("/api/v1/records/account").json["data"] == []  # a dry run

    page.click("button:has-text('Import')")
    page.wait_for_url(re.compile(r".*/app/imports/\d+$"))
    expect(page.locator(".import-progress")).to_have_attribute(
        "data-status", "done", timeout=60_000
    )
    assert f"{ROWS} created" in page.inner_text("[data-report]")
    assert page.locator("progress").get_attribute("value") == "100"
    listed = env.api.get("/api/v1/records/account?limit=1&with_total=true").json
    assert listed["total"] == ROWS
    assert page.console_errors == []
