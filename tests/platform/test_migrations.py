"""Schema sync: plans are pure; applying one is a single transaction on both backends."""

import pytest
from sqlalchemy import inspect, select, text

from metacrm.metadata.compiler import compile_model, read_packages
from metacrm.platform.db import migrations
from metacrm.platform.db.database import write_engine
from metacrm.platform.db.migrations import (
    LiveTable,
    MigrationFailed,
    MigrationRefused,
    classify_change,
    plan_migration,
)
from tests.metadata.helpers import BASE, write_package


def model_of(*paths, overlay=None):
    packages, errors = read_packages(list(paths))
    assert errors == []
    return compile_model(packages, overlay)


def widget_pkg(tmp_path, version: str, fields: str):
    return write_package(
        tmp_path / version,
        "widgets",
        files={"entities/widget.yaml": f"name: widget\nfields:\n{fields}"},
        version=version,
        depends_on=(),
    )


# -- pure planning -------------------------------------------------------------
@pytest.mark.parametrize(
    ("prev", "new", "expected"),
    [
        ({"type": "text", "max_length": 100}, {"type": "text", "max_length": 200}, "widen"),
        ({"type": "text", "max_length": 200}, {"type": "text", "max_length": 100}, "narrow"),
        ({"type": "text"}, {"type": "integer"}, "retype"),
        ({"type": "text"}, {"type": "long_text"}, "widen"),
        (
            {"type": "decimal", "precision": 18, "scale": 2},
            {"type": "decimal", "precision": 20, "scale": 2},
            "widen",
        ),
        (
            {"type": "decimal", "precision": 18, "scale": 2},
            {"type": "decimal", "precision": 18, "scale": 4},
            "narrow",
        ),
        ({"type": "integer"}, {"type": "decimal", "precision": 30, "scale": 2}, "widen"),
        ({"type": "integer"}, {"type": "decimal", "precision": 18, "scale": 2}, "narrow"),
        ({"type": "select", "options": ["a"]}, {"type": "select", "options": ["a", "b"]}, "same"),
    ],
)
def test_classify_change(prev, new, expected):
    assert classify_change(prev, new) == expected


def test_plan_on_empty_database_creates_every_table():
    model = model_of(BASE)
    plan = plan_migration(model, {}, None)
    creates = [s.table for s in plan.steps if s.op == "create_table"]
    assert sorted(creates) == [
        "account",
        "contact",
        "contract",
        "invoice",
        "lead",
        "opportunity",
        "quote",
        "receivable",
        "ticket",
    ]
    searches = {s.table: s.detail for s in plan.steps if s.op == "search_index"}
    assert searches["account"] == "name, website, phone" and len(searches) == 9
    assert {s.op for s in plan.steps} == {"create_table", "search_index"} and plan.refused == ()


def test_search_indexes_built_by_an_older_ddl_are_rebuilt():
    """A new search.INDEX_VERSION (say, a changed trigger) rebuilds exactly the indexes
    applied under the old one, and nothing else."""
    from metacrm.platform.db import tables as tbl

    model = model_of(BASE)
    _, tables = tbl.model_tables(model)
    live = {
        name: migrations.LiveTable(
            tuple(c.name for c in t.columns), tuple(ix.name for ix in t.indexes)
        )
        for name, t in tables.items()
    }
    previous = migrations.schema_summary(model)
    assert plan_migration(model, live, previous).steps == ()
    del previous["entities"]["account"]["search_version"]  # applied before versions existed
    plan = plan_migration(model, live, previous)
    assert [(s.op, s.table) for s in plan.steps] == [("search_index", "account")]


def test_plan_diffs_columns_renames_and_removals(tmp_path):
    v1 = model_of(
        widget_pkg(tmp_path, "1.0.0", "  a: {type: text}\n  b: {type: text}\n  c: {type: text}\n")
    )
    v2 = model_of(
        widget_pkg(
            tmp_path,
            "2.0.0",
            "  a: {type: text}\n  c2: {type: text, renamed_from: c}\n  d: {type: integer}\n",
        )
    )
    system = [
        "id",
        "owner_id",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "version",
        "deleted_at",
    ]
    live = {
        "widget": LiveTable(
            tuple(system + ["a", "b", "c"]), ("ix_widget_owner_id", "ix_widget_updated_at")
        )
    }
    previous = {
        "content_hash": v1.content_hash,
        "entities": {"widget": {"fields": [{"name": n, "type": "text"} for n in "abc"]}},
    }
    plan = plan_migration(v2, live, previous)
    assert [(s.op, s.name) for s in plan.steps] == [("rename_column", "c2"), ("add_column", "d")]
    assert len(plan.refused) == 1 and plan.refused[0].startswith("widget.b: the field was removed")
    archived = plan_migration(v2, live, previous, allow_destructive=True)
    assert ("archive_column", "b") in [
        (s.op, s.name) for s in archived.steps
    ] and archived.refused == ()


