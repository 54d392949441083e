"""Every hookspec is exercised through a real plugin, loaded the way integrators load theirs."""

import inspect
import re
from pathlib import Path

import pytest

from metacrm.platform.access import auth
from metacrm.platform.access.context import Context
from metacrm.platform.app import create_app
from metacrm.platform.records.service import RecordService
from metacrm.plugins import hookspecs
from tests.conftest import Api, make_settings
from tests.plugins import sample_plugin


@pytest.fixture
def plugin_env(tmp_path):
    settings = make_settings(tmp_path, "sqlite").with_overrides(
        plugins=("tests.plugins.sample_plugin",)
    )
    app = create_app(settings)
    runtime = app.extensions["metacrm"]
    state = runtime.tenants.create("default")
    admin = auth.create_user(state, "admin", "admin-password", is_admin=True)
    sample_plugin.EVENTS.clear()
    sample_plugin.JOB_RUNS.clear()
    sample_plugin.SCHEDULED.clear()
    yield app, runtime, Api(app.test_client(), auth.create_token(state, admin))
    runtime.close()


def test_metadata_package_hook_layers_an_industry_pack(plugin_env):
    _, runtime, api = plugin_env
    assert "sample_score" in runtime.tenant().model.entities["lead"].fields
    bad = api.post(
        "/api/v1/records/lead", json={"last_name": "A", "company": "c", "sample_score": 11}
    )
    assert bad.status_code == 422


def test_before_save_can_adjust_and_veto(plugin_env):
    _, _, api = plugin_env
    lead = api.post("/api/v1/records/lead", json={"last_name": "A", "company": "  acme "}).json
    assert lead["company"] == "ACME"
    vetoed = api.post("/api/v1/records/lead", json={"last_name": "Forbidden", "company": "x"})
    assert (
        vetoed.status_code == 422
        and vetoed.json["errors"][0]["message"] == "this name is not allowed"
    )
    assert len(api.get("/api/v1/records/lead").json["data"]) == 1


def test_after_commit_sees_each_committed_change(plugin_env):
    _, _, api = plugin_env
    rec = api.post("/api/v1/records/lead", json={"last_name": "A", "company": "c"}).json
    api.patch(f"/api/v1/records/lead/{rec['id']}", json={"status": "working"})
    api.delete(f"/api/v1/records/lead/{rec['id']}")
    api.post(
        "/api/v1/records/lead", json={"last_name": "Forbidden", "company": "x"}
    )  # vetoed: no event
    assert sample_plugin.EVENTS == [
        ("lead", op, rec["id"], "admin") for op in ("create", "update", "delete")
    ]


def test_event_handlers_run_outbox_events_of_their_topics(plugin_env):
    _, _, api = plugin_env
    rec = api.post("/api/v1/records/lead", json={"last_name": "A", "company": "c"}).json
    api.patch(f"/api/v1/records/lead/{rec['id']}", json={"status": "working"})
    assert sample_plugin.JOB_RUNS == []  # created and updated: not its topics
    api.delete(f"/api/v1/records/lead/{rec['id']}")
    admin_id = api.get("/api/v1/admin/users").json["data"][0]["id"]
    assert sample_plugin.JOB_RUNS == [("lead", rec["id"], {"actor": admin_id})]


def test_scheduled_runs_once_per_tenant_per_scheduler_pass(plugin_env):
    from metacrm.platform.worker import sweep_all

    _, runtime, _ = plugin_env
    runtime.tenants.create("second")
    sweep_all(runtime)
    assert sorted(sample_plugin.SCHEDULED) == ["default", "second"]


def test_expression_functions_from_plugins_work_in_formulas_and_filters(plugin_env):
    _, _, api = plugin_env
    lead = api.post(
        "/api/v1/records/lead", json={"last_name": "A", "company": "c", "estimated_budget": 100}
    ).json
    assert lead["sample_vat"] == "20.00" and lead["sample_vat_live"] == "21.00"
    found = api.get(
        "/api/v1/records/lead", query_string={"filter": "vat(estimated_budget) > 19"}
    ).json["data"]
    assert [r["id"] for r in found] == [lead["id"]]


