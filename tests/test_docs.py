"""docs/metadata.md stays true: its worked example validates and plans as described."""

import re
from pathlib import Path

import pytest

from metacrm.metadata import load_and_compile
from metacrm.metadata.schema_check import json_schema
from metacrm.platform.db import migrations
from metacrm.platform.db.database import write_engine
from tests.conftest import build_env
from tests.metadata.helpers import BASE, write_package

DOC = Path(__file__).parents[1] / "docs" / "metadata.md"


def write_example(root: Path) -> Path:
    text = DOC.read_text()
    blocks = re.findall(
        r"`(package\.yaml|entities/[a-z_]+\.yaml)`:\n\n```yaml\n(.*?)```", text, re.S
    )
    assert len(blocks) == 3
    pkg = root / "field_service"
    for name, body in blocks:
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    return pkg


def test_worked_example_validates_and_plans_as_documented(tmp_path):
    pkg = write_example(tmp_path)
    model = load_and_compile([BASE, pkg])
    assert "site_visit" in model.entities and model.entities["account"].fields["industry"].required
    env = build_env(tmp_path, "sqlite")
    try:
        compiled = env.runtime.compile({}).content_hash
        assert compiled != model.content_hash
        with write_engine(env.engine()).begin() as conn:
            plan = migrations.sync_model(conn, model)
        assert sorted((s.op, s.table, s.name) for s in plan.steps if s.op != "add_index") == [
            ("add_column", "account", "service_level"),
            ("create_table", "site_visit", None),
            ("create_table", "site_visit__engineers", None),
            ("search_index", "site_visit", None),
        ]
    finally:
        env.runtime.close()


def test_every_field_type_is_documented():
    text = DOC.read_text()
    types = json_schema("entity")["$defs"]["field_common"]["properties"]["type"]["enum"]
    for t in types:
        assert f"| `{t}` |" in text, f"field type {t} is missing from docs/metadata.md"


def test_every_expression_function_is_documented():
    from metacrm.expressions import builtin_registry

    text = (DOC.parent / "expressions.md").read_text()
    for name in builtin_registry():
        assert f"`{name}(" in text, f"function {name} is missing from docs/expressions.md"


def example(section: str) -> str:
    """The first YAML block of a section of docs/metadata.md."""
    text = DOC.read_text().split(section, 1)[1]
    return re.search(r"```yaml\n(.*?)```", text, re.S).group(1)


def test_the_automation_example_compiles(tmp_path):
    body = example("## 5b. Automations").replace("won_deal_handover", "doc_example")
    pkg = write_package(tmp_path, "docs_automation", {"automations/example.yaml": body})
    model = load_and_compile([BASE, pkg])
    automation = model.automations["doc_example"]
    assert [a.kind for a in automation.actions] == ["set", "create", "notify"]
    assert automation.trigger.to_category == "won"


@pytest.mark.parametrize(
    ("section", "folder", "name"),
    [
        ("## 5c. Approval flows", "approvals", "quote_discount"),
        ("## 5d. Pools", "pools", "lead_pool"),
    ],
)
def test_the_approval_and_pool_examples_compile(tmp_path, section, folder, name):
    body = example(section).replace(f"name: {name}", "name: doc_example")
    body = body.replace("default: true", "")
    pkg = write_package(tmp_path, "docs_example", {f"{folder}/example.yaml": body})
    model = load_and_compile([BASE, pkg])
    compiled = getattr(model, folder)["doc_example"]
    assert compiled.entity == ("quote" if folder == "approvals" else "lead")
