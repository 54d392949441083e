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
    assert opp["amount"]["type"] == ["string", "null"] and opp["amount"]["format"] == "decimal"
    written = schemas["opportunity_input"]["properties"]["amount"]
    assert written["type"] == ["string", "number", "null"] and written["minimum"] == 0
    params = {p["name"]: p for p in doc["paths"]["/records/opportunity"]["get"]["parameters"]}
    assert params["amount__gte"]["schema"]["format"] == "decimal"  # filters too
    assert params["amount__gte"]["schema"]["type"] == "string"
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


def test_each_caller_sees_only_what_their_roles_may_read(env):
    from tests.conftest import user

    admin = env.api
    _, agent = user(env, "agent", ["service_agent"])
    doc = agent.get("/api/v1/openapi.json").json
    validate(doc)
    assert "/records/opportunity" not in doc["paths"] and "/records/ticket" in doc["paths"]
    account = doc["components"]["schemas"]["account"]["properties"]
    assert "annual_revenue" not in account and "name" in account
    full = admin.get("/api/v1/openapi.json").json
    assert "annual_revenue" in full["components"]["schemas"]["account"]["properties"]
    assert "/records/opportunity" in full["paths"]
    names = [e["name"] for e in agent.get("/api/v1/meta/entities").json["data"]]
    assert names == ["account", "contact", "ticket"]
    missing = agent.get("/api/v1/records/nothing")
    assert missing.status_code == 404 and missing.json["known"] == ["account", "contact", "ticket"]
    missing = agent.get("/api/v1/meta/entities/nothing")
    assert missing.json["known"] == ["account", "contact", "ticket"]


def test_links_say_what_to_do_with_a_record_the_caller_may_see(env):
    """OpenAPI links: from a created or listed record to reading, changing and deleting it,
    and from a new parent to creating the children that refer to it, within the caller's
    readable model. Followed here as a client would."""
    from tests.conftest import user

    doc = env.api.get("/api/v1/openapi.json").json
    created = doc["paths"]["/records/account"]["post"]["responses"]["201"]["links"]
    assert created["GetAccount"] == {
        "operationId": "get_account",
        "parameters": {"id": "$response.body#/id"},
    }
    assert {"UpdateAccount", "DeleteAccount"} <= set(created)
    child = created["CreateContactWithAccount"]
    assert child == {
        "operationId": "create_contact",
        "requestBody": {"account": "$response.body#/id"},
    }
    assert "CreateOpportunityWithAccount" in created
    listed = doc["paths"]["/records/account"]["get"]["responses"]["200"]["links"]
    assert listed["GetAccount"]["parameters"] == {"id": "$response.body#/data/0/id"}
    operations = {
        op["operationId"]: (path, method)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    account = env.api.post("/api/v1/records/account", json={"name": "Linked"}).json
    path, method = operations[child["operationId"]]
    body = {"last_name": "Follows", **{k: account["id"] for k in child["requestBody"]}}
    contact = getattr(env.api, method)(f"/api/v1{path}", json=body)
    assert contact.status_code == 201 and contact.json["account"] == account["id"]

    _, agent = user(env, "agent", ["service_agent"])
    agent_links = agent.get("/api/v1/openapi.json").json["paths"]["/records/account"]
    assert "CreateOpportunityWithAccount" not in agent_links["post"]["responses"]["201"]["links"]
