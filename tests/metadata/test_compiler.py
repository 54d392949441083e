import pytest

from metacrm.metadata import MetadataInvalid, load_and_compile
from metacrm.metadata.compiler import compile_model, read_packages
from tests.metadata.helpers import BASE, write_package


def errors_of(*paths, overlay=None) -> list[str]:
    with pytest.raises(MetadataInvalid) as info:
        if overlay is None:
            load_and_compile(list(paths))
        else:
            packages, errs = read_packages(list(paths))
            assert errs == []
            compile_model(packages, overlay)
    return [str(e) for e in info.value.errors]


def test_default_app_compiles_into_an_immutable_model():
    model = load_and_compile([BASE])
    assert set(model.entities) == {
        "account",
        "contact",
        "lead",
        "opportunity",
        "quote",
        "contract",
        "invoice",
        "ticket",
        "receivable",
    }
    opp = model.entities["opportunity"]
    assert opp.fields["account"].spec.entity == "account"
    assert opp.fields["stage"].spec.values[0] == "prospecting"
    assert model.pipelines["sales"].stages[-1].category == "lost"
    assert len(model.content_hash) == 64
    with pytest.raises(TypeError):
        opp.fields["x"] = None  # mappings are read-only
    with pytest.raises(AttributeError):
        opp.name = "other"


def test_hash_is_stable_and_changes_with_content(tmp_path):
    a = load_and_compile([BASE]).content_hash
    assert load_and_compile([BASE]).content_hash == a
    pkg = write_package(
        tmp_path, files={"entities/x.yaml": "extend: lead\nfields:\n  extra: {type: text}\n"}
    )
    assert load_and_compile([BASE, pkg]).content_hash != a


def test_schema_errors_name_file_line_and_path_and_all_are_reported(tmp_path):
    pkg = write_package(
        tmp_path,
        files={
            "entities/a.yaml": """
                name: gizmo
                fields:
                  title: {type: text}
                  amount: {type: money}
                  code: {type: text, bogus: 1}
                """,
            "entities/b.yaml": """
                name: widget
                fields:
                  size: {type: integer, max_length: 3}
                """,
        },
    )
    errors = errors_of(BASE, pkg)
    assert any(
        e.startswith("pack/entities/a.yaml:4 fields.amount.type: 'money' is not one of")
        for e in errors
    )
    assert any(
        e.startswith("pack/entities/a.yaml:5 fields.code:") and "'bogus' was unexpected" in e
        for e in errors
    )
    assert any(
        e.startswith("pack/entities/b.yaml:3 fields.size:") and "max_length" in e for e in errors
    )


def test_semantic_errors(tmp_path):
    pkg = write_package(
        tmp_path,
        files={
            "entities/thing.yaml": """
                name: thing
                search_fields: [nope]
                fields:
                  id: {type: text}
                  version: {type: integer}
                  status: {type: select, options: []}
                  kind: {type: select, options: [a, a, b], default: c}
                  owner: {type: reference, entity: ghost}
                  old: {type: text, renamed_from: old}
                  newer: {type: text, renamed_from: status}
                  serial: {type: auto_number, pattern: "T-{QQ}-{seq}"}
                  blob: {type: json, unique: true}
                  price: {type: decimal, precision: 4, scale: 6}
                """,
        },
    )
    errors = errors_of(BASE, pkg)
    f = "pack/entities/thing.yaml"
    expected = [
        f"{f}:2 search_fields[0]: unknown field 'nope'",
        f"{f}:4 fields.id: 'id' is a reserved name",
        f"{f}:5 fields.version: 'version' is a reserved name",
        f"{f}:6 fields.status.options: a select field needs at least one option",
        f"{f}:7 fields.kind.options: duplicate option values: ['a']",
        f"{f}:7 fields.kind.default: default 'c' is not one of the options",
        f"{f}:8 fields.owner.entity: unknown entity 'ghost'",
        f"{f}:9 fields.old.renamed_from: renamed_from names the field itself",
        f"{f}:10 fields.newer.renamed_from: renamed_from 'status' names a field that still exists",
        f"{f}:11 fields.serial.pattern: unknown placeholder '{{QQ}}'",
        f"{f}:12 fields.blob.unique: a json field cannot be unique",
        f"{f}:13 fields.price.scale: scale 6 is larger than precision 4",
    ]
    for want in expected:
        assert any(e.startswith(want) for e in errors), (want, errors)