# -- applying on SQLite and PostgreSQL ----------------------------------------------
def sync(env, model, **kw):
    with write_engine(env.engine()).begin() as conn:
        return migrations.sync_model(conn, model, **kw)


def columns(env, table="widget"):
    with env.engine().connect() as conn:
        return [c["name"] for c in inspect(conn).get_columns(table)]


def rows(env, sql):
    with env.engine().connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_adding_fields_to_a_table_with_rows_loses_nothing(env):
    api = env.api
    account = api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    bodies = [
        {"name": f"Deal {i}", "account": account, "amount": i * 10, "stage": "prospecting"}
        for i in range(60)
    ]
    assert api.post("/api/v1/records/opportunity", json=bodies).status_code == 201
    before = rows(env, "SELECT id, name, amount, stage, version FROM opportunity ORDER BY id")
    for body in (
        {"name": "region", "type": "select", "options": ["north", "south"]},
        {"name": "score", "type": "integer", "required": True, "default": 5},
        {"name": "memo", "type": "long_text"},
    ):
        response = api.post("/api/v1/meta/entities/opportunity/fields", json=body)
        assert response.status_code == 201, response.json
        assert [s["op"] for s in response.json["plan"]["steps"]] == ["add_column"]
    after = rows(env, "SELECT id, name, amount, stage, version FROM opportunity ORDER BY id")
    assert before == after and len(after) == 60
    assert rows(env, "SELECT count(*) FROM opportunity WHERE region IS NULL AND memo IS NULL") == [
        (60,)
    ]
    # existing records stay readable; the new required field is enforced on the next write
    first = api.get(f"/api/v1/records/opportunity/{after[0][0]}").json
    assert first["region"] is None and first["name"] == "Deal 0"
    created = api.post("/api/v1/records/opportunity", json={"name": "New", "account": account})
    assert created.status_code == 201 and created.json["score"] == 5


def test_postgres_add_nullable_column_does_not_rewrite_the_table(pg_env):
    env = pg_env
    env.api.post("/api/v1/records/account", json={"name": "Acme"})
    relfile = "SELECT relfilenode FROM pg_class WHERE oid = 'account'::regclass"
    before = rows(env, relfile)
    assert (
        env.api.post(
            "/api/v1/meta/entities/account/fields", json={"name": "nick", "type": "text"}
        ).status_code
        == 201
    )
    assert rows(env, relfile) == before


def test_rename_widen_refuse_and_archive_keep_data(env, tmp_path):
    base = model_of(BASE)
    v1 = model_of(
        BASE,
        widget_pkg(
            tmp_path,
            "1.0.0",
            "  a: {type: text, max_length: 50}\n  b: {type: text}\n  c: {type: integer}\n",
        ),
    )
    assert base.content_hash != v1.content_hash
    sync(env, v1)
    with write_engine(env.engine()).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO widget (created_at, updated_at, version, a, b, c) VALUES (CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, 'alpha', 'beta', 7)"
            )
        )

    renamed = model_of(
        BASE,
        widget_pkg(
            tmp_path,
            "2.0.0",
            "  a: {type: text, max_length: 100}\n  b: {type: text}\n  count: {type: integer, renamed_from: c}\n",
        ),
    )
    plan = sync(env, renamed)
    assert [(s.op, s.name) for s in plan.steps] == [
        ("widen_column", "a"),
        ("rename_column", "count"),
    ]
    assert rows(env, "SELECT a, b, count FROM widget") == [("alpha", "beta", 7)]

    narrowed = model_of(
        BASE,
        widget_pkg(tmp_path, "3.0.0", "  a: {type: text, max_length: 10}\n  count: {type: text}\n"),
    )
    with pytest.raises(MigrationRefused) as info:
        sync(env, narrowed)
    refused = "\n".join(info.value.plan.refused)
    assert (
        "widget.a: text (50,) -> text (10,) narrows" not in refused
    )  # compares with the applied version (100)
    assert "widget.a: text (100,) -> text (10,) narrows a column" in refused
    assert "widget.count: integer" in refused and "changes the type" in refused
    assert "widget.b: the field was removed but its column holds data" in refused
    assert set(columns(env)) >= {"a", "b", "count"}

    dropped_b = model_of(
        BASE,
        widget_pkg(
            tmp_path, "4.0.0", "  a: {type: text, max_length: 100}\n  count: {type: integer}\n"
        ),
    )
    with pytest.raises(MigrationRefused):
        sync(env, dropped_b)
    plan = sync(env, dropped_b, allow_destructive=True)
    archived = f"_archived_b_{dropped_b.content_hash[:8]}"
    assert [s.op for s in plan.steps] == ["archive_column"]
    assert archived in columns(env) and "b" not in columns(env)
    assert rows(env, f"SELECT a, {archived}, count FROM widget") == [("alpha", "beta", 7)]


