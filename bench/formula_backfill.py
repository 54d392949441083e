"""Backfilling a stored formula added to a table with rows: 20,000 contacts (across
2,000 accounts) get `concat(account.name, ' / ', last_name)`, computed by the write
path's code in batches inside the migration's transaction. Prints JSON: the time of
the whole field addition, the rows per second, and a same-table formula for comparison.

SQLite by default; PostgreSQL with --database-url (or METACRM_BENCH_DATABASE_URL).
Usage: .venv/bin/python bench/formula_backfill.py [--rows 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from bench_instance import bench_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--database-url", default=os.environ.get("METACRM_BENCH_DATABASE_URL"))
    args = parser.parse_args()

    from metacrm.platform.access import auth
    from metacrm.platform.access.context import Context
    from metacrm.platform.records.service import RecordService

    with bench_app(args.database_url, "backfill") as app:
        runtime = app.extensions["metacrm"]
        state = runtime.tenants.create("default")
        admin = auth.create_user(state, "admin", "bench-password", is_admin=True)
        service = RecordService(state, Context.system("default", admin), runtime.pm)
        accounts = max(1, args.rows // 10)
        ids = []
        for start in range(0, accounts, 1000):
            bodies = [{"name": f"Account {i}"} for i in range(start, min(start + 1000, accounts))]
            ids += [r["id"] for r in service.create_many("account", bodies)]
        for start in range(0, args.rows, 1000):
            bodies = [
                {"last_name": f"Person {i}", "account": ids[i % accounts]}
                for i in range(start, min(start + 1000, args.rows))
            ]
            service.create_many("contact", bodies)

        def add(name: str, expression: str) -> float:
            def mutate(overlay):
                fields = overlay.setdefault("extend", {}).setdefault("contact", {})
                fields.setdefault("fields", {})[name] = {
                    "type": "formula",
                    "stored": True,
                    "result_type": "text",
                    "expression": expression,
                }
                return overlay

            t = time.perf_counter()
            runtime.tenants.update_overlay("default", mutate)
            return time.perf_counter() - t

        through = add("account_label", "concat(account.name, ' / ', last_name)")
        own = add("own_label", "upper(last_name)")
        print(
            json.dumps(
                {
                    "backend": "postgresql" if args.database_url else "sqlite",
                    "rows": args.rows,
                    "through_reference_s": round(through, 2),
                    "through_reference_rows_per_s": round(args.rows / through),
                    "same_table_s": round(own, 2),
                    "same_table_rows_per_s": round(args.rows / own),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