def test_expression_functions_without_sql_are_refused_where_the_database_computes(plugin_env):
    """A virtual formula is computed in SQL: one that calls a Python-only function is
    refused when it is added (never a 500 on every read, or after a committed create)."""
    _, _, api = plugin_env
    virtual = {
        "name": "twice",
        "type": "formula",
        "expression": "py_double(estimated_budget)",
        "result_type": "decimal",
    }
    r = api.post("/api/v1/meta/entities/lead/fields", json=virtual)
    assert r.status_code == 422
    assert r.json["errors"][0]["message"] == (
        "py_double() has no SQL form, and a virtual formula is computed by the database (at 1:1);"
        " use functions with an SQL form or make the formula stored: true"
    )
    stored = api.post("/api/v1/meta/entities/lead/fields", json={**virtual, "stored": True})
    assert stored.status_code == 201, stored.json
    lead = api.post(
        "/api/v1/records/lead", json={"last_name": "A", "company": "c", "estimated_budget": 7}
    )
    assert lead.status_code == 201 and lead.json["twice"] == "14.00"
    assert api.get("/api/v1/records/lead").status_code == 200


def test_register_blueprints_adds_routes(plugin_env):
    app, _, _ = plugin_env
    assert app.test_client().get("/sample/ping").json == {"pong": True, "tenants": ["default"]}


def test_demo_data_hook(plugin_env):
    _, runtime, _ = plugin_env
    state = runtime.tenant()
    service = RecordService(state, Context.system("default", 1), runtime.pm)
    results = runtime.pm.hook.metacrm_demo_data(
        runtime=runtime, tenant="default", service=service, context=service.context
    )
    merged = {k: v for r in results for k, v in (r or {}).items()}
    assert merged["plugin_lead"] == 1 and merged["opportunity"] == 200


def test_every_hookspec_has_a_test_and_a_docstring():
    """Meta-test (as Datasette's): a new hook without a test or docstring fails here."""
    specs = [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("metacrm_")
    ]
    assert specs
    plugin_text = Path(sample_plugin.__file__).read_text()
    test_names = [
        name
        for path in Path(__file__).parent.glob("test_*.py")
        for name in re.findall(r"^def (test_\w+)\(", path.read_text(), re.M)
    ]
    for name in specs:
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"
        assert f"def {name}(" in plugin_text, f"{name} is not implemented by the sample plugin"
        short = name.removeprefix("metacrm_").removesuffix("s")  # metadata_package, scheduled
        assert any(short in test for test in test_names), f"no test_..{short}.. for {name}"


def test_automation_actions_hook_runs_plugin_actions(plugin_env):
    _, runtime, api = plugin_env
    lead = api.post("/api/v1/records/lead", json={"last_name": "Plugged", "company": "p"}).json
    assert api.get(f"/api/v1/records/lead/{lead['id']}").json["sample_score"] == 7
    notes = [
        x["detail"] for x in api.get(f"/api/v1/records/lead/{lead['id']}/executions").json["data"]
    ]
    assert "sample_score_on_create: sample.score: scored 7" in notes
    other = api.post("/api/v1/records/lead", json={"last_name": "Plain", "company": "p"}).json
    assert api.get(f"/api/v1/records/lead/{other['id']}").json["sample_score"] is None


def test_system_tables_and_patches_hooks_give_a_plugin_its_own_tables(plugin_env):
    from sqlalchemy import insert, select, text

    _, runtime, _ = plugin_env
    state = runtime.tenant()
    ticks = state.system["sample_ticks"]
    with state.write.begin() as conn:
        conn.execute(insert(ticks).values(tenant="default", note="hello"))
    with state.engine.connect() as conn:
        assert conn.execute(select(ticks.c.note)).scalar_one() == "hello"
        logged = dict(conn.execute(text("SELECT name, ran FROM _patches")).all())
    assert {k: bool(v) for k, v in logged.items()} == {  # a new database runs none of them
        "platform.users_language": False,
        "sample.ticks_note": False,
    }
