"""docs/first-pack.md works as written: its files, written out as shown, validate with
`metacrm metadata validate`, and its Python checks pass on an app with the pack (both
databases)."""

import re
from pathlib import Path

from click.testing import CliRunner

from metacrm.platform.cli import main
from metacrm.testing import env_with, user

TUTORIAL = Path(__file__).parents[1] / "docs" / "first-pack.md"


def write_files(root: Path) -> Path:
    text = TUTORIAL.read_text()
    files = re.findall(r"```yaml file=(\S+)\n(.*?)```", text, re.S)
    assert len(files) >= 8
    for rel, body in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return root / "school"


def test_the_tutorial_pack_validates_and_works(tmp_path, backend):
    pack = write_files(tmp_path / "src")
    result = CliRunner().invoke(
        main, ["metadata", "validate", str(pack)], env={"METACRM_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    [source] = re.findall(r"```python test\n(.*?)```", TUTORIAL.read_text(), re.S)
    namespace: dict = {}
    exec(compile(source, str(TUTORIAL), "exec"), namespace)  # noqa: S102 - our own docs
    with env_with(tmp_path / "app", backend, (pack,)) as env:
        namespace["test_school"](env, user)
