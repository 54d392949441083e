from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_follows_metadata(env):
    api = env.api
    api.post(
        "/api/v1/meta/entities/opportunity/fields",
        json={"name": "region", "type": "select", "options": ["north", "south"]},
    )
    doc = api.get("/api/v1/openapi.json").json
    validate(doc)  # an independent OpenAPI 3.1 validator
    assert doc["openapi"] == "3.1.0"
    schemas = doc["components"]["schemas"]
    opp = schemas["opportunity"]["properties"]
    assert opp["region"]["enum"] == ["north", "south", None]
    assert opp["amount"]["type"] == ["number", "null"] and opp["amount"]["minimum"] == 0
    assert opp["code"]["readOnly"] is True
    assert "code" not in schemas["opportunity_input"]["properties"]
    assert set(schemas["opportunity_input"]["required"]) == {"name", "account"}
    assert {
        "/records/opportunity",
        "/records/opportunity/{id}",
        "/meta/entities/{entity}/fields",
    } <= set(doc["paths"])
    assert doc["info"]["version"] == env.state().model.content_hash[:12]


def test_every_field_type_has_a_valid_schema(types_env):
    doc = types_env.api.get("/api/v1/openapi.json").json
    validate(doc)
    gadget = doc["components"]["schemas"]["gadget"]["properties"]
    assert gadget["launch"]["format"] == "date" and gadget["seen_at"]["format"] == "date-time"
    assert gadget["related"]["type"] == ["array", "null"] and gadget["sizes"]["items"]["enum"] == [
        "s",
        "m",
        "l",
    ]


def test_computed_fields_and_filter_are_documented(rules_env):
    doc = rules_env.api.get("/api/v1/openapi.json").json
    validate(doc)
    deal = doc["components"]["schemas"]["deal"]["properties"]
    assert deal["size"]["readOnly"] is True and deal["size"]["type"] == ["string", "null"]
    assert doc["components"]["schemas"]["account"]["properties"]["won_total"]["readOnly"] is True
    params = {p["name"] for p in doc["paths"]["/records/deal"]["get"]["parameters"]}
    assert "filter" in params
