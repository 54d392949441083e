"""A plugin's action in the automation editor: its params are a form drawn from the
action's params_schema; a value the schema refuses is named on the action and nothing
is saved; an admin adds the action to a new automation from the menu and it runs."""

import pytest

from metacrm.testing import env_fixture
from tests.screens.conftest import current_form
from tests.screens.test_designer import csrf, session

EDIT = "/setup/automations/sample_score_on_create"
NEW = "/setup/entities/lead/automations/new"


@pytest.fixture
def plugin_env(tmp_path):
    yield from env_fixture(tmp_path, "sqlite", plugins=("tests.plugins.sample_plugin",))


def test_params_are_a_form_checked_against_the_schema(plugin_env):
    env = plugin_env
    admin = session(env)
    page = admin.get(EDIT, headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-param="score"' in page and 'name="param.0.score" value="7"' in page
    assert "<h1>sample_score_on_create" in page  # an unlabelled automation shows its name
    form = current_form(admin, EDIT)
    form["csrf_token"] = [csrf(admin, EDIT)]
    before = env.api.get("/api/v1/meta/entities").json["content_hash"]
    too_big = admin.post(EDIT, data={**form, "param.0.score": ["12"]})
    assert too_big.status_code == 422
    assert "12 is greater than the maximum of 10" in too_big.get_data(as_text=True)
    not_a_number = admin.post(EDIT, data={**form, "param.0.score": ["high"]})
    assert not_a_number.status_code == 422
    assert 'id="e-param.0.score"' in not_a_number.get_data(as_text=True)
    assert env.api.get("/api/v1/meta/entities").json["content_hash"] == before
    saved = admin.post(EDIT, data={**form, "param.0.score": ["9"]})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    [action] = env.state().model.automations["sample_score_on_create"].actions
    assert action.params == {"score": 9}


def test_add_a_plugin_action_to_a_new_automation_and_it_runs(plugin_env):
    env = plugin_env
    admin = session(env)
    form = {
        "csrf_token": csrf(admin, NEW),
        "name": "score_partners",
        "enabled": "true",
        "on": "created",
        "condition": "last_name = 'Partner'",
        "add_action": "plugin:sample.score",
    }
    added = admin.post(NEW, data=form).get_data(as_text=True)
    assert 'name="plugin_name.0" value="sample.score"' in added and 'data-param="score"' in added
    del form["add_action"]
    form.update({"action": "0", "kind.0": "plugin", "plugin_name.0": "sample.score"})
    assert admin.post(NEW, data={**form, "param.0.score": "3"}).status_code == 302
    lead = env.api.post("/api/v1/records/lead", json={"last_name": "Partner", "company": "P"})
    env.run_outbox()
    assert env.api.get(f"/api/v1/records/lead/{lead.json['id']}").json["sample_score"] == 3
