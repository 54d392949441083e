"""A stored formula whose result does not fit its column is a 422 naming the field, on
both databases (PostgreSQL would otherwise fail the insert with a numeric overflow: a
500). Found by schemathesis once bulk create got its own operation."""


def test_a_formula_too_large_for_its_column_is_refused_by_name(env):
    account = env.api.post("/api/v1/records/account", json={"name": "Acme"}).json["id"]
    quote = {"name": "Q", "account": account, "list_amount": "1000000000000000", "discount": 0}
    refused = env.api.post("/api/v1/records/quote", json=quote)
    assert refused.status_code == 422, refused.json
    assert refused.json["errors"][0]["field"] == "amount"
    assert "does not fit (14 digits before the point)" in refused.json["errors"][0]["message"]
    fine = env.api.post("/api/v1/records/quote", json={**quote, "list_amount": "99999999999999"})
    assert fine.status_code == 201, fine.json