def test_extension_adds_and_modifies_but_never_deletes_or_retypes(tmp_path):
    ok = write_package(
        tmp_path,
        "industry",
        files={
            "entities/opp.yaml": """
                extend: opportunity
                fields:
                  plant: {type: text, label: Plant}
                modify:
                  amount: {label: Contract value, required: true}
                  stage: {options: [prospecting, qualification, proposal, negotiation, closed_won, closed_lost, on_hold]}
                  name: {max_length: 300}
                """
        },
    )
    model = load_and_compile([BASE, ok])
    opp = model.entities["opportunity"]
    assert opp.fields["plant"].origin == "package:industry"
    assert opp.fields["amount"].required and opp.fields["amount"].label["en"] == "Contract value"
    assert "on_hold" in opp.fields["stage"].spec.values
    assert opp.fields["name"].spec.max_length == 300

    retype = write_package(
        tmp_path,
        "retype",
        files={"entities/opp.yaml": "extend: opportunity\nmodify:\n  amount: {type: text}\n"},
    )
    errors = errors_of(BASE, retype)
    assert any(
        "retype/entities/opp.yaml:3 modify.amount: Additional properties are not allowed ('type' was unexpected)"
        in e
        for e in errors
    )
    again = write_package(
        tmp_path,
        "again",
        files={"entities/opp.yaml": "extend: opportunity\nfields:\n  amount: {type: text}\n"},
    )
    errors = errors_of(BASE, again)
    assert any(
        "again/entities/opp.yaml:3 fields.amount: field 'amount' already exists on 'opportunity'"
        in e
        for e in errors
    )


def test_extension_semantics(tmp_path):
    bad = write_package(
        tmp_path,
        "bad",
        files={
            "entities/opp.yaml": """
                extend: opportunity
                modify:
                  stage: {options: [prospecting]}
                  name: {max_length: 10}
                  ghost: {label: x}
                """,
            "entities/other.yaml": "extend: nowhere\nfields:\n  a: {type: text}\n",
        },
    )
    errors = errors_of(BASE, bad)
    assert any(
        "modify.stage.options: an extension may add or relabel options but not remove them" in e
        for e in errors
    )
    assert any("modify.name.max_length: max_length can only grow (200 -> 10" in e for e in errors)
    assert any("modify.ghost: cannot modify 'ghost'" in e for e in errors)
    assert any(
        "bad/entities/other.yaml:1 extend: extends unknown entity 'nowhere'" in e for e in errors
    )


def test_extend_requires_depends_on(tmp_path):
    pkg = write_package(
        tmp_path,
        "loose",
        depends_on=(),
        files={"entities/x.yaml": "extend: lead\nfields:\n  a: {type: text}\n"},
    )
    errors = errors_of(BASE, pkg)
    assert any(
        "extends unknown entity 'lead' (it is defined by package:crm, which is not in depends_on)"
        in e
        for e in errors
    )


def test_dependencies_missing_and_cycles(tmp_path):
    a = write_package(tmp_path, "alpha", depends_on=("beta",))
    b = write_package(tmp_path, "beta", depends_on=("alpha",))
    c = write_package(tmp_path, "gamma", depends_on=("nothere",))
    errors = errors_of(a, b, c)
    assert any("dependency cycle: alpha -> beta -> alpha" in e for e in errors)
    assert any("depends on package 'nothere', which is not installed" in e for e in errors)


def test_entity_defined_twice(tmp_path):
    pkg = write_package(
        tmp_path, files={"entities/lead.yaml": "name: lead\nfields:\n  a: {type: text}\n"}
    )
    errors = errors_of(BASE, pkg)
    assert any(
        "entity 'lead' is already defined by package:crm" in e and "use `extend: lead`" in e
        for e in errors
    )


def test_overlay_is_applied_last_and_checked(tmp_path):
    overlay = {
        "extend": {
            "lead": {
                "fields": {"wechat": {"type": "text"}},
                "modify": {"company": {"hidden": True}},
            }
        },
        "entities": {
            "visit": {"name": "visit", "fields": {"lead": {"type": "reference", "entity": "lead"}}}
        },
    }
    packages, _ = read_packages([BASE])
    model = compile_model(packages, overlay)
    assert model.entities["lead"].fields["wechat"].origin == "overlay"
    assert model.entities["lead"].fields["company"].hidden
    assert model.entities["visit"].origin == "overlay"
    errors = errors_of(
        BASE, overlay={"extend": {"lead": {"modify": {"company": {"type": "integer"}}}}}
    )
    assert any(e.startswith("tenant overlay extend.lead.modify.company") for e in errors)


