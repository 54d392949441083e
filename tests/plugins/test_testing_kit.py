"""The plugin test kit as an integrator uses it: a project of their own whose conftest
says `pytest_plugins = ["metacrm.testing"]`, whose test builds an app with their pack
and plugin, calls the API and runs the outbox, on both databases (PostgreSQL skipped
only off CI, like ours)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[2]
EDUCATION = ROOT / "tests" / "packs" / "education"

TEST = textwrap.dedent(
    f"""
    from pathlib import Path

    from metacrm.testing import user

    PACK = Path({str(EDUCATION)!r})


    def test_my_pack_and_plugin(metacrm_env):
        env = metacrm_env(packages=[PACK], plugins=["tests.plugins.sample_plugin"])
        course = env.api.post("/api/v1/records/course", json={{"name": "C", "capacity": 1}})
        assert course.status_code == 201, course.json
        first = {{"student": "Ann", "course": course.json["id"]}}
        assert env.api.post("/api/v1/records/enrollment", json=first).status_code == 201
        second = {{"student": "Bo", "course": course.json["id"]}}
        assert env.api.post("/api/v1/records/enrollment", json=second).status_code == 422
        _uid, rita = user(env, "rita", ["sales_rep"])
        assert rita.get("/api/v1/records/lead").status_code == 200
        assert env.run_outbox() >= 0
        assert "vat" in env.runtime.registry
    """
)


def test_an_integrators_project_uses_the_kit(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["metacrm.testing"]\n')
    (tmp_path / "test_mine.py").write_text(TEST)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ran = "2 passed" if os.environ.get("METACRM_TEST_DATABASE_URL") else "1 passed, 1 skipped"
    assert ran in result.stdout, result.stdout
