"""Duplicate rules (warn/block on normalized keys) and merging records."""

from metacrm.platform.db.duplicates import normalize


def test_normalizers():
    assert normalize("email", "  Li.Wei@Example.COM ") == "li.wei@example.com"
    assert normalize("phone", "+86 (10) 1234-5678") == "861012345678"
    assert normalize("text", "ACME, Inc.") == normalize("text", "Acme") == "acme"
    assert normalize("text", "Zürich Trading GmbH") == "zurich trading"
    assert (
        normalize("text", "北京星辰科技有限公司")
        == normalize("text", "北京星辰科技")
        == "北京星辰科技"
    )
    assert normalize("text", "  ") is None and normalize("phone", "n/a") is None


def test_chinese_company_names_compare_fuzzily():
    same = [
        "深圳星河科技有限公司",
        "深圳星河科技",
        "深圳市星河科技有限公司",
        "深圳 星河科技 有限公司",
        "深圳星河科技（集团）股份有限公司",
        "深圳星河科技有限责任公司",
    ]
    assert {normalize("text", name) for name in same} == {"深圳星河科技"}
    assert normalize("text", "ＡＣＭＥ　Ｌｔｄ．") == normalize("text", "Acme Ltd") == "acme"
    assert normalize("text", "Acme星河") == normalize("text", "ACME 星河") == "acme星河"
    assert normalize("text", "深圳星辰科技") != normalize("text", "深圳星河科技")
    assert normalize("text", "城市之光") == "城市之光"  # 市 is only dropped after a place name


def test_changed_normalization_recomputes_stored_keys(env):
    """Keys stored under an older normalize() are recomputed by the next plan."""
    from sqlalchemy import select, update

    from metacrm.platform.db import migrations

    api = env.api
    first = api.post("/api/v1/records/contact", json={"last_name": "Li", "email": "li@x.com"})
    state = env.state()
    table = state.tables["contact"]
    with state.write.begin() as conn:  # as an older version would have stored it
        conn.execute(update(table).values(_dup_same_email="LI@X.COM (old form)"))
        versions = state.system["meta_versions"]
        last = conn.execute(
            select(versions.c.id, versions.c.model).order_by(versions.c.id.desc())
        ).first()
        model = {**last.model}
        model["entities"] = {
            name: {k: v for k, v in e.items() if k != "duplicate_key_version"}
            for name, e in model["entities"].items()
        }
        conn.execute(update(versions).where(versions.c.id == last.id).values(model=model))
    with state.write.begin() as conn:
        plan = migrations.sync_model(conn, state.model)
    assert ("backfill_duplicates", "contact", "same_email") in [
        (s.op, s.table, s.name) for s in plan.steps
    ]
    with state.engine.connect() as conn:  # stored anew: the next load does not sync again
        assert not migrations.needs_sync(migrations.latest_version(conn, state.system), state.model)
    again = api.post("/api/v1/records/contact", json={"last_name": "Lee", "email": "LI@x.com"})
    assert again.status_code == 409 and again.json["errors"][0]["duplicates"] == [first.json["id"]]


def test_block_rule_refuses_duplicate_emails(env):
    api = env.api
    first = api.post(
        "/api/v1/records/contact", json={"last_name": "Li", "email": "li@example.com"}
    ).json["id"]
    # contact.email is also unique; the duplicate rule normalizes, so case and spaces do not escape it
    r = api.post("/api/v1/records/contact", json={"last_name": "Lee", "email": " LI@example.com "})
    assert r.status_code == 422 and r.json["errors"] == [  # spaces: not an email at all
        {"field": "email", "message": "Not a valid email address."}
    ]
    r = api.post("/api/v1/records/contact", json={"last_name": "Lee", "email": "LI@EXAMPLE.COM"})
    assert (
        r.status_code == 409
        and r.json["errors"][0]["rule"] == "same_email"
        and r.json["errors"][0]["duplicates"] == [first]
    )
    bulk = api.post(
        "/api/v1/records/contact",
        json=[
            {"last_name": "A", "email": "x@example.com"},
            {"last_name": "B", "email": "X@example.com"},
        ],
    )
    assert bulk.status_code == 409 and bulk.json["errors"][0]["index"] == 1
    other = api.post(
        "/api/v1/records/contact", json={"last_name": "Lee", "email": "lee@example.com"}
    ).json["id"]
    r = api.patch(f"/api/v1/records/contact/{other}", json={"email": "Li@Example.com"})
    assert r.status_code == 409
    assert (
        api.patch(f"/api/v1/records/contact/{first}", json={"email": "LI@example.com"}).status_code
        == 200
    )  # itself


