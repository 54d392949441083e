"""A field type added by a plugin (`metacrm_field_types`): the sample plugin's `rating`
(1 to 5 stars) goes from YAML to a column, the API, the OpenAPI document, filters,
aggregates, expressions, imports and exports, on both back ends."""

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import SmallInteger, inspect

from metacrm.metadata.compiler import load_and_compile
from metacrm.metadata.errors import MetadataInvalid
from metacrm.metadata.field_types import FieldType, FieldTypes, builtin_field_types
from metacrm.platform.runtime import expression_registry, field_types
from metacrm.plugins.manager import make_plugin_manager
from tests.conftest import _env_fixture
from tests.plugins.sample_plugin import PACK, RatingType

PLUGIN = ("tests.plugins.sample_plugin",)
DEFAULT_APP = Path(__file__).parents[2] / "metacrm" / "default_app" / "crm"


@pytest.fixture
def rating_env(tmp_path, backend):
    yield from _env_fixture(tmp_path, backend, plugins=PLUGIN)


def lead(api, rating, **extra):
    body = {"last_name": f"L{rating}", "company": "c", "sample_rating": rating, **extra}
    return api.post("/api/v1/records/lead", json=body)


def test_field_types_hook_adds_a_type_with_its_own_column_and_validation(rating_env):
    api = rating_env.api
    with rating_env.engine().connect() as conn:
        columns = {c["name"]: c["type"] for c in inspect(conn).get_columns("lead")}
    assert isinstance(columns["sample_rating"], SmallInteger)  # the type's column, not BIGINT
    created = lead(api, 4)
    assert created.status_code == 201 and created.json["sample_rating"] == 4
    for bad in (6, 0, "4", 2.5):
        refused = lead(api, bad)
        assert refused.status_code == 422, bad
        assert refused.json["errors"][0]["field"] == "sample_rating"
    assert "1 to 5 stars" in lead(api, 6).json["errors"][0]["message"]
    meta = {f["name"]: f for f in api.get("/api/v1/meta/entities/lead").json["fields"]}
    assert meta["sample_rating"]["type"] == "rating" and meta["sample_rating"]["stars"] == 5


