"""The CLI as a user runs it: real processes, the embedded SQLite default."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.metadata.helpers import write_package


def run(args, tmp_path, env_extra=None, check=True):
    env = {**os.environ, "METACRM_DATA_DIR": str(tmp_path / "instance"), **(env_extra or {})}
    env.pop("METACRM_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "metacrm", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stdout + result.stderr)
    return result


def test_init_token_and_api(tmp_path):
    out = run(["init"], tmp_path).stdout
    assert "tenant 'default' ready" in out and "created user 'admin' with password: " in out
    token = run(["token", "create", "--user", "admin"], tmp_path).stdout
    assert token.count("\n") == 1 and token.startswith("mct.default.")  # the token alone on stdout
    again = run(["init"], tmp_path).stdout
    assert "user 'admin' already exists" in again
    missing = run(["token", "create", "--user", "ghost"], tmp_path, check=False)
    assert missing.returncode != 0 and "no user 'ghost'" in missing.stderr


def test_init_demo_fills_realistic_data(tmp_path):
    out = run(["init", "--demo"], tmp_path, {"METACRM_ADMIN_PASSWORD": "a-long-password"}).stdout
    assert "password from METACRM_ADMIN_PASSWORD" in out
    assert "demo data: 60 account" in out and "200 opportunity" in out
    import sqlite3

    db = sqlite3.connect(tmp_path / "instance" / "tenants" / "default.sqlite3")
    assert db.execute("SELECT count(*) FROM opportunity").fetchone()[0] == 200
    assert db.execute("SELECT count(DISTINCT stage) FROM opportunity").fetchone()[0] == 6
    assert db.execute("SELECT count(*) FROM contact WHERE account IS NULL").fetchone()[0] == 0
    assert "skipped" in run(["init", "--demo"], tmp_path).stdout  # idempotent


def test_metadata_plan_and_apply_after_a_package_upgrade(tmp_path):
    run(["init"], tmp_path)
    pkg = write_package(
        tmp_path / "pkgs",
        "industry",
        files={"entities/lead.yaml": "extend: lead\nfields:\n  plant: {type: text}\n"},
    )
    env = {"METACRM_PACKAGES": str(pkg)}
    plan = run(["metadata", "plan"], tmp_path, env).stdout
    assert "add_column      lead.plant" in plan
    assert (
        "add_column      lead.plant" in run(["metadata", "plan"], tmp_path, env).stdout
    )  # plan applied nothing
    applied = run(["metadata", "apply"], tmp_path, env).stdout
    assert "applied" in applied
    assert "no schema changes" in run(["metadata", "plan"], tmp_path, env).stdout
    # removing the pack again would drop a column: refused, with the reason
    refused = run(["metadata", "apply"], tmp_path, check=False)
    assert (
        refused.returncode == 1
        and "lead.plant: the field was removed but its column holds data"
        in refused.stdout + refused.stderr
    )


def test_export_overlay_as_a_package_that_validates(tmp_path):
    run(["init"], tmp_path)
    from metacrm.platform.app import create_app
    from metacrm.platform.settings import settings_from_env

    app = create_app(settings_from_env({"METACRM_DATA_DIR": str(tmp_path / "instance")}))
    runtime = app.extensions["metacrm"]
    overlay = {
        "extend": {"lead": {"fields": {"wechat": {"type": "text"}}}},
        "entities": {"visit": {"name": "visit", "fields": {"subject": {"type": "text"}}}},
    }
    runtime.tenants.update_overlay("default", lambda _: overlay)
    runtime.close()
    out_dir = tmp_path / "export"
    assert (
        "exported 2 document(s)"
        in run(["metadata", "export", "--tenant", "default", str(out_dir)], tmp_path).stdout
    )
    assert (out_dir / "entities" / "lead.extend.yaml").read_text().startswith("extend: lead")
    assert run(["metadata", "validate", str(out_dir)], tmp_path).stdout.startswith(
        "ok: 10 entities"
    )


@pytest.mark.parametrize(
    "args", [["user", "create", "bob", "--password", "short"], ["tenant", "create", "Bad-Name"]]
)
def test_cli_errors_are_clear(tmp_path, args):
    run(["init"], tmp_path)
    result = run(args, tmp_path, check=False)
    assert result.returncode != 0 and "Error:" in result.stderr


def test_user_create(tmp_path):
    run(["init"], tmp_path)
    assert (
        "user 'bob' created"
        in run(["user", "create", "bob", "--password", "long-enough-pw"], tmp_path).stdout
    )
    assert Path(tmp_path / "instance" / "tenants" / "default.sqlite3").exists()
