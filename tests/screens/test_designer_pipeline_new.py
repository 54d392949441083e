"""A new pipeline from the designer: an admin gives a tenant's own entity ("Project")
stages in the browser; the entity then has a board, new records start in the first
stage and a card moves. A second pipeline on an existing pick list adds its stages as
options. Bad input is named beside its control and nothing is saved."""

from tests.screens.conftest import current_form, shot, sign_in
from tests.screens.test_designer import csrf, session


def stage_field(env) -> dict:
    fields = env.api.get("/api/v1/meta/entities/project").json["fields"]
    return next(f for f in fields if f["name"] == "stage")


def make_project(admin) -> None:
    token = csrf(admin, "/setup/entities/new")
    made = admin.post(
        "/setup/entities/new",
        data={"csrf_token": token, "label": "Project", "plural": "Projects", "name": "project"},
    )
    assert made.status_code == 302


def test_give_a_new_entity_a_pipeline_and_use_its_board(page, site):
    env, base = site
    make_project(session(env))
    sign_in(page, base)
    page.goto(f"{base}/setup/entities/project")
    page.click("text=New pipeline")
    assert page.input_value("input[name='stage_label.0']") == "New"  # a working start
    page.fill("#f-label", "Delivery")
    page.fill("#f-name", "delivery")
    page.fill("input[name='stage_label.4']", "Testing")
    page.fill("input[name='stage_label_zh.4']", "测试")
    page.fill("input[name='stage_label.5']", "Handed over")
    page.select_option("select[name='stage_category.5']", "won")
    shot(page, "designer-new-pipeline")
    page.click("button:has-text('Create')")
    page.wait_for_url("**/setup/pipelines/delivery")
    assert page.locator("[data-stage]").evaluate_all("els => els.map(e => e.dataset.stage)") == [
        "new",
        "in_progress",
        "done",
        "cancelled",
        "testing",  # in the order typed; dragged into place on this page
        "handed_over",
    ]
    stage = stage_field(env)
    assert stage["type"] == "select" and stage["default"] == "new"
    labels = {o["value"]: o["label"] for o in stage["options"]}
    assert labels["testing"] == {"en": "Testing", "zh-CN": "测试"}
    made = env.api.post("/api/v1/records/project", json={"name": "Warehouse"}).json
    assert made["stage"] == "new"  # new records start in the first stage
    page.goto(f"{base}/app/project/board")
    assert page.locator("section.board-column[data-stage='testing']").count() == 1
    shot(page, "designer-new-pipeline-board")
    moved = env.api.patch(f"/api/v1/records/project/{made['id']}", json={"stage": "testing"})
    assert moved.status_code == 200
    stages = env.api.get(f"/api/v1/records/project/{made['id']}/stages").json["data"]
    assert [s["stage"] for s in stages][-1] == "testing"


def test_a_second_pipeline_on_an_existing_pick_list_and_refusals(site):
    env, _ = site
    admin = session(env)
    make_project(admin)
    path = "/setup/entities/project/pipelines/new"
    zh = admin.get(path, headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
    assert ">未结束<" in zh.get_data(as_text=True)  # a stage category, not "打开" (to open)
    form = current_form(admin, path)
    token = csrf(admin, path)
    form.update({"csrf_token": [token], "label": ["Delivery"], "name": ["delivery"]})
    assert admin.post(path, data=form).status_code == 302
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]

    def refused(**changes):
        answer = admin.post(path, data={**form, **changes})
        assert answer.status_code == 422
        html = answer.get_data(as_text=True)
        assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before
        return html

    assert "already a pipeline named delivery" in refused()
    assert "already a field here" in refused(name=["support"], new_field=["stage"])
    empty = {f"stage_label.{i}": [""] for i in range(8)}
    assert "at least one stage" in refused(name=["support"], new_field=["phase"], **empty)
    assert 'id="e-label"' in refused(name=["support"], new_field=["phase"], label=[""])

    second = {**form, "name": ["support"], "label": ["Support"], "field": ["stage"]}
    second.update({"stage_label.0": ["Waiting on customer"], "stage_category.0": ["open"]})
    second.update({f"stage_label.{i}": [""] for i in range(1, 8)})
    assert admin.post(path, data=second).status_code == 302
    options = [o["value"] for o in stage_field(env)["options"]]
    assert options[-1] == "waiting_on_customer" and options[0] == "new"  # kept, then added
    assert "support" in env.state().model.pipelines
