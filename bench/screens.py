"""Server time of the main screens at 24,000 opportunities: the list page (50 rows), the
record page of an account with 200 related opportunities, and the kanban (100 cards a
stage, 600 in all). In-process (Flask test client, signed in with a session), so the
figures are the server's: routing, permissions, queries, lookups, Jinja rendering.
Prints JSON with p50/p95 per page and the issue's p50 targets (30, 40, 80 ms).

SQLite by default; PostgreSQL with --database-url (or METACRM_BENCH_DATABASE_URL), where
the fresh rows are ANALYZEd first, as autovacuum does on a live database (without it the
planner guesses 14 rows and scans the wrong index). Each page also reports its SQL
statements and their time (BENCH_SHOW_SQL=1 prints the slowest).
Usage: .venv/bin/python bench/screens.py [--opportunities 24000] [--runs 40] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time

from bench_instance import bench_app

STAGES = ("prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost")
TARGETS_MS = {"list_50": 30, "account_200_related": 40, "kanban": 80}


def fill(service, opportunities: int) -> int:
    """Accounts (one holds 200 opportunities), a contact each, opportunities in every stage."""
    accounts = max(2, opportunities // 200)
    ids = [
        r["id"]
        for start in range(0, accounts, 1000)
        for r in service.create_many(
            "account", [{"name": f"Account {i}"} for i in range(start, min(start + 1000, accounts))]
        )
    ]
    contacts = [
        r["id"]
        for start in range(0, accounts, 1000)
        for r in service.create_many(
            "contact",
            [
                {"last_name": f"Contact {i}", "account": ids[i]}
                for i in range(start, min(start + 1000, accounts))
            ],
        )
    ]
    for start in range(0, opportunities, 1000):
        bodies = []
        for i in range(start, min(start + 1000, opportunities)):
            a = i % accounts
            stage = STAGES[i % len(STAGES)]
            body = {
                "name": f"Deal {i}",
                "account": ids[a],
                "primary_contact": contacts[a],
                "stage": stage,
                "amount": 1000 + i % 5000,
                "close_date": "2027-03-31",
            }
            if stage == "closed_lost":
                body["lost_reason"] = "price"
            bodies.append(body)
        service.create_many("opportunity", bodies)
    return ids[0]


class QueryCounter:
    """SQL statements and their time, for every engine (what a page costs the database)."""

    def __init__(self):
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        self.statements: list[tuple[float, str]] = []
        self._started: list[float] = []
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, *args):
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, *args):
        self.statements.append(((time.perf_counter() - self._started.pop()) * 1000, statement))


COUNTER: QueryCounter | None = None


def timed(client, url: str, runs: int) -> dict:
    for _ in range(3):
        assert client.get(url).status_code == 200, url
    assert COUNTER is not None
    COUNTER.statements.clear()
    client.get(url, headers={"Accept": "text/html"})
    statements = list(COUNTER.statements)
    if os.environ.get("BENCH_SHOW_SQL"):
        for ms, sql in sorted(statements, reverse=True)[:8]:
            print(f"{ms:7.2f} ms  {' '.join(sql.split())[:160]}")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, headers={"Accept": "text/html"})
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "bytes": len(response.data),
        "queries": len(statements),
        "query_ms": round(sum(ms for ms, _ in statements), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opportunities", type=int, default=24_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--database-url", default=os.environ.get("METACRM_BENCH_DATABASE_URL"))
    args = parser.parse_args()

    from metacrm.platform.access import auth
    from metacrm.platform.access.context import Context
    from metacrm.platform.records.service import RecordService

    global COUNTER
    COUNTER = QueryCounter()
    with bench_app(args.database_url, "screens") as app:
        runtime = app.extensions["metacrm"]
        state = runtime.tenants.create("default")
        admin = auth.create_user(state, "admin", "bench-password", is_admin=True)
        service = RecordService(state, Context.system("default", admin), runtime.pm)
        started = time.perf_counter()
        big = fill(service, args.opportunities)
        filled = time.perf_counter() - started
        if args.database_url:  # a live tenant's statistics: autovacuum analyzes after loads
            with state.write.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        client = app.test_client()
        page = client.get("/login", headers={"Accept": "text/html"}).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post(
            "/login",
            data={"username": "admin", "password": "bench-password", "csrf_token": token},
            headers={"Accept": "text/html"},
        )
        board = client.get("/app/opportunity/board").text
        out = {
            "database": "postgresql" if args.database_url else "sqlite",
            "opportunities": args.opportunities,
            "fill_seconds": round(filled, 1),
            "pages": {
                "list_50": timed(client, "/app/opportunity", args.runs),
                "account_200_related": timed(client, f"/app/account/{big}", args.runs),
                "kanban": timed(client, "/app/opportunity/board", args.runs),
            },
            "kanban_cards": board.count('class="board-card"'),
        }
        out["targets_met"] = {
            name: out["pages"][name]["p50_ms"] <= target for name, target in TARGETS_MS.items()
        }
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
