"""Databases made by an earlier release are upgraded through a patch log: each patch
runs once per database, in order, in one transaction with the rest, and is recorded;
a new database records every patch without running it (its tables are the latest)."""

import contextlib
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from metacrm.platform.app import create_app
from metacrm.platform.db.patches import PatchFailed
from tests.conftest import drop_schemas, make_settings

PLUGINS = "tests.platform.patch_plugins"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "releases"


@contextlib.contextmanager
def release(settings, plugin: str):
    """The app as one release of the plugin runs it, on the same databases."""
    runtime = create_app(settings.with_overrides(plugins=(f"{PLUGINS}.{plugin}",))).extensions[
        "metacrm"
    ]
    try:
        yield runtime
    finally:
        runtime.close()


def log(runtime, tenant="default") -> dict[str, bool]:
    """The patch log of the test plugin's patches (the platform's own are checked apart)."""
    with runtime.tenants.engine(tenant).connect() as conn:
        rows = conn.execute(text("SELECT name, ran FROM _patches")).all()
    return {name: bool(ran) for name, ran in rows if not name.startswith("platform.")}


@pytest.fixture
def settings(tmp_path, backend):
    settings = make_settings(tmp_path, backend)
    yield settings
    drop_schemas(settings)


def test_a_database_of_the_earlier_release_is_patched_once(settings):
    with release(settings, "v1") as rt:
        rt.tenants.create("default")
        with rt.tenants.engine("default").begin() as conn:
            conn.execute(text("INSERT INTO _ratings (id) VALUES (1), (2)"))
            conn.execute(text("DROP TABLE _patches"))  # as databases made before the log
    with release(settings, "v2") as rt:
        state = rt.tenants.state("default")
        ratings = state.system["ratings"]
        with state.engine.connect() as conn:
            rows = conn.execute(select(ratings.c.id, ratings.c.note).order_by("id")).all()
        assert [tuple(r) for r in rows] == [
            (1, "from release 1"),
            (2, "from release 1"),
            (1000, "marker"),
        ]
        assert log(rt) == {"ratings.add_note": True, "ratings.fill_notes": True}
    with release(settings, "v2") as rt:  # the next start runs nothing again
        state = rt.tenants.state("default")
        with state.engine.connect() as conn:
            markers = conn.execute(text("SELECT count(*) FROM _ratings WHERE id = 1000")).scalar()
        assert markers == 1
        rt.tenants.create("second")  # made by release 2: its tables are the latest already
        assert log(rt, "second") == {"ratings.add_note": False, "ratings.fill_notes": False}
        columns = {c["name"] for c in inspect(rt.tenants.engine("second")).get_columns("_ratings")}
        assert "note" in columns


def test_a_failing_patch_changes_nothing_and_says_which(settings):
    with release(settings, "v1") as rt:
        rt.tenants.create("default")
        with rt.tenants.engine("default").begin() as conn:
            conn.execute(text("INSERT INTO _ratings (id) VALUES (1)"))
    with release(settings, "v3") as rt, pytest.raises(PatchFailed, match="ratings.broken"):
        rt.tenants.state("default")
    with release(settings, "v1") as rt:  # as release 1 left it: no column, no log
        engine = rt.tenants.engine("default")
        assert "note" not in {c["name"] for c in inspect(engine).get_columns("_ratings")}
        assert log(rt) == {}


def test_the_control_database_of_the_current_release_joins_the_log(settings):
    """Control databases made before the patch log (tenants.timezone added by hand then)
    record the patch that now adds it, without changing what they hold."""
    with release(settings, "v1") as rt:
        rt.tenants.create("default", timezone="Asia/Shanghai")
        with rt.tenants.control.begin() as conn:
            conn.execute(text("DROP TABLE _patches"))
    with release(settings, "v1") as rt:
        with rt.tenants.control.connect() as conn:
            logged = dict(conn.execute(text("SELECT name, ran FROM _patches")).all())
        assert {k: bool(v) for k, v in logged.items()} == {"control.tenants_timezone": True}
        assert rt.tenants.timezone("default") == "Asia/Shanghai"


def test_an_installation_made_by_release_2a2e9e6_keeps_working(tmp_path):
    """The real thing: the SQLite instance directory that release 2a2e9e6 made (see
    tests/fixtures/releases/README.md), opened by today's code."""
    import tarfile

    from metacrm.platform.access import auth
    from metacrm.platform.settings import settings_from_env
    from tests.conftest import Api

    instance = tmp_path / "instance"
    with tarfile.open(FIXTURES / "2a2e9e6-sqlite.tgz") as archive:
        archive.extractall(instance, filter="data")
    app = create_app(settings_from_env({"METACRM_DATA_DIR": str(instance)}))
    runtime = app.extensions["metacrm"]
    try:
        state = runtime.tenants.state("default")
        assert {"approvals", "pool_records", "patches"} <= set(state.system)
        assert runtime.tenants.timezone("default") == "Asia/Shanghai"
        user = auth.find_user(state, "admin")
        assert user is not None
        with state.engine.connect() as conn:
            stored = conn.execute(text("SELECT password_hash FROM _users")).scalar_one()
        assert auth.verify_password(stored, "release-password")  # the hash still verifies
        api = Api(app.test_client(), auth.create_token(state, user.id))
        accounts = api.get("/api/v1/records/account?sort=name").json["data"]
        assert [r["name"] for r in accounts] == ["Acme 星河", "Bolt"]
        assert [r["name"] for r in api.get("/api/v1/records/account?q=星河").json["data"]] == [
            "Acme 星河"
        ]
        [li] = api.get("/api/v1/records/contact").json["data"]
        assert li["account"] == accounts[0]["id"]
        created = api.post("/api/v1/records/account", json={"name": "After the upgrade"})
        assert created.status_code == 201
        with runtime.tenants.control.connect() as conn:
            logged = dict(conn.execute(text("SELECT name, ran FROM _patches")).all())
        assert {k: bool(v) for k, v in logged.items()} == {"control.tenants_timezone": True}
        with state.engine.connect() as conn:  # the platform's patch added the column
            ran = conn.execute(
                text("SELECT ran FROM _patches WHERE name = 'platform.users_language'")
            ).scalar_one()
            assert bool(ran)
            assert conn.execute(text("SELECT language FROM _users")).scalar_one() is None
    finally:
        runtime.close()