def test_field_types_document_their_values_and_filters_in_openapi(rating_env):
    doc = rating_env.api.get("/api/v1/openapi.json").json
    assert doc["components"]["schemas"]["lead"]["properties"]["sample_rating"] == {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": 5,
        "title": "Rating",
    }
    params = doc["paths"]["/records/lead"]["get"]["parameters"]
    by_name = {p["name"]: p["schema"] for p in params}
    assert by_name["sample_rating"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert "sample_rating" in by_name["sort"]["pattern"]


def test_field_types_filter_sort_aggregate_and_compute(rating_env):
    api = rating_env.api
    ids = {r: lead(api, r).json["id"] for r in (2, 4, 5)}

    def found(query):
        response = api.get(f"/api/v1/records/lead?{query}")
        assert response.status_code == 200, response.json
        return [r["id"] for r in response.json["data"]]

    assert found("sample_rating=4") == [ids[4]]
    assert found("sample_rating__gte=4&sort=-sample_rating") == [ids[5], ids[4]]
    assert found("filter=sample_rating%20%3C%203") == [ids[2]]  # expressions read it as integer
    bad = api.get("/api/v1/records/lead?sample_rating=9")
    assert bad.status_code == 400 and "1 to 5 stars" in bad.json["errors"][0]["message"]
    agg = api.get("/api/v1/aggregate/lead?measures=avg:sample_rating,max:sample_rating").json
    row = agg["data"][0] if "data" in agg else agg["groups"][0]
    assert row["avg_sample_rating"] == "3.67"  # an average of integers: a decimal string
    assert row["max_sample_rating"] == 5


def test_field_types_import_their_cells_and_export_their_own_way(rating_env):
    api = rating_env.api
    csv_text = "last_name,company,评分\nA,c,★★★\nB,c,2/5\nC,c,5\nD,c,★★★★★★★\n"
    r = api.client.post(
        "/api/v1/import/lead",
        data=csv_text.encode(),
        query_string={"mode": "skip_bad_rows"},
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.json
    assert (r.json["created"], [(e["row"], e["field"]) for e in r.json["errors"]]) == (
        3,
        [(4, "sample_rating")],
    )
    stored = {
        x["last_name"]: x["sample_rating"] for x in api.get("/api/v1/records/lead").json["data"]
    }
    assert stored == {"A": 3, "B": 2, "C": 5}
    exported = api.get("/api/v1/export/lead", query_string={"sort": "last_name"})
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert [row["sample_rating"] for row in rows] == ["★★★☆☆", "★★☆☆☆", "★★★★★"]
    # what an export writes, an import reads back
    again = api.client.post(
        "/api/v1/import/lead",
        data=exported.data,
        query_string={"dry_run": "true"},
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )
    assert again.status_code == 200 and again.json["errors"] == [], again.json
    assert again.json["mapping"]["columns"]["sample_rating"] == "sample_rating"


def test_field_types_from_plugins_can_be_added_by_a_business_user(rating_env):
    """The meta API (the designer's path) takes the plugin's type, checked like YAML."""
    api = rating_env.api
    added = api.post(
        "/api/v1/meta/entities/account/fields",
        json={"name": "fit", "type": "rating", "stars": 3, "label": "Fit"},
    )
    assert added.status_code == 201, added.json
    account = api.post("/api/v1/records/account", json={"name": "Acme", "fit": 3})
    assert account.status_code == 201 and account.json["fit"] == 3
    assert api.post("/api/v1/records/account", json={"name": "B", "fit": 4}).status_code == 422
    wrong = api.post(
        "/api/v1/meta/entities/account/fields",
        json={"name": "fit2", "type": "rating", "stars": 20},
    )
    assert wrong.status_code == 422
    assert "stars" in str(wrong.json["errors"]) and "20" in str(wrong.json["errors"])


def test_field_types_bad_declarations_name_the_file_and_line(tmp_path):
    pack = tmp_path / "pack"
    (pack / "entities").mkdir(parents=True)
    (pack / "package.yaml").write_text("name: pack\nversion: '1.0.0'\ndepends_on: [crm]\n")
    (pack / "entities" / "lead.yaml").write_text(
        "extend: lead\nfields:\n  fit: {type: rating, stars: 2}\n  vibe: {type: rating, colour: red}\n"
    )
    pm = make_plugin_manager(PLUGIN)
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile(
            [DEFAULT_APP, PACK, pack], registry=expression_registry(pm), field_types=field_types(pm)
        )
    errors = [(e.file, e.line, e.message) for e in exc.value.errors]
    assert any(
        f == "pack/entities/lead.yaml" and line == 3 and "2 is less" in m for f, line, m in errors
    )
    assert any(line == 4 and "colour" in m for _, line, m in errors), errors
    # without the plugin the type is unknown, and the error says which types there are
    with pytest.raises(MetadataInvalid) as exc:
        load_and_compile([DEFAULT_APP, PACK], registry=expression_registry(pm))
    assert any("'rating' is not one of" in e.message for e in exc.value.errors)


def test_field_types_names_are_checked_when_plugins_load():
    class Clash(RatingType):
        name = "text"

    class Bad(RatingType):
        name = "Rating!"

    with pytest.raises(ValueError, match="two field types are named 'text'"):
        builtin_field_types().extended([Clash()])
    with pytest.raises(ValueError, match="field type name 'Rating!'"):
        builtin_field_types().extended([Bad()])
    with pytest.raises(TypeError):
        FieldTypes([object()])  # type: ignore[list-item]
    extended = builtin_field_types().extended([RatingType()])
    assert "rating" not in builtin_field_types() and isinstance(extended["rating"], FieldType)
    assert [t.name for t in extended.added] == ["rating"]