def test_overlay_conflict_with_upgraded_base_is_reported(tmp_path):
    """A tenant added `plant`; a later base version adds `plant` too: reported, not dropped."""
    upgraded = write_package(
        tmp_path,
        "pack",
        files={"entities/x.yaml": "extend: lead\nfields:\n  plant: {type: integer}\n"},
    )
    overlay = {"extend": {"lead": {"fields": {"plant": {"type": "text"}}}}}
    errors = errors_of(BASE, upgraded, overlay=overlay)
    assert any("tenant overlay extend.lead.fields.plant" in e and "conflict" in e for e in errors)


def test_pipeline_and_view_checks(tmp_path):
    pkg = write_package(
        tmp_path,
        files={
            "pipelines/p.yaml": """
                name: leads
                entity: lead
                field: status
                stages:
                  - {name: new, category: open, requires: [nope]}
                  - {name: gone, category: lost, transitions: [missing]}
                """,
            "views/v.yaml": """
                name: lead_list
                entity: lead
                kind: list
                columns: [company, nope]
                sort: [-ghost]
                """,
        },
    )
    errors = errors_of(BASE, pkg)
    assert any(
        "pack/pipelines/p.yaml:5 stages[0].requires[0]: unknown field 'nope'" in e for e in errors
    )
    assert any(
        "pack/pipelines/p.yaml:6 stages[1].name: stage 'gone' is not an option" in e for e in errors
    )
    assert any("stages[1].transitions[0]: unknown stage 'missing'" in e for e in errors)
    assert any("pack/views/v.yaml:4 columns[1]: unknown field 'nope'" in e for e in errors)
    assert any("pack/views/v.yaml:5 sort[0]: unknown field 'ghost'" in e for e in errors)


def test_every_field_type_compiles():
    from tests.conftest import FIXTURES

    model = load_and_compile([BASE, FIXTURES / "types_pkg"])
    gadget = model.entities["gadget"]
    types = {f.type for f in gadget.fields.values()} | {
        f.type for f in model.entities["account"].fields.values()
    }
    from metacrm.metadata.schema_check import json_schema

    declared = set(json_schema("entity")["$defs"]["field_common"]["properties"]["type"]["enum"])
    assert declared <= types
    assert not gadget.fields["related"].stored and gadget.fields["total"].stored


def test_every_expression_is_type_checked_with_file_and_line(tmp_path):
    pkg = write_package(
        tmp_path,
        files={
            "entities/deal.yaml": """
                name: deal
                fields:
                  amount: {type: currency}
                  qty: {type: integer}
                  total: {type: formula, expression: "amout * qty", result_type: currency}
                  label: {type: formula, expression: "amount > 1", result_type: text}
                  due: {type: date, default_expression: "'tomorrow'"}
                  note: {type: text, visible_if: "qty", required_if: "account.industry = 'x'"}
                  account: {type: reference, entity: account}
                  a: {type: formula, expression: "b + 1", result_type: integer}
                  b: {type: formula, expression: "a + 1", result_type: integer}
                validation_rules:
                  - {name: positive, expression: "amount >= 0 and", message: Amount cannot be negative}
                  - {name: ok, expression: "amount >= 0 and account.industry in ['retail']", message: fine}
                """,
            "views/v.yaml": 'name: deals\nentity: deal\nkind: list\ncolumns: [amount]\nfilter: "foo(1)"\n',
        },
    )
    errors = errors_of(BASE, pkg)
    f = "pack/entities/deal.yaml"
    expected = [
        f"{f}:5 fields.total.expression: unknown field 'amout' (at 1:1)",
        f"{f}:6 fields.label.expression: the result must be text, but this expression gives boolean",
        f"{f}:7 fields.due.default_expression: the result must be date, but this expression gives text",
        f"{f}:8 fields.note.visible_if: a condition must be true or false, but this expression gives integer",
        f"{f}:10 fields.a.expression: formula cycle: deal.a -> deal.b -> deal.a",
        f"{f}:13 validation_rules[0].expression: the expression ends too early (at 1:13)",
        "pack/views/v.yaml:5 filter: unknown function 'foo'",
    ]
    for want in expected:
        assert any(e.startswith(want) for e in errors), (want, errors)
    assert not any("validation_rules[1]" in e or "required_if" in e for e in errors)


