"""GET /api/v1/aggregate/{entity} on both backends."""


def seed(env):
    api = env.api
    acct = api.post("/api/v1/records/account", json={"name": "A", "industry": "retail"}).json["id"]
    other = api.post("/api/v1/records/account", json={"name": "B", "industry": "energy"}).json["id"]
    rows = [
        {
            "name": "1",
            "account": acct,
            "stage": "proposal",
            "amount": 100,
            "close_date": "2026-01-15",
        },
        {
            "name": "2",
            "account": acct,
            "stage": "proposal",
            "amount": 300,
            "close_date": "2026-02-03",
        },
        {
            "name": "3",
            "account": other,
            "stage": "closed_won",
            "amount": 1000,
            "close_date": "2026-04-20",
        },
        {"name": "4", "account": other, "stage": "closed_won", "close_date": "2026-04-21"},
    ]
    assert api.post("/api/v1/records/opportunity", json=rows).status_code == 201


def test_group_by_measures_and_filter(env):
    seed(env)
    api = env.api
    r = api.get(
        "/api/v1/aggregate/opportunity?group_by=stage&measures=count,sum:amount,avg:amount,max:close_date"
    )
    assert r.status_code == 200, r.json
    assert r.json["data"] == [
        {
            "stage": "closed_won",
            "count": 2,
            "sum_amount": 1000,
            "avg_amount": 1000,
            "max_close_date": "2026-04-21",
        },
        {
            "stage": "proposal",
            "count": 2,
            "sum_amount": 400,
            "avg_amount": 200,
            "max_close_date": "2026-02-03",
        },
    ]
    r = api.get(
        "/api/v1/aggregate/opportunity",
        query_string={"measures": "count,sum:amount", "filter": "account.industry = 'retail'"},
    )
    assert r.json["data"] == [{"count": 2, "sum_amount": 400}]
    r = api.get("/api/v1/aggregate/opportunity?group_by=close_date:quarter&measures=count")
    assert r.json["data"] == [
        {"close_date_quarter": "2026-Q1", "count": 2},
        {"close_date_quarter": "2026-Q2", "count": 2},
    ]
    r = api.get("/api/v1/aggregate/opportunity?group_by=close_date:month,stage&stage=closed_won")
    assert r.json["data"] == [{"close_date_month": "2026-04", "stage": "closed_won", "count": 2}]


def test_bad_aggregate_queries_are_400(env):
    api = env.api
    for query in (
        "group_by=description",
        "group_by=nope",
        "measures=sum:name",
        "measures=median:amount",
        "group_by=stage:month",
        "filter=amount",
        "shoe=1",
    ):
        r = api.get(f"/api/v1/aggregate/opportunity?{query}")
        assert r.status_code == 400, (query, r.json)
        assert r.mimetype == "application/problem+json"