def test_renamed_from_that_names_nothing_is_refused(env, tmp_path):
    sync(env, model_of(BASE, widget_pkg(tmp_path, "1.0.0", "  a: {type: text}\n")))
    bad = model_of(
        BASE,
        widget_pkg(
            tmp_path, "2.0.0", "  a: {type: text}\n  z: {type: text, renamed_from: ghost}\n"
        ),
    )
    with pytest.raises(MigrationRefused, match="renamed_from 'ghost' names nothing"):
        sync(env, bad)


def test_a_failing_step_rolls_back_the_whole_change(env):
    api = env.api
    for _ in range(2):
        api.post("/api/v1/records/lead", json={"last_name": "Smith", "company": "Same"})
    versions_before = rows(env, "SELECT count(*) FROM _meta_versions")
    overlay = {
        "extend": {
            "lead": {
                "fields": {"newcol": {"type": "text"}},
                "indexes": [{"name": "uq_lead_company", "fields": ["company"], "unique": True}],
            }
        }
    }
    with pytest.raises(MigrationFailed, match="uq_lead_company"):
        env.runtime.tenants.update_overlay("default", lambda _: overlay)
    assert "newcol" not in columns(env, "lead")
    assert rows(env, "SELECT count(*) FROM _meta_versions") == versions_before
    assert rows(env, "SELECT count(*) FROM _overlay") == [(0,)]
    # the API reports it as a problem document, and the tenant keeps working
    response = api.post(
        "/api/v1/meta/entities/lead/fields", json={"name": "dup", "type": "text", "unique": True}
    )
    assert response.status_code == 201  # unique over all-NULL values is fine
    assert env.state().model.entities["lead"].fields["dup"].unique


def test_every_applied_version_is_stored_with_its_plan(env):
    env.api.post("/api/v1/meta/entities/lead/fields", json={"name": "wechat", "type": "text"})
    t = env.state().system["meta_versions"]
    with env.engine().connect() as conn:
        versions = conn.execute(
            select(t.c.content_hash, t.c.plan, t.c.model).order_by(t.c.id)
        ).all()
    assert len(versions) == 2
    assert versions[0].plan["from_hash"] is None and {
        s["op"] for s in versions[0].plan["steps"]
    } == {"create_table", "search_index"}
    assert versions[1].plan["steps"] == [
        {"op": "add_column", "table": "lead", "name": "wechat", "detail": "text, nullable"}
    ]
    assert versions[1].content_hash == env.state().model.content_hash
    assert "wechat" in [f["name"] for f in versions[1].model["entities"]["lead"]["fields"]]


def test_widening_a_search_field_rebuilds_its_index(env, tmp_path):
    """PostgreSQL's search column is generated from the search fields: a widened field
    drops it first and the plan builds it again; search works before and after."""
    from metacrm.platform.db import search

    pkg_v1 = write_package(
        tmp_path / "w1",
        "widgets",
        files={
            "entities/widget.yaml": "name: widget\nsearch_fields: [name]\n"
            "fields:\n  name: {type: text, max_length: 20}\n"
        },
        depends_on=(),
    )
    pkg_v2 = write_package(
        tmp_path / "w2",
        "widgets",
        files={
            "entities/widget.yaml": "name: widget\nsearch_fields: [name]\n"
            "fields:\n  name: {type: text, max_length: 200}\n"
        },
        version="2.0.0",
        depends_on=(),
    )
    v1, v2 = model_of(BASE, pkg_v1), model_of(BASE, pkg_v2)
    sync(env, v1)
    with write_engine(env.engine()).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO widget (created_at, updated_at, version, name) "
                "VALUES (CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, '深圳星河科技')"
            )
        )

    def found(model, q):
        entity = model.entities["widget"]
        from metacrm.platform.db import tables as tbl

        _, tables = tbl.model_tables(model)
        cond, binds = search.search_condition(
            entity, tables["widget"], env.engine().dialect.name, q
        )
        from sqlalchemy import select

        with env.engine().connect() as conn:
            return conn.execute(select(tables["widget"].c.name).where(cond), binds).scalars().all()

    assert found(v1, "星河") == ["深圳星河科技"]
    plan = sync(env, v2)
    assert [(s.op, s.name or s.detail) for s in plan.steps] == [
        ("widen_column", "name"),
        ("search_index", "name"),
    ]
    assert found(v2, "星河科技") == ["深圳星河科技"]
