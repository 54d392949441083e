from click.testing import CliRunner

from metacrm.platform.cli import main
from tests.metadata.helpers import BASE, write_package


def test_validate_ok_exits_zero():
    result = CliRunner().invoke(main, ["metadata", "validate", str(BASE)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "ok: 9 entities, 1 pipelines, 2 views, 3 approval flows, 5 automations"
    )


def test_validate_lists_every_error_and_exits_one(tmp_path):
    pkg = write_package(
        tmp_path,
        files={
            "entities/a.yaml": "name: a1\nfields:\n  x: {type: nope}\n",
            "entities/b.yaml": "name: b1\nfields:\n  id: {type: text}\n  r: {type: reference, entity: ghost}\n",
        },
    )
    result = CliRunner().invoke(main, ["metadata", "validate", str(pkg)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1] == "3 error(s)"
    assert any(
        line.startswith("pack/entities/a.yaml:3 fields.x.type: 'nope' is not one of")
        for line in lines
    )
    assert any(
        line.startswith("pack/entities/b.yaml:3 fields.id: 'id' is a reserved name")
        for line in lines
    )
    assert any(
        line.startswith("pack/entities/b.yaml:4 fields.r.entity: unknown entity 'ghost'")
        for line in lines
    )


def test_validate_alone_reports_missing_dependency(tmp_path):
    pkg = write_package(
        tmp_path, files={"entities/x.yaml": "extend: lead\nfields:\n  a: {type: text}\n"}
    )
    result = CliRunner().invoke(main, ["metadata", "validate", "--alone", str(pkg)])
    assert result.exit_code == 1
    assert "depends on package 'crm', which is not installed" in result.output


def test_validate_type_checks_expressions(tmp_path):
    pkg = write_package(
        tmp_path,
        files={
            "entities/x.yaml": 'extend: lead\nfields:\n  score: {type: formula, expression: "estimated_budgt * 2", result_type: decimal}\n'
        },
    )
    result = CliRunner().invoke(main, ["metadata", "validate", str(pkg)])
    assert result.exit_code == 1
    assert (
        "pack/entities/x.yaml:3 fields.score.expression: unknown field 'estimated_budgt' (at 1:1)"
        in result.output
    )


def test_validate_uses_the_runtime_plugins_and_packages(tmp_path):
    """A pack that calls a plugin's function and uses its field type, on top of a pack
    from METACRM_PACKAGES."""
    lower = write_package(
        tmp_path / "lower",
        "lower",
        files={"entities/gizmo.yaml": "name: gizmo\nfields:\n  price: {type: decimal}\n"},
    )
    upper = write_package(
        tmp_path / "upper",
        "upper",
        files={
            "entities/gizmo.yaml": "extend: gizmo\nfields:\n"
            "  gross: {type: formula, result_type: decimal, stored: true, expression: 'vat(price)'}\n"
            "  fit: {type: rating, stars: 4}\n"  # the plugin's field type
        },
        depends_on=("crm", "lower"),
    )
    alone = CliRunner().invoke(
        main, ["metadata", "validate", str(upper)], env={"METACRM_PACKAGES": ""}
    )
    assert alone.exit_code == 1
    assert "fields.fit.type: 'rating' is not one of" in alone.output
    env = {"METACRM_PLUGINS": "tests.plugins.sample_plugin", "METACRM_PACKAGES": str(lower)}
    result = CliRunner().invoke(main, ["metadata", "validate", str(upper)], env=env)
    assert result.exit_code == 0, result.output


def test_a_typo_is_reported_once_not_as_a_cascade(tmp_path):
    pkg = write_package(
        tmp_path,
        files={
            "entities/course.yaml": "name: course\nfields:\n  title: {type: text}\n"
            "  capacity: {type: int}\n",
            "entities/enrollment.yaml": "name: enrollment\nfields:\n"
            "  course: {type: reference, entity: course}\n",
            "pipelines/more.yaml": "extend: sales\nstages:\n  - {name: audit, category: opne}\n",
        },
    )
    result = CliRunner().invoke(main, ["metadata", "validate", str(pkg)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and lines[-1] == "2 error(s)", result.output
    assert lines[0].startswith(
        "pack/entities/course.yaml:4 fields.capacity.type: 'int' is not one of"
    )
    assert lines[1].startswith("pack/pipelines/more.yaml")
    assert "the pipeline 'sales' as extended: stages[6].category: 'opne' is not one of" in lines[1]