def test_words_of_the_screens_urls_are_not_entity_names(tmp_path):
    pkg = write_package(
        tmp_path,
        files={"entities/search.yaml": "name: search\nfields:\n  term: {type: text}\n"},
    )
    assert errors_of(BASE, pkg) == [
        "pack/entities/search.yaml:1 name: 'search' is a reserved name (a word of the screens' URLs)"
    ]


def test_navigation_sections_name_known_entities_once(tmp_path):
    model = load_and_compile([BASE])
    assert [s.label["en"] for s in model.navigation] == ["Sales", "Finance", "Service"]
    assert model.navigation[0].entities[:2] == ("lead", "account")
    pkg = write_package(
        tmp_path,
        files={"entities/course.yaml": "name: course\nfields:\n  title: {type: text}\n"},
    )
    manifest = pkg / "package.yaml"
    manifest.write_text(
        manifest.read_text()
        + "navigation:\n"
        + "  - label: {en: Training}\n"
        + "    entities: [course, lesson]\n"
        + "  - label: Again\n"
        + "    entities: [account]\n"
    )
    errors = errors_of(BASE, pkg)
    assert errors[0].startswith(
        "pack/package.yaml:6 navigation[0].entities[1]: unknown entity 'lesson'"
    )
    assert (
        errors[1]
        == "pack/package.yaml:8 navigation[1].entities[0]: 'account' is already in section 'Sales'"
    )
    assert len(errors) == 2


def _sales_pipeline() -> dict:
    import yaml

    return yaml.safe_load((BASE / "pipelines" / "sales.yaml").read_text())


def test_an_overlay_document_replaces_the_packages_whole(tmp_path):
    packages, errs = read_packages([BASE])
    assert errs == []
    base = compile_model(packages)
    pipeline = _sales_pipeline()
    pipeline["stages"][0]["probability"] = 5
    pipeline["stages"][1]["requires"] = ["primary_contact", "close_date"]
    model = compile_model(packages, {"documents": {"pipeline": {"sales": pipeline}}})
    stages = model.pipelines["sales"].stages
    assert stages[0].probability == 5 and "close_date" in stages[1].requires
    assert model.content_hash != base.content_hash

    broken = _sales_pipeline()
    broken["stages"][0]["name"] = "cold"  # not an option of the stage field
    errors = errors_of(BASE, overlay={"documents": {"pipeline": {"sales": broken}}})
    assert any("cold" in e and "not an option" in e for e in errors)
    misnamed = errors_of(BASE, overlay={"documents": {"pipeline": {"other": _sales_pipeline()}}})
    assert misnamed == ["tenant overlay documents.pipeline.other.name: must be 'other', its key"]
    unknown_kind = errors_of(BASE, overlay={"documents": {"report": {}}})
    assert len(unknown_kind) == 1 and "report" in unknown_kind[0]


def test_a_form_view_names_its_related_lists_by_their_reference(tmp_path):
    view = """
        name: account_form
        entity: account
        kind: form
        sections: [{fields: [name]}]
        related: [opportunity.account, lead.company, nothing.here]
        """
    pkg = write_package(tmp_path, files={"views/v.yaml": view})
    errors = errors_of(BASE, pkg)
    assert any("related[1]" in e and "'lead.company' is not a reference" in e for e in errors)
    assert any("related[2]" in e for e in errors)
    assert not any("related[0]" in e for e in errors)


def test_a_tenant_entity_names_its_navigation_section():
    entity = {"name": "course", "fields": {"name": {"type": "text"}}, "nav_section": "Sales"}
    model = load_and_compile([BASE], {"entities": {"course": entity}})
    [sales] = [s for s in model.navigation if s.label["en"] == "Sales"]
    assert sales.entities[-1] == "course"
    entity["nav_section"] = "Nowhere"
    errors = errors_of(BASE, overlay={"entities": {"course": entity}})
    assert any("no navigation section 'Nowhere'" in e and "Sales" in e for e in errors)
