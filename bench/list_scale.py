"""1,000,000 opportunities on PostgreSQL: list 50 with a filter and a sort on indexed fields
as a sales_rep (record scope applied in SQL), and aggregate by stage and month. Prints JSON.

Needs a PostgreSQL URL: METACRM_BENCH_DATABASE_URL (or METACRM_TEST_DATABASE_URL);
scripts/services.sh starts one. Usage: .venv/bin/python bench/list_scale.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid

from sqlalchemy import create_engine, text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    url = os.environ.get("METACRM_BENCH_DATABASE_URL") or os.environ.get(
        "METACRM_TEST_DATABASE_URL"
    )
    if not url:
        raise SystemExit(
            "set METACRM_BENCH_DATABASE_URL (a PostgreSQL URL); scripts/services.sh prints one"
        )
    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    os.environ.update(
        METACRM_DATABASE_URL=url, METACRM_SCHEMA_PREFIX=prefix, METACRM_DATA_DIR=tempfile.mkdtemp()
    )
    from metacrm.platform.access import users
    from metacrm.platform.access.context import Context
    from metacrm.platform.access.permissions import load_access
    from metacrm.platform.app import create_app
    from metacrm.platform.query.aggregate import aggregate
    from metacrm.platform.query.lists import list_records
    from metacrm.platform.records.service import RecordService

    app = create_app()
    runtime = app.extensions["metacrm"]
    state = runtime.tenants.create("default")
    try:
        manager = users.create_user(
            state, {"username": "mgr", "password": "manager-pw", "roles": ["sales_manager"]}
        )["id"]
        reps = [
            users.create_user(
                state,
                {
                    "username": f"rep{i}",
                    "password": "rep-password",
                    "roles": ["sales_rep"],
                    "manager": manager,
                },
            )["id"]
            for i in range(args.users)
        ]
        t = time.perf_counter()
        with state.write.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO account (created_at, updated_at, version, name) VALUES (now(), now(), 1, 'Bench account')"
                )
            )
            conn.execute(
                text(
                    """
                    INSERT INTO opportunity (owner_id, created_at, updated_at, version, name, code, account, stage, amount, close_date)
                    SELECT (:first + ((g / 6) % :users)), now(), now(), 1, 'Deal ' || g, 'OPP-' || g, 1,
                           (ARRAY['prospecting','qualification','proposal','negotiation','closed_won','closed_lost'])[1 + (g % 6)],
                           (g::bigint * 7919) % 1000000, date '2026-01-01' + (g % 365)
                    FROM generate_series(1, :rows) AS g
                    """
                ),
                {"first": reps[0], "users": args.users, "rows": args.rows},
            )
            conn.execute(text("ANALYZE opportunity"))
        load_s = time.perf_counter() - t
        rep = reps[7]
        ctx = Context(
            tenant="default", user_id=rep, username="rep7", access=load_access(state, rep, False)
        )
        service = RecordService(state, ctx, runtime.pm, runtime.registry)
        params = {"stage": ["proposal"], "sort": ["-amount"], "limit": ["50"]}

        def timed(f, n):
            samples = []
            for _ in range(n):
                t = time.perf_counter()
                f()
                samples.append((time.perf_counter() - t) * 1000)
            samples.sort()
            return round(statistics.median(samples), 2), round(
                samples[int(len(samples) * 0.95) - 1], 2
            )

        first = list_records(service, "opportunity", params)
        assert len(first["data"]) == 50 and all(r["owner_id"] == rep for r in first["data"])
        for _ in range(10):
            list_records(service, "opportunity", params)
        list_p50, list_p95 = timed(lambda: list_records(service, "opportunity", params), 100)
        boss = RecordService(
            state,
            Context(
                tenant="default",
                user_id=manager,
                username="mgr",
                access=load_access(state, manager, False),
            ),
            runtime.pm,
            runtime.registry,
        )
        agg = {"group_by": ["stage,close_date:month"], "measures": ["count,sum:amount"]}
        agg_rep = timed(lambda: aggregate(service, "opportunity", agg), 20)
        agg_team = timed(lambda: aggregate(boss, "opportunity", agg), 5)
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "load_seconds": round(load_s, 1),
                    "list_as_sales_rep_ms": {
                        "p50": list_p50,
                        "p95": list_p95,
                        "target_p50_below_20": list_p50 < 20,
                    },
                    "aggregate_stage_month_as_sales_rep_ms": {"p50": agg_rep[0], "p95": agg_rep[1]},
                    "aggregate_stage_month_as_manager_of_all_ms": {
                        "p50": agg_team[0],
                        "p95": agg_team[1],
                    },
                },
                indent=2,
            )
        )
    finally:
        runtime.close()
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            for (name,) in conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": prefix + "%"}
            ):
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


if __name__ == "__main__":
    main()
