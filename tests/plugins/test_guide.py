"""docs/plugins.md is true: its `plugin` code blocks, put together, are a working
plugin, and its `test` blocks pass against it (with the education pack), run the way an
integrator runs them (the kit's fixtures, both databases)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
PACK = ROOT / "tests" / "packs" / "education"

HEADER = f"""
from pathlib import Path

import pytest

import school_plugin


@pytest.fixture
def env(metacrm_env):
    return metacrm_env(packages=[Path({str(PACK)!r})], plugins=["school_plugin"])

"""


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```python {kind}\n(.*?)```", GUIDE.read_text(), re.S)


def test_the_guide_is_a_working_plugin_and_its_tests_pass(tmp_path):
    plugin, tests = blocks("plugin"), blocks("test")
    assert len(plugin) >= 6 and len(tests) >= 5
    (tmp_path / "school_plugin.py").write_text("\n\n".join(plugin))
    (tmp_path / "test_school.py").write_text(HEADER + "\n\n".join(tests))
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["metacrm.testing"]\n')
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    both = bool(os.environ.get("METACRM_TEST_DATABASE_URL"))
    expected = f"{len(tests) * 2} passed" if both else f"{len(tests)} passed"
    assert expected in result.stdout, result.stdout[-2000:]
