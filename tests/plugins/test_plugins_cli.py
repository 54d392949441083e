"""`metacrm plugins` lists every loaded plugin with its hooks and what it contributes,
so an integrator sees at once whether their plugin loaded and what it added."""

import json

from click.testing import CliRunner

from metacrm.platform.cli import main


def test_lists_plugins_hooks_and_contributions(tmp_path):
    env = {"METACRM_PLUGINS": "tests.plugins.sample_plugin", "METACRM_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["plugins", "--json"], env=env)
    assert result.exit_code == 0, result.output
    found = {p["name"]: p for p in json.loads(result.output)}
    sample = found["tests.plugins.sample_plugin"]
    assert "metacrm_expression_functions" in sample["hooks"]
    assert sample["functions"] == ["vat", "py_double"]
    assert sample["automation actions"] == ["sample.score"]
    assert sample["action params"]["sample.score"]["required"] == ["score"]
    details = sample["function details"]
    assert details["py_double"]["sql"] is False and details["vat"]["sql"] is True
    assert details["vat"]["doc"] == "20% VAT of an amount"
    assert sample["field types"] == ["rating"]
    assert sample["tables"] == ["_sample_ticks"]
    assert found["metacrm.default_app"]["packages"] == ["crm"]
    text = CliRunner().invoke(main, ["plugins"], env=env).output
    assert "tests.plugins.sample_plugin\n  hooks: " in text
    assert "functions: vat, py_double (Python only)" in text  # not usable in list filters
    assert 'sample.score params {"type": "object"' in text


def test_validate_checks_plugin_action_names_and_params_with_file_and_line(tmp_path):
    """A pack's automation that calls a plugin action is checked against the action's
    params_schema before anything runs: the file, the line and the reason."""
    from tests.metadata.helpers import write_package

    pack = write_package(
        tmp_path,
        "scoring",
        {
            "automations/score.yaml": """
                name: score_leads
                entity: lead
                trigger: {on: created}
                actions:
                  - plugin: {name: sample.score, params: {score: 12}}
                  - plugin: {name: sample.scores, params: {}}
            """
        },
        depends_on=("crm",),
    )
    env = {"METACRM_PLUGINS": "tests.plugins.sample_plugin", "METACRM_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["metadata", "validate", str(pack)], env=env)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(
        "score.yaml:5" in line
        and "sample.score params: 12 is greater than the maximum of 10" in line
        for line in lines
    ), result.output
    assert any(
        "score.yaml:6" in line and "no plugin action 'sample.scores' is installed" in line
        for line in lines
    ), result.output
    assert "2 error(s)" in result.output


def test_a_plugin_action_with_a_broken_schema_or_a_taken_name_stops_the_start():
    """Said once at start, naming the action, rather than at the first automation run."""
    import pytest

    from metacrm.platform.runtime import params_schemas, plugin_actions
    from metacrm.plugins.hookspecs import hookimpl
    from metacrm.plugins.manager import make_plugin_manager
    from metacrm.workflow_engine.actions import PluginAction

    def plugin(*actions):
        class Plugin:
            @hookimpl
            def metacrm_automation_actions(self):
                return list(actions)

        return Plugin()

    def noop(target, params):
        return None

    pm = make_plugin_manager((), default_plugins=())
    pm.register(plugin(PluginAction("a.b", noop, params_schema={"type": "thing"})))
    with pytest.raises(ValueError, match="plugin action 'a.b': params_schema is not a JSON Schema"):
        plugin_actions(pm)
    pm = make_plugin_manager((), default_plugins=())
    pm.register(plugin(PluginAction("a.b", noop)))
    pm.register(plugin(PluginAction("a.b", noop)))
    with pytest.raises(ValueError, match="two plugins add the automation action 'a.b'"):
        plugin_actions(pm)
    pm = make_plugin_manager((), default_plugins=())
    pm.register(plugin(PluginAction("a.b", noop, params_schema={"type": "object"})))
    assert params_schemas(plugin_actions(pm)) == {"a.b": {"type": "object"}}
