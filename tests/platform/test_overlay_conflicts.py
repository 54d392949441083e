"""Upgrade safety: a tenant's overlay re-applied on a changed base. Pieces that no longer
fit are set aside with the compiler's reasons (the rest is served); the stored overlay
keeps them until an administrator removes each on /setup/conflicts."""

import copy
import dataclasses
import shutil

import yaml

from metacrm.default_app import PACKAGE_DIR
from metacrm.metadata.compiler import compile_model, read_packages
from metacrm.platform.app import create_app
from metacrm.platform.tenancy.overlay_conflicts import pieces, reconcile, without
from tests.conftest import build_env, drop_schemas, make_settings
from tests.metadata.helpers import BASE, write_package
from tests.platform.test_cli import run
from tests.screens.test_designer import csrf, session


def compiler(*paths):
    packages, errors = read_packages(list(paths))
    assert not errors
    return lambda overlay: compile_model(packages, overlay)


def test_pieces_the_upgraded_base_rejects_are_set_aside_with_their_reasons(tmp_path):
    sales = yaml.safe_load((PACKAGE_DIR / "pipelines" / "sales.yaml").read_text())
    sales["stages"][0]["probability"] = 5  # the tenant's own pipeline
    overlay = {
        "extend": {"lead": {"fields": {"plant": {"type": "text"}, "wechat": {"type": "text"}}}},
        "documents": {"pipeline": {"sales": sales}},
    }
    # before the upgrade it all fits
    model, conflicts = reconcile(compiler(BASE), overlay)
    assert conflicts == () and "plant" in model.entities["lead"].fields
    # the new base version adds its own `plant` and drops the `proposal` stage
    base = tmp_path / "crm"
    shutil.copytree(BASE, base)
    stage_file = base / "entities" / "opportunity.yaml"
    text = stage_file.read_text()
    assert "value: proposal" in text
    stage_file.write_text(
        "\n".join(line for line in text.splitlines() if "value: proposal" not in line)
    )
    base_pipeline = yaml.safe_load((base / "pipelines" / "sales.yaml").read_text())
    base_pipeline["stages"] = [s for s in base_pipeline["stages"] if s["name"] != "proposal"]
    (base / "pipelines" / "sales.yaml").write_text(yaml.safe_dump(base_pipeline))
    upgraded = write_package(
        tmp_path,
        "pack",
        files={"entities/x.yaml": "extend: lead\nfields:\n  plant: {type: integer}\n"},
    )
    model, conflicts = reconcile(compiler(base, upgraded), overlay)
    aside = {c.where: c.errors for c in conflicts}
    assert set(aside) == {"extend.lead.fields.plant", "documents.pipeline.sales"}
    assert any("proposal" in e for e in aside["documents.pipeline.sales"])
    # the rest is served: the tenant's other field; the package's plant and pipeline
    assert "wechat" in model.entities["lead"].fields
    assert model.entities["lead"].fields["plant"].type == "integer"
    assert "proposal" not in [s.name for s in model.pipelines["sales"].stages]


def test_without_takes_out_exactly_the_pieces():
    overlay = {
        "extend": {"lead": {"fields": {"a": {"type": "text"}}, "modify": {"b": {"label": "B"}}}},
        "documents": {"view": {"v": {"name": "v"}}},
    }
    assert pieces(overlay) == [
        ("extend", "lead", "fields", "a"),
        ("extend", "lead", "modify", "b"),
        ("documents", "view", "v"),
    ]
    left = without(overlay, [("extend", "lead", "fields", "a"), ("documents", "view", "v")])
    assert left == {"extend": {"lead": {"modify": {"b": {"label": "B"}}}}}
    assert overlay["documents"]  # the original is untouched
    assert without(copy.deepcopy(left), [("extend", "lead", "modify", "b")]) == {}


def test_a_tenant_on_an_upgraded_pack_is_served_and_lists_its_conflicts(tmp_path):
    grade = "  grade: {type: select, options: [a, b]}\n"
    note = "  grade_note: {type: formula, expression: \"concat(grade, '!')\", result_type: text}\n"
    v1 = write_package(
        tmp_path / "v1",
        "industry",
        files={"entities/lead.yaml": "extend: lead\nfields:\n" + grade + note},
    )
    env = build_env(tmp_path, "sqlite", (v1,))
    try:
        admin = session(env)
        path = "/setup/entities/lead/fields/grade_note"
        token = csrf(admin, path)
        assert admin.post(path, data={"csrf_token": token, "label": "Note"}).status_code == 302
        wechat = {"csrf_token": token, "name": "wechat", "label": "WeChat", "type": "text"}
        assert admin.post("/setup/entities/lead/fields/new", data=wechat).status_code == 302
    finally:
        env.runtime.close()
    # the pack's next version drops the formula: the tenant's relabel of it no longer fits
    v2 = write_package(
        tmp_path / "v2",
        "industry",
        files={"entities/lead.yaml": "extend: lead\nfields:\n" + grade},
        version="2.0.0",
    )
    settings = dataclasses.replace(make_settings(tmp_path, "sqlite", (v2,)))
    app = create_app(settings)
    runtime = app.extensions["metacrm"]
    try:
        state = runtime.tenant("default")
        assert [c.where for c in state.conflicts] == ["extend.lead.modify.grade_note"]
        assert "wechat" in state.model.entities["lead"].fields  # the rest is served
        env_vars = {"METACRM_PACKAGES": str(v2), "METACRM_SECRET_KEY": "test-secret"}
        plan = run(["metadata", "plan"], tmp_path, env_vars).stdout
        assert "set aside (see /setup/conflicts): extend.lead.modify.grade_note" in plan
        upgraded = dataclasses.replace(env, app=app, runtime=runtime)
        admin = session(upgraded)
        home = admin.get("/setup", headers={"Accept": "text/html"}).get_data(as_text=True)
        assert "/setup/conflicts" in home
        page = admin.get("/setup/conflicts", headers={"Accept": "text/html"})
        html = page.get_data(as_text=True)
        assert (
            page.status_code == 200 and "extend.lead.modify.grade_note" in html and "grade" in html
        )
        # other changes still apply while the conflict waits
        token = csrf(admin, "/setup/conflicts")
        more = {"csrf_token": token, "name": "qq", "label": "QQ", "type": "text"}
        assert admin.post("/setup/entities/lead/fields/new", data=more).status_code == 302
        assert runtime.tenant("default").conflicts  # still listed, still stored
        removed = admin.post(
            "/setup/conflicts",
            data={"csrf_token": token, "remove": "extend.lead.modify.grade_note"},
        )
        assert removed.status_code == 302
        state = runtime.tenant("default")
        assert state.conflicts == () and "modify" not in state.overlay["extend"]["lead"]
        assert {"wechat", "qq"} <= set(state.model.entities["lead"].fields)
    finally:
        runtime.close()
        drop_schemas(settings)
