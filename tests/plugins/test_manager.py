"""Plugin discovery: default plugins, METACRM_PLUGINS and installed entry points, each once."""

from metacrm.plugins.manager import make_plugin_manager
from tests.plugins import sample_plugin


def test_a_plugin_named_in_settings_and_installed_as_an_entry_point_loads_once(
    tmp_path, monkeypatch
):
    dist = tmp_path / "sample_plugin_dist-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sample-plugin-dist\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[metacrm.plugins]\nsample = tests.plugins.sample_plugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = make_plugin_manager(("tests.plugins.sample_plugin",))
    registered = [p for p in pm.get_plugins() if p is sample_plugin]
    assert registered == [sample_plugin]
    alone = make_plugin_manager()  # found through the entry point alone
    assert alone.get_plugin("sample") is sample_plugin
