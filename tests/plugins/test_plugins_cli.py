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
    assert sample["field types"] == ["rating"]
    assert sample["tables"] == ["_sample_ticks"]
    assert found["metacrm.default_app"]["packages"] == ["crm"]
    text = CliRunner().invoke(main, ["plugins"], env=env).output
    assert "tests.plugins.sample_plugin\n  hooks: " in text and "functions: vat, py_double" in text