def test_warn_rule_writes_and_reports(tmp_path, backend):
    from tests.conftest import env_with
    from tests.metadata.helpers import write_package

    pkg = write_package(
        tmp_path / "pkgs",
        "dupes",
        files={
            "entities/account.yaml": "extend: account\nduplicate_rules:\n  - {name: same_name, fields: [name], action: warn}\n"
        },
    )
    with env_with(tmp_path, backend, (pkg,)) as env:
        api = env.api
        first = api.post("/api/v1/records/account", json={"name": "Acme Inc."}).json
        assert "warnings" not in first
        second = api.post("/api/v1/records/account", json={"name": "ACME"})
        assert second.status_code == 201 and second.json["warnings"] == [
            {"rule": "same_name", "duplicates": [first["id"]]}
        ]
        assert "warnings" not in api.get(f"/api/v1/records/account/{second.json['id']}").json


def test_adding_a_rule_backfills_existing_rows(env):
    api = env.api
    first = api.post(
        "/api/v1/records/lead",
        json={"last_name": "Li", "company": "Northwind Ltd", "phone": "+1 555 0100"},
    ).json["id"]
    rule = {"name": "same_phone", "fields": ["phone"], "action": "block"}
    _, plan = env.runtime.tenants.update_overlay(
        "default", lambda o: {"extend": {"lead": {"duplicate_rules": [rule]}}}
    )
    assert [s.op for s in plan.steps][:2] == ["add_column", "backfill_duplicates"]
    r = api.post(
        "/api/v1/records/lead", json={"last_name": "Wu", "company": "Other", "phone": "1-555-0100"}
    )
    assert r.status_code == 409 and r.json["errors"][0]["duplicates"] == [first]


def test_merge_repoints_references_and_keeps_history(env):
    api = env.api
    winner = api.post("/api/v1/records/account", json={"name": "Acme", "industry": "retail"}).json[
        "id"
    ]
    loser = api.post(
        "/api/v1/records/account", json={"name": "ACME Corp", "website": "https://acme.example.com"}
    ).json["id"]
    contact = api.post("/api/v1/records/contact", json={"last_name": "C", "account": loser}).json[
        "id"
    ]
    deal = api.post("/api/v1/records/opportunity", json={"name": "D", "account": loser}).json["id"]
    child = api.post("/api/v1/records/account", json={"name": "Sub", "parent": loser}).json["id"]
    viewer = api.post(
        "/api/v1/admin/users", json={"username": "v", "password": "v-password-1", "roles": []}
    ).json["id"]
    for target in (loser, winner):  # the loser's write share beats the winner's read share
        access = "write" if target == loser else "read"
        r = api.post(
            f"/api/v1/records/account/{target}/shares", json={"user": viewer, "access": access}
        )
        assert r.status_code == 201
    api.post(f"/api/v1/records/account/{loser}/shares", json={"team": viewer})
    merged = api.post(
        f"/api/v1/records/account/{winner}/merge",
        json={"from": [loser], "fields": {"website": loser}},
    )
    assert merged.status_code == 200, merged.json
    assert (
        merged.json["website"] == "https://acme.example.com" and merged.json["industry"] == "retail"
    )
    moved = api.get(f"/api/v1/records/contact/{contact}").json
    assert moved["account"] == winner
    # repointed as any change is (the same code as on_delete: set_null): version and stamps
    assert moved["version"] == 2 and moved["updated_at"] == merged.json["updated_at"]
    assert api.get(f"/api/v1/records/opportunity/{deal}").json["account"] == winner
    assert api.get(f"/api/v1/records/account/{child}").json["parent"] == winner
    assert api.get(f"/api/v1/records/account/{winner}/shares").json["data"] == [
        {"user": viewer, "access": "write"},
        {"team": viewer, "access": "read"},
    ]
    assert api.get(f"/api/v1/records/account/{loser}").status_code == 404  # in the recycle bin
    winner_history = api.get(f"/api/v1/records/account/{winner}/history").json["data"]
    assert {"operation": "merge", "field": "merged_from", "new": [loser]}.items() <= winner_history[
        -1
    ].items() or any(
        h["operation"] == "merge" and h["field"] == "merged_from" and h["new"] == [loser]
        for h in winner_history
    )
    assert any(
        h["operation"] == "update" and h["field"] == "account" and h["old"] == loser
        for h in api.get(f"/api/v1/records/contact/{contact}/history").json["data"]
    )
    assert (
        api.post(f"/api/v1/records/account/{winner}/merge", json={"from": [winner]}).status_code
        == 422
    )
    assert (
        api.post(f"/api/v1/records/account/{winner}/merge", json={"from": [99999]}).status_code
        == 404
    )
