"""Packs extend processes as they extend entities (`extend:` + `modify:`): the sales_plus
test pack adds a stage with an entry rule (the stage field gains the option), changes a
stage, grants the sales rep more, adds a role and an approval step, and adds to a pool
and a view; mistakes are named in the pack's file."""

from pathlib import Path

import pytest

from metacrm.metadata import load_and_compile
from tests.conftest import user
from tests.metadata.helpers import BASE, write_package
from tests.metadata.test_compiler import errors_of

PACK = Path(__file__).parents[1] / "packs" / "sales_plus"


def test_the_pack_extends_pipeline_roles_approval_pool_and_view():
    model = load_and_compile([BASE, PACK])
    stages = [s.name for s in model.pipelines["sales"].stages]
    assert stages.index("legal_review") == stages.index("closed_won") - 1
    legal = model.pipelines["sales"].stages[stages.index("legal_review")]
    assert legal.entry_rules[0][0] == "amount >= 1000" and legal.probability == 85
    assert model.pipelines["sales"].stages[stages.index("negotiation")].probability == 70
    options = {
        o.value: dict(o.label) for o in model.entities["opportunity"].fields["stage"].spec.options
    }
    assert options["legal_review"] == {"en": "Legal review", "zh-CN": "法务审核"}
    assert "update" in model.roles["sales_rep"].entities["ticket"].actions
    assert "lead" in model.roles["sales_rep"].entities  # the rest of the role is kept
    assert model.roles["legal"].entities["opportunity"].scope == "all"
    steps = [s.name for s in model.approvals["quote_discount"].steps]
    assert steps == ["sales_manager", "legal", "director"]
    pool = model.pools["lead_pool"]
    assert pool.daily_claims == 5 and pool.return_reasons[-1] == "legal_hold"
    assert [m.value for m in pool.members][-1] == "legal"
    assert model.views["opportunity_list"].columns[-1] == "probability"


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        ("pipelines/x.yaml", "extend: salez\nstages: []\n", "extends unknown pipeline 'salez'"),
        (
            "pipelines/x.yaml",
            "extend: sales\nstages:\n  - {name: proposal, category: open}\n",
            "'proposal' exists already: change it under modify:",
        ),
        (
            "pipelines/x.yaml",
            "extend: sales\nstages:\n  - {name: audit, category: open, before: nowhere}\n",
            "no 'nowhere' to place it before",
        ),
        (
            "approvals/x.yaml",
            "extend: quote_discount\nmodify:\n  ceo: {condition: 'discount > 90'}\n",
            "no step 'ceo' (known: sales_manager, director)",
        ),
        ("roles/x.yaml", "extend: sales_rep\nname: other\n", "cannot change"),
        (
            "pipelines/x.yaml",
            "extend: sales\nstages:\n  - {name: audit, category: maybe}\n",
            "the pipeline 'sales' as extended: stages[6].category",
        ),
        ("pools/x.yaml", "extend: lead_pool\nmodify: [1]\n", "maps an item's name"),
    ],
)
def test_mistakes_are_named_in_the_packs_file(tmp_path, file, text, expected):
    pkg = write_package(tmp_path, files={file: text})
    errors = errors_of(BASE, pkg)
    assert any(e.startswith(f"pack/{file}") and expected in e for e in errors), errors


def test_only_a_package_in_depends_on_may_be_extended(tmp_path):
    pkg = write_package(
        tmp_path,
        files={"roles/x.yaml": "extend: sales_rep\nentities: {}\n"},
        depends_on=(),
    )
    errors = errors_of(BASE, pkg)
    assert any("of package 'crm', which is not in depends_on" in e for e in errors), errors


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        ("pipelines/x.yaml", "extend: sales\nstages: []\n", "stages"),
    ],
)
def test_an_empty_extension_changes_nothing(tmp_path, file, text, expected):
    pkg = write_package(tmp_path, files={file: text})
    before = load_and_compile([BASE]).pipelines["sales"]
    assert load_and_compile([BASE, pkg]).pipelines["sales"] == before


def test_a_rep_meets_the_packs_stage_rule(tmp_path):
    from tests.conftest import build_env, drop_schemas

    env = build_env(tmp_path, "sqlite", (PACK,))
    try:
        _uid, rita = user(env, "rita", ["sales_rep"])
        account = rita.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
        contact = rita.post(
            "/api/v1/records/contact", json={"last_name": "Li", "account": account}
        ).json["id"]
        deal = rita.post(
            "/api/v1/records/opportunity",
            json={
                "name": "Small",
                "account": account,
                "primary_contact": contact,
                "amount": 10,
                "close_date": "2027-01-01",
            },
        ).json
        moved = rita.patch(
            f"/api/v1/records/opportunity/{deal['id']}",
            json={"stage": "legal_review", "version": deal["version"]},
        )
        assert moved.status_code == 422
        assert "Legal reviews deals of 1000 or more" in str(moved.json)
    finally:
        env.runtime.close()
        drop_schemas(env.settings)
